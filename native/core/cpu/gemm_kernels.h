// Private to the gemm files (and the Winograd driver): the table of packing routines and micro-kernels that each
// ISA-specific translation unit (gemm_scalar/avx2/avx512/avx512bf16.cpp on x86-64,
// gemm_scalar/neon/neonbf16.cpp on AArch64, each compiled with its own flags) hands to the
// driver in gemm.cpp (compiled with no ISA flags).
//
// Only plain data crosses this boundary (pointers, ints, the Im2col struct): no inline
// functions, templates or standard-library objects are shared, so no code compiled with
// AVX-512 (or +bf16) flags can be picked by the linker for a baseline caller. Code written
// once for several ISA TUs (gemm_pack_impl.h, gemm_tile_impl.h; attention_impl.h,
// attention_tiled.h) is #included INSIDE each TU's anonymous namespace, so every copy has
// internal linkage and is compiled with that TU's flags; no other file includes those headers.
// Two TUs that differ only in their dot-product intrinsics (gemm_avx512.cpp and
// gemm_avx512bf16.cpp) share their whole body, gemm_avx512_tu.h, which opens that namespace.
//
// Packed layouts (all k beyond K and rows/cols beyond the edge are zero):
//   f32 kernels  (kstep 16): A panel [kc/16][mr][16] floats, B panel [kc][nr] floats.
//   bf16 kernels (kstep 32): A panel [kc/32][mr][32] bf16,  B panel [kc/2][nr][2] bf16.
// A panels keep k contiguous in chunks (a plain row copy to pack); the kernel broadcasts A
// from memory and loads B as vectors along n.
// The NEON kernels take A from a vector lane (vfmaq_laneq_f32) or as BFMMLA 2x4 blocks, so
// their panels are k-major instead:
//   neon f32     (kstep 4):  A panel [kc][mr] floats, B panel [kc][nr] floats.
//   neonbf16     (kstep 4):  A panel [kc/4][mr/2][2][4] bf16, B panel [kc/4][nr/2][2][4] bf16.
// The driver treats panels as opaque bytes (mr or nr x kc x elem_bytes).
#pragma once
#include <cstdint>

#include "gemm.h"

namespace sd::cpu::gemm_detail {

constexpr int kGemmMaxKc = 2048;  // largest kc the driver passes (packing uses stack rows)

struct DenseView {
  const void* data;
  DType dtype;
  int64_t row_stride;
};

enum KernelFlags : int {
  kLoadC = 1,  // C += tile (otherwise C = tile)
};

struct GemmKernels {
  const char* name;
  int mr, nr;         // micro-tile rows (A) and columns (B)
  int kstep;          // packed k granularity; kc passed to every routine is a multiple of it
  int elem_bytes;     // bytes per packed element: 4 (f32) or 2 (bf16)
  int kc, mc;         // preferred blocking: k per pass, rows of A per task
  // Packs rows [r0, r0+rows) (rows <= mr) and k in [k0, k0+kc) of a K-contiguous operand into
  // one A panel. round_bf16: round values to bf16 (f32 kernels emulating Bf16 precision).
  void (*pack_a)(const DenseView& a, int64_t K, int64_t r0, int rows, int64_t k0, int kc,
                 bool round_bf16, void* dst);
  // Packs rows [n0, n0+cols) (cols <= nr) of B into one B panel.
  void (*pack_b)(const DenseView& b, int64_t K, int64_t n0, int cols, int64_t k0, int kc,
                 bool round_bf16, void* dst);
  void (*pack_b_im2col)(const Im2col& g, int64_t K, int64_t n0, int cols, int64_t k0, int kc,
                        bool round_bf16, void* dst);
  // c points at tile (0, 0); bias_m / bias_n (may be null) at the tile's first row / column.
  void (*kernel)(int kc, const void* a, const void* b, float* c, int64_t ldc, int m_valid,
                 int n_valid, int flags, const float* bias_m, const float* bias_n);
};

// The table gemm() runs for this path and precision (the portable one where the ISA's TU is not
// built). The Winograd driver (winograd_products.cpp) calls the micro-kernels directly too: it
// writes its transformed filters straight into A panels (x86 f32 layout, kstep 16) or packs them.
const GemmKernels* select_kernels(Isa isa, GemmPrecision precision);

// K cut into blocks of (nearly) equal size, each a multiple of kstep, up to 1.5x the preferred
// kc in one block (every extra block is one more read+write pass over C). Whoever runs the
// kernels over the same K blocks sums every output in the same order as gemm() does.
struct KBlocking {
  int64_t k_pad, blocks;  // k_pad: K rounded up to kstep
  int kc;
};
KBlocking k_blocking(const GemmKernels& kr, int64_t k);

// One per ISA translation unit; null where the TU was compiled without support.
const GemmKernels* gemm_kernels_scalar();
const GemmKernels* gemm_kernels_avx2();
const GemmKernels* gemm_kernels_avx512();
const GemmKernels* gemm_kernels_avx512bf16();
const GemmKernels* gemm_kernels_neon();      // AArch64 builds only (as the x86 ones are x86 only)
const GemmKernels* gemm_kernels_neonbf16();

}  // namespace sd::cpu::gemm_detail
