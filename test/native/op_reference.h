// The double-precision reference for every op: a second, deliberately simple interpreter of
// the same graph nodes. Values are kept per storage in the storage's own element layout, so
// views (reshape/permute/slice) are evaluated exactly as the backend sees them.
#pragma once
#include <map>
#include <vector>

#include "core/tensor.h"

namespace reference {

struct Options {
  bool bf16_products = false;  // round product operands to bf16 first, as the bf16 path does
};

class Interpreter {
 public:
  explicit Interpreter(Options o) : opt_(o) {}
  // Leaves are read from their data; nodes evaluated in the given topological order.
  void run(const std::vector<sd::Tensor*>& nodes);
  // Logical (row-major) values of any evaluated tensor.
  std::vector<double> logical(const sd::Tensor* t) const;

 private:
  std::vector<double> eval(const sd::Tensor* t) const;
  Options opt_;
  std::map<const sd::Tensor*, std::vector<double>> storage_;
};

}  // namespace reference
