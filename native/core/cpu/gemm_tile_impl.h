// Private to the gemm ISA translation units: writing a finished micro-tile to C, written once,
// included INSIDE each TU's anonymous namespace (internal linkage, that TU's flags; see
// gemm_kernels.h). The TU passes a vector-ops type V, a VecAcc (vec_acc.h) with its set1:
//   A (register), kLanes, loadf (aligned: tile rows), loadu, storeu, add, set1.
// F32x1 (gemm_scalar_prims.h) is the one-float version.

// C[r][j] = tile[r][j] (+ C[r][j] with kLoadC) (+ bias_n[j]) (+ bias_m[r]), in that order, for
// r < m_valid and j < n_valid; full-width tiles go a register at a time.
template <class V, int MR, int NR>
inline void store_tile(const float (&tile)[MR][NR], float* c, int64_t ldc, int m_valid,
                       int n_valid, int flags, const float* bias_m, const float* bias_n) {
  static_assert(NR % V::kLanes == 0, "tile width must be whole registers");
  if (n_valid == NR) {
    for (int r = 0; r < m_valid; ++r) {
      for (int v = 0; v < NR; v += V::kLanes) {
        typename V::A x = V::loadf(tile[r] + v);
        float* cp = c + r * ldc + v;
        if (flags & kLoadC) x = V::add(x, V::loadu(cp));
        if (bias_n) x = V::add(x, V::loadu(bias_n + v));
        if (bias_m) x = V::add(x, V::set1(bias_m[r]));
        V::storeu(cp, x);
      }
    }
    return;
  }
  for (int r = 0; r < m_valid; ++r) {
    for (int j = 0; j < n_valid; ++j) {
      float v = tile[r][j];
      if (flags & kLoadC) v += c[r * ldc + j];
      if (bias_n) v += bias_n[j];
      if (bias_m) v += bias_m[r];
      c[r * ldc + j] = v;
    }
  }
}
