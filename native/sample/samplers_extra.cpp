// DPM++ SDE and DPM++ 3M SDE (k-diffusion 4601bf08 sampling.py), iPNDM and iPNDM-V (ComfyUI
// comfy/k_diffusion/sampling.py, from zju-pi/diff-sampler), with the references' f32 order of
// operations. The SDE samplers' noise_sampler is p.interval_noise (A1111's Brownian tree), else p.noise.
#include "fp_exact.h"  // first: no FMA contraction in this file
#include <algorithm>
#include <cmath>

#include "sampler_detail.h"

namespace sd::sample {

using namespace detail;

namespace {
float t_fn(float sigma) { return -log_f(sigma); }
float sigma_fn(float t) { return exp_f(-t); }

// The iPNDM loop: d = (x − D)/σ, the last step jumps to D, the others take x += dt·combine(d, history)
// with history newest first (at most 3 earlier d's).
template <typename Combine>
bool ipndm_loop(const char* name, Denoiser& model, float* x, int64_t n, const std::vector<float>& sigmas,
                const SampleParams& p, Combine combine) {
  check_args(name, x, n, sigmas);
  std::vector<Buf> hist;  // earlier d's, newest first
  Buf den = buf(n), d = buf(n);
  for (size_t i = 0, last = sigmas.size() - 1; i < last; ++i) {
    model.denoise(x, sigmas[i], den.data());
    if (!report(p, int(i), int(last), x, den.data(), sigmas[i])) return false;
    to_d(x, den.data(), sigmas[i], d.data(), n);
    if (sigmas[i + 1] == 0) std::copy(den.begin(), den.end(), x);  // denoising step
    else combine(x, d.data(), hist, int(i), sigmas[i + 1] - sigmas[i]);
    if (hist.size() == 3) hist.pop_back();
    hist.insert(hist.begin(), d);
  }
  return true;
}

}  // namespace

bool sample_dpmpp_sde(Denoiser& model, float* x, int64_t n, const std::vector<float>& sigmas, const SampleParams& p) {
  check_args("dpmpp_sde", x, n, sigmas);
  const int steps = int(sigmas.size()) - 1;
  const float r = 0.5f, fac = 1.0f / (2.0f * r);
  Buf den = buf(n), den_2 = buf(n), x_2 = buf(n), d = buf(n), noise = buf(n);
  for (int i = 0; i < steps; ++i) {
    const float s = sigmas[size_t(i)], s_next = sigmas[size_t(i) + 1];
    model.denoise(x, s, den.data());
    if (!report(p, i, steps, x, den.data(), s)) return false;
    if (s_next == 0) {  // Euler method
      to_d(x, den.data(), s, d.data(), n);
      axpy(x, d.data(), s_next - s, n);
      continue;
    }
    const float t = t_fn(s), t_next = t_fn(s_next), h = t_next - t, s_mid = t + h * r;
    // Step 1: to the midpoint in log sigma, with noise up to it
    AncestralStep a = get_ancestral_step(sigma_fn(t), sigma_fn(s_mid), p.eta);
    const float s_ = t_fn(a.sigma_down);
    const float r1 = sigma_fn(s_) / sigma_fn(t), e1 = expm1_f(t - s_);
    for (int64_t k = 0; k < n; ++k) x_2[size_t(k)] = r1 * x[k] - e1 * den[size_t(k)];
    sde_noise("dpmpp_sde", p, sigma_fn(t), sigma_fn(s_mid), noise.data());
    add_noise(x_2.data(), noise.data(), p.s_noise, a.sigma_up, n);
    model.denoise(x_2.data(), sigma_fn(s_mid), den_2.data());
    // Step 2: the full step with the midpoint's estimate
    a = get_ancestral_step(sigma_fn(t), sigma_fn(t_next), p.eta);
    const float t_next_ = t_fn(a.sigma_down);
    const float r2 = sigma_fn(t_next_) / sigma_fn(t), e2 = expm1_f(t - t_next_);
    for (int64_t k = 0; k < n; ++k) {
      const float denoised_d = (1.0f - fac) * den[size_t(k)] + fac * den_2[size_t(k)];
      x[k] = r2 * x[k] - e2 * denoised_d;
    }
    sde_noise("dpmpp_sde", p, sigma_fn(t), sigma_fn(t_next), noise.data());
    add_noise(x, noise.data(), p.s_noise, a.sigma_up, n);
  }
  return true;
}

bool sample_dpmpp_3m_sde(Denoiser& model, float* x, int64_t n, const std::vector<float>& sigmas, const SampleParams& p) {
  check_args("dpmpp_3m_sde", x, n, sigmas);
  const int steps = int(sigmas.size()) - 1;
  Buf den = buf(n), den_1 = buf(n), den_2 = buf(n), noise = buf(n);
  int history = 0;  // how many of h_1 (den_1), h_2 (den_2) are set
  float h = 0.0f, h_1 = 0.0f, h_2 = 0.0f;
  for (int i = 0; i < steps; ++i) {
    const float s = sigmas[size_t(i)], s_next = sigmas[size_t(i) + 1];
    model.denoise(x, s, den.data());
    if (!report(p, i, steps, x, den.data(), s)) return false;
    if (s_next > 0) {  // DPM-Solver++(3M) SDE
      h = t_fn(s_next) - t_fn(s);
      const float h_eta = h * (p.eta + 1.0f);
      const float keep = exp_f(-h_eta), c = -expm1_f(-h_eta);
      for (int64_t k = 0; k < n; ++k) x[k] = keep * x[k] + c * den[size_t(k)];
      const float phi_2 = expm1_f(-h_eta) / h_eta + 1.0f;
      if (history >= 2) {
        const float r0 = h_1 / h, r1 = h_2 / h, phi_3 = phi_2 / h_eta - 0.5f;
        for (int64_t k = 0; k < n; ++k) {
          const float d1_0 = (den[size_t(k)] - den_1[size_t(k)]) / r0;
          const float d1_1 = (den_1[size_t(k)] - den_2[size_t(k)]) / r1;
          const float d1 = d1_0 + (d1_0 - d1_1) * r0 / (r0 + r1);
          const float d2 = (d1_0 - d1_1) / (r0 + r1);
          x[k] = x[k] + phi_2 * d1 - phi_3 * d2;
        }
      } else if (history == 1) {
        const float r = h_1 / h;
        for (int64_t k = 0; k < n; ++k) x[k] = x[k] + phi_2 * ((den[size_t(k)] - den_1[size_t(k)]) / r);
      }
      if (p.eta != 0) {
        sde_noise("dpmpp_3m_sde", p, s, s_next, noise.data());
        const float scale = std::sqrt(-expm1_f(-2.0f * h * p.eta));
        for (int64_t k = 0; k < n; ++k) x[k] = x[k] + noise[size_t(k)] * s_next * scale * p.s_noise;
      }
    } else {  // denoising step
      std::copy(den.begin(), den.end(), x);
    }
    std::swap(den_2, den_1);  // denoised_1, denoised_2 = denoised, denoised_1
    std::swap(den_1, den);
    h_2 = h_1, h_1 = h;  // k-diffusion keeps the last step's h through the final denoising step
    history = std::min(history + 1, 2);
  }
  return true;
}

bool sample_ipndm(Denoiser& model, float* x, int64_t n, const std::vector<float>& sigmas, const SampleParams& p) {
  return ipndm_loop("ipndm", model, x, n, sigmas, p, [n](float* xs, const float* d, const std::vector<Buf>& b, int, float dt) {
    // Adams–Bashforth with fixed coefficients of order min(i+1, 4)
    for (int64_t k = 0; k < n; ++k) {
      const size_t q = size_t(k);
      float v;
      switch (b.size()) {
        case 0: v = dt * d[k]; break;
        case 1: v = dt * (3.0f * d[k] - b[0][q]) / 2.0f; break;
        case 2: v = dt * (23.0f * d[k] - 16.0f * b[0][q] + 5.0f * b[1][q]) / 12.0f; break;
        default: v = dt * (55.0f * d[k] - 59.0f * b[0][q] + 37.0f * b[1][q] - 9.0f * b[2][q]) / 24.0f;
      }
      xs[k] = xs[k] + v;
    }
  });
}

bool sample_ipndm_v(Denoiser& model, float* x, int64_t n, const std::vector<float>& sigmas, const SampleParams& p) {
  return ipndm_loop("ipndm_v", model, x, n, sigmas, p, [n, &sigmas](float* xs, const float* d, const std::vector<Buf>& b, int i, float dt) {
    // Variable-step Adams–Bashforth: coefficients from the last step sizes h_n, h_n_1, ...
    const auto sg = [&](int j) { return sigmas[size_t(j)]; };
    float c[4] = {1.0f, 0.0f, 0.0f, 0.0f};
    const float h_n = dt;
    if (b.size() >= 1) {
      const float h_n_1 = sg(i) - sg(i - 1);
      c[0] = (2.0f + h_n / h_n_1) / 2.0f;
      c[1] = -(h_n / h_n_1) / 2.0f;
      if (b.size() >= 2) {
        const float h_n_2 = sg(i - 1) - sg(i - 2);
        const float temp1 = (1.0f - h_n / (3.0f * (h_n + h_n_1)) * (h_n * (h_n + h_n_1)) / (h_n_1 * (h_n_1 + h_n_2))) / 2.0f;
        if (b.size() == 2) {
          c[0] = c[0] + temp1;
          c[1] = c[1] - (1.0f + h_n_1 / h_n_2) * temp1;
          c[2] = temp1 * h_n_1 / h_n_2;
        } else {
          const float h_n_3 = sg(i - 2) - sg(i - 3);
          const float temp2 = ((1.0f - h_n / (3.0f * (h_n + h_n_1))) / 2.0f +
                               (1.0f - h_n / (2.0f * (h_n + h_n_1))) * h_n / (6.0f * (h_n + h_n_1 + h_n_2))) *
                              (h_n * (h_n + h_n_1) * (h_n + h_n_1 + h_n_2)) / (h_n_1 * (h_n_1 + h_n_2) * (h_n_1 + h_n_2 + h_n_3));
          const float rr = h_n_1 * (h_n_1 + h_n_2) / (h_n_2 * (h_n_2 + h_n_3));
          c[0] = c[0] + temp1 + temp2;
          c[1] = c[1] - (1.0f + h_n_1 / h_n_2) * temp1 - (1.0f + h_n_1 / h_n_2 + rr) * temp2;
          c[2] = temp1 * h_n_1 / h_n_2 + (h_n_1 / h_n_2 + rr * (1.0f + h_n_2 / h_n_3)) * temp2;
          c[3] = -temp2 * rr * h_n_1 / h_n_2;
        }
      }
    }
    for (int64_t k = 0; k < n; ++k) {
      float v = c[0] * d[k];
      for (size_t j = 0; j < b.size(); ++j) v = v + c[j + 1] * b[j][size_t(k)];
      xs[k] = xs[k] + dt * v;
    }
  });
}

}  // namespace sd::sample
