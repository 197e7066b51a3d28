// Winograd F(4,3) against the direct conv (implicit GEMM, the path every other test pins) at
// every 3x3 stride-1 conv shape of the SD1.5 UNet (64/32/16/8 latents, skip-concat inputs) and
// the SD VAE decoder, full channel counts, spatial sizes reduced where the full one would take
// seconds; plus edges (sizes not a multiple of 4, channel counts not a multiple of 8), the
// residual epilogue, forced small tile blocks, 1/2/5 threads, the filter cache and its explicit
// invalidation (forget), and the backend wiring (graph with winograd on vs off).
//
// Error budget. Both paths round in f32; the transforms scale intermediate values (B^T rows sum
// to 10 in magnitude, A^T to 18, G divides by 24) so Winograd's rounding error is a constant
// factor above the direct conv's, growing like sqrt(cin) as any dot product's. Measure:
// max_err = max |win - direct| / max |direct| over the output, and rel_l2. Where the double
// reference is affordable both are also compared with it. Observed at the SD shapes (AVX2):
// max_err 3e-6..2e-5, rel_l2 1e-6..4e-6 (direct vs double: max_err <= 1e-6). Asserted:
// max_err <= 5e-5, rel_l2 <= 1e-5 (~400 and ~80 f32 ulps of the largest output): 50x below
// what rounding the weights to f16 already does to a conv (2^-12 per weight, rel_l2 ~2e-4).
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "core/cpu/cpu_backend.h"
#include "core/cpu/gemm.h"
#include "core/cpu/vec_kernels.h"
#include "core/cpu/winograd.h"
#include "core/graph.h"
#include "core/ops.h"
#include "harness.h"

using namespace sd;
using namespace sd::cpu;

