// Private to the AVX-512 gemm TUs: vectorised packers for the nr = 32 layouts. Included by
// gemm_avx512_tu.h INSIDE its anonymous namespace, after gemm_avx512_prims.h and gemm_pack_impl.h.

// ---- fast packers for the 32-column layouts (both AVX-512 kernels have nr = 32) ----------
// (this part needs gemm_pack_impl.h included first: it uses im2col_row for strided convs)

// Row k of the im2col matrix for output pixels [n0, n0 + cols), cols <= 32, as two vectors
// (lanes past cols are zero). Stride-1 segments use masked loads straight from the image row
// (masked-off lanes never fault); other strides go through the scalar im2col_row.
template <class Im2colRowFn>
inline void im2col_row32(const Im2col& g, int64_t k, int64_t n0, int cols, __m512& lo, __m512& hi,
                         Im2colRowFn scalar_row) {
  if (g.stride != 1) {
    alignas(64) float tmp[32];
    for (int j = 0; j < 32; ++j) tmp[j] = 0.0f;
    scalar_row(g, k, n0, cols, tmp);
    lo = _mm512_load_ps(tmp);
    hi = _mm512_load_ps(tmp + 16);
    return;
  }
  const int64_t taps = int64_t(g.kernel_h) * g.kernel_w;
  const int64_t c = k / taps;
  const int ky = int((k % taps) / g.kernel_w), kx = int(k % g.kernel_w);
  const float* plane = g.image + c * int64_t(g.height) * g.width;
  lo = _mm512_setzero_ps();
  hi = _mm512_setzero_ps();
  for_each_row_run(g, n0, cols, [&](int j, int64_t oy, int ox, int len) {
    const int64_t iy = oy + ky - g.pad_top;
    if (iy >= 0 && iy < g.height) {
      const int ix0 = ox + kx - g.pad_left;
      // lanes L in [j, j + len) with 0 <= ix0 + (L - j) < width
      int l0 = j + (ix0 < 0 ? -ix0 : 0);
      int l1 = j + (g.width - ix0 < len ? g.width - ix0 : len);
      if (l1 > l0) {
        const uint32_t bits = uint32_t((uint64_t(1) << l1) - (uint64_t(1) << l0));
        const float* base = plane + iy * g.width + ix0 - j;  // lane L reads base[L]
        lo = _mm512_mask_loadu_ps(lo, __mmask16(bits), base);
        hi = _mm512_mask_loadu_ps(hi, __mmask16(bits >> 16), base + 16);
      }
    }
  });
}

// Pairs (k0[n] | k1[n] << 16), both rounded to bf16, for 16 columns.
inline __m512i bf16_pair_vec(__m512 k0, __m512 k1) {
  return _mm512_or_si512(_mm512_srli_epi32(round_bf16_bits(k0), 16), round_bf16_bits(k1));
}

inline __m512 load16_clamped(const char* src, DType dt, size_t es, int g0, int valid) {
  const int n = valid - g0;
  return n <= 0 ? _mm512_setzero_ps() : load16(src + g0 * es, dt, n);
}

// Weights are read once per product, straight from memory: each row chunk is only kc elements
// (too short for the hardware prefetcher to ramp up), so fetch the next row while packing this.
inline void prefetch_row(const char* p, size_t bytes) {
  for (size_t off = 0; off < bytes; off += 64) _mm_prefetch(p + off, _MM_HINT_T0);
}

// A panel, f32 layout [kc/16][MR][16], straight from the source rows (no staging copy).
template <int MR>
void pack_a_f32_fast(const DenseView& a, int64_t K, int64_t r0, int rows, int64_t k0, int kc,
                     bool round_bf16, void* dst_v) {
  float* dst = static_cast<float*>(dst_v);
  const int valid = int(K - k0 < kc ? K - k0 : kc);
  const size_t es = dtype_size_local(a.dtype);
  for (int r = 0; r < MR; ++r) {
    const char* src = static_cast<const char*>(a.data) + ((r0 + r) * a.row_stride + k0) * es;
    if (r + 1 < rows) prefetch_row(src + a.row_stride * es, size_t(valid) * es);
    for (int g = 0; g < kc / 16; ++g) {
      __m512 v = r < rows ? load16_clamped(src, a.dtype, es, g * 16, valid) : _mm512_setzero_ps();
      if (round_bf16) v = _mm512_castsi512_ps(round_bf16_bits(v));
      _mm512_store_ps(dst + (g * MR + r) * 16, v);
    }
  }
}

