// Private to the register-tiled attention ISA TUs (attention_avx2.cpp, attention_neon.cpp):
// s_block and pv_block for attention_impl.h, written once over the TU's register tiles.
// Included INSIDE the TU's anonymous namespace (internal linkage, that TU's flags; see
// attention_kernels.h), after attention_rows.h. The TU defines first:
//   using TileOps = ...;           // the vector ops of attention_rows.h (f32 elements)
//   constexpr int kSRows, kSCols;  // s tile: queries x keys (kSCols divides kBlockK)
//   constexpr int kPvRows;         // pv tile: queries (x 16 output columns)
//   constexpr int kPvKeyStep;      // its RowFma takes keys in multiples of this
// Every row of a tile is computed alone, so the tile height changes no result.

template <int R>
struct RowTile {
  static constexpr int rows = R;
};

// f(RowTile<R>{}, r) covers rows [r, r + R): R = RMAX while a whole tile fits, then one call
// for the rows left (1 .. RMAX-1), none when no row is left.
template <int R, class F>
inline void row_tile_tail(int left, int r, F& f) {
  if constexpr (R > 0) {
    if (left == R) f(RowTile<R>{}, r);
    else row_tile_tail<R - 1>(left, r, f);
  }
}

template <int RMAX, class F>
inline void for_row_tiles(int rows, F&& f) {
  int r = 0;
  for (; r + RMAX <= rows; r += RMAX) f(RowTile<RMAX>{}, r);
  row_tile_tail<RMAX - 1>(rows - r, r, f);
}

void s_block(const float* q, int64_t ldq, const float* kt, float* s, int rows, int d, float scale) {
  const typename TileOps::A sv = TileOps::set1(scale);
  for (int j0 = 0; j0 < kBlockK; j0 += kSCols) {
    for_row_tiles<kSRows>(rows, [&](auto tile, int r) {
      s_rows<TileOps, decltype(tile)::rows, kSCols / TileOps::kLanes>(q + r * ldq, ldq, kt + j0,
                                                                      s + r * kBlockK + j0, d, sv);
    });
  }
}

template <int NV>
struct ColTile {
  static constexpr int vectors = NV;
};

// f(ColTile<NV>{}) for the NV (1 .. NMAX) given at run time.
template <int NMAX, class F>
inline void with_col_tile(int nv, F& f) {
  if constexpr (NMAX > 0) {
    if (nv == NMAX) f(ColTile<NMAX>{});
    else with_col_tile<NMAX - 1>(nv, f);
  }
}

// Keys are taken up to bk rounded up to kPvKeyStep: probabilities past the valid keys are zero
// and the packed value rows past bk are zero (attention_pack), so the extra products add nothing.
// Output columns stop at dv rounded up to one vector (d = 40 on 8 lanes: 40, not the padded 48);
// the padded columns past them stay zero and are never read back.
void pv_block(const float* p, const float* v, int64_t ldv, float* o, int64_t ldo,
              const float* alpha, int rows, int bk, int dv) {
  constexpr int kLanes = TileOps::kLanes, kVecs = 16 / kLanes;
  const int cols = (dv + kLanes - 1) / kLanes * kLanes;
  const int bk_step = (bk + kPvKeyStep - 1) / kPvKeyStep * kPvKeyStep;
  for (int c0 = 0; c0 < cols; c0 += 16) {
    auto columns = [&](auto ct) {
      for_row_tiles<kPvRows>(rows, [&](auto tile, int r) {
        pv_rows<TileOps, decltype(tile)::rows, decltype(ct)::vectors>(p + r * kBlockK, v + c0, ldv,
                                                                    o + r * ldo + c0, ldo,
                                                                    alpha + r, bk_step);
      });
    };
    const int nv = cols - c0 >= 16 ? kVecs : (cols - c0) / kLanes;
    with_col_tile<kVecs>(nv, columns);
  }
}