namespace {

constexpr double kMaxErr = 5e-5, kRelL2 = 1e-5;

uint64_t g_rng = 0x2545f4914f6cdd1dull;
float frand() {  // uniform in [-1, 1)
  g_rng = g_rng * 6364136223846793005ull + 1442695040888963407ull;
  return float(int32_t(g_rng >> 32)) * (1.0f / 2147483648.0f);
}

struct Problem {
  int n, cin, cout, h, w;
  DType dtype = DType::F16;
  std::vector<float> x, bias;
  std::vector<uint16_t> w16;
  std::vector<float> w32;
  Problem(int nn, int ci, int co, int hh, int ww, DType dt) : n(nn), cin(ci), cout(co), h(hh), w(ww), dtype(dt) {
    x.resize(size_t(n) * cin * h * w);
    for (auto& v : x) v = frand();
    const float scale = 1.0f / std::sqrt(9.0f * float(cin));  // as initialised layers: outputs ~ inputs
    const size_t nw = size_t(cout) * cin * 9;
    if (dt == DType::F32) {
      w32.resize(nw);
      for (auto& v : w32) v = frand() * scale;
    } else {
      w16.resize(nw);
      for (auto& v : w16) v = dt == DType::F16 ? f32_to_f16(frand() * scale) : f32_to_bf16(frand() * scale);
    }
    bias.resize(size_t(cout));
    for (auto& v : bias) v = frand() * 0.1f;
  }
  const void* weight() const { return dtype == DType::F32 ? static_cast<const void*>(w32.data()) : w16.data(); }
  float weight_at(size_t i) const {
    return dtype == DType::F32 ? w32[i] : dtype == DType::F16 ? f16_to_f32(w16[i]) : bf16_to_f32(w16[i]);
  }
  size_t out_size() const { return size_t(n) * cout * h * w; }
};

// The direct conv as the backend runs it: im2col GEMM per image, bias, optional accumulate.
void direct(const Problem& p, float* y, bool accumulate, ThreadPool& pool) {
  for (int img = 0; img < p.n; ++img) {
    GemmParams g;
    g.m = p.cout;
    g.n = int64_t(p.h) * p.w;
    g.k = int64_t(p.cin) * 9;
    g.a = GemmOperand::dense(p.weight(), p.dtype, g.k);
    g.b.kind = GemmOperand::Kind::Im2col;
    g.b.im2col = Im2col{p.x.data() + size_t(img) * p.cin * p.h * p.w, p.cin, p.h, p.w, 3, 3, 1, 1, 1, p.h, p.w};
    g.c = y + size_t(img) * p.cout * p.h * p.w;
    g.c_row_stride = g.n;
    g.bias_m = p.bias.data();
    g.accumulate = accumulate;
    g.isa = detect_isa();
    gemm(g, pool);
  }
}

// The exact result (double), for the shapes where it is affordable.
std::vector<double> exact(const Problem& p) {
  std::vector<double> y(p.out_size());
  std::vector<double> wd(size_t(p.cout) * p.cin * 9);
  for (size_t i = 0; i < wd.size(); ++i) wd[i] = p.weight_at(i);
  for (int img = 0; img < p.n; ++img)
    for (int co = 0; co < p.cout; ++co)
      for (int oy = 0; oy < p.h; ++oy)
        for (int ox = 0; ox < p.w; ++ox) {
          double s = p.bias[size_t(co)];
          for (int ci = 0; ci < p.cin; ++ci) {
            const float* plane = p.x.data() + (size_t(img) * p.cin + ci) * p.h * p.w;
            const double* k = wd.data() + (size_t(co) * p.cin + ci) * 9;
            for (int ky = 0; ky < 3; ++ky) {
              const int iy = oy + ky - 1;
              if (iy < 0 || iy >= p.h) continue;
              for (int kx = 0; kx < 3; ++kx) {
                const int ix = ox + kx - 1;
                if (ix >= 0 && ix < p.w) s += k[ky * 3 + kx] * plane[iy * p.w + ix];
              }
            }
          }
          y[((size_t(img) * p.cout + co) * p.h + oy) * p.w + ox] = s;
        }
  return y;
}

template <class A, class B>
double max_err(const A& got, const B& want, size_t n) {
  double num = 0, den = 0;
  for (size_t i = 0; i < n; ++i) {
    num = std::max(num, std::fabs(double(got[i]) - double(want[i])));
    den = std::max(den, std::fabs(double(want[i])));
  }
  return den > 0 ? num / den : num;
}

struct Guarded {  // the output inside NaN sentinels: a write outside it fails
  static constexpr size_t kGuard = 256;
  std::vector<float> buf;
  explicit Guarded(size_t n) : buf(n + 2 * kGuard, std::nanf("")) {}
  float* y() { return buf.data() + kGuard; }
  bool intact() const {
    for (size_t i = 0; i < kGuard; ++i)
      if (!std::isnan(buf[i]) || !std::isnan(buf[buf.size() - 1 - i])) return false;
    return true;
  }
};

double g_worst = 0;

// Winograd vs direct (and vs double when cheap) for one problem; returns the error.
void compare(const std::string& name, const Problem& p, ThreadPool& pool, bool accumulate = false,
             int64_t block_tiles = 0, size_t cache_budget = size_t(1) << 30) {
  const size_t n = p.out_size();
  std::vector<float> residual(n);
  for (auto& v : residual) v = frand();
  std::vector<float> want(n);
  if (accumulate) want = residual;
  direct(p, want.data(), accumulate, pool);

  Guarded got(n);
  if (accumulate) std::memcpy(got.y(), residual.data(), n * 4);
  Winograd wino(cache_budget);
  WinogradConv c;
  c.x = p.x.data(), c.n = p.n, c.cin = p.cin, c.h = p.h, c.w = p.w;
  c.weight = p.weight(), c.weight_dtype = p.dtype, c.cout = p.cout;
  c.bias = p.bias.data(), c.accumulate = accumulate, c.y = got.y(), c.block_tiles = block_tiles;
  wino.conv3x3(c, detect_isa(), pool);

  const double err = max_err(got.y(), want, n), l2 = harness::rel_l2(got.y(), want.data(), n);
  g_worst = std::max(g_worst, err);
  auto sci = [](double v) {
    char b[32];
    std::snprintf(b, sizeof b, "%.2e", v);
    return std::string(b);
  };
  std::string line = name + ": max_err " + sci(err) + " rel_l2 " + sci(l2);
  const double macs = double(p.n) * p.cout * p.cin * 9 * p.h * p.w;
  if (macs <= 4e8 && !accumulate) {
    const std::vector<double> ref = exact(p);
    line += " | vs double: winograd " + sci(max_err(got.y(), ref, n)) + ", direct " + sci(max_err(want, ref, n));
  }
  std::printf("%s\n", line.c_str());
  CHECK_MSG(got.intact(), name + ": wrote outside the output");
  CHECK_MSG(err <= kMaxErr && std::isfinite(err), name + ": max_err " + std::to_string(err) + " > budget");
  CHECK_MSG(l2 <= kRelL2, name + ": rel_l2 " + std::to_string(l2) + " > budget");
}

struct Shape {
  const char* name;
  int n, cin, cout, h, w;
};

// Every 3x3 stride-1 conv of SD1.5 (UNet under CFG: batch 2) and of the SD VAE decoder.
// Spatial sizes marked "(was ...)" are reduced from the real one to keep the test under a minute.
const Shape kSdShapes[] = {
    {"unet conv_in 4->320 64x64 (cin < 8 lanes)", 1, 4, 320, 64, 64},
    {"unet 320->320 64x64", 1, 320, 320, 64, 64},
    {"unet out.9 960->320 64x64 (skip concat)", 1, 960, 320, 40, 40},
    {"unet out.10/11 640->320 64x64 (skip concat)", 1, 640, 320, 64, 40},
    {"unet out.8 upsample 640->640 64x64", 1, 640, 640, 40, 40},
    {"unet conv_out 320->4 64x64", 1, 320, 4, 64, 64},
    {"unet in.4 320->640 32x32", 2, 320, 640, 32, 32},
    {"unet 640->640 32x32", 2, 640, 640, 32, 32},
    {"unet out.6 1920->640 32x32 (skip concat)", 1, 1920, 640, 32, 32},
    {"unet out.7 1280->640 32x32 (skip concat)", 1, 1280, 640, 32, 32},
    {"unet out.8 960->640 32x32 (skip concat)", 2, 960, 640, 32, 32},
    {"unet out.5 upsample 1280->1280 32x32", 1, 1280, 1280, 24, 24},
    {"unet in.7 640->1280 16x16", 2, 640, 1280, 16, 16},
    {"unet 1280->1280 16x16", 2, 1280, 1280, 16, 16},
    {"unet out.3/4 2560->1280 16x16 (skip concat)", 1, 2560, 1280, 16, 16},
    {"unet out.5 1920->1280 16x16 (skip concat)", 1, 1920, 1280, 16, 16},
    {"unet 1280->1280 8x8 (in.10/11, middle)", 2, 1280, 1280, 8, 8},
    {"unet out.0-2 2560->1280 8x8 (skip concat)", 2, 2560, 1280, 8, 8},
    {"vae conv_in 4->512 64x64", 1, 4, 512, 64, 64},
    {"vae 512->512 64x64", 1, 512, 512, 64, 64},
    {"vae 512->512 128x128 (was 128x128)", 1, 512, 512, 48, 48},
    {"vae upsample 512->512 256x256 (was 256x256)", 1, 512, 512, 32, 32},
    {"vae up.1 512->256 256x256 (was 256x256)", 1, 512, 256, 48, 48},
    {"vae 256->256 256x256 (was 256x256)", 1, 256, 256, 64, 64},
    {"vae upsample 256->256 512x512 (was 512x512)", 1, 256, 256, 64, 64},
    {"vae up.0 256->128 512x512 (was 512x512)", 1, 256, 128, 80, 80},
    {"vae 128->128 512x512 (was 512x512)", 1, 128, 128, 96, 96},
    {"vae conv_out 128->3 512x512 (was 512x512)", 1, 128, 3, 64, 64},
};

// The backend picks Winograd where it pays and gives the same result as with it off; under bf16
// precision it takes the same f32 Winograd path, bit for bit.
void backend_wiring(ThreadPool&) {
  float outs[3][4];
  for (int mode = 0; mode < 3; ++mode) {
    const int on = mode > 0;
    CpuOptions opt;
    opt.winograd = on == 1 ? WinogradMode::Auto : WinogradMode::Off;
    opt.precision = mode == 2 ? GemmPrecision::Bf16 : GemmPrecision::F32;
    opt.winograd_cache_bytes = size_t(1) << 30;
    opt.threads = 2;
    CpuBackend backend(opt);
    Context ctx;
    Tensor* x = ctx.new_tensor(DType::F32, {2, 64, 33, 31});
    Tensor* w = ctx.new_tensor(DType::F16, {96, 64, 3, 3});
    Tensor* b = ctx.new_tensor(DType::F32, {96});
    Tensor* r = ctx.new_tensor(DType::F32, {2, 96, 33, 31});
    Tensor* y = conv2d(ctx, x, w, b, 1, 1, 1, 1, 1, r, Padding::Zeros);
    Graph g(backend, {y});
    g.plan();
    g_rng = 7;
    for (int64_t i = 0; i < x->numel(); ++i) x->ptr<float>()[i] = frand();
    for (int64_t i = 0; i < w->numel(); ++i) w->ptr<uint16_t>()[i] = f32_to_f16(frand() * 0.04f);
    for (int64_t i = 0; i < b->numel(); ++i) b->ptr<float>()[i] = frand();
    for (int64_t i = 0; i < r->numel(); ++i) r->ptr<float>()[i] = frand();
    g.compute();
    CHECK_MSG((backend.winograd_cache_bytes() > 0) == (on == 1), "the backend used Winograd exactly when enabled");
    // Its scratch is the graph's: a workspace in the arena beside the conv's input and output.
    CHECK_MSG((y->workspace != nullptr) == (on == 1) && (backend.workspace_bytes(y) > 0) == (on == 1), "a workspace exactly for the Winograd conv");
    if (on == 1) CHECK(g.arena_bytes() >= backend.workspace_bytes(y) + y->nbytes() + x->nbytes());
    const float* out = y->ptr<float>();
    const int64_t n = y->numel();
    outs[mode][0] = out[0], outs[mode][1] = out[n / 3], outs[mode][2] = out[n / 2], outs[mode][3] = out[n - 1];
  }
  for (int i = 0; i < 4; ++i)
    CHECK_MSG(std::fabs(outs[0][i] - outs[1][i]) <= 1e-4f * (1 + std::fabs(outs[0][i])), "backend output with winograd matches direct");
  CHECK_MSG(std::memcmp(outs[1], outs[2], sizeof(outs[1])) == 0, "bf16 precision runs the same f32 Winograd");
}

// The cache holds one entry per weight; a weight patched in place is transformed again once its
// owner says so (forget), and never hashed per call.
void cache_behaviour(ThreadPool& pool) {
  Problem p(1, 64, 64, 16, 16, DType::F16);
  Winograd wino(size_t(1) << 30);
  std::vector<float> y(p.out_size()), want(p.out_size()), before(p.out_size());
  WinogradConv c;
  c.x = p.x.data(), c.n = 1, c.cin = 64, c.h = 16, c.w = 16, c.weight = p.weight(), c.weight_dtype = p.dtype;
  c.cout = 64, c.bias = p.bias.data(), c.y = y.data();
  wino.conv3x3(c, detect_isa(), pool);
  const size_t one = size_t(36) * 64 * 64 * 4;
  CHECK(wino.cache_bytes() == one);
  wino.conv3x3(c, detect_isa(), pool);
  CHECK(wino.cache_bytes() == one);
  before = y;
  for (size_t i = 0; i < p.w16.size(); i += 3) p.w16[i] = f32_to_f16(-f16_to_f32(p.w16[i]));  // patched in place
  wino.conv3x3(c, detect_isa(), pool);
  CHECK_MSG(std::memcmp(y.data(), before.data(), y.size() * sizeof(float)) == 0, "unannounced, the cached transform is used (no per-call hash)");
  wino.forget(p.w16.data() + p.w16.size() - 1, 2);  // any overlap with the weight's bytes drops it
  CHECK(wino.cache_bytes() == 0);
  wino.conv3x3(c, detect_isa(), pool);
  direct(p, want.data(), false, pool);
  CHECK_MSG(max_err(y, want, y.size()) <= kMaxErr, "weights changed in place are transformed again after forget()");
  CHECK(wino.cache_bytes() == one);
  wino.forget(p.w16.data() + p.w16.size(), 64);  // bytes just past the weight: kept
  CHECK(wino.cache_bytes() == one);
  WinogradConv computed = c;  // a weight the graph computes: never cached
  computed.cacheable = false;
  Winograd fresh(size_t(1) << 30);
  fresh.conv3x3(computed, detect_isa(), pool);
  CHECK(fresh.cache_bytes() == 0);
  CHECK_MSG(max_err(y, want, y.size()) <= kMaxErr, "an uncacheable weight gives the same result");
  Winograd none(0);  // no budget: transformed per call, nothing held
  none.conv3x3(c, detect_isa(), pool);
  CHECK(none.cache_bytes() == 0);
  CHECK_MSG(max_err(y, want, y.size()) <= kMaxErr, "uncached filters give the same result");
  // Auto's rule: per image (batch-independent), 64+ channels each way and 64+ tiles, or 16+ tiles
  // at 256+ channels each way.
  CHECK(winograd_pays(320, 320, 32, 32) && winograd_pays(64, 64, 29, 32) && winograd_pays(1280, 1280, 16, 16) && winograd_pays(256, 256, 16, 16));
  CHECK(!winograd_pays(1280, 1280, 8, 8) && !winograd_pays(32, 320, 64, 64) && !winograd_pays(320, 4, 64, 64) && !winograd_pays(64, 64, 16, 16) &&
        !winograd_pays(256, 128, 16, 16));
}

// Scratch given by the caller (the graph's workspace) gives the bytes the conv's own buffers give,
// with filters cached and per call: fused products (100 tiles) and the U path (320 tiles).
void workspace_scratch(ThreadPool& pool) {
  for (size_t budget : {size_t(1) << 30, size_t(0)})
  for (int h : {20, 64}) {
    Problem p(2, h == 20 ? 640 : 96, h == 20 ? 400 : 72, h, 40, DType::F16);
    std::vector<float> own(p.out_size()), given(p.out_size());
    WinogradConv c;
    c.x = p.x.data(), c.n = p.n, c.cin = p.cin, c.h = p.h, c.w = p.w, c.weight = p.weight(), c.weight_dtype = p.dtype;
    c.cout = p.cout, c.bias = p.bias.data();
    Winograd a(budget), b(budget);
    c.y = own.data();
    a.conv3x3(c, detect_isa(), pool);
    std::vector<unsigned char> ws(b.workspace_bytes(c, detect_isa()) + 1);
    c.y = given.data();
    b.conv3x3(c, detect_isa(), pool, ws.data() + 1);  // any alignment: the conv aligns inside
    CHECK_MSG(std::memcmp(own.data(), given.data(), own.size() * sizeof(float)) == 0, "workspace scratch = own scratch, bit for bit");
  }
}

// Image 1 of a batch of 3 against that image alone: equal bytes?
bool image1_equals_alone(ThreadPool& pool, int cin, int cout, int h, int w, int64_t block, size_t cache_budget) {
  Problem batch(3, cin, cout, h, w, DType::F16);
  Problem alone(1, cin, cout, h, w, DType::F16);
  alone.w16 = batch.w16, alone.bias = batch.bias;
  const size_t image = size_t(cin) * h * w, out = size_t(cout) * h * w;
  std::copy(batch.x.begin() + image, batch.x.begin() + 2 * image, alone.x.begin());
  std::vector<float> yb(batch.out_size()), ya(alone.out_size());
  Winograd wino(cache_budget);
  for (auto [p, y] : {std::make_pair(&batch, &yb), std::make_pair(&alone, &ya)}) {
    WinogradConv c;
    c.x = p->x.data(), c.n = p->n, c.cin = cin, c.h = h, c.w = w, c.weight = p->weight(), c.weight_dtype = p->dtype;
    c.cout = cout, c.bias = p->bias.data(), c.y = y->data(), c.block_tiles = p == &batch ? block : 0;
    wino.conv3x3(c, detect_isa(), pool);
  }
  return std::memcmp(yb.data() + out, ya.data(), out * sizeof(float)) == 0;
}

// An image gets the same bytes alone as in a batch (and whatever the tile blocking), as the
// direct conv gives: "image i of a batch = seed + i alone" holds with Winograd on.
void batch_independence(ThreadPool& pool) {
  for (int64_t block : {0, 7})
    CHECK_MSG(image1_equals_alone(pool, 72, 40, 19, 22, block, size_t(1) << 30), "image 1 of a batch of 3 = that image alone, bit for bit");
}

// Filters made inside the products (small tile blocks, per call) give the bytes of the U-then-
// gemm() path (cached filters, or large blocks): the same transform, K blocks and sums. Also
// across that boundary within one batch: 3 images of 100 tiles take the U path, one alone the
// fused products.
void fused_equals_u_path(ThreadPool& pool) {
  for (int cin : {640, 200}) {
    Problem p(2, cin, 50, 12, 11, DType::F16);
    std::vector<float> fused(p.out_size()), via_u(p.out_size());
    for (auto [budget, y] : {std::make_pair(size_t(0), &fused), std::make_pair(size_t(1) << 30, &via_u)}) {
      WinogradConv c;
      c.x = p.x.data(), c.n = p.n, c.cin = p.cin, c.h = p.h, c.w = p.w, c.weight = p.weight(), c.weight_dtype = p.dtype;
      c.cout = p.cout, c.bias = p.bias.data(), c.y = y->data();
      Winograd wino(budget);
      wino.conv3x3(c, detect_isa(), pool);
    }
    CHECK_MSG(std::memcmp(fused.data(), via_u.data(), fused.size() * sizeof(float)) == 0,
              "cin " + std::to_string(cin) + ": fused filters = cached U, bit for bit");
  }
  CHECK_MSG(image1_equals_alone(pool, 320, 24, 40, 40, 0, 0), "image 1 of 3 (U path) = alone (fused), bit for bit");
}

}  // namespace

