#include "fp_exact.h"  // first: no FMA contraction in this file
#include "schedule.h"

#include <algorithm>
#include <cmath>

#include "../core/error.h"
#include "schedule_extra.h"

namespace sd::sample {

namespace {

// exp/log/pow of f32 values evaluated in f64 and rounded once: the correctly rounded result,
// which is what torch's f32 kernels return on the golden cases (numpy's f32 exp is 1 ulp off).
float exp_f(float x) { return float(std::exp(double(x))); }
float log_f(float x) { return float(std::log(double(x))); }

std::vector<float> append_zero(std::vector<float> v) {
  v.push_back(0.0f);
  return v;
}

void check_steps(int n) {
  if (n < 1) throw Error("a noise schedule needs at least 1 step, got " + std::to_string(n));
}

}  // namespace

std::vector<float> linspace_f32(float start, float end, int n) {
  std::vector<float> out(size_t(std::max(n, 0)));
  if (n == 1) out[0] = start;
  if (n < 2) return out;
  const double step = (double(end) - double(start)) / double(n - 1);
  for (int i = 0; i < n; ++i) out[size_t(i)] = float(double(start) + step * i);
  out[size_t(n - 1)] = end;
  return out;
}

DiscreteSchedule DiscreteSchedule::scaled_linear(int timesteps, double linear_start, double linear_end) {
  if (timesteps < 2) throw Error("a DDPM schedule needs at least 2 timesteps, got " + std::to_string(timesteps));
  // betas = linspace(√β₀, √β₁, T)² in f64; ᾱ = cumprod(1 − β) in f64, stored f32 (CompVis to_torch).
  const double a = std::sqrt(linear_start), b = std::sqrt(linear_end);
  const double step = (b - a) / double(timesteps - 1);
  std::vector<float> ac(static_cast<size_t>(timesteps));
  double prod = 1.0;
  for (int i = 0; i < timesteps; ++i) {
    const double s = (i == timesteps - 1) ? b : a + step * i;
    prod *= 1.0 - s * s;
    ac[size_t(i)] = float(prod);
  }
  return from_alphas_cumprod(ac);
}

DiscreteSchedule DiscreteSchedule::from_alphas_cumprod(const std::vector<float>& alphas_cumprod) {
  if (alphas_cumprod.size() < 2) throw Error("alphas_cumprod needs at least 2 entries");
  DiscreteSchedule s;
  s.alphas_cumprod_ = alphas_cumprod;
  s.sigmas_.resize(alphas_cumprod.size());
  s.log_sigmas_.resize(alphas_cumprod.size());
  for (size_t i = 0; i < alphas_cumprod.size(); ++i) {
    const float ac = alphas_cumprod[i];
    if (!(ac > 0.0f && ac < 1.0f))
      throw Error("alphas_cumprod[" + std::to_string(i) + "] must be in (0, 1), got " + std::to_string(ac));
    s.sigmas_[i] = std::sqrt((1.0f - ac) / ac);  // f32, as k-diffusion computes it
    s.log_sigmas_[i] = log_f(s.sigmas_[i]);
    if (i > 0 && !(s.sigmas_[i] > s.sigmas_[i - 1]))
      throw Error("alphas_cumprod must decrease strictly (sigmas ascending) at t=" + std::to_string(i));
  }
  return s;
}

float DiscreteSchedule::sigma_to_t(float sigma, bool quantize) const {
  const int T = size();
  const float log_sigma = log_f(sigma);
  if (quantize) {
    int best = 0;
    float best_d = std::fabs(log_sigma - log_sigmas_[0]);
    for (int i = 1; i < T; ++i) {
      const float d = std::fabs(log_sigma - log_sigmas_[size_t(i)]);
      if (d < best_d) best = i, best_d = d;
    }
    return float(best);
  }
  // low = last index with log_sigma >= log_sigmas[low] (0 if none), at most T-2.
  int low = 0;
  for (int i = 0; i < T; ++i)
    if (log_sigma - log_sigmas_[size_t(i)] >= 0.0f) low = i;
  low = std::min(low, T - 2);
  const int high = low + 1;
  const float lo = log_sigmas_[size_t(low)], hi = log_sigmas_[size_t(high)];
  float w = (lo - log_sigma) / (lo - hi);
  w = std::min(std::max(w, 0.0f), 1.0f);
  return (1.0f - w) * float(low) + w * float(high);
}

float DiscreteSchedule::t_to_sigma(float t) const {
  t = std::min(std::max(t, 0.0f), float(size() - 1));
  const int low = int(std::floor(t)), high = int(std::ceil(t));
  const float w = t - std::trunc(t);
  const float log_sigma = (1.0f - w) * log_sigmas_[size_t(low)] + w * log_sigmas_[size_t(high)];
  return exp_f(log_sigma);
}

std::vector<float> sigmas_karras(int n, float sigma_min, float sigma_max, float rho) {
  check_steps(n);
  // k-diffusion: (max^(1/ρ) + ramp·(min^(1/ρ) − max^(1/ρ)))^ρ with ramp = linspace(0, 1, n).
  const std::vector<float> ramp = linspace_f32(0.0f, 1.0f, n);
  const float min_inv_rho = float(std::pow(double(sigma_min), 1.0 / double(rho)));
  const float max_inv_rho = float(std::pow(double(sigma_max), 1.0 / double(rho)));
  std::vector<float> s(static_cast<size_t>(n));
  for (int i = 0; i < n; ++i) {
    const float base = max_inv_rho + ramp[size_t(i)] * (min_inv_rho - max_inv_rho);
    s[size_t(i)] = float(std::pow(double(base), double(rho)));
  }
  return append_zero(std::move(s));
}

std::vector<float> sigmas_exponential(int n, float sigma_min, float sigma_max) {
  check_steps(n);
  std::vector<float> s = linspace_f32(float(std::log(double(sigma_max))), float(std::log(double(sigma_min))), n);
  for (float& v : s) v = exp_f(v);
  return append_zero(std::move(s));
}

std::vector<float> make_sigmas(const DiscreteSchedule& sched, Scheduler kind, int n, bool sdxl) {
  check_steps(n);
  const int T = sched.size();
  switch (kind) {
    case Scheduler::Normal: {  // k-diffusion get_sigmas(n)
      std::vector<float> t = linspace_f32(float(T - 1), 0.0f, n);
      for (float& v : t) v = sched.t_to_sigma(v);
      return append_zero(std::move(t));
    }
    case Scheduler::Karras: return sigmas_karras(n, sched.sigma_min(), sched.sigma_max());
    case Scheduler::Exponential: return sigmas_exponential(n, sched.sigma_min(), sched.sigma_max());
    case Scheduler::SgmUniform: {  // linspace(t_max, t_min, n+1)[:-1], then 0
      std::vector<float> t = linspace_f32(float(T - 1), 0.0f, n + 1);
      t.pop_back();
      for (float& v : t) v = sched.t_to_sigma(v);
      return append_zero(std::move(t));
    }
    case Scheduler::Simple: {  // sigmas[-(1 + int(x·T/n))]
      const double ss = double(T) / double(n);
      std::vector<float> s(static_cast<size_t>(n));
      for (int x = 0; x < n; ++x) s[size_t(x)] = sched.sigmas()[size_t(T - 1 - int(x * ss))];
      return append_zero(std::move(s));
    }
    case Scheduler::DdimUniform: {  // table sigmas at 1, 1+c, 1+2c, … (c = T/n), descending
      const int c = std::max(T / n, 1);
      std::vector<float> s;
      for (int t = 1; t < T; t += c) s.push_back(sched.sigmas()[size_t(t)]);
      std::reverse(s.begin(), s.end());
      return append_zero(std::move(s));
    }
    case Scheduler::AlignYourSteps: return sigmas_align_your_steps(n, sdxl);
    case Scheduler::Gits: return sigmas_gits(n);
    case Scheduler::Beta: return sigmas_beta(n, sched.sigma_min(), sched.sigma_max());
    case Scheduler::KlOptimal: return sigmas_kl_optimal(n, sched.sigma_min(), sched.sigma_max());
  }
  throw Error("unknown scheduler");
}

namespace {
// A1111 "Uniform" and "Normal" both give k-diffusion get_sigmas(n); sd.cpp calls it "discrete".
// A1111's scheduler "DDIM" is ComfyUI's ddim_uniform.
struct SchedName { Scheduler kind; const char* name; std::vector<const char*> aliases; };
const SchedName kSchedNames[] = {
    {Scheduler::Normal, "normal", {"Normal", "Uniform", "discrete"}},
    {Scheduler::Karras, "karras", {"Karras"}},
    {Scheduler::Exponential, "exponential", {"Exponential"}},
    {Scheduler::SgmUniform, "sgm_uniform", {"SGM Uniform"}},
    {Scheduler::Simple, "simple", {"Simple"}},
    {Scheduler::DdimUniform, "ddim_uniform", {"DDIM"}},
    {Scheduler::AlignYourSteps, "align_your_steps", {"Align Your Steps", "AYS"}},
    {Scheduler::Gits, "align_your_steps_gits", {"Align Your Steps GITS", "gits"}},
    {Scheduler::Beta, "beta", {"Beta"}},
    {Scheduler::KlOptimal, "kl_optimal", {"KL Optimal"}},
};
}  // namespace

std::vector<const char*> scheduler_aliases(const std::string& name) {
  for (const auto& s : kSchedNames)
    if (name == s.name) return s.aliases;
  return {};
}

std::vector<std::string> scheduler_names() {
  std::vector<std::string> out;
  for (const auto& s : kSchedNames) out.emplace_back(s.name);
  return out;
}

Scheduler scheduler_from_name(const std::string& name) {
  for (const auto& s : kSchedNames)
    if (name == s.name) return s.kind;
  std::string known;
  for (const auto& s : kSchedNames) known += (known.empty() ? "" : ", ") + std::string(s.name);
  throw Error("unknown scheduler \"" + name + "\"; known: " + known);
}

}  // namespace sd::sample
