// GEMM lab: times sd::cpu::gemm at the Stable Diffusion 1.5 shapes for every ISA path and
// precision this CPU supports (plus a naive triple loop as the floor), after validating each
// path against gemm_reference on a cropped copy of the same shape. Prints a table and, as its
// last line, one JSON object with every figure.
//
//   bench/kernels/gemm/build.sh && /tmp/sd_kernels_lab/bench_gemm [threads] [shape] [isa]
// Convs are also timed with each of gemm.cpp's two im2col drivers forced (-perK: a shared B pack
// per K block, the first driver's scheme; -wholeB: B packed once).
// Env: SD_BENCH_NO_VALIDATE=1 skips the reference check (faster reruns).
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <utility>
#include <vector>

#include "core/cpu/gemm.h"
#include "../lab.h"
#include "../peak/peak_probe.h"

using namespace sd;
using namespace sd::cpu;
using lab::now;
using lab::sci;

namespace {

lab::Lcg frand{12345};

struct Shape {
  const char* name;
  int64_t m, n, k;
  DType a_dtype;  // weights are f16 (SD checkpoints), activations f32
  DType b_dtype;
  bool conv;      // B = im2col of [c, h, w] with a kxk kernel, stride 1, pad k/2
  int c, h, w, kk;
};

const Shape kShapes[] = {
    {"conv3x3_320_64x64", 320, 4096, 2880, DType::F16, DType::F32, true, 320, 64, 64, 3},
    {"conv3x3_640_32x32", 640, 1024, 5760, DType::F16, DType::F32, true, 640, 32, 32, 3},
    {"conv3x3_1280_16x16", 1280, 256, 11520, DType::F16, DType::F32, true, 1280, 16, 16, 3},
    {"conv3x3_1280_8x8", 1280, 64, 11520, DType::F16, DType::F32, true, 1280, 8, 8, 3},
    {"conv1x1_proj_in_320_64x64", 320, 4096, 320, DType::F16, DType::F32, true, 320, 64, 64, 1},
    {"linear_4096x320x320", 4096, 320, 320, DType::F32, DType::F16, false, 0, 0, 0, 0},
    {"linear_geglu_4096x2560x320", 4096, 2560, 320, DType::F32, DType::F16, false, 0, 0, 0, 0},
    {"linear_4096x320x1280", 4096, 320, 1280, DType::F32, DType::F16, false, 0, 0, 0, 0},
    {"linear_1024x640x640", 1024, 640, 640, DType::F32, DType::F16, false, 0, 0, 0, 0},
    {"linear_256x1280x1280", 256, 1280, 1280, DType::F32, DType::F16, false, 0, 0, 0, 0},
    {"linear_77x320x768", 77, 320, 768, DType::F32, DType::F16, false, 0, 0, 0, 0},
};

struct Buffers {
  std::vector<float> a32, b32, image, c;
  std::vector<uint16_t> a16, b16;
};

GemmParams make(const Shape& s, Buffers& buf) {
  GemmParams p;
  p.m = s.m, p.n = s.n, p.k = s.k;
  // A dense [rows, k] operand of random values in v32 (f32) or v16 (f16 scaled by 0.1, bf16).
  auto dense = [&](std::vector<float>& v32, std::vector<uint16_t>& v16, int64_t rows, DType dt) {
    if (dt == DType::F32) {
      v32.resize(size_t(rows * s.k));
      for (auto& x : v32) x = frand();
      return GemmOperand::dense(v32.data(), dt, s.k);
    }
    v16.resize(size_t(rows * s.k));
    for (auto& x : v16) x = dt == DType::F16 ? f32_to_f16(frand() * 0.1f) : f32_to_bf16(frand());
    return GemmOperand::dense(v16.data(), dt, s.k);
  };
  p.a = dense(buf.a32, buf.a16, s.m, s.a_dtype);
  if (s.conv) {
    buf.image.resize(size_t(s.c) * s.h * s.w);
    for (auto& x : buf.image) x = frand();
    p.b.kind = GemmOperand::Kind::Im2col;
    p.b.im2col = Im2col{buf.image.data(), s.c, s.h, s.w, s.kk, s.kk, 1, s.kk / 2, s.kk / 2, s.h, s.w};
  } else {
    p.b = dense(buf.b32, buf.b16, s.n, s.b_dtype);
  }
  buf.c.assign(size_t(s.m * s.n), 0.0f);
  p.c = buf.c.data();
  p.c_row_stride = s.n;
  return p;
}

// Naive: one dot product per output, operands converted on the fly (the floor to beat).
void naive(const GemmParams& p) {
  auto at = [](const GemmOperand& op, int64_t r, int64_t k) -> float {
    if (op.dtype == DType::F16) return f16_to_f32(static_cast<const uint16_t*>(op.data)[r * op.row_stride + k]);
    return static_cast<const float*>(op.data)[r * op.row_stride + k];
  };
  for (int64_t i = 0; i < p.m; ++i)
    for (int64_t j = 0; j < p.n; ++j) {
      float s = 0;
      for (int64_t k = 0; k < p.k; ++k) s += at(p.a, i, k) * at(p.b, j, k);
      p.c[i * p.c_row_stride + j] = s;
    }
}

// Validates a path on a crop of the shape (m, n <= 64 rows/cols, full k) against the reference.
double validate(const Shape& s, Isa isa, GemmPrecision pr, ThreadPool& pool) {
  Buffers buf;
  GemmParams p = make(s, buf);
  const int64_t m = std::min<int64_t>(p.m, 64);
  p.m = m;  // rows of A are a prefix; B (im2col or dense) keeps its full n, we crop C columns
  std::vector<float> want(size_t(m * p.n)), got(size_t(m * p.n));
  p.precision = pr, p.isa = isa;
  p.c = want.data();
  gemm_reference(p);
  p.c = got.data();
  gemm(p, pool);
  return lab::rel_l2(got, want);
}

struct Variant {
  std::string isa, prec;
  GemmParams p;
  bool naive = false;
  double err = 0;
  std::vector<double> times;
};

// Variants of one shape are timed round-robin (one call each per round) so that load from
// other processes on this shared machine hits them alike; we report the median and the best.
void time_round_robin(std::vector<Variant>& vs, ThreadPool& pool, double budget) {
  for (auto& v : vs) v.naive ? naive(v.p) : gemm(v.p, pool);  // warm-up: scratch, caches
  const double start = now();
  for (int round = 0; round < 41; ++round) {
    for (auto& v : vs) {
      if (v.naive && round >= 3) continue;
      const double t0 = now();
      v.naive ? naive(v.p) : gemm(v.p, pool);
      v.times.push_back(now() - t0);
    }
    if (round >= 4 && now() - start > budget) break;
  }
}

}  // namespace

