// Attention lab: times sd::cpu::attention at Stable Diffusion / CLIP shapes for each ISA path
// and precision, after validating each on a crop (the first 64 queries, all keys) against
// attention_reference. Inputs use the real layout, q/k/v as [B, T, heads*d] projections.
// GFLOP/s counts 4*tq*tk*d per head (q.k^T and p.v; causal shapes count the full square);
// %peak is against the FMA peak probed just before each shape (bf16 peak for avx512bf16/bf16).
// Prints a table and, as its last line, one JSON object.
//   bench/kernels/gemm/build.sh && /tmp/sd_kernels_lab/bench_attention [threads] [filter] [isa]
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "../lab.h"
#include "../peak/peak_probe.h"
#include "core/cpu/attention.h"

using namespace sd;
using namespace sd::cpu;
using lab::now;
using lab::sci;

namespace {

struct Shape {
  const char* name;
  int64_t batch, heads, tq, tk, d;
  bool causal;
};

const Shape kShapes[] = {
    {"sd15_self_4096x40_h8_b2", 2, 8, 4096, 4096, 40, false},
    {"sd15_self_1024x80_h8_b2", 2, 8, 1024, 1024, 80, false},
    {"sd15_self_256x160_h8_b2", 2, 8, 256, 256, 160, false},
    {"sd15_cross_4096x77x40_h8_b2", 2, 8, 4096, 77, 40, false},
    {"sdxl_self_1024x64_h10_b2", 2, 10, 1024, 1024, 64, false},
    {"clip_causal_77x64_h12", 1, 12, 77, 77, 64, true},
};

lab::Lcg frand{7};

struct Variant {
  Isa isa;
  GemmPrecision pr;
  double err = 0;
  std::vector<double> times;
};

}  // namespace

int main(int argc, char** argv) {
  const auto [threads, filter, isa_filter] = lab::args(argc, argv);
  ThreadPool pool(threads);
  const PeakNow peak = measure_peak_and_print(pool);
  lab::Report report("attention", threads, 11, {{"peak_fp32", peak.fp32}});
  for (const Shape& s : kShapes) {
    if (!std::strstr(s.name, filter)) continue;
    const int64_t width = s.heads * s.d;
    std::vector<float> q(size_t(s.batch * s.tq * width)), k(size_t(s.batch * s.tk * width)),
        v(size_t(s.batch * s.tk * width)), out(size_t(s.batch * s.tq * width));
    for (auto& x : q) x = frand();
    for (auto& x : k) x = frand();
    for (auto& x : v) x = frand();
    AttentionParams p;
    p.batch_heads = s.batch * s.heads, p.heads = s.heads;
    p.tq = s.tq, p.tk = s.tk, p.head_dim = s.d;
    p.q = q.data(), p.k = k.data(), p.v = v.data(), p.out = out.data();
    p.q_t_stride = p.k_t_stride = p.v_t_stride = p.o_t_stride = width;
    p.q_batch_stride = p.o_batch_stride = s.tq * width;
    p.k_batch_stride = p.v_batch_stride = s.tk * width;
    p.q_head_stride = p.k_head_stride = p.v_head_stride = p.o_head_stride = s.d;
    p.scale = 1.0f / std::sqrt(float(s.d));
    p.causal = s.causal;
    const double flops = 4.0 * s.batch * s.heads * s.tq * s.tk * s.d;
    std::vector<Variant> vs;
    for (int ii = int(Isa::Avx512Bf16); ii >= 0; --ii) {
      const Isa isa = Isa(ii);
      if (!isa_supported(isa) || !std::strstr(isa_name(isa), isa_filter)) continue;
      if (isa == Isa::Scalar && flops > 2e9) continue;
      for (GemmPrecision pr : {GemmPrecision::F32, GemmPrecision::Bf16}) {
        if (isa == Isa::Avx512Bf16 && pr == GemmPrecision::F32) continue;  // same as avx512
        Variant var{isa, pr};
        // Validate on the first min(tq, 64) queries of batch 0 (all heads, all keys).
        AttentionParams c = p;
        c.batch_heads = s.heads;
        c.tq = std::min<int64_t>(s.tq, 64);
        if (s.causal) c.tk = s.tk;
        std::vector<float> want(size_t(c.tq * width)), got(size_t(c.tq * width));
        c.precision = pr, c.isa = isa;
        c.out = want.data();
        c.o_batch_stride = c.tq * width;
        attention_reference(c);
        c.out = got.data();
        attention(c, pool);
        var.err = lab::rel_l2(got, want);
        vs.push_back(var);
      }
    }
    for (auto& var : vs) {
      p.isa = var.isa, p.precision = var.pr;
      attention(p, pool);  // warm-up
    }
    const PeakNow pk_now = measure_peak(pool);  // load changes by the minute: probe per shape
    const double start = now();
    for (int round = 0; round < 21; ++round) {
      for (auto& var : vs) {
        p.isa = var.isa, p.precision = var.pr;
        const double t0 = now();
        attention(p, pool);
        var.times.push_back(now() - t0);
      }
      if (round >= 2 && now() - start > 4.0) break;
    }
    for (auto& var : vs) {
      const char* prn = var.pr == GemmPrecision::F32 ? "f32" : "bf16";
      const double pk = var.pr == GemmPrecision::Bf16 && var.isa == Isa::Avx512Bf16 ? pk_now.bf16 : pk_now.fp32;
      report.add(s.name, isa_name(var.isa), prn, var.times, flops, var.err, pk);
    }
  }
  report.print();
}