// A panel, bf16 layout [kc/32][MR][32].
template <int MR>
void pack_a_bf16_fast(const DenseView& a, int64_t K, int64_t r0, int rows, int64_t k0, int kc,
                      bool, void* dst_v) {
  uint16_t* dst = static_cast<uint16_t*>(dst_v);
  const int valid = int(K - k0 < kc ? K - k0 : kc);
  const size_t es = dtype_size_local(a.dtype);
  for (int r = 0; r < MR; ++r) {
    const char* src = static_cast<const char*>(a.data) + ((r0 + r) * a.row_stride + k0) * es;
    if (r + 1 < rows) prefetch_row(src + a.row_stride * es, size_t(valid) * es);
    for (int g = 0; g < kc / 32; ++g) {
      uint16_t* d = dst + (g * MR + r) * 32;
      if (r < rows) {
        const __m512 v0 = load16_clamped(src, a.dtype, es, g * 32, valid);
        const __m512 v1 = load16_clamped(src, a.dtype, es, g * 32 + 16, valid);
        _mm256_store_si256(reinterpret_cast<__m256i*>(d), _mm512_cvtepi32_epi16(_mm512_srli_epi32(round_bf16_bits(v0), 16)));
        _mm256_store_si256(reinterpret_cast<__m256i*>(d + 16), _mm512_cvtepi32_epi16(_mm512_srli_epi32(round_bf16_bits(v1), 16)));
      } else {
        _mm512_store_si512(d, _mm512_setzero_si512());
      }
    }
  }
}

// Walks the rows k of the im2col matrix for one 32-column panel. The panel's output pixels are
// split once into segments that lie in one output row; each row k then costs a few masked
// loads per segment, with (c, ky, kx) advanced incrementally (no divisions per k).
struct Im2colPanel {
  const Im2col& g;
  int nseg = 0;
  int lane0[32], len[32], oy[32], ox[32];
  int64_t c;
  int ky, kx;
  Im2colPanel(const Im2col& gg, int64_t n0, int cols, int64_t k0) : g(gg) {
    for_each_row_run(g, n0, cols, [&](int j, int64_t y, int x, int l) {
      lane0[nseg] = j, len[nseg] = l, oy[nseg] = int(y), ox[nseg] = x;
      ++nseg;
    });
    const int64_t taps = int64_t(g.kernel_h) * g.kernel_w;
    c = k0 / taps;
    ky = int((k0 % taps) / g.kernel_w);
    kx = int(k0 % g.kernel_w);
  }
  // Current row (stride 1 only) into lo/hi, then advance to the next k.
  void row(__m512& lo, __m512& hi) {
    lo = _mm512_setzero_ps();
    hi = _mm512_setzero_ps();
    const float* plane = g.image + c * int64_t(g.height) * g.width;
    for (int s = 0; s < nseg; ++s) {
      const int iy = oy[s] + ky - g.pad_top;
      if (iy < 0 || iy >= g.height) continue;
      const int ix0 = ox[s] + kx - g.pad_left;
      const int l0 = lane0[s] + (ix0 < 0 ? -ix0 : 0);
      const int l1 = lane0[s] + (g.width - ix0 < len[s] ? g.width - ix0 : len[s]);
      if (l1 <= l0) continue;
      const uint32_t bits = uint32_t((uint64_t(1) << l1) - (uint64_t(1) << l0));
      const float* base = plane + int64_t(iy) * g.width + ix0 - lane0[s];  // lane L reads base[L]
      lo = _mm512_mask_loadu_ps(lo, __mmask16(bits), base);
      hi = _mm512_mask_loadu_ps(hi, __mmask16(bits >> 16), base + 16);
    }
    if (++kx == g.kernel_w) {
      kx = 0;
      if (++ky == g.kernel_h) {
        ky = 0;
        ++c;
      }
    }
  }
};

