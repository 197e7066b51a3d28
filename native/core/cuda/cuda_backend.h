// The CUDA backend: graph arenas in device memory, weights uploaded on first use and cached by
// their host address, one kernel family per op (elementwise.cu, movement.cu, norm.cu, gemm.cu,
// conv.cu, attention.cu, embedding.cu). This header is plain C++ (no CUDA types), so the addon
// and the runtime can include it without nvcc.
//
//   std::string why;
//   if (!sd::cuda::cuda_available(&why)) { /* fall back to the CPU backend, show `why` */ }
//   sd::cuda::CudaBackend gpu({/*device*/ 0, sd::cuda::Precision::Bf16});
//   sd::Graph g(gpu, {out});
//   g.plan();                                  // the arena is cudaMalloc'd here
//   gpu.upload(input, host_pixels, bytes);     // inputs are data-less leaves: write after plan()
//   g.compute();                               // kernels are queued on the backend's stream
//   gpu.download(out, host_result, bytes);     // waits for the stream; reports kernel failures
//
// Weights: a leaf whose data points into host memory (the mapped checkpoint) is copied to the
// device the first time a node reads it, kept in its own dtype (f16/bf16 stay 16-bit), and
// found again by its storage's host address; a view of it reads device base + the same byte
// offset. The cache assumes that host memory does not change while the backend lives: call
// forget_all_weights() after unmapping or rewriting a checkpoint.
#pragma once
#include <cstddef>
#include <memory>
#include <string>

#include "../backend.h"

namespace sd::cuda {

// Operand precision of the matrix products (linear, matmul, conv2d, the attention fallback).
// F32: exact f32 FMA kernels. Bf16 / F16: operands rounded to 16 bits, f32 accumulation on
// tensor cores (sm_80+). F16 can overflow above 65504: prefer Bf16 for VAE decoders.
enum class Precision { F32, Bf16, F16 };

// Which GEMM kernel runs the products (tests and benchmarks force one; Auto picks).
enum class GemmPath { Auto, Reference, Simt, TensorCore };

struct CudaOptions {
  int device = 0;
  Precision precision = Precision::F32;
  GemmPath gemm = GemmPath::Auto;
  // Wait for every node and check it (finds the op that faulted). Also on when the environment
  // has SD_CUDA_SYNC=1.
  bool sync_each_op = false;
};

struct DeviceInfo {
  int index = 0;
  std::string name;
  int cc_major = 0, cc_minor = 0;  // compute capability
  int sm_count = 0;
  size_t total_bytes = 0, free_bytes = 0;
  size_t shared_per_block_optin = 0;
  int driver_version = 0, runtime_version = 0;  // e.g. 13000 for 13.0
};

// True when a CUDA device this build can run on is present. Never throws: on false, *why says
// what is missing (no driver, driver too old, no device, compute capability too low).
bool cuda_available(std::string* why = nullptr);
int cuda_device_count();                // 0 when CUDA is unavailable
DeviceInfo cuda_device_info(int device);  // throws sd::Error when the device cannot be queried
std::string cuda_build_info();          // "cuda runtime 13.0, kernels for sm_80 sm_86 ..."

class CudaBackend : public Backend {
 public:
  explicit CudaBackend(const CudaOptions& options = {});
  ~CudaBackend() override;
  CudaBackend(const CudaBackend&) = delete;
  CudaBackend& operator=(const CudaBackend&) = delete;

  std::string name() const override;
  void* alloc(size_t bytes) override;
  void free(void* ptr) override;
  void compute(Tensor* node) override;
  void upload(Tensor* t, const void* host, size_t bytes) override;
  void download(const Tensor* t, void* host, size_t bytes) override;
  TransferStats transfers() const override;
  void forget_weights(const void* data, size_t bytes) override;  // drops the device copies made from this host storage

  void synchronize();            // waits for queued kernels; throws on a kernel failure
  void forget_all_weights();     // drops every cached weight copy (after unmapping a checkpoint)
  size_t weight_bytes() const;   // device memory held by cached weights
  const CudaOptions& options() const;
  const DeviceInfo& device() const;
  bool tensor_cores() const;     // sm_80+: the Bf16/F16 products run on tensor cores

  // Raw device memory access for tests and tools (guard bytes, dumps).
  bool is_device_pointer(const void* p) const;
  void fill_device(void* dst, int byte, size_t bytes);
  void copy_from_device(void* host, const void* src, size_t bytes);

  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace sd::cuda