// The filter transform decodes f16 weights a row at a time with the vector table's decoder: it
// must give dtype_bits.h's f16_to_f32 bit for bit, for all 65536 patterns, on every ISA here.
void f16_row_decode() {
  std::vector<uint16_t> all(65536);
  for (size_t i = 0; i < all.size(); ++i) all[i] = uint16_t(i);
  for (int i = 0; i < kIsaCount; ++i) {
    const Isa isa = Isa(i);
    if (!isa_supported(isa)) continue;
    std::vector<float> got(all.size());
    vec_kernels(isa).f16_to_f32(all.data(), got.data(), int64_t(all.size()));
    int wrong = 0;
    for (size_t k = 0; k < all.size(); ++k) {
      const float want = f16_to_f32(all[k]);
      uint32_t a, b;
      std::memcpy(&a, &got[k], 4);
      std::memcpy(&b, &want, 4);
      wrong += a != b;
    }
    CHECK_MSG(wrong == 0, std::string("f16 row decode on ") + isa_name(isa) + ": " + std::to_string(wrong) + " of 65536 differ");
  }
}

int main(int argc, char** argv) {
  f16_row_decode();
  // --quick (the arm64 build under qemu, ~50x slower): every shape's batch and layout, channels
  // and image cut to at most 64 -> 48 at 12x12, enough to drive each path of the emulated ISA
  const bool quick = argc > 1 && std::string(argv[1]) == "--quick";
  ThreadPool pool2(2);
  std::printf("Winograd F(4,3) vs direct conv, %s%s, max_err = max|win - direct| / max|direct|\n", isa_name(detect_isa()), quick ? " (quick)" : "");
  for (const Shape& s : kSdShapes) {
    if (quick) compare(s.name, Problem(s.n, std::min(s.cin, 64), std::min(s.cout, 48), std::min(s.h, 12), std::min(s.w, 12), DType::F16), pool2);
    else compare(s.name, Problem(s.n, s.cin, s.cout, s.h, s.w, DType::F16), pool2);
  }

  // Edges and epilogues.
  compare("odd 13x7, cin 12, cout 9, n 3", Problem(3, 12, 9, 13, 7, DType::F16), pool2);
  compare("1x1 image, f32 weights", Problem(1, 16, 8, 1, 1, DType::F32), pool2);
  compare("5x6, bf16 weights", Problem(2, 20, 17, 5, 6, DType::BF16), pool2);
  compare("residual add, 320->320 24x20", Problem(2, 320, 320, 24, 20, DType::F16), pool2, true);
  compare("blocks of 24 tiles, 96->64 30x26", Problem(2, 96, 64, 30, 26, DType::F16), pool2, true, 24);
  compare("blocks of 7 tiles (not a multiple of 8)", Problem(1, 40, 24, 18, 22, DType::F16), pool2, false, 7);
  compare("no filter cache", Problem(1, 64, 64, 20, 20, DType::F16), pool2, false, 0, 0);
  compare("no filter cache, 2 output-channel slices, 2 tile blocks", Problem(2, 640, 400, 8, 12, DType::F16), pool2, true, 6, 0);
  ThreadPool pool1(1), pool5(5);
  compare("1 thread, 128->96 21x19", Problem(2, 128, 96, 21, 19, DType::F16), pool1, true);
  compare("5 threads (each GEMM on the pool)", Problem(2, 128, 96, 21, 19, DType::F16), pool5, true);

  cache_behaviour(pool2);
  batch_independence(pool2);
  fused_equals_u_path(pool2);
  workspace_scratch(pool2);
  backend_wiring(pool2);
  std::printf("worst max_err %.3g (budget %.0e)\n", g_worst, kMaxErr);
  return harness::finish("test_winograd");
}
