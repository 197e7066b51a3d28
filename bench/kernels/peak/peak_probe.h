// Header-only FMA peak probe for the kernel labs: the machine is shared, so each lab measures
// the peak *now*, on the same pool, and reports its figures against it. Functions carry their
// own target attributes; measure_peak only calls the AVX-512 loops when the CPU has them.
#pragma once
#include <immintrin.h>

// GCC 12 warns about _mm512_undefined_* inside _mm512_reduce_add_ps; those lanes are unused.
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <vector>

#include "core/cpu/isa.h"
#include "core/cpu/thread_pool.h"

namespace {

struct PeakNow {
  double fp32 = 0, bf16 = 0;  // GFLOP/s over all threads of the pool; bf16 0 without AVX512_BF16
  const char* fp32_isa = "none";  // the widest FMA the CPU has: "avx512" (zmm) or "avx2" (ymm)
};

inline double peak_seconds() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

// 12 independent chains a0..a11 of type T, started at SET(1.0) .. SET(2.1), each stepped by OP
// `iters` times: throughput-bound (FMA latency 4 x 2 pipes needs >= 8).
#define SD_PEAK_LOOP(T, SET, OP)                                                              \
  T a0 = SET(1.0f), a1 = SET(1.1f), a2 = SET(1.2f), a3 = SET(1.3f), a4 = SET(1.4f),           \
    a5 = SET(1.5f), a6 = SET(1.6f), a7 = SET(1.7f), a8 = SET(1.8f), a9 = SET(1.9f),           \
    a10 = SET(2.0f), a11 = SET(2.1f);                                                         \
  for (long i = 0; i < iters; ++i) {                                                          \
    a0 = OP(a0); a1 = OP(a1); a2 = OP(a2); a3 = OP(a3); a4 = OP(a4); a5 = OP(a5);             \
    a6 = OP(a6); a7 = OP(a7); a8 = OP(a8); a9 = OP(a9); a10 = OP(a10); a11 = OP(a11);         \
    __asm__ volatile("" : "+v"(a0), "+v"(a1), "+v"(a2), "+v"(a3), "+v"(a4), "+v"(a5),         \
                     "+v"(a6), "+v"(a7), "+v"(a8), "+v"(a9), "+v"(a10), "+v"(a11));           \
  }

__attribute__((target("avx512f,fma"))) inline float peak_fp32_loop(long iters) {
  const __m512 x = _mm512_set1_ps(0.9999f), y = _mm512_set1_ps(1e-7f);
#define SD_PEAK_OP(a) _mm512_fmadd_ps(a, x, y)
  SD_PEAK_LOOP(__m512, _mm512_set1_ps, SD_PEAK_OP)
#undef SD_PEAK_OP
  return _mm512_reduce_add_ps(_mm512_add_ps(_mm512_add_ps(a0, a6), a11));
}

// The same on ymm registers, for CPUs without AVX-512 (the fp32 peak those machines can reach).
__attribute__((target("avx2,fma"))) inline float peak_fp32_loop_avx2(long iters) {
  const __m256 x = _mm256_set1_ps(0.9999f), y = _mm256_set1_ps(1e-7f);
#define SD_PEAK_OP(a) _mm256_fmadd_ps(a, x, y)
  SD_PEAK_LOOP(__m256, _mm256_set1_ps, SD_PEAK_OP)
#undef SD_PEAK_OP
  alignas(32) float t[8];
  _mm256_store_ps(t, _mm256_add_ps(_mm256_add_ps(a0, a6), a11));
  return t[0] + t[7];
}

__attribute__((target("avx512f,avx512bf16"))) inline float peak_bf16_loop(long iters) {
  const __m512bh x = (__m512bh)_mm512_set1_epi16(0x3f80), y = (__m512bh)_mm512_set1_epi16(0x3400);
#define SD_PEAK_OP(a) _mm512_dpbf16_ps(a, x, y)
  SD_PEAK_LOOP(__m512, _mm512_set1_ps, SD_PEAK_OP)
#undef SD_PEAK_OP
  return _mm512_reduce_add_ps(_mm512_add_ps(_mm512_add_ps(a0, a6), a11));
}
#undef SD_PEAK_LOOP

// Median over 5 runs, all pool threads at once. Each task must outlast a worker's wake-up by far: tasks
// are handed out dynamically, and with the 1.3 ms tasks of 400k iterations the calling thread took both
// tasks before the second thread woke on session 20's Zen 4, which read 115 GFLOP/s on 2 threads against
// 118 on one. 10M iterations are 20-35 ms per task (12 FMAs an iteration, 1-2 vector FMAs a cycle).
template <class Loop>
double peak_gflops(sd::cpu::ThreadPool& pool, Loop loop, double flops_per_iter) {
  const long iters = 10000000;
  std::vector<double> runs;
  std::atomic<float> sink{0};
  for (int r = 0; r < 5; ++r) {
    const double t0 = peak_seconds();
    pool.run(pool.size(), [&](int64_t, int) { sink = sink + loop(iters); });
    runs.push_back(flops_per_iter * iters * pool.size() / (peak_seconds() - t0) * 1e-9);
  }
  std::sort(runs.begin(), runs.end());
  return runs[2];
}

inline PeakNow measure_peak(sd::cpu::ThreadPool& pool) {
  PeakNow p;
  if (sd::cpu::isa_supported(sd::cpu::Isa::Avx512)) {
    p.fp32 = peak_gflops(pool, peak_fp32_loop, 12 * 16 * 2);
    p.fp32_isa = "avx512";
  } else if (sd::cpu::isa_supported(sd::cpu::Isa::Avx2)) {
    p.fp32 = peak_gflops(pool, peak_fp32_loop_avx2, 12 * 8 * 2);
    p.fp32_isa = "avx2";
  }
  if (sd::cpu::isa_supported(sd::cpu::Isa::Avx512Bf16))
    p.bf16 = peak_gflops(pool, peak_bf16_loop, 12 * 16 * 4);
  return p;
}

// measure_peak, announced on the lab's first line.
inline PeakNow measure_peak_and_print(sd::cpu::ThreadPool& pool) {
  const PeakNow p = measure_peak(pool);
  std::printf("peak now (%d threads): fp32 %.1f GFLOP/s, bf16 %.1f GFLOP/s\n", pool.size(), p.fp32, p.bf16);
  return p;
}

}  // namespace
