// GEMM table test: every ISA path this CPU supports x both precisions x odd shapes, all
// operand dtypes, im2col views (strides, pads, kernels), bias/accumulate epilogues, padded row
// strides and 1-3 threads, each compared with gemm_reference (double precision).
//
// Tolerances (rel_l2 = ||got - ref|| / ||ref||):
//   F32 precision:  1e-5. Inputs are exact in f32 (f16/bf16 widen exactly), so the only error
//                   is f32 accumulation: ~eps*sqrt(k) ~ 1e-6 at k = 1000.
//   Bf16 precision: 1e-4 against the reference that rounds operands to bf16 first: products of
//                   bf16 values are exact in f32, so again only accumulation order differs. A
//                   rounding bug (truncation instead of round-to-nearest-even) gives ~1e-3 and
//                   fails. Also checked against the unrounded reference at 1e-2 (bf16 has an
//                   8-bit mantissa: per-operand error 2^-9, ~4e-3 on a dot product).
// C sits inside a buffer of sentinel NaNs (guard rows/columns around and between rows); any
// write outside the m x n window fails the guard check.
#include <cmath>
#include <cstdint>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "core/cpu/gemm.h"
#include "harness.h"

using namespace sd;
using namespace sd::cpu;

namespace {

uint64_t g_rng = 0x9e3779b97f4a7c15ull;
float frand() {  // uniform in [-1, 1)
  g_rng = g_rng * 6364136223846793005ull + 1442695040888963407ull;
  return float(int32_t(g_rng >> 32)) * (1.0f / 2147483648.0f);
}

struct Operand {  // a dense [rows, k] operand stored as dtype with row stride ld
  DType dtype;
  int64_t rows, k, ld;
  std::vector<uint16_t> h;
  std::vector<float> f;
  Operand(DType dt, int64_t r, int64_t kk, int64_t pad) : dtype(dt), rows(r), k(kk), ld(kk + pad) {
    const size_t n = size_t(std::max<int64_t>(1, rows * ld));
    if (dt == DType::F32) {
      f.resize(n);
      for (auto& x : f) x = frand();
    } else {
      h.resize(n);
      for (auto& x : h) x = dt == DType::F16 ? f32_to_f16(frand()) : f32_to_bf16(frand());
    }
  }
  GemmOperand op() const {
    return GemmOperand::dense(dtype == DType::F32 ? static_cast<const void*>(f.data()) : h.data(), dtype, ld);
  }
};

const uint32_t kSentinel = 0x7fc5a5a5u;  // a NaN no kernel produces

struct CBuffer {  // m x n window at row stride ldc, with guard rows/cols of sentinels
  int64_t m, n, ldc, guard = 64;
  std::vector<float> buf;
  CBuffer(int64_t mm, int64_t nn, int64_t pad) : m(mm), n(nn), ldc(nn + pad) {
    buf.resize(size_t(2 * guard + std::max<int64_t>(1, m * ldc)));
    float s;
    std::memcpy(&s, &kSentinel, 4);
    for (auto& x : buf) x = s;
  }
  float* c() { return buf.data() + guard; }
  void fill_window(const std::vector<float>& v) {
    for (int64_t i = 0; i < m; ++i)
      for (int64_t j = 0; j < n; ++j) c()[i * ldc + j] = v[size_t(i * n + j)];
  }
  std::vector<float> window() const {
    std::vector<float> out(size_t(m * n));
    for (int64_t i = 0; i < m; ++i)
      for (int64_t j = 0; j < n; ++j) out[size_t(i * n + j)] = buf[size_t(guard + i * ldc + j)];
    return out;
  }
  bool guards_intact() const {
    for (size_t i = 0; i < buf.size(); ++i) {
      const int64_t off = int64_t(i) - guard;
      const bool inside = off >= 0 && off < m * ldc && (off % ldc) < n;
      uint32_t bits;
      std::memcpy(&bits, &buf[i], 4);
      if (!inside && bits != kSentinel) return false;
    }
    return true;
  }
};

struct Case {
  int64_t m, n, k;
  DType a_dtype = DType::F32, b_dtype = DType::F32;
  int64_t a_pad = 0, b_pad = 0, c_pad = 0;
  bool bias_m = false, bias_n = false, accumulate = false;
  bool im2col = false;
  Im2col g{};  // image pointer filled in by run_case
};

std::string describe(const Case& cs, Isa isa, GemmPrecision pr, int threads, int64_t whole_b_max) {
  char buf[320];
  std::snprintf(buf, sizeof buf,
                "%s/%s t%d m=%lld n=%lld k=%lld A=%s B=%s%s pads=%lld,%lld,%lld%s%s%s",
                isa_name(isa), pr == GemmPrecision::F32 ? "f32" : "bf16", threads,
                (long long)cs.m, (long long)cs.n, (long long)cs.k, dtype_name(cs.a_dtype),
                cs.im2col ? "im2col" : dtype_name(cs.b_dtype), "", (long long)cs.a_pad,
                (long long)cs.b_pad, (long long)cs.c_pad, cs.bias_m ? " bias_m" : "",
                cs.bias_n ? " bias_n" : "", cs.accumulate ? " acc" : "");
  std::string s = buf;
  if (cs.im2col) {
    std::snprintf(buf, sizeof buf, " [c%d %dx%d k%dx%d s%d p%d,%d -> %dx%d]", cs.g.channels,
                  cs.g.height, cs.g.width, cs.g.kernel_h, cs.g.kernel_w, cs.g.stride,
                  cs.g.pad_top, cs.g.pad_left, cs.g.out_h, cs.g.out_w);
    s += buf;
    s += whole_b_max == 0 ? " per-K-block B" : " whole B";
  }
  return s;
}

ThreadPool& pool_of(int threads) {
  static std::unique_ptr<ThreadPool> pools[4];
  if (!pools[threads]) pools[threads] = std::make_unique<ThreadPool>(threads);
  return *pools[threads];
}

void run_case(Case cs, int threads) {
  Operand a(cs.a_dtype, cs.m, cs.k, cs.a_pad);
  std::unique_ptr<Operand> b;
  std::vector<float> image;
  if (cs.im2col) {
    image.resize(size_t(cs.g.channels) * cs.g.height * cs.g.width);
    for (auto& x : image) x = frand();
    cs.g.image = image.data();
  } else {
    b = std::make_unique<Operand>(cs.b_dtype, cs.n, cs.k, cs.b_pad);
  }
  std::vector<float> bias_m(size_t(cs.m)), bias_n(size_t(cs.n)), c0(size_t(cs.m * cs.n));
  for (auto& x : bias_m) x = frand();
  for (auto& x : bias_n) x = frand();
  for (auto& x : c0) x = frand();

  GemmParams p;
  p.m = cs.m, p.n = cs.n, p.k = cs.k;
  p.a = a.op();
  if (cs.im2col) {
    p.b.kind = GemmOperand::Kind::Im2col;
    p.b.im2col = cs.g;
  } else {
    p.b = b->op();
  }
  p.bias_m = cs.bias_m ? bias_m.data() : nullptr;
  p.bias_n = cs.bias_n ? bias_n.data() : nullptr;
  p.accumulate = cs.accumulate;

  for (GemmPrecision pr : {GemmPrecision::F32, GemmPrecision::Bf16}) {
    p.precision = pr;
    CBuffer ref(cs.m, cs.n, 0), ref_exact(cs.m, cs.n, 0);
    ref.fill_window(c0);
    p.c = ref.c(), p.c_row_stride = ref.ldc;
    gemm_reference(p);
    std::vector<float> want = ref.window(), want_exact;
    if (pr == GemmPrecision::Bf16) {
      ref_exact.fill_window(c0);
      GemmParams q = p;
      q.precision = GemmPrecision::F32;
      q.c = ref_exact.c();
      gemm_reference(q);
      want_exact = ref_exact.window();
    }
    // convs: both drivers (B packed per K block, and the whole B packed once)
    for (int64_t whole_b_max : cs.im2col ? std::vector<int64_t>{0, int64_t(1) << 40} : std::vector<int64_t>{-1})
    for (int isa_i = 0; isa_i < kIsaCount; ++isa_i) {
      const Isa isa = Isa(isa_i);
      if (!isa_supported(isa)) continue;
      p.im2col_whole_b_max = whole_b_max;
      CBuffer got(cs.m, cs.n, cs.c_pad);
      got.fill_window(c0);
      p.isa = isa;
      p.c = got.c(), p.c_row_stride = got.ldc;
      gemm(p, pool_of(threads));
      const std::string what = describe(cs, isa, pr, threads, whole_b_max);
      std::vector<float> out = got.window();
      bool finite = true;
      for (float x : out) finite = finite && std::isfinite(x);
      CHECK_MSG(finite, "non-finite output: " + what);
      CHECK_MSG(got.guards_intact(), "write outside C: " + what);
      const double err = harness::rel_l2(out.data(), want.data(), int64_t(out.size()));
      const double tol = pr == GemmPrecision::F32 ? 1e-5 : 1e-4;
      CHECK_MSG(err <= tol, "rel_l2 " + std::to_string(err) + " > " + std::to_string(tol) + ": " + what);
      if (pr == GemmPrecision::Bf16) {
        const double e2 = harness::rel_l2(out.data(), want_exact.data(), int64_t(out.size()));
        CHECK_MSG(e2 <= 1e-2, "rel_l2 vs unrounded " + std::to_string(e2) + ": " + what);
      }
    }
  }
}

Case conv_case(int c, int h, int w, int kh, int stride, int pad_top, int pad_left, int cout) {
  Case cs;
  cs.im2col = true;
  cs.g.channels = c, cs.g.height = h, cs.g.width = w;
  cs.g.kernel_h = kh, cs.g.kernel_w = kh, cs.g.stride = stride;
  cs.g.pad_top = pad_top, cs.g.pad_left = pad_left;
  cs.g.out_h = (h + 2 * pad_top - kh) / stride + 1;
  cs.g.out_w = (w + 2 * pad_left - kh) / stride + 1;
  cs.m = cout, cs.n = int64_t(cs.g.out_h) * cs.g.out_w, cs.k = int64_t(c) * kh * kh;
  return cs;
}

}  // namespace

