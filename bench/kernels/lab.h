// Small helpers every kernel lab shares: deterministic inputs, a wall clock, and the number
// format of the JSON line each lab prints last.
#pragma once
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <initializer_list>
#include <string>
#include <utility>
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

// The command line every lab takes: [threads] [shape filter] [isa filter] (substrings; "" = all).
struct Args {
  int threads;
  const char* filter;
  const char* isa_filter;
};

inline Args args(int argc, char** argv) {
  return {argc > 1 ? std::atoi(argv[1]) : 2, argc > 2 ? argv[2] : "", argc > 3 ? argv[3] : ""};
}

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

// What a lab reports: a table row on stdout per timed variant as it goes, and last the JSON line
// {"bench":..,"threads":..,<peaks>,"results":[{"shape","isa","prec","median_ms","gflops",
// "best_gflops","rel_l2","peak_now"}, ...]}.
class Report {
 public:
  Report(const char* bench, int threads, int isa_width,
         std::initializer_list<std::pair<const char*, double>> peaks)
      : isa_width_(isa_width) {
    json_ = std::string("{\"bench\":\"") + bench + "\",\"threads\":" + std::to_string(threads);
    for (const auto& [key, value] : peaks) json_ += std::string(",\"") + key + "\":" + std::to_string(value);
    json_ += ",\"results\":[";
    std::printf("%-28s %-*s %-5s %9s %9s %9s %9s %7s\n", "shape", isa_width_, "isa", "prec", "med ms",
                "med GF/s", "best GF/s", "rel_l2", "%peak");
  }

  // times: seconds per run (sorted here); pk: the peak GFLOP/s measured now (0 if unknown).
  void add(const char* shape, const std::string& isa, const std::string& prec, std::vector<double>& times,
           double flops, double err, double pk) {
    std::sort(times.begin(), times.end());
    const double med = times[times.size() / 2], best = times[0];
    std::printf("%-28s %-*s %-5s %9.3f %9.2f %9.2f %9.1e %6.0f%%\n", shape, isa_width_, isa.c_str(),
                prec.c_str(), med * 1e3, flops / med * 1e-9, flops / best * 1e-9, err,
                pk > 0 ? 100 * flops / med * 1e-9 / pk : 0.0);
    std::fflush(stdout);
    json_ += std::string(first_ ? "" : ",") + "{\"shape\":\"" + shape + "\",\"isa\":\"" + isa +
             "\",\"prec\":\"" + prec + "\",\"median_ms\":" + std::to_string(med * 1e3) +
             ",\"gflops\":" + std::to_string(flops / med * 1e-9) +
             ",\"best_gflops\":" + std::to_string(flops / best * 1e-9) + ",\"rel_l2\":" + sci(err) +
             ",\"peak_now\":" + std::to_string(pk) + "}";
    first_ = false;
  }

  void print() const { std::printf("%s]}\n", json_.c_str()); }

 private:
  int isa_width_;
  std::string json_;
  bool first_ = true;
};

}  // namespace lab
