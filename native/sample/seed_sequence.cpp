#include "seed_sequence.h"

#include "../core/error.h"

namespace sd::sample {

namespace {

constexpr uint32_t kInitA = 0x43b0d7e5u, kMultA = 0x931e8875u, kInitB = 0x8b51f9ddu, kMultB = 0x58f38dedu;
constexpr uint32_t kMixMultL = 0xca01f9ddu, kMixMultR = 0x4973f715u;
constexpr int kXShift = 16;

uint32_t hashmix(uint32_t value, uint32_t& hash_const) {
  value ^= hash_const;
  hash_const *= kMultA;
  value *= hash_const;
  return value ^ (value >> kXShift);
}

uint32_t mix(uint32_t x, uint32_t y) {
  uint32_t r = kMixMultL * x - kMixMultR * y;
  return r ^ (r >> kXShift);
}

}  // namespace

std::vector<uint32_t> int_words(uint64_t n) {
  if (n == 0) return {0u};
  std::vector<uint32_t> w;
  for (; n > 0; n >>= 32) w.push_back(uint32_t(n));
  return w;
}

SeedSequence::SeedSequence(const std::vector<uint32_t>& entropy, const std::vector<uint64_t>& spawn_key, int pool_size) {
  if (pool_size < 1) throw Error("SeedSequence: pool_size must be positive");
  std::vector<uint32_t> words = entropy;
  // numpy pads a short run entropy to the pool size when a spawn key follows (so (e, key) and a
  // longer entropy never collide).
  if (!spawn_key.empty() && words.size() < size_t(pool_size)) words.resize(size_t(pool_size), 0u);
  for (uint64_t k : spawn_key)
    for (uint32_t w : int_words(k)) words.push_back(w);

  pool_.assign(size_t(pool_size), 0u);
  uint32_t hash_const = kInitA;
  for (size_t i = 0; i < pool_.size(); ++i) pool_[i] = hashmix(i < words.size() ? words[i] : 0u, hash_const);
  for (size_t src = 0; src < pool_.size(); ++src)
    for (size_t dst = 0; dst < pool_.size(); ++dst)
      if (src != dst) pool_[dst] = mix(pool_[dst], hashmix(pool_[src], hash_const));
  for (size_t src = pool_.size(); src < words.size(); ++src)
    for (size_t dst = 0; dst < pool_.size(); ++dst) pool_[dst] = mix(pool_[dst], hashmix(words[src], hash_const));
}

std::vector<uint32_t> SeedSequence::generate_state(int n_words) const {
  std::vector<uint32_t> out(size_t(n_words > 0 ? n_words : 0));
  uint32_t hash_const = kInitB;
  for (size_t i = 0; i < out.size(); ++i) {
    uint32_t v = pool_[i % pool_.size()];
    v ^= hash_const;
    hash_const *= kMultB;
    v *= hash_const;
    out[i] = v ^ (v >> kXShift);
  }
  return out;
}

}  // namespace sd::sample
