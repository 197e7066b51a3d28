// A1111's "NV" noise (modules/rng_philox.py): what torch.randn(device="cuda") gives, on any machine.
//
// Element i of a call = Philox4x32-10 with counter (offset, 0, i, 0) and key (seed lo32, seed hi32);
// outputs (x, y) → u = x·2^-32 + 2^-33, v = y·C + C/2 (C = 2^-32·float32(2π)), n = √(−2 ln u)·sin v in
// double, rounded to float. Each randn call uses the current offset and then adds 1, whatever its
// size. Unlike torch's CPU generator, the high 32 bits of the seed matter.
//
//   sd::sample::PhiloxGenerator g(seed);
//   g.randn(latent, 4 * 64 * 64);   // initial noise (offset 0); the sampler's draws are offsets 1, 2, …
#pragma once
#include <array>
#include <cstdint>

namespace sd::sample {

std::array<uint32_t, 4> philox4x32_10(std::array<uint32_t, 4> counter, std::array<uint32_t, 2> key);

class PhiloxGenerator {
 public:
  explicit PhiloxGenerator(uint64_t seed) : seed_(seed) {}
  void randn(float* out, int64_t numel);  // uses offset(), then offset += 1
  uint64_t seed() const { return seed_; }
  uint32_t offset() const { return offset_; }
  void set_offset(uint32_t offset) { offset_ = offset; }

 private:
  uint64_t seed_;
  uint32_t offset_ = 0;
};

}  // namespace sd::sample
