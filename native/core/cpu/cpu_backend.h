// The CPU backend: a thread pool, the best kernel path for this CPU (or a forced one, for
// tests), and the arithmetic precision of the products (f32, or bf16 with f32 accumulation).
#pragma once
#include <memory>
#include <vector>

#include "../backend.h"
#include "gemm.h"
#include "isa.h"
#include "thread_pool.h"
#include "vec_kernels.h"

namespace sd::cpu {

struct CpuOptions {
  int threads = 0;                    // 0: all hardware threads
  Isa isa = detect_isa();             // must be supported by this CPU
  GemmPrecision precision = GemmPrecision::F32;
};

class CpuBackend : public Backend {
 public:
  explicit CpuBackend(const CpuOptions& options = {});
  std::string name() const override;
  void* alloc(size_t bytes) override;
  void free(void* ptr) override;
  void compute(Tensor* node) override;

  ThreadPool& pool() { return pool_; }
  const CpuOptions& options() const { return options_; }

 private:
  // Per-family entry points (cpu_ops_*.cpp).
  void elementwise(Tensor* t);
  void movement(Tensor* t);
  void norm(Tensor* t);
  void products(Tensor* t);
  float* scratch(size_t floats, int slot);  // reusable f32 buffers (bias casts, copies)

  CpuOptions options_;
  ThreadPool pool_;
  const VecKernels& vec_;
  std::vector<std::vector<float>> scratch_;
};

}  // namespace sd::cpu
