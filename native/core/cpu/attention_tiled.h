// Private to the register-tiled attention ISA TUs (attention_neon.cpp):
// s_block and pv_block for attention_impl.h, written once over the TU's register tiles.
// Included INSIDE the TU's anonymous namespace (internal linkage, that TU's flags; see
// attention_kernels.h), after attention_rows.h. The TU defines first:
//   using TileOps = ...;           // the vector ops of attention_rows.h (f32 elements)
//   constexpr int kSRows, kSCols;  // s tile: queries x keys (kSCols divides kBlockK)
//   constexpr int kPvRows;         // pv tile: queries (x 16 output columns)
//   constexpr int kPvKeyStep;      // its RowFma takes keys in multiples of this
// Every row of a tile is computed alone, so the tile height changes no result.

#include "attention_tile_loops.h"  // for_row_tiles

void s_block(const float* q, int64_t ldq, const float* kt, float* s, int rows, int d, float scale) {
  const typename TileOps::A sv = TileOps::set1(scale);
  for (int j0 = 0; j0 < kBlockK; j0 += kSCols) {
    for_row_tiles<kSRows>(rows, [&](auto tile, int r) {
      s_rows<TileOps, decltype(tile)::rows, kSCols / TileOps::kLanes>(q + r * ldq, ldq, kt + j0,
                                                                      s + r * kBlockK + j0, d, sv);
    });
  }
}

// Keys are taken up to bk rounded up to kPvKeyStep: probabilities past the valid keys are zero
// and the packed value rows past bk are zero (attention_pack), so the extra products add nothing.
void pv_block(const float* p, const float* v, int64_t ldv, float* o, int64_t ldo,
              const float* alpha, int rows, int bk, int dv) {
  const int dvp = (dv + 15) / 16 * 16;  // o and v rows are zero-padded to this
  const int bk_step = (bk + kPvKeyStep - 1) / kPvKeyStep * kPvKeyStep;
  for (int c0 = 0; c0 < dvp; c0 += 16) {
    for_row_tiles<kPvRows>(rows, [&](auto tile, int r) {
      pv_rows<TileOps, decltype(tile)::rows, 16 / TileOps::kLanes>(p + r * kBlockK, v + c0, ldv,
                                                                   o + r * ldo + c0, ldo, alpha + r,
                                                                   bk_step);
    });
  }
}
