// Private to the attention ISA TUs: portable (auto-vectorisable) inner loops for
// attention_impl.h. Included INSIDE a TU's anonymous namespace.

void q_finalize(float*, int, int64_t, int) {}

void s_block(const float* q, int64_t ldq, const float* kt, float* s, int rows, int d, float scale) {
  for (int r = 0; r < rows; ++r) {
    float* sr = s + r * kBlockK;
    for (int j = 0; j < kBlockK; ++j) sr[j] = 0.0f;
    for (int x = 0; x < d; ++x) {
      const float qv = q[r * ldq + x];
      const float* kr = kt + x * kBlockK;
      for (int j = 0; j < kBlockK; ++j) sr[j] += qv * kr[j];
    }
    for (int j = 0; j < kBlockK; ++j) sr[j] *= scale;
  }
}

void pv_block(const float* p, const float* v, int64_t ldv, float* o, int64_t ldo,
              const float* alpha, int rows, int bk, int dv) {
  for (int r = 0; r < rows; ++r) {
    float* orow = o + r * ldo;
    const float a = alpha[r];
    for (int x = 0; x < dv; ++x) orow[x] *= a;
    for (int j = 0; j < bk; ++j) {
      const float pj = p[r * kBlockK + j];
      const float* vr = v + j * ldv;
      for (int x = 0; x < dv; ++x) orow[x] += pj * vr[x];
    }
  }
}

float exp_sub_row(float* s, int n, float m) {
  float sum = 0.0f;
  for (int j = 0; j < n; ++j) {
    s[j] = __builtin_expf(s[j] - m);
    sum += s[j];
  }
  return sum;
}

void round_row_bf16(float* x, int n) {
  for (int i = 0; i < n; ++i) {
    uint32_t b;
    std::memcpy(&b, x + i, 4);
    if ((b & 0x7fffffffu) > 0x7f800000u) {
      b |= 0x400000u;
    } else {
      b = (b + 0x7fffu + ((b >> 16) & 1u)) & 0xffff0000u;
    }
    std::memcpy(x + i, &b, 4);
  }
}

float row_max(const float* x, int n) {
  float mx = x[0];
  for (int j = 1; j < n; ++j) mx = x[j] > mx ? x[j] : mx;
  return mx;
}
