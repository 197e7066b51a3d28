// Minimal harness for the native test executables: each CHECK prints on failure and counts;
// main returns harness::finish(), non-zero if anything failed. Comparisons against goldens use
// rel_l2 (||a-b|| / ||b|| in double), the measure the golden README specifies.
#pragma once
#include <cmath>
#include <cstdio>
#include <cstdint>
#include <string>

namespace harness {

inline int& failures() { static int n = 0; return n; }
inline int& checks() { static int n = 0; return n; }

inline void check(bool ok, const std::string& what, const char* file, int line) {
  ++checks();
  if (!ok) {
    ++failures();
    std::fprintf(stderr, "FAIL %s:%d: %s\n", file, line, what.c_str());
  }
}

inline double rel_l2(const float* got, const float* want, int64_t n) {
  double num = 0, den = 0;
  for (int64_t i = 0; i < n; ++i) {
    double d = double(got[i]) - double(want[i]);
    num += d * d;
    den += double(want[i]) * double(want[i]);
  }
  return den > 0 ? std::sqrt(num / den) : std::sqrt(num);
}

inline int finish(const char* suite) {
  std::printf("%s: %d checks, %d failed\n", suite, checks(), failures());
  return failures() == 0 ? 0 : 1;
}

}  // namespace harness

#define CHECK(cond) ::harness::check((cond), #cond, __FILE__, __LINE__)
#define CHECK_MSG(cond, msg) ::harness::check((cond), (msg), __FILE__, __LINE__)
