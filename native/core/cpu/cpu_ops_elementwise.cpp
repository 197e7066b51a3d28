// Elementwise ops and data movement: bandwidth-bound, parallel over rows of the output.
#include <cmath>
#include <cstring>

#include "cpu_backend.h"
#include "cpu_util.h"

namespace sd::cpu {
namespace {

constexpr int64_t kMinTaskElems = 1 << 14;

// Splits `rows` rows of `row_len` elements into tasks of at least kMinTaskElems elements.
template <typename Fn>
void for_rows(ThreadPool& pool, int64_t rows, int64_t row_len, Fn&& fn) {
  int64_t per = std::max<int64_t>(1, kMinTaskElems / std::max<int64_t>(1, row_len));
  int64_t tasks = (rows + per - 1) / per;
  pool.run(tasks, [&](int64_t task, int) {
    int64_t r1 = std::min(rows, (task + 1) * per);
    for (int64_t r = task * per; r < r1; ++r) fn(r);
  });
}

}  // namespace

void CpuBackend::elementwise(Tensor* t) {
  float* y = t->ptr<float>();
  Tensor* x = t->src[0];
  switch (t->op) {
    case Op::Add:
    case Op::Mul: {
      Tensor* a = t->src[0];
      Tensor* b = t->src[1];
      const float* bdata = b->ptr<float>();
      Tensor bcopy;  // a non-f32 operand (a weight) is cast once into scratch
      if (b->dtype != DType::F32) {
        float* s = scratch(size_t(b->numel()), 0);
        to_f32(b, s);
        bcopy = *b;
        bcopy.dtype = DType::F32;
        set_contiguous_strides(&bcopy);
        bcopy.data = s;
        b = &bcopy;
        bdata = s;
      }
      Geom4 ga = geom4(a), gb = geom4(b), go = geom4(t);
      const Binary op = t->op == Op::Add ? Binary::Add : Binary::Mul;
      const int64_t n = go.shape[3];
      const bool vec_ok = (ga.stride[3] == 1 || ga.stride[3] == 0) && (gb.stride[3] == 1 || gb.stride[3] == 0);
      const float* adata = a->ptr<float>();
      for_rows(pool_, go.shape[0] * go.shape[1] * go.shape[2], n, [&](int64_t r) {
        int64_t i2 = r % go.shape[2], i1 = (r / go.shape[2]) % go.shape[1], i0 = r / (go.shape[2] * go.shape[1]);
        const float* ar = adata + i0 * ga.stride[0] + i1 * ga.stride[1] + i2 * ga.stride[2];
        const float* br = bdata + i0 * gb.stride[0] + i1 * gb.stride[1] + i2 * gb.stride[2];
        float* yr = y + r * n;
        if (vec_ok) {
          vec_.binary(op, ar, ga.stride[3], br, gb.stride[3], yr, n);
        } else {
          for (int64_t i = 0; i < n; ++i) {
            float av = ar[i * ga.stride[3]], bv = br[i * gb.stride[3]];
            yr[i] = op == Binary::Add ? av + bv : av * bv;
          }
        }
      });
      return;
    }
    case Op::Scale:
    case Op::Silu:
    case Op::Gelu:
    case Op::GeluTanh:
    case Op::QuickGelu:
    case Op::Relu:
    case Op::TanhClamp: {
      const float* src = x->ptr<float>();
      float* tmp = nullptr;
      if (!x->is_contiguous()) {  // rare (a permuted view): gather first
        tmp = scratch(size_t(x->numel()), 1);
        to_f32(x, tmp);
        src = tmp;
      }
      const int64_t n = t->numel();
      const int64_t chunk = kMinTaskElems * 4;
      pool_.run((n + chunk - 1) / chunk, [&](int64_t task, int) {
        int64_t i0 = task * chunk, len = std::min(chunk, n - i0);
        switch (t->op) {
          case Op::Scale: vec_.scale(src + i0, y + i0, len, t->fparam[0], t->fparam[1]); break;
          case Op::Silu: vec_.unary(Unary::Silu, src + i0, y + i0, len); break;
          case Op::Gelu: vec_.unary(Unary::Gelu, src + i0, y + i0, len); break;
          case Op::GeluTanh: vec_.unary(Unary::GeluTanh, src + i0, y + i0, len); break;
          // Plain loops: the compiler vectorises relu, and tanh_clamp only ever sees a latent.
          case Op::Relu: for (int64_t i = i0; i < i0 + len; ++i) y[i] = src[i] < 0.0f ? 0.0f : src[i]; break;
          case Op::TanhClamp: {
            const float b = t->fparam[0];
            for (int64_t i = i0; i < i0 + len; ++i) y[i] = std::tanh(src[i] / b) * b;
            break;
          }
          default: vec_.unary(Unary::QuickGelu, src + i0, y + i0, len); break;
        }
      });
      return;
    }
    case Op::Geglu: {
      const int64_t f = t->shape[t->ndim - 1];
      const int64_t rows = t->numel() / std::max<int64_t>(1, f);
      // Rows are dense (geglu reads a linear layer's output); the row stride allows views.
      const int64_t xrow = x->ndim >= 2 ? x->stride[x->ndim - 2] : 2 * f;
      for_rows(pool_, rows, 2 * f, [&](int64_t r) { vec_.geglu(x->ptr<float>() + r * xrow, y + r * f, f); });
      return;
    }
    case Op::TimestepEmbedding: {
      const int64_t dim = t->iparam[0], half = dim / 2;
      const float max_period = t->fparam[0];
      for (int64_t b = 0; b < t->shape[0]; ++b) {
        const float tv = x->ptr<float>()[b * x->stride[0]];
        for (int64_t i = 0; i < half; ++i) {
          // Same float32 evaluation order as the reference: freqs in f32, then t·f in f32.
          float freq = std::exp(-std::log(max_period) * float(i) / float(half));
          float arg = tv * freq;
          y[b * dim + i] = std::cos(arg);
          y[b * dim + half + i] = std::sin(arg);
        }
      }
      return;
    }
    default:
      return;
  }
}

void CpuBackend::movement(Tensor* t) {
  float* y = t->ptr<float>();
  switch (t->op) {
    case Op::Contiguous: {
      Tensor* x = t->src[0];
      Geom4 g = geom4(x);
      const float* xs = x->ptr<float>();
      const int64_t n = g.shape[3];
      for_rows(pool_, g.shape[0] * g.shape[1] * g.shape[2], n, [&](int64_t r) {
        int64_t i2 = r % g.shape[2], i1 = (r / g.shape[2]) % g.shape[1], i0 = r / (g.shape[2] * g.shape[1]);
        const float* src = xs + i0 * g.stride[0] + i1 * g.stride[1] + i2 * g.stride[2];
        float* dst = y + r * n;
        if (g.stride[3] == 1) std::memcpy(dst, src, size_t(n) * 4);
        else for (int64_t i = 0; i < n; ++i) dst[i] = src[i * g.stride[3]];
      });
      return;
    }
    case Op::Concat: {
      const int axis = t->iparam[0];
      // Copy each source into its slab of the output: outer × (len_a + len_b) × inner.
      int64_t outer = 1, inner = 1;
      for (int i = 0; i < axis; ++i) outer *= t->shape[i];
      for (int i = axis + 1; i < t->ndim; ++i) inner *= t->shape[i];
      for (int s = 0; s < 2; ++s) {
        Tensor* src = t->src[s];
        const int64_t len = src->shape[axis];
        const int64_t off = s == 0 ? 0 : t->src[0]->shape[axis];
        const bool dense = src->is_contiguous();
        float* packed = nullptr;
        if (!dense) {
          packed = scratch(size_t(src->numel()), 1);
          to_f32(src, packed);
        }
        const float* sp = dense ? src->ptr<float>() : packed;
        for_rows(pool_, outer, len * inner, [&](int64_t o) {
          std::memcpy(y + (o * t->shape[axis] + off) * inner, sp + o * len * inner, size_t(len * inner) * 4);
        });
      }
      return;
    }
    case Op::Upsample2x: {
      Tensor* x = t->src[0];
      const int64_t h = x->shape[2], w = x->shape[3];
      Geom4 g = geom4(x);
      for_rows(pool_, t->shape[0] * t->shape[1] * h, 4 * w, [&](int64_t r) {
        int64_t iy = r % h, c = (r / h) % x->shape[1], n = r / (h * x->shape[1]);
        const float* src = x->ptr<float>() + n * g.stride[0] + c * g.stride[1] + iy * g.stride[2];
        float* d0 = y + ((n * t->shape[1] + c) * 2 * h + 2 * iy) * 2 * w;
        for (int64_t ix = 0; ix < w; ++ix) {
          float v = src[ix * g.stride[3]];
          d0[2 * ix] = v;
          d0[2 * ix + 1] = v;
        }
        std::memcpy(d0 + 2 * w, d0, size_t(2 * w) * 4);
      });
      return;
    }
    case Op::GetRows: {
      Tensor* table = t->src[0];
      Tensor* ids = t->src[1];
      const int64_t d = table->shape[1], vocab = table->shape[0];
      for (int64_t i = 0; i < ids->shape[0]; ++i) {
        int64_t id = ids->ptr<int32_t>()[i * ids->stride[0]];
        if (id < 0 || id >= vocab) id = 0;  // ids are validated by the caller; never read outside the table
        for (int64_t j = 0; j < d; ++j) y[i * d + j] = load_as_f32(table->data, table->dtype, id * table->stride[0] + j * table->stride[1]);
      }
      return;
    }
    default:
      return;
  }
}

}  // namespace sd::cpu
