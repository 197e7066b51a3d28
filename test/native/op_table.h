// The op table: one list of cases (op, shapes, dtypes, tolerance; one line each) and one runner,
// used by every backend's op test (test_ops: every CPU path; test_cuda: every GPU configuration).
// The runner checks NaN/inf, the normalised error ||got-want||/||want|| against the case's
// tolerance, that inputs are left untouched, guard bytes around the backend's arena and canary
// bytes between planned tensors (out-of-bounds writes). `want` is the double-precision reference
// interpreter (op_reference.cpp) or, for a backend compared with another, that backend's result.
#pragma once
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "core/backend.h"
#include "core/context.h"

namespace optable {

// Inputs are data-less leaves (written through Backend::upload after plan()); weights are leaves
// whose data is host memory, like a mapped checkpoint. Values depend only on the input's index,
// so every build of a case (per backend, per yardstick) sees the same numbers.
struct Input {
  sd::Tensor* t;
  bool weight;
  std::vector<uint8_t> values;  // the bytes written (inputs) or pointed at (weights)
  std::vector<uint8_t> memory;  // a weight's host storage (t->data), compared with values after a run
};

struct Builder {
  sd::Context& ctx;
  std::vector<Input>& inputs;
  sd::Tensor* make(const std::vector<int64_t>& shape, sd::DType dt, bool weight);
  sd::Tensor* in(const std::vector<int64_t>& shape, sd::DType dt = sd::DType::F32) { return make(shape, dt, false); }
  sd::Tensor* w(const std::vector<int64_t>& shape, sd::DType dt = sd::DType::F32) { return make(shape, dt, true); }
};

using BuildFn = std::function<sd::Tensor*(Builder&)>;

struct Case {
  std::string name;
  BuildFn build;
  double tol;       // against the double reference, f32 products
  double tol_bf16;  // products under bf16 precision (the reference rounds operands the same way)
  bool product;     // linear / matmul / conv2d / attention: also run under every product precision
};

const std::vector<Case>& cases();

// Reading and writing a backend's raw memory: memset/memcpy on the host, device copies on a GPU.
struct RawAccess {
  std::function<void(void* dst, int byte, size_t bytes)> fill;
  std::function<void(void* host, const void* src, size_t bytes)> read;
};
RawAccess host_access();

// Runs the case once on `backend` (arena wrapped in guard bytes) and records a failure, tagged
// `tag`, for every memory check that fails. Returns the output.
std::vector<float> run(const Case& c, sd::Backend& backend, const RawAccess& raw, const std::string& tag);

// The double-precision reference's output for the case (bf16: product operands rounded to bf16).
std::vector<double> reference(const Case& c, bool bf16);

// Checks one run's output against `want`: finite, normalised error <= tol. Counts one check.
void compare(const std::vector<float>& got, const std::vector<double>& want, double tol, const std::string& tag);

}  // namespace optable
