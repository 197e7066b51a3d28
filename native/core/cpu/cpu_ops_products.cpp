// Linear layers, batched matmul, convolution (implicit GEMM) and fused attention: the
// compute-bound ops, all lowered onto gemm() / attention() with weights read in place.
#include <cstring>

#include "../error.h"
#include "attention.h"
#include "cpu_backend.h"
#include "cpu_util.h"

namespace sd::cpu {
namespace {

// Row stride if x [..., K] is a stack of dense rows (inner stride 1, leading dims collapse).
int64_t dense_row_stride(const Tensor* x) {
  const int nd = x->ndim;
  if (x->stride[nd - 1] != 1 && x->shape[nd - 1] != 1) return -1;
  if (nd == 1) return x->shape[0];
  for (int i = 0; i < nd - 2; ++i)
    if (x->shape[i] != 1 && x->stride[i] != x->stride[i + 1] * x->shape[i + 1]) return -1;
  return x->shape[nd - 2] == 1 ? x->shape[nd - 1] : x->stride[nd - 2];
}

void copy_residual(Tensor* residual, float* y, int64_t n) {
  if (residual->is_contiguous()) std::memcpy(y, residual->data, size_t(n) * 4);
  else to_f32(residual, y);
}

}  // namespace

void CpuBackend::products(Tensor* t) {
  float* y = t->ptr<float>();
  GemmParams p;
  p.precision = options_.precision;
  p.isa = options_.isa;
  switch (t->op) {
    case Op::Linear: {
      Tensor* x = t->src[0];
      Tensor* w = t->src[1];
      const int64_t k = x->shape[x->ndim - 1], n = w->shape[0], m = x->numel() / std::max<int64_t>(1, k);
      int64_t xrow = dense_row_stride(x);
      const float* xs = x->ptr<float>();
      if (xrow < 0) {
        float* c = scratch(size_t(x->numel()), 2);
        to_f32(x, c);
        xs = c;
        xrow = k;
      }
      if (w->stride[1] != 1) throw Error("linear: weight " + w->name + " must have contiguous rows");
      p.m = m; p.n = n; p.k = k;
      p.a = GemmOperand::dense(xs, DType::F32, xrow);
      p.b = GemmOperand::dense(w->data, w->dtype, w->stride[0]);
      p.c = y;
      p.c_row_stride = n;
      if (t->src[2]) {
        float* b = scratch(size_t(n), 0);
        to_f32(t->src[2], b);
        p.bias_n = b;
      }
      if (t->src[3]) {
        copy_residual(t->src[3], y, t->numel());
        p.accumulate = true;
      }
      gemm(p, pool_);
      return;
    }
    case Op::Matmul: {
      Tensor* a = t->src[0];
      Tensor* b = t->src[1];
      if (a->stride[2] != 1 || b->stride[2] != 1) throw Error("matmul: operands need a contiguous last axis; call contiguous() first");
      const int64_t batch = a->shape[0], m = a->shape[1], n = b->shape[1], k = a->shape[2];
      for (int64_t i = 0; i < batch; ++i) {
        const int64_t bi = b->shape[0] == 1 ? 0 : i;
        p.m = m; p.n = n; p.k = k;
        p.a = GemmOperand::dense(a->ptr<float>() + i * a->stride[0], DType::F32, a->stride[1]);
        p.b = GemmOperand::dense(static_cast<const char*>(b->data) + bi * b->stride[0] * int64_t(dtype_size(b->dtype)), b->dtype, b->stride[1]);
        p.c = y + i * m * n;
        p.c_row_stride = n;
        gemm(p, pool_);
      }
      return;
    }
    case Op::Conv2d: {
      Tensor* x = t->src[0];
      Tensor* w = t->src[1];
      const float* xs = x->ptr<float>();
      if (!x->is_contiguous()) {
        float* c = scratch(size_t(x->numel()), 2);
        to_f32(x, c);
        xs = c;
      }
      if (!w->is_contiguous()) throw Error("conv2d: weight " + w->name + " must be contiguous");
      const int64_t out_c = t->shape[1], oh = t->shape[2], ow = t->shape[3];
      const int64_t in_c = x->shape[1], ih = x->shape[2], iw = x->shape[3];
      const int64_t kh = w->shape[2], kw = w->shape[3];
      float* bias = nullptr;
      if (t->src[2]) {
        bias = scratch(size_t(out_c), 0);
        to_f32(t->src[2], bias);
      }
      if (t->src[3]) copy_residual(t->src[3], y, t->numel());
      for (int64_t img = 0; img < x->shape[0]; ++img) {
        p.m = out_c; p.n = oh * ow; p.k = in_c * kh * kw;
        p.a = GemmOperand::dense(w->data, w->dtype, in_c * kh * kw);
        p.b.kind = GemmOperand::Kind::Im2col;
        p.b.dtype = DType::F32;
        p.b.im2col = Im2col{xs + img * in_c * ih * iw, int(in_c), int(ih), int(iw), int(kh), int(kw),
                            t->iparam[0], t->iparam[1], t->iparam[2], int(oh), int(ow)};
        p.c = y + img * out_c * oh * ow;
        p.c_row_stride = oh * ow;
        p.bias_m = bias;
        p.accumulate = t->src[3] != nullptr;
        gemm(p, pool_);
      }
      return;
    }
    case Op::Attention: {
      Tensor* q = t->src[0];
      Tensor* k = t->src[1];
      Tensor* v = t->src[2];
      const int64_t heads = t->iparam[0];
      AttentionParams a;
      a.batch_heads = q->shape[0] * heads;
      a.tq = q->shape[1];
      a.tk = k->shape[1];
      a.head_dim = q->shape[2] / heads;
      a.head_dim_v = v->shape[2] / heads;
      a.heads = heads;
      a.q = q->ptr<float>(); a.q_t_stride = q->stride[1]; a.q_batch_stride = q->stride[0]; a.q_head_stride = a.head_dim;
      a.k = k->ptr<float>(); a.k_t_stride = k->stride[1]; a.k_batch_stride = k->stride[0]; a.k_head_stride = a.head_dim;
      a.v = v->ptr<float>(); a.v_t_stride = v->stride[1]; a.v_batch_stride = v->stride[0]; a.v_head_stride = a.head_dim_v;
      a.out = y; a.o_t_stride = t->shape[2]; a.o_batch_stride = t->shape[1] * t->shape[2]; a.o_head_stride = a.head_dim_v;
      a.scale = t->fparam[0];
      a.causal = t->iparam[1] != 0;
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
