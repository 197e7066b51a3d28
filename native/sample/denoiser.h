// From a network's output to the denoiser the samplers use, and classifier-free guidance.
//
// k-diffusion scalings (sigma_data = 1), D(x, σ) = x·c_skip + F(x·c_in, t(σ))·c_out:
//   eps prediction (CompVisDenoiser):  c_skip = 1,          c_out = −σ,          c_in = 1/√(σ²+1)
//   v prediction (CompVisVDenoiser):   c_skip = 1/(σ²+1),   c_out = −σ/√(σ²+1),  c_in = 1/√(σ²+1)
// and eps = (x − D)/σ for either (k-diffusion to_d).
//
// CFG: den = den_u + (den_c − den_u)·scale, from ONE model call on a batch of 2B latents
// [uncond × B; cond × B] (diffusers order; A1111 puts cond first: the per-sample math is the same).
//
//   struct MyUnet : sd::sample::BatchModel { void forward(const float* x_in, int batch, float t, float* out) override; };
//   sd::sample::CfgDenoiser den(unet, sched, sd::sample::Prediction::Eps, 7.5f, latent_floats);
//   sd::sample::sample_euler(den, x, latent_floats, sigmas, params);
#pragma once
#include <cstdint>
#include <vector>

#include "sampler.h"
#include "schedule.h"

namespace sd::sample {

enum class Prediction { Eps, V };

struct Scalings { float c_skip, c_out, c_in; };
Scalings scalings(Prediction pred, float sigma);

// denoised = x·c_skip + out·c_out  (out = the network's eps or v for input x·c_in)
void model_output_to_denoised(Prediction pred, float sigma, const float* x, const float* out, float* denoised, int64_t n);
// The inverse: the network output that would give this denoised.
void denoised_to_model_output(Prediction pred, float sigma, const float* x, const float* denoised, float* out, int64_t n);
// eps = (x − denoised)/σ and back (x = x_t·√(1+σ²), the k-diffusion scaling).
void denoised_to_eps(float sigma, const float* x, const float* denoised, float* eps, int64_t n);
void eps_to_denoised(float sigma, const float* x, const float* eps, float* denoised, int64_t n);

// den = den_u + (den_c − den_u)·scale over n floats (den_u, den_c may be the two halves of one buffer).
void cfg_combine(const float* den_uncond, const float* den_cond, float scale, float* den, int64_t n);
// CFG with rescale φ (ComfyUI's RescaleCFG, "Rescale CFG"): in v space per image, the CFG result is
// scaled to the conditional prediction's standard deviation and mixed back by φ; curbs the
// over-saturation of high scales (zero-terminal-SNR models need it).
void cfg_rescale_combine(const float* x, const float* den_uncond, const float* den_cond, float scale, float phi, float sigma,
                         float* den, int64_t n, int images);

// The network: out[b] = F(x_in[b], t) for a batch (of 2B with CFG), each element n/batch floats.
// Conditioning (context, y) is bound by whoever implements it, in the same batch order.
struct BatchModel {
  virtual ~BatchModel() = default;
  virtual void forward(const float* x_in, int batch, float t, float* out) = 0;
};

// Denoiser over a BatchModel with optional CFG. With scale == 1 (or cfg disabled) it runs the
// conditional half only, as A1111 and ComfyUI skip the uncond pass at scale 1.
class CfgDenoiser : public Denoiser {
 public:
  // n: floats of one batch of latents (B images); batch_images: B.
  CfgDenoiser(BatchModel& model, const DiscreteSchedule& sched, Prediction pred, float cfg_scale,
              int64_t n, int batch_images = 1);
  void denoise(const float* x, float sigma, float* denoised) override;
  void set_rescale(float phi) { rescale_ = phi; }
  // CFG++ (A1111's ddim_cfgpp): guidance scale / 12.5, mapping [0, 12.5] onto [0, 1], and the
  // unconditional pass at every scale (the sampler re-noises with it).
  void set_cfg_pp();
  // The two halves of the last call; last_uncond is null after a conditional-only call (scale 1).
  const float* last_uncond() const override { return two_pass_ ? den_u_.data() : nullptr; }
  const float* last_cond() const { return den_c_.data(); }

 private:
  BatchModel& model_;
  const DiscreteSchedule& sched_;
  Prediction pred_;
  float scale_, rescale_ = 0;
  bool two_pass_;
  int64_t n_;
  int batch_;
  std::vector<float> x_in_, out_, den_u_, den_c_;
};

}  // namespace sd::sample
