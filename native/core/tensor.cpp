#include "tensor.h"

namespace sd {

const char* op_name(Op op) {
  static const char* names[] = {
      "none", "view", "permute", "contiguous", "concat", "upsample2x", "get_rows",
      "add", "mul", "scale", "silu", "gelu", "gelu_tanh", "quick_gelu", "geglu", "relu", "tanh_clamp",
      "softmax", "group_norm", "layer_norm", "linear", "matmul", "conv2d", "attention",
      "timestep_embedding"};
  static_assert(sizeof(names) / sizeof(names[0]) == size_t(Op::Count), "op names out of sync");
  return names[size_t(op)];
}

bool Tensor::is_contiguous() const {
  int64_t expect = 1;
  for (int i = ndim - 1; i >= 0; --i) {
    if (shape[i] != 1 && stride[i] != expect) return false;
    expect *= shape[i];
  }
  return true;
}

std::string Tensor::shape_str() const {
  std::string s = "[";
  for (int i = 0; i < ndim; ++i) {
    if (i) s += ", ";
    s += std::to_string(shape[i]);
  }
  return s + "]";
}

void set_contiguous_strides(Tensor* t) {
  int64_t s = 1;
  for (int i = t->ndim - 1; i >= 0; --i) {
    t->stride[i] = s;
    s *= t->shape[i];
  }
}

}  // namespace sd
