// Attention table test: every ISA path this CPU supports x both precisions x shapes (odd token
// counts around the 64-query / 64-key blocks, head dims 1..160, d != dv), causal or not, both
// stride layouts ([bh][t][d] with padded rows, and [B, T, heads*d] via heads/batch/head
// strides), 1-3 threads; compared with attention_reference (double, materialised scores).
//
// Tolerances (rel_l2 over the whole output):
//   F32:  1e-5. Error sources: f32 dot products and sums (~1e-7 each) and the vector exp
//         (~1.2e-7 relative); measured ~1e-7..1e-6.
//   Bf16: 1e-2 against the reference that rounds q, k, v to bf16 as the kernel does. The kernel
//         also rounds the (unnormalised) probabilities to bf16 before p.v, which the reference
//         does not: up to 2^-9 relative per probability, ~1e-3 on typical outputs but up to
//         ~5e-3 where few keys with mixed-sign values cancel (tk = 5, d = 1 measures 5.3e-3).
//         A kernel that skips a key, a query or a rescale is off by far more than 1e-2.
// Output rows live in a buffer of sentinel NaNs; writes outside the (t, d) window fail.
#include <cmath>
#include <cstdint>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "core/cpu/attention.h"
#include "harness.h"

using namespace sd;
using namespace sd::cpu;

namespace {

uint64_t g_rng = 0x2545f4914f6cdd1dull;
float frand() {
  g_rng = g_rng * 6364136223846793005ull + 1442695040888963407ull;
  return float(int32_t(g_rng >> 32)) * (1.0f / 2147483648.0f);
}

const uint32_t kSentinel = 0x7fc5a5a5u;

struct Case {
  int64_t batch, heads, tq, tk, d, dv;
  bool causal;
  bool packed;   // [B, T, heads*d] layout (heads/batch/head strides) instead of [bh][t][d]
  int64_t pad;   // extra floats per token row
  float scale_mul = 1.0f;  // multiplies 1/sqrt(d): larger = peakier softmax
};

ThreadPool& pool_of(int threads) {
  static std::unique_ptr<ThreadPool> pools[4];
  if (!pools[threads]) pools[threads] = std::make_unique<ThreadPool>(threads);
  return *pools[threads];
}

struct Tensor {  // one of q/k/v/out with its layout
  std::vector<float> buf;
  int64_t t_stride, bh_stride, batch_stride, head_stride;
  std::vector<uint8_t> inside;  // 1 where an element of the logical (bh, t, x) window lives
};

Tensor make_tensor(const Case& c, int64_t t, int64_t width, bool random) {
  Tensor x;
  const int64_t bh = c.batch * c.heads, guard = 32;
  if (c.packed) {
    x.t_stride = c.heads * width + c.pad;
    x.batch_stride = t * x.t_stride;
    x.head_stride = width;
    x.bh_stride = 0;
  } else {
    x.t_stride = width + c.pad;
    x.bh_stride = t * x.t_stride;
    x.batch_stride = x.head_stride = 0;
  }
  const size_t total = size_t(guard * 2 + bh * t * x.t_stride + 1);
  x.buf.resize(total);
  x.inside.assign(total, 0);
  float s;
  std::memcpy(&s, &kSentinel, 4);
  for (auto& v : x.buf) v = random ? frand() : s;
  for (int64_t i = 0; i < bh; ++i) {
    const int64_t b = i / c.heads, h = i % c.heads;
    const int64_t base = guard + (c.packed ? b * x.batch_stride + h * x.head_stride : i * x.bh_stride);
    for (int64_t tt = 0; tt < t; ++tt)
      for (int64_t w = 0; w < width; ++w) x.inside[size_t(base + tt * x.t_stride + w)] = 1;
  }
  return x;
}

void set(AttentionParams& p, const Case& c, const Tensor& x, const float*& ptr, int64_t& bhs,
         int64_t& bs, int64_t& hs) {
  ptr = x.buf.data() + 32;
  bhs = x.bh_stride, bs = x.batch_stride, hs = x.head_stride;
  (void)p, (void)c;
}

std::vector<float> window(const Tensor& x) {
  std::vector<float> out;
  for (size_t i = 0; i < x.buf.size(); ++i)
    if (x.inside[i]) out.push_back(x.buf[i]);
  return out;
}

bool guards_intact(const Tensor& x) {
  for (size_t i = 0; i < x.buf.size(); ++i) {
    uint32_t bits;
    std::memcpy(&bits, &x.buf[i], 4);
    if (!x.inside[i] && bits != kSentinel) return false;
  }
  return true;
}

void run_case(const Case& c, int threads) {
  const int64_t dv = c.dv > 0 ? c.dv : c.d;
  Tensor q = make_tensor(c, c.tq, c.d, true), k = make_tensor(c, c.tk, c.d, true),
         v = make_tensor(c, c.tk, dv, true);
  AttentionParams p;
  p.batch_heads = c.batch * c.heads;
  p.tq = c.tq, p.tk = c.tk, p.head_dim = c.d, p.head_dim_v = c.dv;
  p.q_t_stride = q.t_stride, p.k_t_stride = k.t_stride, p.v_t_stride = v.t_stride;
  set(p, c, q, p.q, p.q_bh_stride, p.q_batch_stride, p.q_head_stride);
  set(p, c, k, p.k, p.k_bh_stride, p.k_batch_stride, p.k_head_stride);
  set(p, c, v, p.v, p.v_bh_stride, p.v_batch_stride, p.v_head_stride);
  if (c.packed) p.heads = c.heads;
  p.scale = c.scale_mul / std::sqrt(float(c.d));
  p.causal = c.causal;
  char desc[200];
  std::snprintf(desc, sizeof desc, "B%lld H%lld tq%lld tk%lld d%lld dv%lld%s%s pad%lld t%d scale*%g",
                (long long)c.batch, (long long)c.heads, (long long)c.tq, (long long)c.tk,
                (long long)c.d, (long long)dv, c.causal ? " causal" : "", c.packed ? " packed" : "",
                (long long)c.pad, threads, c.scale_mul);
  for (GemmPrecision pr : {GemmPrecision::F32, GemmPrecision::Bf16}) {
    p.precision = pr;
    Tensor ref = make_tensor(c, c.tq, dv, false);
    p.out = ref.buf.data() + 32;
    p.o_t_stride = ref.t_stride, p.o_bh_stride = ref.bh_stride;
    p.o_batch_stride = ref.batch_stride, p.o_head_stride = ref.head_stride;
    attention_reference(p);
    const std::vector<float> want = window(ref);
    for (int ii = 0; ii < kIsaCount; ++ii) {
      const Isa isa = Isa(ii);
      if (!isa_supported(isa)) continue;
      Tensor got = make_tensor(c, c.tq, dv, false);
      p.out = got.buf.data() + 32;
      p.isa = isa;
      attention(p, pool_of(threads));
      const std::string what = std::string(isa_name(isa)) + (pr == GemmPrecision::F32 ? "/f32 " : "/bf16 ") + desc;
      const std::vector<float> out = window(got);
      bool finite = out.size() == want.size();
      for (float x : out) finite = finite && std::isfinite(x);
      CHECK_MSG(finite, "non-finite output: " + what);
      CHECK_MSG(guards_intact(got), "write outside out: " + what);
      if (!finite) continue;
      const double err = harness::rel_l2(out.data(), want.data(), int64_t(out.size()));
      const double tol = pr == GemmPrecision::F32 ? 1e-5 : 1e-2;
      CHECK_MSG(err <= tol, "rel_l2 " + std::to_string(err) + " > " + std::to_string(tol) + ": " + what);
    }
  }
}

}  // namespace

