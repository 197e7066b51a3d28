// Small helpers every kernel lab shares: deterministic inputs, a wall clock, and the number
// format of the JSON line each lab prints last.
#pragma once
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <string>
#include <vector>

namespace lab {

// Inputs in [-1, 1): the high half of a 64-bit LCG. `Lcg frand{seed}; frand()`.
struct Lcg {
  uint64_t state;
  float operator()() {
    state = state * 6364136223846793005ull + 1442695040888963407ull;
    return float(int32_t(state >> 32)) * (1.0f / 2147483648.0f);
  }
};

inline double now() { return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count(); }

// ||got - want|| / ||want|| in double: how the labs validate a path against its reference.
inline double rel_l2(const std::vector<float>& got, const std::vector<float>& want) {
  double num = 0, den = 0;
  for (size_t i = 0; i < got.size(); ++i) {
    const double d = double(got[i]) - want[i];
    num += d * d;
    den += double(want[i]) * want[i];
  }
  return den > 0 ? std::sqrt(num / den) : std::sqrt(num);
}

inline std::string sci(double x) {  // std::to_string would print 1e-7 as 0.000000
  char b[32];
  std::snprintf(b, sizeof b, "%.3e", x);
  return b;
}

}  // namespace lab
