// Private to the register-tiled attention ISA TUs (attention_avx2.cpp, attention_neon.cpp, the
// AVX-512 ones through attention_avx512_tiles.h): one row tile of q.k^T and of p.v, and the exp
// polynomial, written once over a vector-ops type D. Included INSIDE the TU's anonymous
// namespace (internal linkage, that TU's flags; see attention_kernels.h). D gives
//   E, V, kPer, load, bcast, madd  as in avx512_dot_ops.h (the packed elements and their product);
//   A: a register of kLanes floats (the accumulators), with
//   static A zero(); static A set1(float); static A loadf(const float*); static void storef(float*, A);
//   static A mul(A, A); static A fmadd(A a, A b, A c) (a*b + c, fused); fnmadd (c - a*b, fused).
// Rows are D::E elements: a [R][lda] broadcast one at a time, m [n][ldm] loaded NV vectors a row.
// A TU whose fma loop differs (NEON takes a from a vector lane) specialises RowFma for its D.

#define SD_ROWS_INLINE inline __attribute__((always_inline))

// acc[r][c] += sum_{x<n} a[r*lda + x] . m[x*ldm + c*kLanes ...], x in order. Always inlined:
// out of line, the accumulators passed by reference would live in memory.
template <class D>
struct RowFma {
  template <int R, int NV>
  static SD_ROWS_INLINE void run(typename D::A (&acc)[R][NV], const typename D::E* a, int64_t lda,
                                 const typename D::E* m, int64_t ldm, int n) {
    for (int x = 0; x < n; ++x) {
      typename D::V mv[NV];
#pragma GCC unroll 8
      for (int c = 0; c < NV; ++c) mv[c] = D::load(m + x * ldm + c * D::kLanes);
#pragma GCC unroll 8
      for (int r = 0; r < R; ++r) {
        const typename D::V ab = D::bcast(a + r * lda + x);
#pragma GCC unroll 8
        for (int c = 0; c < NV; ++c) acc[r][c] = D::madd(acc[r][c], ab, mv[c]);
      }
    }
  }
};

// s[r][0 : NV*kLanes) = scale * sum_{x<n} q[r][x] . kt[x][...], r < R.
template <class D, int R, int NV>
void s_rows(const typename D::E* q, int64_t ldq, const typename D::E* kt, float* s, int n,
            typename D::A scale) {
  typename D::A acc[R][NV];
#pragma GCC unroll 8
  for (int r = 0; r < R; ++r)
#pragma GCC unroll 8
    for (int c = 0; c < NV; ++c) acc[r][c] = D::zero();
  RowFma<D>::template run<R, NV>(acc, q, ldq, kt, kBlockK, n);
#pragma GCC unroll 8
  for (int r = 0; r < R; ++r)
#pragma GCC unroll 8
    for (int c = 0; c < NV; ++c) D::storef(s + r * kBlockK + c * D::kLanes, D::mul(acc[r][c], scale));
}

// o[r][0 : NV*kLanes) = o * alpha[r] + sum_{j<n} p[r][j] . v[j][...], r < R.
template <class D, int R, int NV>
void pv_rows(const typename D::E* p, const typename D::E* v, int64_t ldv, float* o, int64_t ldo,
             const float* alpha, int n) {
  typename D::A acc[R][NV];
#pragma GCC unroll 8
  for (int r = 0; r < R; ++r) {
    const typename D::A a = D::set1(alpha[r]);
#pragma GCC unroll 8
    for (int c = 0; c < NV; ++c) acc[r][c] = D::mul(a, D::loadf(o + r * ldo + c * D::kLanes));
  }
  RowFma<D>::template run<R, NV>(acc, p, kBlockK / D::kPer, v, ldv, n);
#pragma GCC unroll 8
  for (int r = 0; r < R; ++r)
#pragma GCC unroll 8
    for (int c = 0; c < NV; ++c) D::storef(o + r * ldo + c * D::kLanes, acc[r][c]);
}

// e^r for r = x - n ln2 (ln2 split in two for an exact reduction; |r| <= ln2/2): degree-6 Taylor
// polynomial, relative error ~1.2e-7. The caller clamps x, rounds n and scales by 2^n. Needs only
// set1, fmadd and fnmadd of D (attention_generic.h uses it on scalar floats).
template <class D>
inline typename D::A exp_reduced(typename D::A x, typename D::A n) {
  typename D::A r = D::fnmadd(n, D::set1(0.693145752f), x);
  r = D::fnmadd(n, D::set1(1.42860677e-6f), r);
  typename D::A y = D::set1(1.0f / 720);
  y = D::fmadd(y, r, D::set1(1.0f / 120));
  y = D::fmadd(y, r, D::set1(1.0f / 24));
  y = D::fmadd(y, r, D::set1(1.0f / 6));
  y = D::fmadd(y, r, D::set1(0.5f));
  y = D::fmadd(y, r, D::set1(1.0f));
  y = D::fmadd(y, r, D::set1(1.0f));
  return y;
}

// The same polynomial evaluated in r² (Estrin-like): a dependency chain of 4 multiply-adds
// instead of 7, for loops whose exps wait on each other's latency rather than on the FMA
// pipes (AVX2's softmax rows). Rounds differently from exp_reduced by about an ulp.
template <class D>
inline typename D::A exp_reduced_short(typename D::A x, typename D::A n) {
  typename D::A r = D::fnmadd(n, D::set1(0.693145752f), x);
  r = D::fnmadd(n, D::set1(1.42860677e-6f), r);
  const typename D::A r2 = D::mul(r, r);
  const typename D::A lo = D::fmadd(r, D::set1(1.0f), D::set1(1.0f));        // 1 + r
  const typename D::A mid = D::fmadd(r, D::set1(1.0f / 6), D::set1(0.5f));   // 1/2 + r/6
  const typename D::A hi = D::fmadd(r, D::set1(1.0f / 120), D::set1(1.0f / 24));
  typename D::A y = D::fmadd(D::set1(1.0f / 720), r2, hi);
  y = D::fmadd(y, r2, mid);
  return D::fmadd(y, r2, lo);
}