// B panel from im2col, f32 layout [kc][32].
[[maybe_unused]] void pack_b_im2col_f32_fast(const Im2col& g, int64_t K, int64_t n0, int cols, int64_t k0, int kc,
                            bool round_bf16, void* dst_v) {
  float* dst = static_cast<float*>(dst_v);
  Im2colPanel panel(g, n0, cols, k0);
  for (int t = 0; t < kc; ++t) {
    __m512 lo = _mm512_setzero_ps(), hi = _mm512_setzero_ps();
    if (k0 + t < K) {
      if (g.stride == 1) panel.row(lo, hi);
      else im2col_row32(g, k0 + t, n0, cols, lo, hi, im2col_row);
    }
    if (round_bf16) {
      lo = _mm512_castsi512_ps(round_bf16_bits(lo));
      hi = _mm512_castsi512_ps(round_bf16_bits(hi));
    }
    _mm512_store_ps(dst + t * 32, lo);
    _mm512_store_ps(dst + t * 32 + 16, hi);
  }
}

// B panel from im2col, bf16 layout [kc/2][32][2].
[[maybe_unused]] void pack_b_im2col_bf16_fast(const Im2col& g, int64_t K, int64_t n0, int cols, int64_t k0,
                             int kc, bool, void* dst_v) {
  uint32_t* dst = static_cast<uint32_t*>(dst_v);
  Im2colPanel panel(g, n0, cols, k0);
  for (int t = 0; t < kc; t += 2) {
    __m512 lo0 = _mm512_setzero_ps(), hi0 = lo0, lo1 = lo0, hi1 = lo0;
    for (int h = 0; h < 2; ++h) {
      __m512& lo = h ? lo1 : lo0;
      __m512& hi = h ? hi1 : hi0;
      if (k0 + t + h < K) {
        if (g.stride == 1) panel.row(lo, hi);
        else im2col_row32(g, k0 + t + h, n0, cols, lo, hi, im2col_row);
      }
    }
    _mm512_store_si512(dst + (t / 2) * 32, bf16_pair_vec(lo0, lo1));
    _mm512_store_si512(dst + (t / 2) * 32 + 16, bf16_pair_vec(hi0, hi1));
  }
}

// In-register transpose of a 16x16 block of 32-bit values: r[i] lane j -> r[j] lane i.
inline void transpose16(__m512 r[16]) {
  __m512 t[16], u[16];
  for (int i = 0; i < 8; ++i) {
    t[2 * i] = _mm512_unpacklo_ps(r[2 * i], r[2 * i + 1]);
    t[2 * i + 1] = _mm512_unpackhi_ps(r[2 * i], r[2 * i + 1]);
  }
  for (int i = 0; i < 4; ++i) {  // u[4i + c], 128-bit lane l: rows 4i..4i+3 of column 4l + c
    const __m512d t0 = _mm512_castps_pd(t[4 * i]), t1 = _mm512_castps_pd(t[4 * i + 1]);
    const __m512d t2 = _mm512_castps_pd(t[4 * i + 2]), t3 = _mm512_castps_pd(t[4 * i + 3]);
    u[4 * i + 0] = _mm512_castpd_ps(_mm512_unpacklo_pd(t0, t2));
    u[4 * i + 1] = _mm512_castpd_ps(_mm512_unpackhi_pd(t0, t2));
    u[4 * i + 2] = _mm512_castpd_ps(_mm512_unpacklo_pd(t1, t3));
    u[4 * i + 3] = _mm512_castpd_ps(_mm512_unpackhi_pd(t1, t3));
  }
  for (int c = 0; c < 4; ++c) {
    const __m512 v0 = _mm512_shuffle_f32x4(u[c], u[4 + c], 0x44);
    const __m512 v1 = _mm512_shuffle_f32x4(u[c], u[4 + c], 0xee);
    const __m512 w0 = _mm512_shuffle_f32x4(u[8 + c], u[12 + c], 0x44);
    const __m512 w1 = _mm512_shuffle_f32x4(u[8 + c], u[12 + c], 0xee);
    r[c] = _mm512_shuffle_f32x4(v0, w0, 0x88);
    r[4 + c] = _mm512_shuffle_f32x4(v0, w0, 0xdd);
    r[8 + c] = _mm512_shuffle_f32x4(v1, w1, 0x88);
    r[12 + c] = _mm512_shuffle_f32x4(v1, w1, 0xdd);
  }
}

