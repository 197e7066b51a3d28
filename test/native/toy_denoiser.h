// The toy denoiser the sampler goldens were made with, D(x, σ) = x/(1+σ²), recording every call's
// input, and rel-L2 of two float vectors (∞ when their sizes differ).
#pragma once
#include <cmath>
#include <vector>

#include "../../native/sample/sampler.h"
#include "harness.h"

namespace toy {

struct RecordingToy : sd::sample::Denoiser {
  int64_t n;
  std::vector<float> xs, sigmas;
  explicit RecordingToy(int64_t n_) : n(n_) {}
  void denoise(const float* x, float sigma, float* d) override {
    xs.insert(xs.end(), x, x + n);
    sigmas.push_back(sigma);
    const float den = 1.0f + sigma * sigma;
    for (int64_t k = 0; k < n; ++k) d[k] = x[k] / den;
  }
};

inline double rel(const std::vector<float>& got, const std::vector<float>& want) {
  if (got.size() != want.size()) return INFINITY;
  return harness::rel_l2(got.data(), want.data(), int64_t(want.size()));
}

}  // namespace toy
