#include "context.h"

#include "error.h"

namespace sd {

Tensor* Context::new_tensor(DType dtype, int ndim, const int64_t* shape, const std::string& name) {
  if (ndim < 1 || ndim > kMaxDims) throw Error("tensor rank " + std::to_string(ndim) + " is not supported (1.." + std::to_string(kMaxDims) + ")");
  tensors_.emplace_back();
  Tensor* t = &tensors_.back();
  t->dtype = dtype;
  t->ndim = ndim;
  for (int i = 0; i < ndim; ++i) {
    if (shape[i] < 0) throw Error("negative dimension in tensor " + name);
    t->shape[i] = shape[i];
  }
  set_contiguous_strides(t);
  t->name = name;
  return t;
}

Tensor* Context::new_tensor(DType dtype, std::initializer_list<int64_t> shape, const std::string& name) {
  return new_tensor(dtype, int(shape.size()), shape.begin(), name);
}

}  // namespace sd
