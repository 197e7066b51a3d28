// Winograd F(4,3) convolution for 3x3, stride-1, zero-padding-1 convs in f32: each 4x4 output
// tile costs 36 multiplies per (input, output) channel pair instead of 144, so the GEMM work is
// a quarter of the direct (implicit-GEMM) conv's. Three stages per block of tiles:
//   input transform  V[xi][tile][cin]  = B^T d B   (6x6 patch per tile and channel)
//   36 products      M[xi][cout][tile] = U[xi][cout][cin] * V[xi][tile][cin]^T
//   output transform y[cout][4x4]      = A^T M A (+ bias) (+ y: the fused residual)
// U = G g G^T, the transformed filters. Blocks of few tiles make U inside the products, a row
// panel at a time into the micro-kernels' A panels (winograd_products.h); larger blocks make it
// per call into a bounded slice and run gemm() per product, or read it from a cache keyed by the
// weight's address, up to a byte budget (off by default: f32 U is 8x the f16 weights). The
// bytes at a cached address are trusted not to change: whoever frees or rewrites weight memory
// calls forget() (CpuBackend::forget_weights; the adapter sets do when they drop merged copies).
// Hashing the weights on every call instead cost a full read of them per conv. Scratch (V, M and
// packed V or per-call U) comes from the graph's arena when the backend runs the conv
// (workspace_bytes), else from buffers kept here.
//
// Error: the transforms scale by up to 8 (A) and 5 (B) and divide by 24 (G), so rounding grows
// by a constant factor over the direct conv: against it, at every SD shape, max |diff| / max |y|
// is 3e-6..2e-5 and rel-L2 1e-6..4e-6 (test_winograd asserts 5e-5 and 1e-5), 50x below what
// storing the weights in f16 does to a conv.
#pragma once
#include <cstddef>
#include <cstdint>
#include <memory>
#include <unordered_map>
#include <vector>

#include "../dtype.h"
#include "isa.h"
#include "thread_pool.h"

namespace sd::cpu {

struct VecKernels;

struct WinogradConv {
  const float* x = nullptr;      // [n, cin, h, w] contiguous
  int n = 0, cin = 0, h = 0, w = 0;
  const void* weight = nullptr;  // [cout, cin, 3, 3] contiguous, f32, f16 or bf16
  DType weight_dtype = DType::F32;
  int cout = 0;
  const float* bias = nullptr;   // [cout] or null
  bool accumulate = false;       // y += conv (y already holds the residual) instead of y = conv
  float* y = nullptr;            // [n, cout, h, w]
  int64_t block_tiles = 0;       // tiles per block; 0: the tuned default (tests force small blocks)
  // The weight is a leaf whose bytes stay put until forget(): its transform may be cached. Not
  // for a weight computed by the graph (its arena bytes change from run to run).
  bool cacheable = true;
};

// Whether F(4,3) beats the direct conv at this shape on the CPU (bench/ops.ts): it needs enough
// channels for the GEMMs to be compute-bound and enough tiles to amortise computing the
// transformed filters (4x the elements of the 3x3 ones, in f32: 236 MB at 1280->1280). Per
// image, never per batch, and never from the cache's state: an image then gets the same bytes
// alone or in a batch, whatever ran before. Measured (CFG batch of 2, per-call filters made in
// the products' A panels): 8x8 (4 tiles) loses (0.9x); 16x16 wins 2.2-2.4x at 1280 channels
// (taken from 256 channels on), 32x32 2.7-3.3x.
bool winograd_pays(int cin, int cout, int h, int w);

class Winograd {
 public:
  // cache_budget_bytes: most bytes of transformed filters kept across calls.
  explicit Winograd(size_t cache_budget_bytes);
  ~Winograd();

  // workspace: workspace_bytes(c) bytes of scratch for this call, or null to use buffers of
  // its own (kept across calls, sized by the largest conv seen).
  void conv3x3(const WinogradConv& c, Isa isa, ThreadPool& pool, void* workspace = nullptr);
  size_t workspace_bytes(const WinogradConv& c, Isa isa) const;
  size_t cache_bytes() const { return cache_bytes_; }
  // Drops the transforms of every cached weight overlapping [data, data + bytes): that memory
  // was freed or rewritten.
  void forget(const void* data, size_t bytes);

 private:
  struct Entry {
    int cout, cin;
    DType dtype;
    size_t weight_bytes;
    std::vector<float> u;  // [36][cout][cin]
  };
  const float* filters(const WinogradConv& c, const VecKernels& vk, ThreadPool& pool);
  void drop(std::unordered_map<const void*, Entry>::iterator it);

  size_t budget_, cache_bytes_ = 0;
  std::unordered_map<const void*, Entry> cache_;
  std::vector<float> v_, m_, third_;
  std::vector<std::unique_ptr<ThreadPool>> solo_;  // one single-thread pool per pool thread
};

// Off: every conv is direct. Auto: Winograd where winograd_pays. Always: every eligible 3x3
// conv (tests, to run whole models through it).
enum class WinogradMode { Off, Auto, Always };

// The default budget for transformed filters: SD_NATIVE_WINOGRAD_CACHE_MB (MiB), else 0: every
// call transforms its filters. In f32 they are 8x the f16 weights (SD1.5's UNet would need
// 1.3 GB, past issue 34's 1.9 GiB RSS); per call costs 16-45% of a UNet conv's time (the
// transform, bench/RESULTS.md), a 1.44x faster step than direct all the same. Held in f16 they
// would cost 2e-3 rel-L2, 200x the error budget above.
size_t winograd_cache_budget_default();
// The CPU backend's default mode: Auto; SD_NATIVE_WINOGRAD=0 gives Off (for A/B runs).
WinogradMode winograd_default();

}  // namespace sd::cpu
