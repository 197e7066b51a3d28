// Samplers outside k-diffusion proper: LCM (ComfyUI/A1111 sample_lcm), DDIM (CompVis DDIMSampler), DDIM
// CFG++ and PLMS (A1111 sd_samplers_timesteps_impl ddim_cfgpp, plms), written over the k-diffusion
// denoiser, plus the name registry.
#include "fp_exact.h"  // first: no FMA contraction in this file
#include <cmath>

#include "sampler_detail.h"

namespace sd::sample {

using namespace detail;

bool sample_lcm(Denoiser& model, float* x, int64_t n, const std::vector<float>& sigmas, const SampleParams& p) {
  check_args("lcm", x, n, sigmas);
  const int steps = int(sigmas.size()) - 1;
  Buf den = buf(n), noise = buf(n);
  for (int i = 0; i < steps; ++i) {
    const float s = sigmas[size_t(i)], s_next = sigmas[size_t(i) + 1];
    model.denoise(x, s, den.data());
    if (!report(p, i, steps, x, den.data(), s)) return false;
    std::copy(den.begin(), den.end(), x);  // jump to the clean estimate ...
    if (s_next > 0) {                      // ... and re-noise to the next level
      need_noise("lcm", p).next(noise.data());
      for (int64_t k = 0; k < n; ++k) x[k] = x[k] + s_next * noise[size_t(k)];
    }
  }
  return true;
}

namespace {

// CompVis p_sample_ddim in VP variables. With σ² = (1−ᾱ)/ᾱ: x_t = x·√ᾱ (= x·c_in), eps = (x − D)/σ,
// and pred_x0 = (x_t − √(1−ᾱ)·eps)/√ᾱ is D itself. After the step x = x_prev/√ᾱ_prev, so with η = 0
// this is exactly k-diffusion's Euler step; the VP form is kept for η > 0 and the final ᾱ quirk.
// cfg_pp (A1111's ddim_cfgpp): the direction to x_prev uses the unconditional eps (CFG++).
bool ddim_loop(const char* name, bool cfg_pp, Denoiser& model, float* x, int64_t n, const std::vector<float>& sigmas,
               const SampleParams& p) {
  check_args(name, x, n, sigmas);
  const int steps = int(sigmas.size()) - 1;
  Buf den = buf(n), noise = buf(n);
  for (int i = 0; i < steps; ++i) {
    const float s = sigmas[size_t(i)], s_next = sigmas[size_t(i) + 1];
    model.denoise(x, s, den.data());
    if (!report(p, i, steps, x, den.data(), s)) return false;  // den == CompVis pred_x0 (less rounding)
    // Without CFG there is no separate unconditional prediction: it is the prediction itself.
    const float* den_dir = cfg_pp && model.last_uncond() ? model.last_uncond() : den.data();
    const float s_prev = (s_next == 0) ? p.ddim_final_sigma : s_next;
    // The step's scalars in f64 from σ, rounded once: 1 − ᾱ = σ²/(1+σ²) is what the f32 table's exact
    // 1 − ᾱ gives the reference, where 1 − (rounded ᾱ) is off by up to 7e-5 relative near t = 0, which
    // CFG++'s uncond direction (not cancelling against pred_x0's eps) would show.
    const double sd = s, sp = s_prev, a_t = 1 / (1 + sd * sd), a_prev = 1 / (1 + sp * sp);
    const double om_t = sd * sd / (1 + sd * sd), om_prev = sp * sp / (1 + sp * sp);
    const double st = p.ddim_eta * std::sqrt(om_prev / om_t) * std::sqrt(1 - a_t / a_prev);
    const float c_in = float(1 / std::sqrt(sd * sd + 1)), sqrt_one_minus_at = float(std::sqrt(om_t)), sqrt_at = float(std::sqrt(a_t));
    const float sigma_t = float(st), dir_coef = float(std::sqrt(om_prev - st * st)), sqrt_aprev = float(std::sqrt(a_prev));
    const float out_scale = std::sqrt(1.0f + s_next * s_next);  // back to k-diffusion scaling
    const bool draw = sigma_t > 0 || p.draw_unused_noise;  // A1111's DDIM draws every step
    if (draw) need_noise(name, p).next(noise.data());
    for (int64_t k = 0; k < n; ++k) {
      const float e_t = (x[k] - den[size_t(k)]) / s, e_dir = (x[k] - den_dir[k]) / s;
      const float pred_x0 = (x[k] * c_in - sqrt_one_minus_at * e_t) / sqrt_at;
      float x_prev = sqrt_aprev * pred_x0 + dir_coef * e_dir;
      if (sigma_t > 0) x_prev = x_prev + sigma_t * noise[size_t(k)];
      x[k] = x_prev * out_scale;
    }
  }
  return true;
}

}  // namespace

bool sample_ddim(Denoiser& model, float* x, int64_t n, const std::vector<float>& sigmas, const SampleParams& p) {
  return ddim_loop("ddim", false, model, x, n, sigmas, p);
}

bool sample_ddim_cfgpp(Denoiser& model, float* x, int64_t n, const std::vector<float>& sigmas, const SampleParams& p) {
  return ddim_loop("ddim_cfgpp", true, model, x, n, sigmas, p);
}

// A1111's plms (ldm PLMSSampler) in VP variables, over the sigmas of its timesteps: eps = (x − D)/σ,
// x_prev = √ᾱ_prev·pred_x0 + √(1−ᾱ_prev)·eps′ with eps′ a pseudo improved Euler step first (a second
// model call at the next level), then Adams–Bashforth of orders 2..4 over the earlier eps.
bool sample_plms(Denoiser& model, float* x, int64_t n, const std::vector<float>& sigmas, const SampleParams& p) {
  check_args("plms", x, n, sigmas);
  const int steps = int(sigmas.size()) - 1;
  std::vector<Buf> old_eps;  // oldest first, at most 3
  Buf den = buf(n), e_t = buf(n), e_prime = buf(n), x_next = buf(n);
  const auto level = [&](float s) { return s == 0 ? p.ddim_final_sigma : s; };
  // x (k-diffusion scaling at σ) → x_prev at ᾱ(σ_prev), returned times `up` (√(1+σ²) of the level the
  // caller scales to: σ_prev for a model input, 0 after the final step, as ddim leaves it).
  const auto step = [&](const float* xs, const float* e, float s, float s_prev, float s_out, float* out) {
    const float a_t = 1.0f / (1.0f + s * s), a_prev = 1.0f / (1.0f + s_prev * s_prev);
    const float c_in = 1.0f / std::sqrt(s * s + 1.0f), sq1m_at = std::sqrt(1.0f - a_t), sq_at = std::sqrt(a_t);
    const float dir = std::sqrt(1.0f - a_prev), sq_prev = std::sqrt(a_prev), up = std::sqrt(1.0f + s_out * s_out);
    for (int64_t k = 0; k < n; ++k) {
      const float pred_x0 = (xs[k] * c_in - sq1m_at * e[k]) / sq_at;
      out[k] = (sq_prev * pred_x0 + dir * e[k]) * up;
    }
  };
  for (int i = 0; i < steps; ++i) {
    const float s = sigmas[size_t(i)], s_prev = level(sigmas[size_t(i) + 1]);
    model.denoise(x, s, den.data());
    if (!report(p, i, steps, x, den.data(), s)) return false;
    to_d(x, den.data(), s, e_t.data(), n);
    const size_t h = old_eps.size();
    if (h == 0) {  // pseudo improved Euler (2nd order)
      step(x, e_t.data(), s, s_prev, s_prev, x_next.data());
      model.denoise(x_next.data(), s_prev, den.data());
      to_d(x_next.data(), den.data(), s_prev, e_prime.data(), n);
      for (int64_t k = 0; k < n; ++k) e_prime[size_t(k)] = (e_t[size_t(k)] + e_prime[size_t(k)]) / 2.0f;
    }
    for (int64_t k = 0; k < n; ++k) {
      const size_t q = size_t(k);
      if (h == 1) e_prime[q] = (3.0f * e_t[q] - old_eps[0][q]) / 2.0f;
      else if (h == 2) e_prime[q] = (23.0f * e_t[q] - 16.0f * old_eps[1][q] + 5.0f * old_eps[0][q]) / 12.0f;
      else if (h == 3)
        e_prime[q] = (55.0f * e_t[q] - 59.0f * old_eps[2][q] + 37.0f * old_eps[1][q] - 9.0f * old_eps[0][q]) / 24.0f;
    }
    step(x, e_prime.data(), s, s_prev, sigmas[size_t(i) + 1], x);
    old_eps.push_back(e_t);
    if (old_eps.size() == 4) old_eps.erase(old_eps.begin());
  }
  return true;
}

const std::vector<SamplerInfo>& samplers() {
  static const std::vector<SamplerInfo> table = {
      {"euler", sample_euler, false, "normal", false, {"Euler", "k_euler", "sample_euler", "EulerDiscreteScheduler"}},
      {"euler_ancestral", sample_euler_ancestral, true, "normal", false,
       {"Euler a", "euler_a", "k_euler_a", "k_euler_ancestral", "sample_euler_ancestral", "EulerAncestralDiscreteScheduler"}},
      {"heun", sample_heun, false, "normal", false, {"Heun", "k_heun", "sample_heun", "HeunDiscreteScheduler"}},
      {"dpm_2", sample_dpm_2, false, "karras", false, {"DPM2", "k_dpm_2", "sample_dpm_2", "KDPM2DiscreteScheduler"}, false, true},
      {"dpm_2_ancestral", sample_dpm_2_ancestral, true, "karras", false,
       {"DPM2 a", "dpm2_a", "k_dpm_2_a", "k_dpm_2_ancestral", "sample_dpm_2_ancestral", "KDPM2AncestralDiscreteScheduler"}, false, true},
      {"lms", sample_lms, false, "normal", false, {"LMS", "k_lms", "sample_lms", "LMSDiscreteScheduler"}},
      {"dpmpp_2m", sample_dpmpp_2m, false, "karras", false, {"DPM++ 2M", "dpm++2m", "k_dpmpp_2m", "sample_dpmpp_2m", "DPMSolverMultistepScheduler"}},
      {"dpmpp_2s_ancestral", sample_dpmpp_2s_ancestral, true, "karras", false,
       {"DPM++ 2S a", "dpm++2s_a", "dpmpp_2s_a", "k_dpmpp_2s_a", "k_dpmpp_2s_ancestral", "sample_dpmpp_2s_ancestral"}},
      {"dpmpp_2m_sde", sample_dpmpp_2m_sde, true, "exponential", false, {"DPM++ 2M SDE", "dpm++2m_sde", "k_dpmpp_2m_sde", "sample_dpmpp_2m_sde"}, false, false, true},
      {"dpmpp_2m_sde_heun", sample_dpmpp_2m_sde_heun, true, "exponential", false,
       {"DPM++ 2M SDE Heun", "dpm++2m_sde_heun", "k_dpmpp_2m_sde_heun"}, false, false, true},
      {"dpmpp_sde", sample_dpmpp_sde, true, "karras", false, {"DPM++ SDE", "dpm++sde", "k_dpmpp_sde", "sample_dpmpp_sde"}, false, false, true},
      {"dpmpp_3m_sde", sample_dpmpp_3m_sde, true, "exponential", false,
       {"DPM++ 3M SDE", "dpm++3m_sde", "k_dpmpp_3m_sde", "sample_dpmpp_3m_sde"}, false, true, true},
      {"ipndm", sample_ipndm, false, "normal", false, {"iPNDM", "sample_ipndm"}},
      {"ipndm_v", sample_ipndm_v, false, "normal", false, {"iPNDM_v", "sample_ipndm_v"}},
      {"ddim", sample_ddim, false, "ddim_uniform", true, {"DDIM", "DDIMScheduler"}},
      {"lcm", sample_lcm, true, "normal", false, {"LCM", "sample_lcm"}},
      {"uni_pc", sample_uni_pc, false, "normal", false, {"UniPC", "uni_pc_bh1", "sample_unipc"}},
      {"uni_pc_bh2", sample_uni_pc_bh2, false, "normal", false, {"UniPC bh2", "sample_unipc_bh2"}},
      {"plms", sample_plms, false, "ddim_uniform", true, {"PLMS"}},
      {"dpm_fast", sample_dpm_fast, true, "normal", false, {"DPM fast", "k_dpm_fast", "sample_dpm_fast"}},
      {"dpm_adaptive", sample_dpm_adaptive, true, "normal", false, {"DPM adaptive", "k_dpm_ad", "sample_dpm_adaptive"}},
      {"restart", sample_restart, true, "karras", false, {"Restart", "restart_sampler"}},
      {"ddim_cfgpp", sample_ddim_cfgpp, false, "ddim_uniform", true, {"DDIM CFG++"}, true},
  };
  return table;
}

std::vector<std::string> sampler_names() {
  std::vector<std::string> out;
  for (const auto& s : samplers()) out.emplace_back(s.name);
  return out;
}

const SamplerInfo* find_sampler(const std::string& name) {
  for (const auto& s : samplers())
    if (name == s.name) return &s;
  return nullptr;
}

const SamplerInfo& sampler(const std::string& name) {
  if (const SamplerInfo* s = find_sampler(name)) return *s;
  std::string known;
  for (const auto& s : samplers()) known += (known.empty() ? "" : ", ") + std::string(s.name);
  throw Error("unknown sampler \"" + name + "\"; known: " + known);
}

float init_noise_scale(const SamplerInfo& s, float sigma0) {
  return s.vp_endpoints ? std::sqrt(1.0f + sigma0 * sigma0) : sigma0;
}

}  // namespace sd::sample
