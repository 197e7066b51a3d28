// The interface a compute device implements. Model code never sees it: a Graph hands each
// node to its backend in order. The CPU backend is in cpu/, CUDA slots in the same way.
#pragma once
#include <cstddef>
#include <string>

#include "tensor.h"

namespace sd {

class Backend {
 public:
  virtual ~Backend() = default;
  virtual std::string name() const = 0;
  // Memory the graph's activations live in. Host-visible for the CPU backend.
  virtual void* alloc(size_t bytes) = 0;
  virtual void free(void* ptr) = 0;
  // Computes one node; sources are already computed, node->data is planned.
  virtual void compute(Tensor* node) = 0;
  // Copies between host memory and a tensor's storage (plain memcpy on the CPU).
  virtual void upload(Tensor* t, const void* host, size_t bytes);
  virtual void download(const Tensor* t, void* host, size_t bytes);
};

}  // namespace sd