// Dense B panel (rows n0.. of a K-contiguous [N, K] operand), f32 layout [kc][32]: 16x16
// register transposes instead of strided scalar stores.
[[maybe_unused]] void pack_b_f32_fast(const DenseView& b, int64_t K, int64_t n0, int cols, int64_t k0,
                                      int kc, bool round_bf16, void* dst_v) {
  float* dst = static_cast<float*>(dst_v);
  const int valid = int(K - k0 < kc ? K - k0 : kc);
  const size_t es = dtype_size_local(b.dtype);
  const char* src = static_cast<const char*>(b.data) + (n0 * b.row_stride + k0) * es;
  for (int g = 0; g < kc / 16; ++g) {
    for (int half = 0; half < 2; ++half) {
      __m512 r[16];
      for (int i = 0; i < 16; ++i) {
        const int n = half * 16 + i;
        r[i] = n < cols ? load16_clamped(src + n * b.row_stride * es, b.dtype, es, g * 16, valid)
                        : _mm512_setzero_ps();
        if (round_bf16) r[i] = _mm512_castsi512_ps(round_bf16_bits(r[i]));
      }
      transpose16(r);
      for (int j = 0; j < 16; ++j) _mm512_store_ps(dst + (g * 16 + j) * 32 + half * 16, r[j]);
    }
  }
}

// Dense B panel, bf16 layout [kc/2][32][2]: each row's 32 k become 16 (k, k+1) words, then a
// 16x16 transpose of those words.
[[maybe_unused]] void pack_b_bf16_fast(const DenseView& b, int64_t K, int64_t n0, int cols, int64_t k0,
                                       int kc, bool, void* dst_v) {
  uint32_t* dst = static_cast<uint32_t*>(dst_v);
  const int valid = int(K - k0 < kc ? K - k0 : kc);
  const size_t es = dtype_size_local(b.dtype);
  const char* src = static_cast<const char*>(b.data) + (n0 * b.row_stride + k0) * es;
  for (int g = 0; g < kc / 32; ++g) {
    for (int half = 0; half < 2; ++half) {
      __m512 r[16];
      for (int i = 0; i < 16; ++i) {
        const int n = half * 16 + i;
        if (n < cols) {
          const char* row = src + n * b.row_stride * es;
          const __m512 v0 = load16_clamped(row, b.dtype, es, g * 32, valid);
          const __m512 v1 = load16_clamped(row, b.dtype, es, g * 32 + 16, valid);
          const __m256i h0 = _mm512_cvtepi32_epi16(_mm512_srli_epi32(round_bf16_bits(v0), 16));
          const __m256i h1 = _mm512_cvtepi32_epi16(_mm512_srli_epi32(round_bf16_bits(v1), 16));
          r[i] = _mm512_castsi512_ps(_mm512_inserti64x4(_mm512_castsi256_si512(h0), h1, 1));
        } else {
          r[i] = _mm512_setzero_ps();
        }
      }
      transpose16(r);
      for (int j = 0; j < 16; ++j)
        _mm512_store_ps(reinterpret_cast<float*>(dst + (g * 16 + j) * 32 + half * 16), r[j]);
    }
  }
}
