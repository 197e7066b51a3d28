// Tensors are metadata plus a data pointer: weights point into a mapped checkpoint, activations
// into the graph's planned arena. Shapes are written outermost first, as PyTorch prints them,
// so model code can carry the same shape comments as the reference implementation.
#pragma once
#include <cstdint>
#include <string>

#include "dtype.h"

namespace sd {

constexpr int kMaxDims = 4;

enum class Op : uint8_t {
  None,  // leaf: weight, input or constant
  // views (no compute, share the source's memory)
  View, Permute,
  // data movement
  Contiguous, Concat, Upsample2x, GetRows,
  // elementwise (add/mul broadcast numpy-style)
  Add, Mul, Scale, Silu, Gelu, GeluTanh, QuickGelu, Geglu, Relu, TanhClamp,
  // reductions / normalisation
  Softmax, GroupNorm, LayerNorm,
  // products
  Linear, Matmul, Conv2d, Attention,
  // diffusion helpers
  TimestepEmbedding,
  Count
};

const char* op_name(Op op);

struct Tensor {
  DType dtype = DType::F32;
  int ndim = 0;
  int64_t shape[kMaxDims] = {1, 1, 1, 1};
  int64_t stride[kMaxDims] = {0, 0, 0, 0};  // in elements

  Op op = Op::None;
  Tensor* src[4] = {nullptr, nullptr, nullptr, nullptr};
  int32_t iparam[8] = {0, 0, 0, 0, 0, 0, 0, 0};
  float fparam[4] = {0, 0, 0, 0};

  void* data = nullptr;         // set for leaves by the owner, for the rest by the planner
  Tensor* view_src = nullptr;   // views: the tensor whose memory this one reads
  int64_t view_offset = 0;      // views: element offset into view_src
  void* workspace = nullptr;    // scratch the backend asked for (Backend::workspace_bytes), set by the planner
  bool is_output = false;       // kept alive (not reused) until the graph ends
  std::string name;

  int64_t numel() const {
    int64_t n = 1;
    for (int i = 0; i < ndim; ++i) n *= shape[i];
    return n;
  }
  size_t nbytes() const { return size_t(numel()) * dtype_size(dtype); }
  bool is_contiguous() const;
  bool is_view() const { return op == Op::View || op == Op::Permute; }
  // The tensor that owns the memory a view chain reads.
  Tensor* storage() { Tensor* t = this; while (t->view_src) t = t->view_src; return t; }
  std::string shape_str() const;

  template <typename T> T* ptr() { return static_cast<T*>(data); }
  template <typename T> const T* ptr() const { return static_cast<const T*>(data); }
};

void set_contiguous_strides(Tensor* t);

}  // namespace sd
