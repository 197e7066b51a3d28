// Linear layers, batched matmul, convolution (implicit GEMM) and fused attention: the
// compute-bound ops, all lowered onto gemm() / attention() with weights read in place.
#include <cstring>

#include "../error.h"
#include "../ops.h"
#include "attention.h"
#include "circular_pad.h"
#include "cpu_backend.h"
#include "cpu_util.h"

namespace sd::cpu {
namespace {

void copy_residual(Tensor* residual, float* y, int64_t n) {
  if (residual->is_contiguous()) std::memcpy(y, residual->data, size_t(n) * 4);
  else to_f32(residual, y);
}

}  // namespace

// 3x3, stride 1, zero padding 1 on every side, and the mode's rule says so (any precision: see CpuOptions).
bool CpuBackend::winograd_eligible(const Tensor* t) const {
  const Tensor* w = t->src[1];
  const bool same_3x3 = w->shape[2] == 3 && w->shape[3] == 3 && t->iparam[0] == 1 && t->iparam[1] == 1 && t->iparam[2] == 1 &&
                        t->iparam[3] == 1 && t->iparam[4] == 1 && Padding(t->iparam[5]) == Padding::Zeros;
  if (!same_3x3) return false;
  const Tensor* x = t->src[0];
  return options_.winograd == WinogradMode::Always ||
         (options_.winograd == WinogradMode::Auto && winograd_pays(int(x->shape[1]), int(t->shape[1]), int(x->shape[2]), int(x->shape[3])));
}

// The node's shapes and weight; the caller adds the input, bias and output pointers.
WinogradConv CpuBackend::winograd_conv(const Tensor* t) const {
  const Tensor* x = t->src[0];
  const Tensor* w = t->src[1];
  WinogradConv wc;
  wc.n = int(x->shape[0]), wc.cin = int(x->shape[1]), wc.h = int(x->shape[2]), wc.w = int(x->shape[3]);
  wc.weight = w->data, wc.weight_dtype = w->dtype, wc.cout = int(t->shape[1]);
  wc.accumulate = t->src[3] != nullptr;
  wc.cacheable = const_cast<Tensor*>(w)->storage()->op == Op::None;
  return wc;
}

size_t CpuBackend::workspace_bytes(const Tensor* t) const {
  return t->op == Op::Conv2d && winograd_eligible(t) ? winograd_.workspace_bytes(winograd_conv(t), options_.isa) : 0;
}

void CpuBackend::products(Tensor* t) {
  float* y = t->ptr<float>();
  GemmParams p;
  p.precision = options_.precision;
  p.isa = options_.isa;
  // A contiguous f32 copy of s (a strided input, a bias of any float dtype) in a scratch slot.
  auto f32_copy = [&](const Tensor* s, int slot) {
    float* c = scratch(size_t(s->numel()), slot);
    to_f32(s, c);
    return c;
  };
  // One GEMM into c (row stride ldc) with p's bias and accumulate settings.
  auto run_gemm = [&](int64_t m, int64_t n, int64_t k, const GemmOperand& a, const GemmOperand& b, float* c, int64_t ldc) {
    p.m = m; p.n = n; p.k = k;
    p.a = a;
    p.b = b;
    p.c = c;
    p.c_row_stride = ldc;
    gemm(p, pool_);
  };
  switch (t->op) {
    case Op::Linear: {
      Tensor* x = t->src[0];
      Tensor* w = t->src[1];
      const int64_t k = x->shape[x->ndim - 1], n = w->shape[0], m = x->numel() / std::max<int64_t>(1, k);
      int64_t xrow = dense_row_stride(x);
      const float* xs = x->ptr<float>();
      if (xrow < 0) {
        xs = f32_copy(x, 2);
        xrow = k;
      }
      if (w->stride[1] != 1) throw Error("linear: weight " + w->name + " must have contiguous rows");
      if (t->src[2]) p.bias_n = f32_copy(t->src[2], 0);
      if (t->src[3]) {
        copy_residual(t->src[3], y, t->numel());
        p.accumulate = true;
      }
      run_gemm(m, n, k, GemmOperand::dense(xs, DType::F32, xrow), GemmOperand::dense(w->data, w->dtype, w->stride[0]), y, n);
      return;
    }
    case Op::Matmul: {
      Tensor* a = t->src[0];
      Tensor* b = t->src[1];
      if (a->stride[2] != 1 || b->stride[2] != 1) throw Error("matmul: operands need a contiguous last axis; call contiguous() first");
      const int64_t batch = a->shape[0], m = a->shape[1], n = b->shape[1], k = a->shape[2];
      for (int64_t i = 0; i < batch; ++i) {
        const int64_t bi = b->shape[0] == 1 ? 0 : i;
        run_gemm(m, n, k, GemmOperand::dense(a->ptr<float>() + i * a->stride[0], DType::F32, a->stride[1]),
                 GemmOperand::dense(static_cast<const char*>(b->data) + bi * b->stride[0] * int64_t(dtype_size(b->dtype)), b->dtype, b->stride[1]),
                 y + i * m * n, n);
      }
      return;
    }
    case Op::Conv2d: {
      Tensor* x = t->src[0];
      Tensor* w = t->src[1];
      const float* xs = x->ptr<float>();
      if (!x->is_contiguous()) xs = f32_copy(x, 2);
      if (!w->is_contiguous()) throw Error("conv2d: weight " + w->name + " must be contiguous");
      const int64_t out_c = t->shape[1], oh = t->shape[2], ow = t->shape[3];
      const int64_t in_c = x->shape[1];
      int64_t ih = x->shape[2], iw = x->shape[3];
      int pad_top = t->iparam[1], pad_left = t->iparam[2];
      if (Padding(t->iparam[5]) == Padding::Circular) {
        // The wrapped border is materialised once, so every GEMM path below stays zero-padding only.
        const int pb = t->iparam[3], pr = t->iparam[4];
        float* padded = scratch(size_t(x->shape[0] * in_c * (ih + pad_top + pb) * (iw + pad_left + pr)), 3);
        circular_pad(xs, x->shape[0] * in_c, ih, iw, pad_top, pad_left, pb, pr, padded);
        xs = padded;
        ih += pad_top + pb;
        iw += pad_left + pr;
        pad_top = pad_left = 0;
      }
      const int64_t kh = w->shape[2], kw = w->shape[3];
      const float* bias = t->src[2] ? f32_copy(t->src[2], 0) : nullptr;
      if (t->src[3]) copy_residual(t->src[3], y, t->numel());
      if (winograd_eligible(t)) {
        WinogradConv wc = winograd_conv(t);
        wc.x = xs, wc.bias = bias, wc.y = y;
        winograd_.conv3x3(wc, options_.isa, pool_, t->workspace);
        return;
      }
      p.bias_m = bias;
      p.accumulate = t->src[3] != nullptr;
      for (int64_t img = 0; img < x->shape[0]; ++img) {
        GemmOperand cols;
        cols.kind = GemmOperand::Kind::Im2col;
        cols.im2col = Im2col{xs + img * in_c * ih * iw, int(in_c), int(ih), int(iw), int(kh), int(kw),
                             t->iparam[0], pad_top, pad_left, int(oh), int(ow)};
        run_gemm(out_c, oh * ow, in_c * kh * kw, GemmOperand::dense(w->data, w->dtype, in_c * kh * kw), cols, y + img * out_c * oh * ow, oh * ow);
      }
      return;
    }
    case Op::Attention: {
      const AttentionGeometry g = attention_geometry(t);
      const Tensor *q = g.q, *k = g.k, *v = g.v;
      AttentionParams a;
      a.batch_heads = g.batch * g.heads;
      a.tq = g.tq;
      a.tk = g.tk;
      a.head_dim = g.head_dim;
      a.head_dim_v = g.head_dim_v;
      a.heads = g.heads;
      a.q = q->ptr<float>(); a.q_t_stride = q->stride[1]; a.q_batch_stride = q->stride[0]; a.q_head_stride = a.head_dim;
      a.k = k->ptr<float>(); a.k_t_stride = k->stride[1]; a.k_batch_stride = k->stride[0]; a.k_head_stride = a.head_dim;
      a.v = v->ptr<float>(); a.v_t_stride = v->stride[1]; a.v_batch_stride = v->stride[0]; a.v_head_stride = a.head_dim_v;
      a.out = y; a.o_t_stride = t->shape[2]; a.o_batch_stride = t->shape[1] * t->shape[2]; a.o_head_stride = a.head_dim_v;
      a.scale = g.scale;
      a.causal = g.causal;
      a.precision = options_.precision;
      a.isa = options_.isa;
      attention(a, pool_);
      return;
    }
    default:
      return;
  }
}

}  // namespace sd::cpu
