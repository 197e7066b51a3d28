// Per-image noise for a batch, as A1111 draws it (modules/rng.py ImageRNG): one generator per image,
// seeded with that image's seed; each next() is one randn of every image's generator, written image
// after image. The first call is the initial latent noise; every later call is one randn_like of the
// sampler. kind "cpu" = torch's CPU generator, "cuda"/"nv" = A1111's Philox imitation of CUDA.
//
//   sd::sample::ImageNoise noise(sd::sample::RngKind::Philox, sd::sample::consecutive_seeds(seed, 2), 4 * 64 * 64);
//   noise.next(x.data());                            // initial noise for both images (offset 0)
//   params.noise = &noise;                           // the sampler continues the streams
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "rng_philox.h"
#include "rng_torch_cpu.h"
#include "sampler.h"

namespace sd::sample {

enum class RngKind { Cpu, Philox };
// "cpu" → Cpu; "cuda", "gpu", "nv", "philox" → Philox (case-sensitive). Throws sd::Error otherwise.
RngKind rng_kind_from_name(const std::string& name);

// A1111 batch seeds: seed, seed+1, … (uint64 wrap-around).
std::vector<uint64_t> consecutive_seeds(uint64_t seed, int count);

// cpu_kernel: which torch CPU build to imitate: Avx2 is what torch uses on x86 machines with AVX2
// (A1111's usual host), Default the libm kernel of other builds (see rng_torch_cpu.h).
class ImageNoise : public NoiseSource {
 public:
  ImageNoise(RngKind kind, const std::vector<uint64_t>& seeds, int64_t per_image,
             TorchCpuGenerator::Kernel cpu_kernel = TorchCpuGenerator::Kernel::Avx2);
  void next(float* out) override;  // out: seeds.size() × per_image floats
  // A1111 eta_noise_seed_delta: after the first call the generators restart from seed + delta.
  void reseed(const std::vector<uint64_t>& seeds);
  int images() const { return int(seeds_.size()); }
  int64_t per_image() const { return per_image_; }
  int calls() const { return calls_; }

 private:
  RngKind kind_;
  TorchCpuGenerator::Kernel cpu_kernel_;
  std::vector<uint64_t> seeds_;
  int64_t per_image_;
  int calls_ = 0;
  std::vector<TorchCpuGenerator> cpu_;
  std::vector<PhiloxGenerator> philox_;
};

}  // namespace sd::sample
