// Private to the gemm ISA translation units: packing written once, included INSIDE each TU's
// anonymous namespace so every copy is compiled with that TU's flags and has internal linkage.
// The including TU defines, before including this file:
//   void cvt_row(const void* src, DType dt, int n, float* dst);      // n elements to f32
//   void round_row_bf16(float* x, int n);                             // round in place to bf16
// and includes <cstring> and <cstdint> at file scope.

constexpr int kMaxKc = kGemmMaxKc;  // the driver never passes a larger kc

inline int64_t floor_div(int64_t a, int64_t b) { return a >= 0 ? a / b : -((-a + b - 1) / b); }

// Cuts output pixels [n0, n0 + cols) into runs that lie in one output row: f(j, oy, ox, len)
// for the run at columns [j, j + len), which starts at output pixel (oy, ox).
template <class F>
inline void for_each_row_run(const Im2col& g, int64_t n0, int cols, F&& f) {
  int64_t n = n0;
  for (int j = 0; j < cols;) {
    const int64_t oy = n / g.out_w;
    const int ox = int(n - oy * g.out_w);
    const int len = int(g.out_w - ox < cols - j ? g.out_w - ox : cols - j);
    f(j, oy, ox, len);
    j += len;
    n += len;
  }
}

// Row k of the virtual im2col matrix, columns (output pixels) [n0, n0 + cols): dst[0..cols).
inline void im2col_row(const Im2col& g, int64_t k, int64_t n0, int cols, float* dst) {
  const int64_t taps = int64_t(g.kernel_h) * g.kernel_w;
  const int64_t c = k / taps;
  const int ky = int((k % taps) / g.kernel_w), kx = int(k % g.kernel_w);
  const float* plane = g.image + c * int64_t(g.height) * g.width;
  for_each_row_run(g, n0, cols, [&](int j, int64_t oy, int ox, int len) {
    const int64_t iy = oy * g.stride + ky - g.pad_top;
    float* d = dst + j;
    if (iy < 0 || iy >= g.height) {
      std::memset(d, 0, sizeof(float) * len);
    } else {
      const float* row = plane + iy * g.width;
      const int ix0 = ox * g.stride + kx - g.pad_left;  // input x of the segment's first pixel
      if (g.stride == 1) {
        // valid t: 0 <= ix0 + t < width
        int lo = ix0 < 0 ? -ix0 : 0;
        int hi = g.width - ix0;
        if (hi > len) hi = len;
        if (lo > len) lo = len;
        if (hi < lo) hi = lo;
        for (int t = 0; t < lo; ++t) d[t] = 0.0f;
        if (hi > lo) std::memcpy(d + lo, row + ix0 + lo, sizeof(float) * (hi - lo));
        for (int t = hi; t < len; ++t) d[t] = 0.0f;
      } else {
        const int s = g.stride;
        for (int t = 0; t < len; ++t) {
          const int ix = ix0 + t * s;
          d[t] = (ix >= 0 && ix < g.width) ? row[ix] : 0.0f;
        }
      }
    }
  });
}

// Elements [k0, k0 + n) of one row of a K-contiguous operand into dst as f32 (bf16-rounded
// when round_bf16).
inline void load_row(const DenseView& v, int64_t row, int64_t k0, int n, bool round_bf16, float* dst) {
  const size_t es = dtype_size_local(v.dtype);
  cvt_row(static_cast<const char*>(v.data) + (row * v.row_stride + k0) * es, v.dtype, n, dst);
  if (round_bf16) round_row_bf16(dst, n);
}

// ---- f32 layouts: A [kc/16][mr][16], B [kc][nr] ----------------------------------------

// Calls f(i, tmp) for i in [0, count): tmp holds elements [k0, k0 + kc) of row first + i of v
// as f32 (bf16-rounded when round_bf16), zero past K; all zero for i >= present.
template <class F>
void for_padded_rows(const DenseView& v, int64_t K, int64_t first, int present, int count, int64_t k0,
                     int kc, bool round_bf16, F&& f) {
  alignas(64) float tmp[kMaxKc];
  const int valid = int(K - k0 < kc ? K - k0 : kc);
  for (int i = 0; i < count; ++i) {
    if (i < present) {
      load_row(v, first + i, k0, valid, round_bf16, tmp);
      for (int t = valid; t < kc; ++t) tmp[t] = 0.0f;
    } else {
      for (int t = 0; t < kc; ++t) tmp[t] = 0.0f;
    }
    f(i, static_cast<const float*>(tmp));
  }
}

