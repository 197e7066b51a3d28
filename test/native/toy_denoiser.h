// The toy denoiser the sampler goldens were made with, D(x, σ) = x/(1+σ²), recording every call's
// input, the golden's noise list as a NoiseSource, and rel-L2 of two float vectors (∞ when their
// sizes differ).
#pragma once
#include <cmath>
#include <cstring>
#include <string>
#include <vector>

#include "../../native/core/error.h"
#include "../../native/io/safetensors.h"
#include "../../native/sample/sampler.h"
#include "golden.h"
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

// The k-th draw is draws[k·n .. (k+1)·n).
struct ListNoise : sd::sample::NoiseSource {
  const std::vector<float>& draws;
  int64_t n;
  size_t calls = 0;
  ListNoise(const std::vector<float>& d, int64_t n_) : draws(d), n(n_) {}
  void next(float* out) override {
    if ((calls + 1) * size_t(n) > draws.size()) throw sd::Error("ListNoise exhausted");
    std::memcpy(out, draws.data() + calls * size_t(n), size_t(n) * 4);
    ++calls;
  }
};

inline double rel(const std::vector<float>& got, const std::vector<float>& want) {
  if (got.size() != want.size()) return INFINITY;
  return harness::rel_l2(got.data(), want.data(), int64_t(want.size()));
}

// One sampler run on `model` from x, compared with golden.output.<key> and golden.calls.<key>.{x,sigma}.
struct GoldenRun {
  bool done;
  double out, xs, sigmas;  // rel-L2 of the output, of every model input, of their sigmas
  size_t nfe, want_nfe;
};
inline GoldenRun run_vs_golden(const sd::io::SafetensorsFile& g, const std::string& key, const char* name, RecordingToy& model,
                               std::vector<float>& x, const std::vector<float>& sigmas, const sd::sample::SampleParams& p) {
  const bool done = sd::sample::sampler(name).fn(model, x.data(), int64_t(x.size()), sigmas, p);
  const std::vector<float> want_s = golden::floats(g, "golden.calls." + key + ".sigma");
  return {done, rel(x, golden::floats(g, "golden.output." + key)), rel(model.xs, golden::floats(g, "golden.calls." + key + ".x")),
          rel(model.sigmas, want_s), model.sigmas.size(), want_s.size()};
}

}  // namespace toy
