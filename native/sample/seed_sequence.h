// numpy's SeedSequence (numpy/random/bit_generator.pyx, numpy ≥ 1.19): entropy and spawn key hashed
// into a pool of 32-bit words, from which generate_state draws. torchsde seeds every interval of its
// Brownian tree with it, so the tree's noise is only reproducible through this exact hash.
//
//   // np.random.SeedSequence(entropy=42, spawn_key=(5, 3), pool_size=24).generate_state(4)
//   sd::sample::SeedSequence seq(sd::sample::int_words(42), {5, 3}, 24);
//   std::vector<uint32_t> state = seq.generate_state(4);
#pragma once
#include <cstdint>
#include <vector>

namespace sd::sample {

// A non-negative Python int as numpy coerces it: 32-bit words, least significant first ([0] for 0).
std::vector<uint32_t> int_words(uint64_t n);

class SeedSequence {
 public:
  // entropy: int_words of the run entropy; spawn_key: its ints (each coerced with int_words).
  SeedSequence(const std::vector<uint32_t>& entropy, const std::vector<uint64_t>& spawn_key, int pool_size = 4);
  std::vector<uint32_t> generate_state(int n_words) const;
  const std::vector<uint32_t>& pool() const { return pool_; }

 private:
  std::vector<uint32_t> pool_;
};

}  // namespace sd::sample
