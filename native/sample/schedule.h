// Noise schedules: the discrete DDPM table of a Stable Diffusion model, and the sigma arrays the
// samplers walk. Pure host code, no state beyond the table.
//
// The table follows CompVis DDPM.register_schedule("linear") = diffusers "scaled_linear":
// betas = linspace(√β₀, √β₁, T)² in f64, ᾱ = cumprod(1−β), stored f32. k-diffusion's sigmas are
// √((1−ᾱ)/ᾱ) computed in f32 from the f32 ᾱ (ascending, index = timestep t), and the arithmetic
// below is done in f32 in k-diffusion's order, so results agree with it to ~1 ulp.
//
//   auto sched = sd::sample::DiscreteSchedule::scaled_linear();   // SD1/SD2/SDXL
//   std::vector<float> sigmas = sd::sample::make_sigmas(sched, sd::sample::Scheduler::Karras, 20);
//   // sigmas.size() == 21, sigmas.back() == 0; UNet timestep for sigma s: sched.sigma_to_t(s)
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace sd::sample {

class DiscreteSchedule {
 public:
  // CompVis "linear" schedule (scaled-linear betas); SD 1.x/2.x/XL all use the defaults.
  static DiscreteSchedule scaled_linear(int timesteps = 1000, double linear_start = 0.00085,
                                        double linear_end = 0.012);
  // From an ᾱ table (ascending t), e.g. one read from a checkpoint.
  static DiscreteSchedule from_alphas_cumprod(const std::vector<float>& alphas_cumprod);

  int size() const { return int(sigmas_.size()); }
  const std::vector<float>& alphas_cumprod() const { return alphas_cumprod_; }  // f32, ascending t
  const std::vector<float>& sigmas() const { return sigmas_; }                  // f32, ascending t
  const std::vector<float>& log_sigmas() const { return log_sigmas_; }
  float sigma_min() const { return sigmas_.front(); }
  float sigma_max() const { return sigmas_.back(); }

  // k-diffusion DiscreteSchedule.sigma_to_t: linear interpolation in log sigma, fractional t,
  // clamped to [0, T-1]. quantize = nearest table entry in log sigma.
  float sigma_to_t(float sigma, bool quantize = false) const;
  // k-diffusion t_to_sigma: exp of the log-sigma interpolation at fractional t.
  float t_to_sigma(float t) const;

 private:
  std::vector<float> alphas_cumprod_, sigmas_, log_sigmas_;
};

enum class Scheduler {
  Normal,       // k-diffusion get_sigmas(n): t = linspace(T-1, 0, n) (A1111 "Automatic"/"Uniform", ComfyUI normal, sd.cpp discrete)
  Karras,       // Karras et al. rho = 7 between the table's sigma_min and sigma_max
  Exponential,  // uniform in log sigma
  SgmUniform,   // t = linspace(T-1, 0, n+1)[:-1] (ComfyUI / A1111 "SGM Uniform")
  Simple,       // ComfyUI simple: every T/n-th table sigma from the top
  DdimUniform,  // ComfyUI ddim_uniform = CompVis DDIM "uniform" timesteps [.., 2c+1, c+1, 1], c = T/n
  AlignYourSteps,  // A1111 "Align Your Steps": NVIDIA's SD1/SDXL lists, log-linear to n (schedule_extra.h)
  Gits,            // ComfyUI GITS, coeff 1.20
  Beta,            // A1111 "Beta", alpha = beta = 0.6
  KlOptimal,       // A1111 "KL Optimal" (ends at sigma_min, no 0)
};

// n+1 sigmas, descending, the last one 0 (KL Optimal: sigma_min, as A1111). Throws sd::Error for
// n < 1 (GITS: n < 2). sdxl picks Align Your Steps' SDXL list; the other schedules ignore it.
std::vector<float> make_sigmas(const DiscreteSchedule& sched, Scheduler kind, int n, bool sdxl = false);

// The individual constructions (k-diffusion names).
std::vector<float> sigmas_karras(int n, float sigma_min, float sigma_max, float rho = 7.0f);
std::vector<float> sigmas_exponential(int n, float sigma_min, float sigma_max);

// Canonical names ("normal", "karras", "exponential", "sgm_uniform", "simple", "ddim_uniform",
// "align_your_steps", "align_your_steps_gits", "beta", "kl_optimal")
// (the aliases below are resolved to them by lib/options.ts from the contract). scheduler_from_name throws sd::Error listing the known names.
Scheduler scheduler_from_name(const std::string& name);
std::vector<std::string> scheduler_names();
// Other spellings of a canonical name (A1111 labels, sd.cpp names); empty for an unknown name.
std::vector<const char*> scheduler_aliases(const std::string& name);

// torch.linspace's float32 arithmetic (step = (end-start)/(n-1); the first half counts up from
// start, the second half down from end), exposed for tests.
std::vector<float> linspace_f32(float start, float end, int n);

}  // namespace sd::sample