int main(int argc, char** argv) {
  const auto [threads, filter, isa_filter] = lab::args(argc, argv);  // isa_filter: e.g. "avx512"
  const bool validate_paths = !std::getenv("SD_BENCH_NO_VALIDATE");
  ThreadPool pool(threads);
  // The machine is shared: measure the FMA peak now, on the same threads, and report each
  // figure both absolute and as a fraction of it.
  const PeakNow peak = measure_peak_and_print(pool);
  lab::Report report("gemm", threads, 13, {{"peak_fp32", peak.fp32}, {"peak_bf16", peak.bf16}});
  for (const Shape& s : kShapes) {
    if (!std::strstr(s.name, filter)) continue;
    Buffers buf;
    const GemmParams base = make(s, buf);
    const double flops = 2.0 * s.m * s.n * s.k;
    std::vector<Variant> vs;
    if (!s.conv && s.m * s.n * s.k <= (int64_t(1) << 27) && !*isa_filter)
      vs.push_back(Variant{"naive", "f32", base, true});
    for (int ii = int(Isa::Avx512Bf16); ii >= 0; --ii) {
      const Isa isa = Isa(ii);
      if (!isa_supported(isa) || !std::strstr(isa_name(isa), isa_filter)) continue;
      if (isa == Isa::Scalar && s.m * s.n * s.k > (int64_t(1) << 30)) continue;
      for (GemmPrecision pr : {GemmPrecision::F32, GemmPrecision::Bf16}) {
        if (isa == Isa::Avx512Bf16 && pr == GemmPrecision::F32) continue;  // same as avx512
        Variant v{isa_name(isa), pr == GemmPrecision::F32 ? "f32" : "bf16", base};
        v.p.isa = isa, v.p.precision = pr;
        v.err = validate_paths ? validate(s, isa, pr, pool) : 0.0;
        if (s.conv && pr == GemmPrecision::F32) {  // both conv drivers forced, same run
          for (const auto& [suffix, whole_b_max] : {std::pair<const char*, int64_t>{"-perK", 0},
                                                   {"-wholeB", int64_t(1) << 40}}) {
            Variant w = v;
            w.isa += suffix;
            w.p.im2col_whole_b_max = whole_b_max;
            vs.push_back(std::move(w));
          }
        }
        vs.push_back(std::move(v));
      }
    }
    const PeakNow pk_now = measure_peak(pool);  // load changes by the minute: probe per shape
    time_round_robin(vs, pool, 3.0);
    for (auto& v : vs) {
      const double pk = v.prec == "bf16" && v.isa.rfind("avx512bf16", 0) == 0 ? pk_now.bf16 : pk_now.fp32;
      report.add(s.name, v.isa, v.prec, v.times, flops, v.err, pk);
    }
  }
  report.print();
}
