// A tensor's shape/strides right-aligned into 4 dims (numpy broadcasting aligns from the
// right); size-1 dims get stride 0 so one index walks broadcast and full operands alike.
// Shared by every backend's broadcasting and strided-copy code.
#pragma once
#include <cstdint>

#include "tensor.h"

namespace sd {

struct Geom4 {
  int64_t shape[4];
  int64_t stride[4];
};

inline Geom4 geom4(const Tensor* t) {
  Geom4 g;
  for (int i = 0; i < 4; ++i) {
    int k = i - (4 - t->ndim);
    g.shape[i] = k < 0 ? 1 : t->shape[k];
    g.stride[i] = (k < 0 || t->shape[k] == 1) ? 0 : t->stride[k];
  }
  return g;
}

// Row stride if x [..., K] is a stack of dense rows (inner stride 1, leading dims collapse), else
// -1: the linear layers of both backends read such an input in place as a [M, K] matrix.
inline int64_t dense_row_stride(const Tensor* x) {
  const int nd = x->ndim;
  if (x->stride[nd - 1] != 1 && x->shape[nd - 1] != 1) return -1;
  if (nd == 1) return x->shape[0];
  for (int i = 0; i < nd - 2; ++i)
    if (x->shape[i] != 1 && x->stride[i] != x->stride[i + 1] * x->shape[i + 1]) return -1;
  return x->shape[nd - 2] == 1 ? x->shape[nd - 1] : x->stride[nd - 2];
}

}  // namespace sd
