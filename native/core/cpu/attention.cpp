// Attention driver (compiled with no ISA flags): splits (batch*heads) x query blocks into pool
// tasks and hands each block to the ISA path's flash kernel (attention_<isa>.cpp). Also holds
// the double-precision reference that materialises the scores.
#include "attention.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <memory>
#include <string>
#include <vector>

#include "../error.h"
#include "attention_kernels.h"

namespace sd::cpu {
namespace attention_detail {
namespace {

struct Bases {
  const float *q, *k, *v;
  float* o;
};

Bases bases(const AttentionParams& p, int64_t bh) {
  if (p.heads > 0) {
    const int64_t b = bh / p.heads, h = bh % p.heads;
    return {p.q + b * p.q_batch_stride + h * p.q_head_stride,
            p.k + b * p.k_batch_stride + h * p.k_head_stride,
            p.v + b * p.v_batch_stride + h * p.v_head_stride,
            p.out + b * p.o_batch_stride + h * p.o_head_stride};
  }
  return {p.q + bh * p.q_bh_stride, p.k + bh * p.k_bh_stride, p.v + bh * p.v_bh_stride,
          p.out + bh * p.o_bh_stride};
}

void validate(const AttentionParams& p) {
  if (p.batch_heads < 0 || p.tq < 0 || p.tk < 0 || p.head_dim < 0 || p.head_dim_v < 0)
    throw Error("attention: negative size");
  if (p.batch_heads > 0 && p.tq > 0 && (!p.q || !p.k || !p.v || !p.out))
    throw Error("attention: q, k, v and out must be set");
  if (p.tq > 0 && p.tk == 0) throw Error("attention: tk must be > 0 (softmax over no keys)");
  if (!isa_supported(p.isa))
    throw Error(std::string("attention: ISA path ") + isa_name(p.isa) + " is not supported by this CPU");
}

// vdpbf16ps pays off from ~2 key blocks on: with tk = 77 (cross-attention, CLIP) its extra
// packing costs more than it saves (measured 22 vs 28 GFLOP/s at 4096x77x40, bench/RESULTS.md);
// both give Bf16 numerics (same rounding of q, k, v and p; only the summation order differs).
// AArch64 runs Bf16 attention on the NEON f32 kernel with emulated rounding (BFMMLA not wired yet).
const AttentionKernels& select(Isa isa, GemmPrecision precision, int64_t tk) {
#if defined(__x86_64__) || defined(_M_X64)
  switch (isa) {
    case Isa::Avx512Bf16:
      if (precision == GemmPrecision::Bf16 && tk > 2 * kBlockK) return *attention_kernels_avx512bf16();
      return *attention_kernels_avx512();
    case Isa::Avx512: return *attention_kernels_avx512();
    case Isa::Avx2: return *attention_kernels_avx2();
    default: break;
  }
#elif defined(__aarch64__)
  (void)precision, (void)tk;
  switch (isa) {
    case Isa::NeonBf16:
    case Isa::Neon: return *attention_kernels_neon();
    default: break;
  }
#else  // only the portable TU is built elsewhere; detect_isa() reports Scalar
  (void)isa, (void)precision, (void)tk;
#endif
  return *attention_kernels_scalar();
}

struct AlignedFree {
  void operator()(void* ptr) const { std::free(ptr); }
};

}  // namespace
}  // namespace attention_detail

void attention(const AttentionParams& p, ThreadPool& pool) {
  using namespace attention_detail;
  validate(p);
  if (p.batch_heads == 0 || p.tq == 0) return;
  const int64_t dv = p.head_dim_v > 0 ? p.head_dim_v : p.head_dim;
  const AttentionKernels& kr = select(p.isa, p.precision, p.tk);
  const bool bf16 = p.precision == GemmPrecision::Bf16;
  const int64_t dp = attention_round16(p.head_dim), dvp = attention_round16(dv);
  const int64_t k_blocks = (p.tk + kBlockK - 1) / kBlockK;
  const int64_t kt_floats = k_blocks * dp * kBlockK, vb_floats = k_blocks * kBlockK * dvp;
  const int64_t per_thread = (attention_scratch_floats(p.head_dim, dv) + 15) / 16 * 16;
  const int64_t q_blocks = (p.tq + kBlockQ - 1) / kBlockQ;
  // Heads per chunk: their packed keys/values (kt + vb) stay within ~16 MiB.
  const int64_t per_head = kt_floats + vb_floats;
  const int64_t chunk = std::max<int64_t>(1, std::min<int64_t>(p.batch_heads, (int64_t(4) << 20) / per_head));
  const size_t floats = size_t(per_thread * pool.size() + chunk * per_head);
  // Kept per calling thread: fresh pages for 16 MiB cost ~4000 page faults on every call.
  thread_local std::unique_ptr<float, AlignedFree> mem;
  thread_local size_t mem_floats = 0;
  if (floats > mem_floats) {
    mem.reset(static_cast<float*>(std::aligned_alloc(64, (floats * 4 + 63) / 64 * 64)));
    if (!mem) {
      mem_floats = 0;
      throw Error("attention: out of memory for " + std::to_string(floats * 4) + " bytes of scratch");
    }
    mem_floats = floats;
  }
  float* scratch = mem.get();
  float* packed = scratch + per_thread * pool.size();
  for (int64_t bh0 = 0; bh0 < p.batch_heads; bh0 += chunk) {
    const int64_t nbh = std::min(chunk, p.batch_heads - bh0);
    pool.run(nbh * k_blocks, [&](int64_t task, int) {
      const int64_t i = task / k_blocks, kb = task % k_blocks;
      const Bases b = bases(p, bh0 + i);
      AttnPackJob j;
      j.k = b.k, j.k_t_stride = p.k_t_stride;
      j.v = b.v, j.v_t_stride = p.v_t_stride;
      j.k0 = kb * kBlockK, j.tk = p.tk, j.d = p.head_dim, j.dv = dv;
      j.bf16 = bf16;
      j.kt = packed + i * per_head + kb * dp * kBlockK;
      j.vb = packed + i * per_head + kt_floats + kb * kBlockK * dvp;
      kr.pack(j);
    });
    pool.run(nbh * q_blocks, [&](int64_t task, int thread) {
      const int64_t i = task / q_blocks, qb = task % q_blocks;
      const Bases b = bases(p, bh0 + i);
      AttnBlock t;
      t.q = b.q, t.q_t_stride = p.q_t_stride;
      t.k = b.k, t.k_t_stride = p.k_t_stride;
      t.v = b.v, t.v_t_stride = p.v_t_stride;
      t.out = b.o, t.o_t_stride = p.o_t_stride;
      t.q0 = qb * kBlockQ;
      t.nq = std::min<int64_t>(kBlockQ, p.tq - t.q0);
      t.tk = p.tk, t.d = p.head_dim, t.dv = dv;
      t.scale = p.scale;
      t.causal = p.causal;
      t.bf16 = bf16;
      t.kt = packed + i * per_head;
      t.vb = packed + i * per_head + kt_floats;
      t.scratch = scratch + thread * per_thread;
      kr.block(t);
    });
  }
}

void attention_reference(const AttentionParams& p) {
  using namespace attention_detail;
  validate(p);
  const int64_t dv = p.head_dim_v > 0 ? p.head_dim_v : p.head_dim;
  const bool bf16 = p.precision == GemmPrecision::Bf16;
  auto rd = [&](float x) { return bf16 ? double(bf16_to_f32(f32_to_bf16(x))) : double(x); };
  std::vector<double> s(size_t(std::max<int64_t>(p.tk, 1))), acc(size_t(std::max<int64_t>(dv, 1)));
  for (int64_t bh = 0; bh < p.batch_heads; ++bh) {
    const Bases b = bases(p, bh);
    for (int64_t t = 0; t < p.tq; ++t) {
      const int64_t n_keys = p.causal ? std::min(t + 1, p.tk) : p.tk;
      double mx = -INFINITY;
      for (int64_t j = 0; j < n_keys; ++j) {
        double dot = 0;
        for (int64_t x = 0; x < p.head_dim; ++x)
          dot += rd(b.q[t * p.q_t_stride + x]) * rd(b.k[j * p.k_t_stride + x]);
        s[j] = dot * p.scale;
        mx = std::max(mx, s[j]);
      }
      double sum = 0;
      for (int64_t j = 0; j < n_keys; ++j) sum += (s[j] = std::exp(s[j] - mx));
      std::fill(acc.begin(), acc.end(), 0.0);
      for (int64_t j = 0; j < n_keys; ++j)
        for (int64_t x = 0; x < dv; ++x) acc[x] += s[j] / sum * rd(b.v[j * p.v_t_stride + x]);
      for (int64_t x = 0; x < dv; ++x) b.o[t * p.o_t_stride + x] = float(acc[x]);
    }
  }
}

}  // namespace sd::cpu