template <int MR>
void pack_a_f32(const DenseView& a, int64_t K, int64_t r0, int rows, int64_t k0, int kc,
                bool round_bf16, void* dst_v) {
  float* dst = static_cast<float*>(dst_v);
  int direct = 0;  // rows converted straight into the panel, 16 k at a time
  if (!round_bf16) {
    const int valid = int(K - k0 < kc ? K - k0 : kc);
    const size_t es = dtype_size_local(a.dtype);
    for (; direct < rows; ++direct) {
      const int r = direct;
      const char* src = static_cast<const char*>(a.data) + ((r0 + r) * a.row_stride + k0) * es;
      int g = 0;
      for (; (g + 1) * 16 <= valid; ++g) cvt_row(src + g * 16 * es, a.dtype, 16, dst + (g * MR + r) * 16);
      if (g < kc / 16) {
        alignas(64) float part[16] = {};
        cvt_row(src + g * 16 * es, a.dtype, valid - g * 16, part);
        std::memcpy(dst + (g * MR + r) * 16, part, 64);
        for (++g; g < kc / 16; ++g) std::memset(dst + (g * MR + r) * 16, 0, 64);
      }
    }
  }
  for_padded_rows(a, K, r0 + direct, rows - direct, MR - direct, k0, kc, round_bf16,
                  [&](int i, const float* tmp) {
                    const int r = direct + i;
                    for (int g = 0; g < kc / 16; ++g) std::memcpy(dst + (g * MR + r) * 16, tmp + g * 16, 64);
                  });
}

template <int NR>
void pack_b_f32(const DenseView& b, int64_t K, int64_t n0, int cols, int64_t k0, int kc,
                bool round_bf16, void* dst_v) {
  float* dst = static_cast<float*>(dst_v);
  for_padded_rows(b, K, n0, cols, NR, k0, kc, round_bf16, [&](int n, const float* tmp) {
    for (int t = 0; t < kc; ++t) dst[t * NR + n] = tmp[t];
  });
}

// Rows [k0, k0 + rows) of the virtual im2col matrix, columns [n0, n0 + cols), row t into
// dst + t * NR (zero beyond cols and beyond K). The panel's columns are cut once into runs that
// lie in one output row; then each k row walks (c, ky, kx) incrementally and copies each run in
// one piece: im2col_row's divisions per call cost as much as the copy itself.
template <int NR>
void im2col_panel(const Im2col& g, int64_t K, int64_t k0, int rows, int64_t n0, int cols, float* dst) {
  struct Run { int64_t oy; int ox, len, at; };
  Run runs[NR];
  int n_runs = 0;
  for_each_row_run(g, n0, cols, [&](int j, int64_t oy, int ox, int len) {
    runs[n_runs++] = {oy, ox, len, j};
  });
  const int taps = g.kernel_h * g.kernel_w;
  int64_t c = k0 / taps;
  int ky = int(k0 % taps) / g.kernel_w, kx = int(k0 % taps) % g.kernel_w;
  const int64_t plane = int64_t(g.height) * g.width;
  const int s = g.stride;
  for (int t = 0; t < rows; ++t) {
    float* d = dst + t * NR;
    if (k0 + t >= K) {
      std::memset(d, 0, sizeof(float) * NR);
      continue;
    }
    const float* image_c = g.image + c * plane;
    for (int r = 0; r < n_runs; ++r) {
      const Run& run = runs[r];
      float* o = d + run.at;
      const int64_t iy = run.oy * s + ky - g.pad_top;
      if (iy < 0 || iy >= g.height) {
        std::memset(o, 0, sizeof(float) * run.len);
        continue;
      }
      const float* row = image_c + iy * g.width;
      const int ix0 = run.ox * s + kx - g.pad_left;
      if (s == 1 && ix0 >= 0 && ix0 + run.len <= g.width) {
        if (run.len == NR) std::memcpy(o, row + ix0, sizeof(float) * NR);  // fixed size: vector moves
        else std::memcpy(o, row + ix0, sizeof(float) * run.len);
      } else {
        for (int j = 0; j < run.len; ++j) {
          const int ix = ix0 + j * s;
          o[j] = (ix >= 0 && ix < g.width) ? row[ix] : 0.0f;
        }
      }
    }
    for (int j = cols; j < NR; ++j) d[j] = 0.0f;
    if (++kx == g.kernel_w) {
      kx = 0;
      if (++ky == g.kernel_h) ky = 0, ++c;
    }
  }
}

template <int NR>
void pack_b_im2col_f32(const Im2col& g, int64_t K, int64_t n0, int cols, int64_t k0, int kc,
                       bool round_bf16, void* dst_v) {
  float* dst = static_cast<float*>(dst_v);
  im2col_panel<NR>(g, K, k0, kc, n0, cols, dst);
  if (round_bf16)
    for (int t = 0; t < kc; ++t) round_row_bf16(dst + t * NR, cols);
}