int main() {
  std::printf("detected ISA: %s\n", isa_name(detect_isa()));
  int idx = 0;
  // Token counts around the block sizes, head dims around the vector widths.
  const int64_t ts[] = {1, 2, 7, 63, 64, 65, 77, 130};
  const int64_t ds[] = {1, 8, 17, 40, 64, 80};
  for (int64_t tq : ts) {
    for (int64_t tk : {int64_t(1), int64_t(5), int64_t(64), int64_t(77), int64_t(129)}) {
      const int64_t d = ds[idx % 6];
      Case c{1 + idx % 2, 1 + (idx / 2) % 3, tq, tk, d, 0, false, idx % 3 == 1, (idx % 4 == 2) ? 3 : 0};
      run_case(c, 1 + idx % 3);
      ++idx;
    }
  }
  // Causal (tq == tk, as in the CLIP text encoder), incl. CLIP's 77 x 64 x 12 heads.
  for (int64_t t : {1, 3, 64, 65, 77, 150}) {
    Case c{1, 2, t, t, 24, 0, true, t % 2 == 1, 0};
    run_case(c, 2);
  }
  run_case(Case{1, 12, 77, 77, 64, 0, true, true, 0}, 2);
  // d != dv, wide heads (SD 256x160), peaky softmax (running max must rescale).
  run_case(Case{2, 2, 70, 90, 32, 48, false, false, 5}, 3);
  run_case(Case{1, 2, 100, 100, 160, 0, false, true, 0}, 2);
  run_case(Case{1, 1, 200, 300, 40, 0, false, false, 0, 8.0f}, 2);
  run_case(Case{1, 1, 97, 97, 40, 0, true, false, 0, 8.0f}, 1);
  // Cross attention shape: many queries, 77 keys, d 40, [B, T, heads*d] layout.
  run_case(Case{2, 8, 256, 77, 40, 0, false, true, 0}, 2);
  return harness::finish("test_attention");
}
