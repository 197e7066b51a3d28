// DPM-Solver (Lu et al. 2022) as k-diffusion's DPMSolver class runs it for A1111's "DPM fast" and
// "DPM adaptive": in t = −log σ between two sigmas, not along a sigma table, with eps-form steps of
// order 1..3. f32 in k-diffusion's order of operations (4601bf08 sampling.py).
#include "fp_exact.h"  // first: no FMA contraction in this file
#include <algorithm>
#include <cmath>

#include "schedule.h"
#include "sampler_detail.h"

namespace sd::sample {

using namespace detail;

namespace {

float sigma_of(float t) { return exp_f(-t); }
float t_of(float sigma) { return -log_f(sigma); }

// The integration range in t = −log σ: from what the caller set (A1111 txt2img: the model's table
// ends), else sigmas[0] down to the last sigma above 0 (A1111 img2img). Checks args as well.
struct Range { float t_start, t_end; };
Range solver_range(const char* name, float* x, int64_t n, const std::vector<float>& sigmas, const SampleParams& p) {
  check_args(name, x, n, sigmas);
  const float hi = p.dpm_sigma_max > 0 ? p.dpm_sigma_max : sigmas.front();
  const float lo = p.dpm_sigma_min > 0 ? p.dpm_sigma_min : (sigmas.back() > 0 ? sigmas.back() : sigmas[sigmas.size() - 2]);
  if (!(lo > 0) || !(hi > 0)) throw Error(std::string(name) + ": sigma_min and sigma_max must be above 0");
  const Range r{t_of(hi), t_of(lo)};
  if (!(r.t_end > r.t_start) && p.eta != 0) throw Error(std::string(name) + ": eta must be 0 when sigma_min is not below sigma_max");
  return r;
}

// One DPMSolver: eps(x, t) = (x − D(x, σ(t)))/σ(t) and the steps of orders 1–3 from t to t_next,
// sharing eps (at t) and eps_r1 (at t + h/3) between the order-2 and order-3 steps as its cache does.
struct Solver {
  Denoiser& model;
  int64_t n;
  Buf den, eps, eps_r1, eps_r2, u;

  Solver(Denoiser& m, int64_t n_) : model(m), n(n_), den(buf(n_)), eps(buf(n_)), eps_r1(buf(n_)), eps_r2(buf(n_)), u(buf(n_)) {}

