// A Context owns tensor metadata for one model or one graph. Tensors live as long as the
// context; pointers to them stay valid (deque storage).
#pragma once
#include <deque>
#include <initializer_list>
#include <string>

#include "tensor.h"

namespace sd {

class Context {
 public:
  Tensor* new_tensor(DType dtype, std::initializer_list<int64_t> shape, const std::string& name = "");
  Tensor* new_tensor(DType dtype, int ndim, const int64_t* shape, const std::string& name = "");
  size_t size() const { return tensors_.size(); }

 private:
  std::deque<Tensor> tensors_;
};

}  // namespace sd
