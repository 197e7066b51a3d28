// Private to the register-tiled attention ISA TUs: loops that hand a tile body its row count
// and its vector count as compile-time constants (so the accumulators stay in registers).
// Included INSIDE the TU's anonymous namespace.

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

