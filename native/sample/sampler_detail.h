// Internal helpers shared by the sampler files: buffers, the step callback, noise draws and the f32
// scalar math k-diffusion does on 0-dim tensors. Not part of the public API.
#pragma once
#include <cmath>
#include <string>
#include <vector>

#include "../core/error.h"
#include "sampler.h"

namespace sd::sample::detail {

using Buf = std::vector<float>;
inline Buf buf(int64_t n) { return Buf(static_cast<size_t>(n)); }

inline void check_args(const char* name, const float* x, int64_t n, const std::vector<float>& sigmas) {
  if (sigmas.size() < 2)
    throw Error(std::string(name) + ": sigmas needs at least 2 entries (1 step), got " +
                std::to_string(sigmas.size()));
  if (x == nullptr || n <= 0) throw Error(std::string(name) + ": empty latent");
}

inline NoiseSource& need_noise(const char* name, const SampleParams& p) {
  if (!p.noise) throw Error(std::string(name) + " draws noise: SampleParams.noise must be set");
  return *p.noise;
}

// An SDE sampler's noise_sampler(σ, σ_next): the Brownian tree when given, else one p.noise draw.
inline void sde_noise(const char* name, const SampleParams& p, float sigma, float sigma_next, float* out) {
  if (p.interval_noise) p.interval_noise->draw(sigma, sigma_next, out);
  else need_noise(name, p).next(out);
}

inline bool report(const SampleParams& p, int i, int steps, const float* x, const float* den, float sigma) {
  return p.on_step == nullptr || p.on_step(p.user, i, steps, x, den, sigma);
}

// The f32 transcendental k-diffusion applies to a sigma, correctly rounded (f64 then round once).
inline float log_f(float v) { return float(std::log(double(v))); }
inline float exp_f(float v) { return float(std::exp(double(v))); }
inline float expm1_f(float v) { return float(std::expm1(double(v))); }
// torch.lerp(a, b, w) for w >= 0.5 (the branch k-diffusion's weight 0.5 takes).
inline float lerp_half(float a, float b) { return b - (b - a) * 0.5f; }

// d = (x − denoised) / σ   (k-diffusion to_d)
inline void to_d(const float* x, const float* den, float sigma, float* d, int64_t n) {
  for (int64_t k = 0; k < n; ++k) d[k] = (x[k] - den[k]) / sigma;
}
// x += d · dt
inline void axpy(float* x, const float* d, float dt, int64_t n) {
  for (int64_t k = 0; k < n; ++k) x[k] = x[k] + d[k] * dt;
}
// x += noise · s_noise · scale
inline void add_noise(float* x, const float* noise, float s_noise, float scale, int64_t n) {
  for (int64_t k = 0; k < n; ++k) x[k] = x[k] + noise[k] * s_noise * scale;
}

// The ancestral "x += noise · s_noise · σ_up" step. k-diffusion draws even when σ_up = 0 (eta = 0);
// so do we when a source is given (the stream stays aligned), and without one only σ_up = 0 is allowed.
inline void ancestral_noise(const char* name, const SampleParams& p, float sigma_up, float* x, float* noise, int64_t n) {
  if (p.noise == nullptr && sigma_up == 0.0f) return;
  need_noise(name, p).next(noise);
  add_noise(x, noise, p.s_noise, sigma_up, n);
}

}  // namespace sd::sample::detail
