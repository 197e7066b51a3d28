// The three F(4,3) transforms (Lavin & Gray 2016, interpolation points 0, +-1, +-2, inf), each
// on kLanes independent problems at once (channels or tiles) so the arithmetic vectorises with
// whatever the baseline target has; inputs and outputs are [element][lane] arrays.
//   B^T = [4  0 -5  0 1 0]   G = [ 1/4     0    0 ]   A^T = [1 1  1 1  1 0]
//         [0 -4 -4  1 1 0]       [-1/6 -1/6 -1/6 ]         [0 1 -1 2 -2 0]
//         [0  4 -4 -1 1 0]       [-1/6  1/6 -1/6 ]         [0 1  1 4  4 0]
//         [0 -2 -1  2 1 0]       [1/24 1/12  1/6 ]         [0 1 -1 8 -8 1]
//         [0  2 -1 -2 1 0]       [1/24 -1/12 1/6 ]
//         [0  4  0 -5 0 1]       [   0     0    1 ]
// With these, A^T [(G g G^T) . (B^T d B)] A is the 4x4 cross-correlation of the 6x6 patch d with
// the 3x3 filter g, as a conv layer computes it.
#pragma once

namespace sd::cpu::winograd_detail {

constexpr int kLanes = 8;

// out[k] = (B^T in)[k] for 6 elements spaced `is` apart (in lanes), written `os` apart.
template <class T>
inline void bt6(const T* in, int is, T* out, int os) {
  for (int l = 0; l < kLanes; ++l) {
    const T d0 = in[l], d1 = in[is + l], d2 = in[2 * is + l], d3 = in[3 * is + l], d4 = in[4 * is + l], d5 = in[5 * is + l];
    const T a = d4 - d2, b = d1 - d3;
    out[l] = 4 * d0 - 5 * d2 + d4;
    out[os + l] = d3 + d4 - 4 * (d1 + d2);
    out[2 * os + l] = 4 * (d1 - d2) + d4 - d3;
    out[3 * os + l] = a - 2 * b;
    out[4 * os + l] = a + 2 * b;
    out[5 * os + l] = 4 * d1 - 5 * d3 + d5;
  }
}

// out[k] = (G in)[k], k < 6, for 3 elements.
template <class T>
inline void g6(const T* in, int is, T* out, int os) {
  for (int l = 0; l < kLanes; ++l) {
    const T g0 = in[l], g1 = in[is + l], g2 = in[2 * is + l];
    // products with rounded reciprocals, not divisions (a vector divide costs ~10 multiplies)
    const T s = g0 + g2, a = s * T(1.0 / 24) + g2 * T(1.0 / 8), b = g1 * T(1.0 / 12);
    out[l] = g0 * T(0.25);
    out[os + l] = (s + g1) * T(-1.0 / 6);
    out[2 * os + l] = (s - g1) * T(-1.0 / 6);
    out[3 * os + l] = a + b;
    out[4 * os + l] = a - b;
    out[5 * os + l] = g2;
  }
}

// out[k] = (A^T in)[k], k < 4, for 6 elements.
template <class T>
inline void at6(const T* in, int is, T* out, int os) {
  for (int l = 0; l < kLanes; ++l) {
    const T m0 = in[l], m1 = in[is + l], m2 = in[2 * is + l], m3 = in[3 * is + l], m4 = in[4 * is + l], m5 = in[5 * is + l];
    const T s12 = m1 + m2, d12 = m1 - m2, s34 = m3 + m4, d34 = m3 - m4;
    out[l] = m0 + s12 + s34;
    out[os + l] = d12 + 2 * d34;
    out[2 * os + l] = s12 + 4 * s34;
    out[3 * os + l] = d12 + 8 * d34 + m5;
  }
}

// v[36][lanes] = B^T d B for d[36][lanes] (6x6 row-major).
inline void input_tile(const float* d, float* v) {
  float t[36 * kLanes];
  for (int j = 0; j < 6; ++j) bt6(d + j * kLanes, 6 * kLanes, t + j * kLanes, 6 * kLanes);
  for (int k = 0; k < 6; ++k) bt6(t + k * 6 * kLanes, kLanes, v + k * 6 * kLanes, kLanes);
}

// u[36][lanes] = G g G^T for g[9][lanes] (3x3 row-major).
inline void filter_tile(const float* g, float* u) {
  float t[18 * kLanes];  // G g: [6][3]
  for (int j = 0; j < 3; ++j) g6(g + j * kLanes, 3 * kLanes, t + j * kLanes, 3 * kLanes);
  for (int k = 0; k < 6; ++k) g6(t + k * 3 * kLanes, kLanes, u + k * 6 * kLanes, kLanes);
}

// u[36][kLanes] for `lanes` input channels of one output channel, whose 3x3 weights are w[lane][9];
// lanes past `lanes` get zero filters.
inline void filter_lanes(const float* w, int lanes, float* u) {
  alignas(32) float g[9 * kLanes];
  for (int l = 0; l < kLanes; ++l)
    for (int e = 0; e < 9; ++e) g[e * kLanes + l] = l < lanes ? w[l * 9 + e] : 0.0f;
  filter_tile(g, u);
}

// o[16][lanes] = A^T m A for m[36][lanes].
inline void output_tile(const float* m, float* o) {
  float t[24 * kLanes];  // A^T m: [4][6]
  for (int j = 0; j < 6; ++j) at6(m + j * kLanes, 6 * kLanes, t + j * kLanes, 6 * kLanes);
  for (int k = 0; k < 4; ++k) at6(t + k * 6 * kLanes, kLanes, o + k * 4 * kLanes, kLanes);
}

}  // namespace sd::cpu::winograd_detail