  void eval(const float* x, float t, float* out) {
    const float s = sigma_of(t);
    model.denoise(x, s, den.data());
    for (int64_t k = 0; k < n; ++k) out[k] = (x[k] - den[size_t(k)]) / s;
  }
  // u = x − σ(t + r·h)·expm1(r·h)·eps; returns t + r·h
  float first_stage(const float* x, float t, float h, double r) {
    const float rh = float(r) * h, s1 = t + rh, c = sigma_of(s1) * expm1_f(rh);
    for (int64_t k = 0; k < n; ++k) u[size_t(k)] = x[k] - c * eps[size_t(k)];
    return s1;
  }
  void step1(const float* x, float t, float t_next, float* out) {
    const float c = sigma_of(t_next) * expm1_f(t_next - t);
    for (int64_t k = 0; k < n; ++k) out[k] = x[k] - c * eps[size_t(k)];
  }
  // eps_r1 must hold eps at t + r1·h.
  void step2(const float* x, float t, float t_next, double r1, float* out) {
    const float h = t_next - t, em1 = expm1_f(h), sn = sigma_of(t_next);
    const float a = sn * em1, b = sn / float(2 * r1) * em1;
    for (int64_t k = 0; k < n; ++k) {
      const size_t q = size_t(k);
      out[k] = (x[k] - a * eps[q]) - b * (eps_r1[q] - eps[q]);
    }
  }
  // eps_r1 must hold eps at t + h/3; evaluates eps_r2 at t + 2h/3.
  void step3(const float* x, float t, float t_next, float* out) {
    const double r1 = 1.0 / 3, r2 = 2.0 / 3;
    const float h = t_next - t, r2h = float(r2) * h, s2 = t + r2h, ss2 = sigma_of(s2), em1_2 = expm1_f(r2h);
    const float a2 = ss2 * em1_2, b2 = ss2 * float(r2 / r1) * (em1_2 / r2h - 1.0f);
    for (int64_t k = 0; k < n; ++k) {
      const size_t q = size_t(k);
      u[q] = (x[k] - a2 * eps[q]) - b2 * (eps_r1[q] - eps[q]);
    }
    eval(u.data(), s2, eps_r2.data());
    const float em1 = expm1_f(h), sn = sigma_of(t_next);
    const float a = sn * em1, b = sn / float(r2) * (em1 / h - 1.0f);
    for (int64_t k = 0; k < n; ++k) {
      const size_t q = size_t(k);
      out[k] = (x[k] - a * eps[q]) - b * (eps_r2[q] - eps[q]);
    }
  }
};

// k-diffusion's ancestral variant: step deterministically to t_next_ = min(t_end, t(σ_down)) and add
// noise su = √(σ(t_next)² − σ(t_next_)²).
float ancestral_target(float t, float t_next, float t_end, float eta, float& su) {
  if (eta == 0) { su = 0; return t_next; }
  const AncestralStep a = get_ancestral_step(sigma_of(t), sigma_of(t_next), eta);
  const float t_next_ = std::min(t_end, t_of(a.sigma_down)), s_n = sigma_of(t_next), s_n_ = sigma_of(t_next_);
  su = std::sqrt(s_n * s_n - s_n_ * s_n_);
  return t_next_;
}

// x += su·s_noise·noise; k-diffusion draws even when su = 0 (eta = 0), so with a source we do too.
void solver_noise(const char* name, const SampleParams& p, float su, float* x, float* noise, int64_t n) {
  if (p.noise == nullptr && su == 0) return;
  need_noise(name, p).next(noise);
  const float c = su * p.s_noise;
  for (int64_t k = 0; k < n; ++k) x[k] = x[k] + c * noise[k];
}

}  // namespace

// DPM-Solver-fast: `steps` model calls spread over ⌊steps/3⌋ + 1 equal steps in t, third order
// except the last one or two. Step events count those solver steps.
bool sample_dpm_fast(Denoiser& model, float* x, int64_t n, const std::vector<float>& sigmas, const SampleParams& p) {
  const auto [t_start, t_end] = solver_range("dpm_fast", x, n, sigmas, p);
  const int nfe = int(sigmas.size()) - 1, m = nfe / 3 + 1;
  const std::vector<float> ts = linspace_f32(t_start, t_end, m + 1);
  std::vector<int> orders;
  if (nfe % 3 == 0) {
    orders.assign(size_t(m - 2), 3);
    orders.push_back(2);
    orders.push_back(1);
  } else {
    orders.assign(size_t(m - 1), 3);
    orders.push_back(nfe % 3);
  }
  Solver S(model, n);
  Buf noise = buf(n);
  const int steps = int(orders.size());
  for (int i = 0; i < steps; ++i) {
    const float t = ts[size_t(i)], t_next = ts[size_t(i) + 1];
    float su;
    const float t_next_ = ancestral_target(t, t_next, t_end, p.eta, su);
    S.eval(x, t, S.eps.data());
    if (!report(p, i, steps, x, S.den.data(), sigma_of(t))) return false;
    const int order = orders[size_t(i)];
    if (order == 1) {
      S.step1(x, t, t_next_, x);
    } else if (order == 2) {
      const float s1 = S.first_stage(x, t, t_next_ - t, 0.5);
      S.eval(S.u.data(), s1, S.eps_r1.data());
      S.step2(x, t, t_next_, 0.5, x);
    } else {
      const float s1 = S.first_stage(x, t, t_next_ - t, 1.0 / 3);
      S.eval(S.u.data(), s1, S.eps_r1.data());
      S.step3(x, t, t_next_, x);
    }
    solver_noise("dpm_fast", p, su, x, noise.data(), n);
  }
  return true;
}

namespace {

// k-diffusion's PIDStepSizeController with DPM adaptive's coefficients (p = d = 0, i = 1).
struct Pid {
  double h, b1, b2, b3, accept_safety = 0.81, eps = 1e-8;
  std::vector<double> errs;
  Pid(double h0, double order) : h(h0), b1(1.0 / order), b2(-0.0 / order), b3(0.0 / order) {}
  bool propose(double error) {
    const double inv = 1 / (error + eps);
    if (errs.empty()) errs.assign(3, inv);
    errs[0] = inv;
    double factor = std::pow(errs[0], b1) * std::pow(errs[1], b2) * std::pow(errs[2], b3);
    factor = 1 + std::atan(factor - 1);
    const bool accept = factor >= accept_safety;
    if (accept) {
      errs[2] = errs[1];
      errs[1] = errs[0];
    }
    h *= factor;
    return accept;
  }
};

}  // namespace

// DPM-Solver-23 with an error-controlled step size (rtol 0.05, atol 0.0078, h₀ 0.05): each try costs
// three model calls; the number of tries depends on the model. Step events count tries, out of
// max(len(sigmas) − 1, tries so far), since the total is not known in advance.
bool sample_dpm_adaptive(Denoiser& model, float* x, int64_t n, const std::vector<float>& sigmas, const SampleParams& p) {
  const auto [t_start, t_end] = solver_range("dpm_adaptive", x, n, sigmas, p);
  const bool forward = t_end > t_start;
  const float atol = 0.0078f, rtol = 0.05f;
  Pid pid(forward ? 0.05 : -0.05, p.eta != 0 ? 1.5 : 3.0);
  Solver S(model, n);
  Buf x_prev(x, x + n), x_low = buf(n), x_high = buf(n), noise = buf(n);
  const int nominal = int(sigmas.size()) - 1;
  const float root_n = float(std::sqrt(double(n)));
  float s = t_start;
  for (int tries = 0; forward ? s < t_end - 1e-5f : s > t_end + 1e-5f; ++tries) {
    const float t = forward ? std::min(t_end, s + float(pid.h)) : std::max(t_end, s + float(pid.h));
    float su;
    const float t_ = ancestral_target(s, t, t_end, p.eta, su);
    S.eval(x, s, S.eps.data());
    if (!report(p, tries, std::max(nominal, tries + 1), x, S.den.data(), sigma_of(s))) return false;
    const float s1 = S.first_stage(x, s, t_ - s, 1.0 / 3);
    S.eval(S.u.data(), s1, S.eps_r1.data());
    S.step2(x, s, t_, 1.0 / 3, x_low.data());
    S.step3(x, s, t_, x_high.data());
    double sq = 0;
    for (int64_t k = 0; k < n; ++k) {
      const size_t q = size_t(k);
      const float delta = std::max(atol, rtol * std::max(std::fabs(x_low[q]), std::fabs(x_prev[q])));
      const double e = double((x_low[q] - x_high[q]) / delta);
      sq += e * e;
    }
    const float error = float(std::sqrt(sq)) / root_n;
    // The reference never ends once the error is NaN (h becomes NaN, t stops moving).
    if (!std::isfinite(error)) throw Error("dpm_adaptive: the model's output is not finite");
    if (pid.propose(double(error))) {
      x_prev = x_low;
      std::copy(x_high.begin(), x_high.end(), x);
      solver_noise("dpm_adaptive", p, su, x, noise.data(), n);
      s = t;
    }
  }
  return true;
}

}  // namespace sd::sample