int main() {
  std::printf("detected ISA: %s\n", isa_name(detect_isa()));
  const int64_t sizes[] = {1, 2, 3, 7, 15, 16, 17, 31, 33, 63, 65, 100, 129};
  const int64_t ks[] = {1, 2, 3, 7, 16, 17, 33, 100, 257, 600};
  const DType dts[] = {DType::F32, DType::F16, DType::BF16};
  int idx = 0;
  // Shape sweep: every (m, n) pair with a rotating k, dtype pair, strides and epilogue.
  for (int64_t m : sizes) {
    for (int64_t n : sizes) {
      Case cs;
      cs.m = m, cs.n = n, cs.k = ks[idx % 10];
      cs.a_dtype = dts[idx % 3];
      cs.b_dtype = dts[(idx / 3) % 3];
      cs.a_pad = (idx % 4 == 1) ? 5 : 0;
      cs.b_pad = (idx % 5 == 2) ? 3 : 0;
      cs.c_pad = (idx % 3 == 1) ? 7 : 0;
      cs.bias_m = idx % 4 == 0;
      cs.bias_n = idx % 6 == 1;
      cs.accumulate = idx % 5 == 3;
      run_case(cs, 1 + idx % 3);
      ++idx;
    }
  }
  // k sweep at a fixed odd shape (k = 0 is bias / accumulate only).
  for (int64_t k : {0, 1, 15, 16, 17, 31, 32, 33, 255, 256, 257, 511, 513, 1025, 2049}) {
    for (int epi = 0; epi < 2; ++epi) {
      Case cs;
      cs.m = 33, cs.n = 65, cs.k = k;
      cs.a_dtype = DType::F16;
      cs.bias_m = cs.bias_n = cs.accumulate = epi == 1;
      run_case(cs, 2);
    }
  }
  // Wide and tall shapes: several N blocks / many task groups.
  {
    Case cs; cs.m = 3, cs.n = 9000, cs.k = 300; cs.b_dtype = DType::BF16; run_case(cs, 2);
    Case t; t.m = 1000, t.n = 17, t.k = 40; t.a_dtype = DType::F16; t.bias_n = true; run_case(t, 3);
    Case s; s.m = 77, s.n = 320, s.k = 768; s.b_dtype = DType::F16; s.bias_n = true; run_case(s, 2);
  }
  // Convolutions as implicit GEMM.
  {
    std::vector<Case> convs = {
        conv_case(3, 8, 8, 3, 1, 1, 1, 5),       // 3x3 s1 p1
        conv_case(5, 9, 7, 3, 2, 1, 1, 17),      // 3x3 s2 p1, odd sizes
        conv_case(4, 10, 10, 3, 2, 0, 0, 33),    // 3x3 s2 no pad
        conv_case(7, 6, 11, 3, 1, 0, 0, 15),     // 3x3 valid
        conv_case(16, 5, 5, 1, 1, 0, 0, 31),     // 1x1
        conv_case(9, 13, 3, 1, 2, 0, 0, 7),      // 1x1 s2
        conv_case(6, 4, 4, 3, 1, 1, 1, 64),      // tiny image, out_w < nr
        conv_case(32, 33, 35, 3, 1, 1, 1, 40),   // rows span panels, k crosses blocks
        conv_case(40, 16, 16, 3, 2, 1, 1, 20),   // SD-style downsample
        conv_case(8, 7, 9, 3, 1, 2, 0, 9),       // asymmetric pads
        conv_case(72, 6, 5, 3, 1, 1, 1, 23),     // K = 648: several K blocks on every path
        conv_case(130, 8, 8, 3, 1, 1, 1, 13),    // K = 1170 at 8x8: the deep low-resolution convs
    };
    for (size_t i = 0; i < convs.size(); ++i) {
      Case cs = convs[i];
      cs.a_dtype = dts[i % 3];
      cs.bias_m = i % 2 == 0;
      cs.accumulate = i % 3 == 1;
      cs.c_pad = i % 4 == 3 ? 9 : 0;
      run_case(cs, 1 + int(i % 3));
    }
  }
  return harness::finish("test_gemm");
}
