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
#include "winograd.h"

namespace sd::cpu {

struct CpuOptions {
  int threads = 0;                    // 0: all hardware threads
  Isa isa = detect_isa();             // must be supported by this CPU
  GemmPrecision precision = GemmPrecision::F32;
  // 3x3 stride-1 convs through Winograd F(4,3) where it pays; off, every conv is the direct
  // implicit GEMM (the parity goldens were made that way). Winograd's products stay f32 under bf16
  // precision too: they are fewer than the direct conv's bf16 ones, and faster even on AVX512-BF16.
  WinogradMode winograd = winograd_default();
  size_t winograd_cache_bytes = winograd_cache_budget_default();  // transformed-filter budget
};

class CpuBackend : public Backend {
 public:
  explicit CpuBackend(const CpuOptions& options = {});
  std::string name() const override;
  void* alloc(size_t bytes) override;
  void free(void* ptr) override;
  void compute(Tensor* node) override;
  size_t workspace_bytes(const Tensor* node) const override;  // Winograd convs' tile and filter scratch
  void forget_weights(const void* data, size_t bytes) override { winograd_.forget(data, bytes); }

  ThreadPool& pool() { return pool_; }
  const CpuOptions& options() const { return options_; }
  // Bytes of Winograd-transformed filters held across calls (at most options().winograd_cache_bytes).
  size_t winograd_cache_bytes() const { return winograd_.cache_bytes(); }

 private:
  // Per-family entry points (cpu_ops_*.cpp).
  void elementwise(Tensor* t);
  void movement(Tensor* t);
  void norm(Tensor* t);
  void products(Tensor* t);
  float* scratch(size_t floats, int slot);
  bool winograd_eligible(const Tensor* conv) const;
  WinogradConv winograd_conv(const Tensor* conv) const;  // reusable f32 buffers (bias casts, copies)

  CpuOptions options_;
  ThreadPool pool_;
  const VecKernels& vec_;
  std::vector<std::vector<float>> scratch_;
  Winograd winograd_;
};

}  // namespace sd::cpu
