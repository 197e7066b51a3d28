// The middle stage of the Winograd conv (winograd.cpp) for blocks of few tiles: the 36 products
// M[xi] = U[xi] V[xi]^T run on the GEMM micro-kernels with U made where it is consumed. The
// transformed filters are computed a row panel at a time straight into the kernels' A panels
// (36 of them) from the f16/bf16/f32 weights, so the 4x-larger f32 U of the layer (236 MB at
// 1280->1280) never goes through memory, and the per-call transform is parallel and cache-warm.
// Sums run in gemm()'s K blocks and order: the result equals the U-then-gemm() path bit for bit.
#pragma once
#include <cstddef>
#include <cstdint>
#include <functional>

#include "isa.h"
#include "thread_pool.h"
#include "winograd.h"

namespace sd::cpu {

struct VecKernels;

namespace winograd_detail {

// V of the block's tiles [t, t + count) and channels [c0, c1) into v[36][count][ld_c].
using InputTiles = std::function<void(int64_t t, int64_t count, int64_t c0, int64_t c1, float* v, int64_t ld_c)>;

struct ProductBlock {
  const WinogradConv* conv = nullptr;
  InputTiles input;           // made a B panel and K block at a time, straight into packed panels
  int64_t nt = 0, ld = 0;     // tiles in the block; row stride of M's tile dimension
  float* m = nullptr;         // M [36][cout][ld]
  float* packed_b = nullptr;  // packed_b_floats(nt, cin, isa) floats, 64-byte aligned
};

// Weights [co][k0, k0 + n)[3][3] as f32: in place when they are f32, else decoded into buf
// (n * 9 floats).
const float* weight_rows(const WinogradConv& c, int64_t co, int64_t k0, int n, const VecKernels& vk, float* buf);

// Floats of the packed-V scratch for blocks of up to `tiles` tiles.
size_t packed_b_floats(int64_t tiles, int cin, Isa isa);

void products(const ProductBlock& b, const VecKernels& vk, Isa isa, ThreadPool& pool);

}  // namespace winograd_detail
}  // namespace sd::cpu
