// Samplers: pure functions of (denoiser, x, sigmas, noise source, step callback), each following its
// reference step for step (crowsonkb/k-diffusion 4601bf08 sampling.py; LCM as in ComfyUI/A1111; DDIM as
// CompVis ddim.py), in f32 with the reference's order of operations, so goldens match to ~1e-7.
//
// x is in k-diffusion scaling (x = x₀ + σ·ε); the usual start is x = noise·sigmas[0]
// (init_noise_scale gives the factor per sampler). The latent is n floats: the whole batch, CFG and
// the model live behind the Denoiser.
//
//   struct Toy : sd::sample::Denoiser {            // D(x, σ) = x / (1 + σ²)
//     int64_t n; void denoise(const float* x, float s, float* d) override { for (...) d[i] = x[i] / (1 + s*s); }
//   };
//   sd::sample::SampleParams p;  p.noise = &my_noise;  p.on_step = cb;  p.user = &state;
//   bool done = sd::sample::sampler("dpmpp_2m").fn(toy, x.data(), n, sigmas, p);  // false = cancelled
#pragma once
#include <cstdint>
#include <limits>
#include <string>
#include <vector>

namespace sd::sample {

// D(x, σ): the model's estimate of the clean latent. x and denoised hold n floats (whole batch).
struct Denoiser {
  virtual ~Denoiser() = default;
  virtual void denoise(const float* x, float sigma, float* denoised) = 0;
  // The unconditional prediction of the last denoise call (n floats), for CFG++ samplers; null when
  // that call made none (no CFG), the prediction then being its own unconditional one.
  virtual const float* last_uncond() const { return nullptr; }
};

// Fills one latent-sized standard-normal draw per call (A1111: one randn_like = one call).
struct NoiseSource {
  virtual ~NoiseSource() = default;
  virtual void next(float* out) = 0;
};

// k-diffusion's noise_sampler(σ, σ_next) of the SDE samplers: a standard normal (n floats) made of
// the Brownian increment between the two sigmas (BrownianNoise in brownian_tree.h).
struct IntervalNoise {
  virtual ~IntervalNoise() = default;
  virtual void draw(float sigma, float sigma_next, float* out) = 0;
};

// Called once per step, after the step's first model call: x before step i, that call's denoised.
// Return false to cancel; the sampler then returns false at once, x holding the state before step i.
using StepCallback = bool (*)(void* user, int step, int steps, const float* x, const float* denoised, float sigma);

struct SampleParams {
  NoiseSource* noise = nullptr;  // required by ancestral samplers, lcm, ddim with eta > 0, churn
  // The SDE samplers (SamplerInfo::brownian_noise) draw from this when set, as A1111 runs them; without
  // it each of their noise_sampler calls is one p.noise draw (fixed noise lists in tests).
  IntervalNoise* interval_noise = nullptr;
  float eta = 1.0f;              // ancestral samplers (0 = deterministic); ddim uses ddim_eta
  float s_noise = 1.0f;
  // euler/heun/dpm_2 churn (Karras et al. Algorithm 2); 0 = off, as every UI uses them.
  float s_churn = 0.0f, s_tmin = 0.0f, s_tmax = std::numeric_limits<float>::infinity();
  // k-diffusion's euler/heun/dpm_2 (and A1111's DDIM) call randn_like at every step even when the
  // draw is unused (s_churn = 0, eta = 0) and throw it away. A1111's per-image "NV"/CPU generators
  // advance with each call, so set this to keep later noise offsets (hires fix, img2img) aligned.
  bool draw_unused_noise = false;
  int lms_order = 4;
  float ddim_eta = 0.0f;
  // DDIM's last step goes to ᾱ_prev = 1/(1+final_sigma²) when sigmas ends in 0. CompVis DDIMSampler
  // uses ᾱ[0] (set final_sigma = schedule.sigma_min()); 0 means ᾱ_prev = 1 ("set_alpha_to_one").
  float ddim_final_sigma = 0.0f;
  // dpm_fast / dpm_adaptive integrate from dpm_sigma_max down to dpm_sigma_min rather than walking
  // sigmas (A1111 txt2img passes the model's table ends); 0 = sigmas[0] and the last sigma above 0
  // (A1111 img2img). Only the step count is taken from sigmas then.
  float dpm_sigma_min = 0.0f, dpm_sigma_max = 0.0f;
  StepCallback on_step = nullptr;
  void* user = nullptr;
};

// Returns true when all steps ran, false when on_step cancelled. Throws sd::Error on bad input
// (a sampler that needs noise without a NoiseSource, sigmas with fewer than 2 entries).
using SamplerFn = bool (*)(Denoiser& model, float* x, int64_t n, const std::vector<float>& sigmas,
                           const SampleParams& p);

bool sample_euler(Denoiser&, float* x, int64_t n, const std::vector<float>& sigmas, const SampleParams&);
bool sample_euler_ancestral(Denoiser&, float* x, int64_t n, const std::vector<float>& sigmas, const SampleParams&);
bool sample_heun(Denoiser&, float* x, int64_t n, const std::vector<float>& sigmas, const SampleParams&);
bool sample_dpm_2(Denoiser&, float* x, int64_t n, const std::vector<float>& sigmas, const SampleParams&);
bool sample_dpm_2_ancestral(Denoiser&, float* x, int64_t n, const std::vector<float>& sigmas, const SampleParams&);
bool sample_lms(Denoiser&, float* x, int64_t n, const std::vector<float>& sigmas, const SampleParams&);
bool sample_dpmpp_2m(Denoiser&, float* x, int64_t n, const std::vector<float>& sigmas, const SampleParams&);
bool sample_dpmpp_2s_ancestral(Denoiser&, float* x, int64_t n, const std::vector<float>& sigmas, const SampleParams&);
// Midpoint 2M SDE; noise from p.interval_noise (k-diffusion's Brownian tree, seed-exact with A1111).
bool sample_dpmpp_2m_sde(Denoiser&, float* x, int64_t n, const std::vector<float>& sigmas, const SampleParams&);
// The same with solver_type 'heun' (A1111 "DPM++ 2M SDE Heun").
bool sample_dpmpp_2m_sde_heun(Denoiser&, float* x, int64_t n, const std::vector<float>& sigmas, const SampleParams&);
// samplers_extra.cpp. DPM++ SDE / 3M SDE draw their noise like 2M SDE.
bool sample_dpmpp_sde(Denoiser&, float* x, int64_t n, const std::vector<float>& sigmas, const SampleParams&);
bool sample_dpmpp_3m_sde(Denoiser&, float* x, int64_t n, const std::vector<float>& sigmas, const SampleParams&);
bool sample_ipndm(Denoiser&, float* x, int64_t n, const std::vector<float>& sigmas, const SampleParams&);
bool sample_ipndm_v(Denoiser&, float* x, int64_t n, const std::vector<float>& sigmas, const SampleParams&);
// samplers_unipc.cpp: ComfyUI's sigma-space UniPC (B(h) = h, and bh2: B(h) = eʰ − 1).
bool sample_uni_pc(Denoiser&, float* x, int64_t n, const std::vector<float>& sigmas, const SampleParams&);
bool sample_uni_pc_bh2(Denoiser&, float* x, int64_t n, const std::vector<float>& sigmas, const SampleParams&);
// A1111's PLMS over its timesteps' sigmas, VP endpoints like ddim (ddim_final_sigma for a final 0).
bool sample_plms(Denoiser&, float* x, int64_t n, const std::vector<float>& sigmas, const SampleParams&);
// samplers_dpm_solver.cpp: k-diffusion's DPM-Solver between p.dpm_sigma_max and p.dpm_sigma_min (see
// there), eta and noise as the ancestral samplers. dpm_fast makes len(sigmas) − 1 model calls;
// dpm_adaptive as many as its error control needs (3 per try), whatever sigmas holds.
bool sample_dpm_fast(Denoiser&, float* x, int64_t n, const std::vector<float>& sigmas, const SampleParams&);
bool sample_dpm_adaptive(Denoiser&, float* x, int64_t n, const std::vector<float>& sigmas, const SampleParams&);
// samplers_restart.cpp: A1111's restart_sampler (from 20 steps on, its own karras steps plus restarts).
bool sample_restart(Denoiser&, float* x, int64_t n, const std::vector<float>& sigmas, const SampleParams&);
// A1111's ddim_cfgpp: DDIM re-noising with Denoiser::last_uncond(); run it with a CfgDenoiser in
// CFG++ mode (guidance scale / 12.5, uncond pass at every scale).
bool sample_ddim_cfgpp(Denoiser&, float* x, int64_t n, const std::vector<float>& sigmas, const SampleParams&);
bool sample_lcm(Denoiser&, float* x, int64_t n, const std::vector<float>& sigmas, const SampleParams&);
bool sample_ddim(Denoiser&, float* x, int64_t n, const std::vector<float>& sigmas, const SampleParams&);

// k-diffusion helpers, exposed for tests.
struct AncestralStep { float sigma_down, sigma_up; };
AncestralStep get_ancestral_step(float sigma_from, float sigma_to, float eta = 1.0f);
// ∫_{t[i]}^{t[i+1]} Π_{k≠j} (τ − t[i−k]) / (t[i−j] − t[i−k]) dτ (Gauss–Legendre, exact for these polynomials).
double linear_multistep_coeff(int order, const std::vector<float>& t, int i, int j);

struct SamplerInfo {
  const char* name;           // canonical (k-diffusion) name: "euler_ancestral", "dpmpp_2m", …
  SamplerFn fn;
  bool needs_noise;           // draws noise (with eta/ddim_eta at their defaults)
  const char* default_scheduler;  // what A1111 "Automatic" means for it
  // DDIM works in VP variables: it starts from x_T = noise (noise·√(1+σ₀²) here) and its last step
  // lands on ᾱ[0] (the schedule's sigma_min), as CompVis DDIMSampler does.
  bool vp_endpoints;
  // Other spellings users bring: A1111 label first, then sd.cpp, k-diffusion / A1111 internal, diffusers.
  std::vector<const char*> aliases;
  // CFG++ (A1111 "DDIM CFG++"): the runtime's CfgDenoiser divides the guidance scale by 12.5 and
  // always runs the unconditional pass, whose prediction the sampler reads through last_uncond().
  bool cfg_pp = false;
  // A1111's discard_next_to_last_sigma (DPM2, DPM2 a, DPM++ 3M SDE): the schedule is made for one
  // step more and its next-to-last sigma dropped, so the last step is not a tiny one into sigma_min.
  bool discard_penultimate_sigma = false;
  // A1111's brownian_noise (the SDE samplers): noise from a BrownianNoise seeded per image over the
  // schedule's sigma range, set as SampleParams::interval_noise.
  bool brownian_noise = false;
};

const std::vector<SamplerInfo>& samplers();
std::vector<std::string> sampler_names();
const SamplerInfo* find_sampler(const std::string& name);  // nullptr if unknown
const SamplerInfo& sampler(const std::string& name);        // throws sd::Error listing the known names

// Factor for the initial noise: x = noise · init_noise_scale. k-diffusion samplers start at
// noise·σ₀; ddim starts from x_T = noise in VP space, i.e. noise·√(1+σ₀²) in k-diffusion scaling.
float init_noise_scale(const SamplerInfo& sampler, float sigma0);

// The n + 1 sigmas a sampler runs n steps over: sigmas (made for n + 1 steps when the sampler
// discards the next-to-last one; make(steps) builds a schedule), as A1111's get_sigmas.
template <class MakeSigmas>
std::vector<float> sampler_sigmas(const SamplerInfo& sampler, int n, MakeSigmas make) {
  if (!sampler.discard_penultimate_sigma) return make(n);
  std::vector<float> s = make(n + 1);
  s.erase(s.end() - 2);
  return s;
}

}  // namespace sd::sample
