// The k-diffusion samplers (semantics of crowsonkb/k-diffusion 4601bf08 k_diffusion/sampling.py), one
// function each, with k-diffusion's variable names and its f32 order of operations.
#include "fp_exact.h"  // first: no FMA contraction in this file
#include <algorithm>
#include <cmath>

#include "sampler_detail.h"

namespace sd::sample {

using namespace detail;

AncestralStep get_ancestral_step(float sigma_from, float sigma_to, float eta) {
  if (eta == 0.0f) return {sigma_to, 0.0f};
  const float from2 = sigma_from * sigma_from, to2 = sigma_to * sigma_to;
  const float sigma_up = std::min(sigma_to, eta * std::sqrt(to2 * (from2 - to2) / from2));
  const float sigma_down = std::sqrt(to2 - sigma_up * sigma_up);
  return {sigma_down, sigma_up};
}

namespace {

// Karras et al. Algorithm 2 "churn" prelude of euler/heun/dpm_2: returns σ̂ = σ(1+γ) and moves x
// up to it. Draws its noise when γ > 0, or every step with draw_unused_noise (k-diffusion does).
float churn(const char* name, float* x, int64_t n, const std::vector<float>& sigmas, int i,
            const SampleParams& p, Buf& eps) {
  const int steps = int(sigmas.size()) - 1;
  const float s = sigmas[size_t(i)];
  const double gamma =
      (p.s_tmin <= s && s <= p.s_tmax) ? std::min(double(p.s_churn) / steps, std::sqrt(2.0) - 1.0) : 0.0;
  if (gamma > 0 || p.draw_unused_noise) need_noise(name, p).next(eps.data());
  const float sigma_hat = s * float(gamma + 1.0);
  if (gamma > 0) add_noise(x, eps.data(), p.s_noise, std::sqrt(sigma_hat * sigma_hat - s * s), n);
  return sigma_hat;
}

}  // namespace

bool sample_euler(Denoiser& model, float* x, int64_t n, const std::vector<float>& sigmas, const SampleParams& p) {
  check_args("euler", x, n, sigmas);
  const int steps = int(sigmas.size()) - 1;
  Buf den = buf(n), d = buf(n), eps = buf(n);
  for (int i = 0; i < steps; ++i) {
    const float sigma_hat = churn("euler", x, n, sigmas, i, p, eps);
    model.denoise(x, sigma_hat, den.data());
    to_d(x, den.data(), sigma_hat, d.data(), n);
    if (!report(p, i, steps, x, den.data(), sigmas[size_t(i)])) return false;
    const float dt = sigmas[size_t(i) + 1] - sigma_hat;
    axpy(x, d.data(), dt, n);  // Euler method
  }
  return true;
}

bool sample_euler_ancestral(Denoiser& model, float* x, int64_t n, const std::vector<float>& sigmas,
                            const SampleParams& p) {
  check_args("euler_ancestral", x, n, sigmas);
  const int steps = int(sigmas.size()) - 1;
  Buf den = buf(n), d = buf(n), noise = buf(n);
  for (int i = 0; i < steps; ++i) {
    const float s = sigmas[size_t(i)], s_next = sigmas[size_t(i) + 1];
    model.denoise(x, s, den.data());
    const AncestralStep a = get_ancestral_step(s, s_next, p.eta);
    if (!report(p, i, steps, x, den.data(), s)) return false;
    to_d(x, den.data(), s, d.data(), n);
    axpy(x, d.data(), a.sigma_down - s, n);  // Euler method
    if (s_next > 0) ancestral_noise("euler_ancestral", p, a.sigma_up, x, noise.data(), n);
  }
  return true;
}

namespace {

// k-diffusion's sample_heun / sample_dpm_2 loop: churn, first evaluation, an Euler step to the
// last sigma (0), `second_stage(x, d, sigma_hat, s_next)` to every other one.
template <typename SecondStage>
bool churned_second_order(const char* name, Denoiser& model, float* x, int64_t n, const std::vector<float>& sigmas,
                          const SampleParams& p, SecondStage second_stage) {
  check_args(name, x, n, sigmas);
  const int steps = int(sigmas.size()) - 1;
  Buf den = buf(n), d = buf(n), eps = buf(n);
  for (int i = 0; i < steps; ++i) {
    const float sigma_hat = churn(name, x, n, sigmas, i, p, eps);
    const float s_next = sigmas[size_t(i) + 1];
    model.denoise(x, sigma_hat, den.data());
    to_d(x, den.data(), sigma_hat, d.data(), n);
    if (!report(p, i, steps, x, den.data(), sigmas[size_t(i)])) return false;
    if (s_next == 0) axpy(x, d.data(), s_next - sigma_hat, n);  // Euler method
    else second_stage(x, d.data(), sigma_hat, s_next);
  }
  return true;
}

// DPM-Solver-2 from sigma to sigma_to, given d at sigma: the midpoint in log sigma.
struct Dpm2Midpoint {
  Denoiser& model;
  int64_t n;
  Buf den, x_2, d_2;
  Dpm2Midpoint(Denoiser& m, int64_t count) : model(m), n(count), den(buf(count)), x_2(buf(count)), d_2(buf(count)) {}
  void operator()(float* x, const float* d, float sigma, float sigma_to) {
    const float sigma_mid = exp_f(lerp_half(log_f(sigma), log_f(sigma_to)));
    const float dt_1 = sigma_mid - sigma, dt_2 = sigma_to - sigma;
    for (int64_t k = 0; k < n; ++k) x_2[size_t(k)] = x[k] + d[k] * dt_1;
    model.denoise(x_2.data(), sigma_mid, den.data());
    to_d(x_2.data(), den.data(), sigma_mid, d_2.data(), n);
    axpy(x, d_2.data(), dt_2, n);
  }
};

}  // namespace

bool sample_heun(Denoiser& model, float* x, int64_t n, const std::vector<float>& sigmas, const SampleParams& p) {
  Buf den = buf(n), x_2 = buf(n), d_2 = buf(n);
  return churned_second_order("heun", model, x, n, sigmas, p, [&](float* xs, const float* d, float sigma_hat, float s_next) {
    const float dt = s_next - sigma_hat;  // Heun's method
    for (int64_t k = 0; k < n; ++k) x_2[size_t(k)] = xs[k] + d[k] * dt;
    model.denoise(x_2.data(), s_next, den.data());
    to_d(x_2.data(), den.data(), s_next, d_2.data(), n);
    for (int64_t k = 0; k < n; ++k) xs[k] = xs[k] + (d[k] + d_2[size_t(k)]) / 2.0f * dt;
  });
}

bool sample_dpm_2(Denoiser& model, float* x, int64_t n, const std::vector<float>& sigmas, const SampleParams& p) {
  Dpm2Midpoint midpoint(model, n);
  return churned_second_order("dpm_2", model, x, n, sigmas, p, midpoint);
}

bool sample_dpm_2_ancestral(Denoiser& model, float* x, int64_t n, const std::vector<float>& sigmas,
                            const SampleParams& p) {
  check_args("dpm_2_ancestral", x, n, sigmas);
  const int steps = int(sigmas.size()) - 1;
  Buf den = buf(n), d = buf(n), noise = buf(n);
  Dpm2Midpoint midpoint(model, n);
  for (int i = 0; i < steps; ++i) {
    const float s = sigmas[size_t(i)], s_next = sigmas[size_t(i) + 1];
    model.denoise(x, s, den.data());
    const AncestralStep a = get_ancestral_step(s, s_next, p.eta);
    if (!report(p, i, steps, x, den.data(), s)) return false;
    to_d(x, den.data(), s, d.data(), n);
    if (a.sigma_down == 0) {
      axpy(x, d.data(), a.sigma_down - s, n);  // Euler method
    } else {  // DPM-Solver-2 to sigma_down, then noise up to sigma_next
      midpoint(x, d.data(), s, a.sigma_down);
      ancestral_noise("dpm_2_ancestral", p, a.sigma_up, x, noise.data(), n);
    }
  }
  return true;
}

double linear_multistep_coeff(int order, const std::vector<float>& t, int i, int j) {
  if (order - 1 > i) throw Error("lms: order " + std::to_string(order) + " too high for step " + std::to_string(i));
  // The integrand is a polynomial of degree order-1 <= 3: 4-point Gauss–Legendre is exact (as is
  // the scipy quad k-diffusion calls). Differences t[i-j] - t[i-k] are f32, as numpy computes them.
  auto fn = [&](double tau) {
    double prod = 1.0;
    for (int k = 0; k < order; ++k) {
      if (j == k) continue;
      const float den = t[size_t(i - j)] - t[size_t(i - k)];
      prod *= (tau - double(t[size_t(i - k)])) / double(den);
    }
    return prod;
  };
  static const double node[4] = {-0.8611363115940526, -0.3399810435848563, 0.3399810435848563, 0.8611363115940526};
  static const double weight[4] = {0.3478548451374538, 0.6521451548625461, 0.6521451548625461, 0.3478548451374538};
  const double a = t[size_t(i)], b = t[size_t(i) + 1];
  const double half = 0.5 * (b - a), mid = 0.5 * (a + b);
  double sum = 0.0;
  for (int q = 0; q < 4; ++q) sum += weight[q] * fn(mid + half * node[q]);
  return sum * half;
}

bool sample_lms(Denoiser& model, float* x, int64_t n, const std::vector<float>& sigmas, const SampleParams& p) {
  check_args("lms", x, n, sigmas);
  if (p.lms_order < 1 || p.lms_order > 4) throw Error("lms: order must be 1..4, got " + std::to_string(p.lms_order));
  const int steps = int(sigmas.size()) - 1, order = p.lms_order;
  Buf den = buf(n), sum = buf(n);
  std::vector<Buf> ds;  // newest last, at most `order`
  for (int i = 0; i < steps; ++i) {
    const float s = sigmas[size_t(i)];
    model.denoise(x, s, den.data());
    if (int(ds.size()) == order) {  // recycle the oldest buffer
      Buf oldest = std::move(ds.front());
      ds.erase(ds.begin());
      ds.push_back(std::move(oldest));
    } else {
      ds.emplace_back(static_cast<size_t>(n));
    }
    to_d(x, den.data(), s, ds.back().data(), n);
    if (!report(p, i, steps, x, den.data(), s)) return false;
    const int cur_order = std::min(i + 1, order);
    std::fill(sum.begin(), sum.end(), 0.0f);
    for (int j = 0; j < cur_order; ++j) {  // sum(coeff_j · ds[-1-j]) in that order
      const float c = float(linear_multistep_coeff(cur_order, sigmas, i, j));
      const Buf& dj = ds[ds.size() - 1 - size_t(j)];
      for (int64_t k = 0; k < n; ++k) sum[size_t(k)] = sum[size_t(k)] + c * dj[size_t(k)];
    }
    for (int64_t k = 0; k < n; ++k) x[k] = x[k] + sum[size_t(k)];
  }
  return true;
}

bool sample_dpmpp_2m(Denoiser& model, float* x, int64_t n, const std::vector<float>& sigmas, const SampleParams& p) {
  check_args("dpmpp_2m", x, n, sigmas);
  const int steps = int(sigmas.size()) - 1;
  auto t_fn = [](float sigma) { return -log_f(sigma); };
  auto sigma_fn = [](float t) { return exp_f(-t); };
  Buf den = buf(n), old_den = buf(n);
  for (int i = 0; i < steps; ++i) {
    const float s = sigmas[size_t(i)], s_next = sigmas[size_t(i) + 1];
    model.denoise(x, s, den.data());
    if (!report(p, i, steps, x, den.data(), s)) return false;
    const float t = t_fn(s), t_next = t_fn(s_next), h = t_next - t;
    const float ratio = sigma_fn(t_next) / sigma_fn(t), e = expm1_f(-h);
    if (i == 0 || s_next == 0) {
      for (int64_t k = 0; k < n; ++k) x[k] = ratio * x[k] - e * den[size_t(k)];
    } else {
      const float h_last = t - t_fn(sigmas[size_t(i) - 1]);
      const float r = h_last / h;
      const float c_new = 1.0f + 1.0f / (2.0f * r), c_old = 1.0f / (2.0f * r);
      for (int64_t k = 0; k < n; ++k) {
        const float denoised_d = c_new * den[size_t(k)] - c_old * old_den[size_t(k)];
        x[k] = ratio * x[k] - e * denoised_d;
      }
    }
    std::swap(den, old_den);
  }
  return true;
}

bool sample_dpmpp_2s_ancestral(Denoiser& model, float* x, int64_t n, const std::vector<float>& sigmas,
                               const SampleParams& p) {
  check_args("dpmpp_2s_ancestral", x, n, sigmas);
  const int steps = int(sigmas.size()) - 1;
  auto t_fn = [](float sigma) { return -log_f(sigma); };
  auto sigma_fn = [](float t) { return exp_f(-t); };
  Buf den = buf(n), d = buf(n), x_2 = buf(n), noise = buf(n);
  for (int i = 0; i < steps; ++i) {
    const float s = sigmas[size_t(i)], s_next = sigmas[size_t(i) + 1];
    model.denoise(x, s, den.data());
    const AncestralStep a = get_ancestral_step(s, s_next, p.eta);
    if (!report(p, i, steps, x, den.data(), s)) return false;
    if (a.sigma_down == 0) {  // Euler method
      to_d(x, den.data(), s, d.data(), n);
      axpy(x, d.data(), a.sigma_down - s, n);
    } else {  // DPM-Solver++(2S), r = 1/2
      const float t = t_fn(s), t_next = t_fn(a.sigma_down), h = t_next - t, s_mid = t + 0.5f * h;
      const float r1 = sigma_fn(s_mid) / sigma_fn(t), e1 = expm1_f(-h * 0.5f);
      for (int64_t k = 0; k < n; ++k) x_2[size_t(k)] = r1 * x[k] - e1 * den[size_t(k)];
      model.denoise(x_2.data(), sigma_fn(s_mid), den.data());
      const float r2 = sigma_fn(t_next) / sigma_fn(t), e2 = expm1_f(-h);
      for (int64_t k = 0; k < n; ++k) x[k] = r2 * x[k] - e2 * den[size_t(k)];
    }
    if (s_next > 0) ancestral_noise("dpmpp_2s_ancestral", p, a.sigma_up, x, noise.data(), n);  // noise addition
  }
  return true;
}

namespace {

// k-diffusion's sample_dpmpp_2m_sde; heun = its solver_type 'heun' (A1111 "DPM++ 2M SDE Heun"), else 'midpoint'.
bool dpmpp_2m_sde(const char* name, bool heun, Denoiser& model, float* x, int64_t n, const std::vector<float>& sigmas,
                  const SampleParams& p) {
  check_args(name, x, n, sigmas);
  const int steps = int(sigmas.size()) - 1;
  Buf den = buf(n), old_den = buf(n), noise = buf(n);
  bool have_old = false;
  float h_last = 0.0f;
  for (int i = 0; i < steps; ++i) {
    const float s = sigmas[size_t(i)], s_next = sigmas[size_t(i) + 1];
    model.denoise(x, s, den.data());
    if (!report(p, i, steps, x, den.data(), s)) return false;
    if (s_next == 0) {  // denoising step
      std::copy(den.begin(), den.end(), x);
    } else {  // DPM-Solver++(2M) SDE
      const float t = -log_f(s), t_next = -log_f(s_next), h = t_next - t, eta_h = p.eta * h;
      const float keep = s_next / s * exp_f(-eta_h), c = -expm1_f(-h - eta_h);
      for (int64_t k = 0; k < n; ++k) x[k] = keep * x[k] + c * den[size_t(k)];
      if (have_old) {
        const float r = h_last / h, c2 = heun ? (c / (-h - eta_h) + 1.0f) * (1.0f / r) : 0.5f * c * (1.0f / r);
        for (int64_t k = 0; k < n; ++k) x[k] = x[k] + c2 * (den[size_t(k)] - old_den[size_t(k)]);
      }
      if (p.eta != 0) {
        sde_noise(name, p, s, s_next, noise.data());
        add_noise(x, noise.data(), s_next * std::sqrt(-expm1_f(-2.0f * eta_h)), p.s_noise, n);
      }
      h_last = h;
    }
    std::swap(den, old_den);
    have_old = true;
  }
  return true;
}

}  // namespace

bool sample_dpmpp_2m_sde(Denoiser& model, float* x, int64_t n, const std::vector<float>& sigmas, const SampleParams& p) {
  return dpmpp_2m_sde("dpmpp_2m_sde", false, model, x, n, sigmas, p);
}

bool sample_dpmpp_2m_sde_heun(Denoiser& model, float* x, int64_t n, const std::vector<float>& sigmas, const SampleParams& p) {
  return dpmpp_2m_sde("dpmpp_2m_sde_heun", true, model, x, n, sigmas, p);
}

}  // namespace sd::sample
