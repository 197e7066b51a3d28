#include "fp_exact.h"  // first: no FMA contraction in this file
#include "rng_philox.h"

#include <cmath>

#include "../core/error.h"

namespace sd::sample {

std::array<uint32_t, 4> philox4x32_10(std::array<uint32_t, 4> c, std::array<uint32_t, 2> k) {
  constexpr uint64_t kM0 = 0xD2511F53u, kM1 = 0xCD9E8D57u;
  constexpr uint32_t kW0 = 0x9E3779B9u, kW1 = 0xBB67AE85u;
  for (int round = 0; round < 10; ++round) {
    if (round > 0) k[0] += kW0, k[1] += kW1;
    const uint64_t p0 = kM0 * c[0], p1 = kM1 * c[2];
    c = {uint32_t(p1 >> 32) ^ c[1] ^ k[0], uint32_t(p1), uint32_t(p0 >> 32) ^ c[3] ^ k[1], uint32_t(p0)};
  }
  return c;
}

void PhiloxGenerator::randn(float* out, int64_t numel) {
  if (numel > int64_t(0xFFFFFFFFll)) throw Error("Philox randn: at most 2^32 values per call");
  const double two_pow32_inv = 2.3283064e-10f;                  // float32, = 2^-32
  const double two_pow32_inv_2pi = float(2.3283064e-10 * 6.2831855);  // float32 of the f64 product
  const std::array<uint32_t, 2> key = {uint32_t(seed_), uint32_t(seed_ >> 32)};
  for (int64_t i = 0; i < numel; ++i) {
    const auto g = philox4x32_10({offset_, 0u, uint32_t(i), 0u}, key);
    const double u = double(g[0]) * two_pow32_inv + double(float(two_pow32_inv) / 2.0f);
    const double v = double(g[1]) * two_pow32_inv_2pi + double(float(two_pow32_inv_2pi) / 2.0f);
    out[i] = float(std::sqrt(-2.0 * std::log(u)) * std::sin(v));
  }
  offset_ += 1;
}

}  // namespace sd::sample
