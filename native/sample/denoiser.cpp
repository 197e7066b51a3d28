#include "fp_exact.h"  // first: no FMA contraction in this file
#include "denoiser.h"

#include <algorithm>
#include <cmath>

#include "../core/error.h"

namespace sd::sample {

Scalings scalings(Prediction pred, float sigma) {
  const float s2p1 = sigma * sigma + 1.0f;
  const float c_in = 1.0f / std::sqrt(s2p1);
  if (pred == Prediction::Eps) return {1.0f, -sigma, c_in};
  return {1.0f / s2p1, -sigma / std::sqrt(s2p1), c_in};
}

void model_output_to_denoised(Prediction pred, float sigma, const float* x, const float* out, float* denoised,
                              int64_t n) {
  const Scalings c = scalings(pred, sigma);
  if (pred == Prediction::Eps) {  // input + eps·c_out, as CompVisDenoiser writes it
    for (int64_t k = 0; k < n; ++k) denoised[k] = x[k] + out[k] * c.c_out;
  } else {  // out·c_out + input·c_skip (CompVisVDenoiser)
    for (int64_t k = 0; k < n; ++k) denoised[k] = out[k] * c.c_out + x[k] * c.c_skip;
  }
}

void denoised_to_model_output(Prediction pred, float sigma, const float* x, const float* denoised, float* out,
                              int64_t n) {
  const Scalings c = scalings(pred, sigma);
  for (int64_t k = 0; k < n; ++k) out[k] = (denoised[k] - x[k] * c.c_skip) / c.c_out;
}

void denoised_to_eps(float sigma, const float* x, const float* denoised, float* eps, int64_t n) {
  for (int64_t k = 0; k < n; ++k) eps[k] = (x[k] - denoised[k]) / sigma;
}

void eps_to_denoised(float sigma, const float* x, const float* eps, float* denoised, int64_t n) {
  for (int64_t k = 0; k < n; ++k) denoised[k] = x[k] - sigma * eps[k];
}

void cfg_combine(const float* den_uncond, const float* den_cond, float scale, float* den, int64_t n) {
  for (int64_t k = 0; k < n; ++k) den[k] = den_uncond[k] + (den_cond[k] - den_uncond[k]) * scale;
}

void cfg_rescale_combine(const float* x, const float* den_uncond, const float* den_cond, float scale, float phi, float sigma,
                         float* den, int64_t n, int images) {
  const int64_t per = n / images;
  const double s2 = double(sigma) * sigma + 1.0, root = std::sqrt(s2);
  std::vector<double> v_c(static_cast<size_t>(per)), v_cfg(static_cast<size_t>(per));
  // unbiased standard deviation, as torch.std
  auto stddev = [per](const std::vector<double>& v) {
    double mean = 0, ss = 0;
    for (double a : v) mean += a;
    mean /= double(per);
    for (double a : v) ss += (a - mean) * (a - mean);
    return std::sqrt(ss / double(per - 1));
  };
  for (int i = 0; i < images; ++i) {
    const int64_t o = i * per;
    for (int64_t k = 0; k < per; ++k) {
      const double xs = x[o + k] / s2;  // the model's input in v space
      const double vc = (xs - den_cond[o + k]) * root / sigma, vu = (xs - den_uncond[o + k]) * root / sigma;
      v_c[size_t(k)] = vc;
      v_cfg[size_t(k)] = vu + scale * (vc - vu);
    }
    const double ratio = stddev(v_c) / stddev(v_cfg);
    for (int64_t k = 0; k < per; ++k) {
      const double v = phi * v_cfg[size_t(k)] * ratio + (1.0 - phi) * v_cfg[size_t(k)];
      den[o + k] = float(x[o + k] / s2 - v * sigma / root);
    }
  }
}

CfgDenoiser::CfgDenoiser(BatchModel& model, const DiscreteSchedule& sched, Prediction pred, float cfg_scale,
                         int64_t n, int batch_images)
    : model_(model), sched_(sched), pred_(pred), scale_(cfg_scale), n_(n), batch_(batch_images) {
  if (n <= 0 || batch_images <= 0 || n % batch_images != 0)
    throw Error("CfgDenoiser: latent of " + std::to_string(n) + " floats does not split into " +
                std::to_string(batch_images) + " images");
  two_pass_ = scale_ != 1.0f;
  x_in_.resize(size_t(2 * n));
  out_.resize(x_in_.size());
  den_u_.resize(static_cast<size_t>(n));
  den_c_.resize(static_cast<size_t>(n));
}

void CfgDenoiser::set_cfg_pp() {
  scale_ = float(double(scale_) * (1.0 / 12.5));  // A1111: cond_scale * cond_scale_miltiplier, in Python floats
  two_pass_ = true;
}

void CfgDenoiser::denoise(const float* x, float sigma, float* denoised) {
  const Scalings c = scalings(pred_, sigma);
  const float t = sched_.sigma_to_t(sigma);
  if (!two_pass_) {  // conditional only
    for (int64_t k = 0; k < n_; ++k) x_in_[size_t(k)] = x[k] * c.c_in;
    model_.forward(x_in_.data(), batch_, t, out_.data());
    model_output_to_denoised(pred_, sigma, x, out_.data(), denoised, n_);
    return;
  }
  // One batch [uncond; cond] of the same input.
  for (int64_t k = 0; k < n_; ++k) x_in_[size_t(k)] = x_in_[size_t(n_ + k)] = x[k] * c.c_in;
  model_.forward(x_in_.data(), 2 * batch_, t, out_.data());
  model_output_to_denoised(pred_, sigma, x, out_.data(), den_u_.data(), n_);
  model_output_to_denoised(pred_, sigma, x, out_.data() + n_, den_c_.data(), n_);
  if (rescale_ > 0 && sigma > 0) cfg_rescale_combine(x, den_u_.data(), den_c_.data(), scale_, rescale_, sigma, denoised, n_, batch_);
  else cfg_combine(den_u_.data(), den_c_.data(), scale_, denoised, n_);
}

}  // namespace sd::sample
