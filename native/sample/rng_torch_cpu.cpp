#include "fp_exact.h"  // first: no FMA contraction in this file
#include "rng_torch_cpu.h"

#include <cmath>
#include <cstring>

namespace sd::sample {

namespace {

constexpr double kPi = 3.14159265358979323846;

float uniform_f32(std::mt19937& e) { return float(uint32_t(e()) & 0xFFFFFFu) * (1.0f / 16777216.0f); }

uint32_t bits(float f) { uint32_t u; std::memcpy(&u, &f, 4); return u; }
float from_bits(uint32_t u) { float f; std::memcpy(&f, &u, 4); return f; }

// Cephes logf as the 8-wide avx_mathfun kernel evaluates it (one lane, separate mul and add).
float cephes_logf(float x) {
  if (!(x > 0.0f)) return x == 0.0f ? -INFINITY : NAN;
  x = std::fmax(x, from_bits(0x00800000u));  // smallest normal
  int e_int = int((bits(x) >> 23) & 0xFF) - 0x7f;
  x = from_bits((bits(x) & 0x807FFFFFu) | bits(0.5f));  // mantissa in [0.5, 1)
  float e = float(e_int) + 1.0f;
  const bool small = x < 0.707106781186547524f;
  const float tmp = small ? x : 0.0f;
  x = x - 1.0f;
  e = e - (small ? 1.0f : 0.0f);
  x = x + tmp;
  const float z = x * x;
  float y = 7.0376836292E-2f;
  y = std::fma(y, x, -1.1514610310E-1f);
  y = std::fma(y, x, 1.1676998740E-1f);
  y = std::fma(y, x, -1.2420140846E-1f);
  y = std::fma(y, x, 1.4249322787E-1f);
  y = std::fma(y, x, -1.6668057665E-1f);
  y = std::fma(y, x, 2.0000714765E-1f);
  y = std::fma(y, x, -2.4999993993E-1f);
  y = std::fma(y, x, 3.3333331174E-1f);
  y = y * x;
  y = std::fma(y, z, e * -2.12194440e-4f);
  y = std::fma(-z, 0.5f, y);
  x = x + y;
  x = std::fma(e, 0.693359375f, x);
  return x;
}

// Cephes sincosf (octant reduction with the 3-part π/4), as avx_mathfun's sincos256_ps.
void cephes_sincosf(float xin, float* s, float* c) {
  uint32_t sign_sin = bits(xin) & 0x80000000u;
  float x = std::fabs(xin);
  float y = x * 1.27323954473516f;  // 4/π
  uint32_t j = uint32_t(int32_t(y));
  j = (j + 1) & ~1u;
  y = float(int32_t(j));
  const uint32_t swap_sign_sin = (j & 4u) << 29;
  const bool poly_is_sin = (j & 2u) == 0;
  x = std::fma(y, -0.78515625f, x);
  x = std::fma(y, -2.4187564849853515625e-4f, x);
  x = std::fma(y, -3.77489497744594108e-8f, x);
  const uint32_t sign_cos = ((~(j - 2)) & 4u) << 29;
  sign_sin ^= swap_sign_sin;
  const float z = x * x;
  float yc = 2.443315711809948E-005f;
  yc = std::fma(yc, z, -1.388731625493765E-003f);
  yc = std::fma(yc, z, 4.166664568298827E-002f);
  yc = yc * z;
  yc = std::fma(yc, z, -(z * 0.5f));
  yc = yc + 1.0f;
  float ys = -1.9515295891E-4f;
  ys = std::fma(ys, z, 8.3321608736E-3f);
  ys = std::fma(ys, z, -1.6666654611E-1f);
  ys = ys * z;
  ys = std::fma(ys, x, x);
  const float sin_v = poly_is_sin ? ys : yc, cos_v = poly_is_sin ? yc : ys;
  *s = from_bits(bits(sin_v) ^ sign_sin);
  *c = from_bits(bits(cos_v) ^ sign_cos);
}

}  // namespace

void torch_box_muller16_default(float* d) {
  for (int j = 0; j < 8; ++j) {
    const float u1 = 1.0f - d[j];
    const float u2 = d[j + 8];
    const float radius = std::sqrt(-2.0f * std::log(u1));
    const float theta = float(2.0 * kPi * double(u2));  // 2.0f * c10::pi<double> * u2, stored as float
    d[j] = radius * std::cos(theta);
    d[j + 8] = radius * std::sin(theta);
  }
}

void torch_box_muller16_avx2(float* d) {
  const float two_pi = float(2.0 * kPi);
  for (int j = 0; j < 8; ++j) {
    const float u1 = 1.0f - d[j];
    const float u2 = d[j + 8];
    const float radius = std::sqrt(-2.0f * cephes_logf(u1));
    const float theta = two_pi * u2;
    float s, c;
    cephes_sincosf(theta, &s, &c);
    d[j] = radius * c;
    d[j + 8] = radius * s;
  }
}

TorchCpuGenerator::TorchCpuGenerator(uint64_t seed, Kernel kernel) : kernel_(kernel) { manual_seed(seed); }

void TorchCpuGenerator::manual_seed(uint64_t seed) {
  engine_.seed(uint32_t(seed & 0xFFFFFFFFu));
  has_cached_normal_ = false;
  cached_normal_ = 0.0;
}

uint64_t TorchCpuGenerator::random64() {
  const uint64_t hi = random(), lo = random();
  return (hi << 32) | lo;
}

double TorchCpuGenerator::normal_double() {
  if (has_cached_normal_) {
    has_cached_normal_ = false;
    return cached_normal_;
  }
  const double scale = 1.0 / 9007199254740992.0;  // 2^-53
  const double u1 = double(random64() & ((uint64_t(1) << 53) - 1)) * scale;
  const double u2 = double(random64() & ((uint64_t(1) << 53) - 1)) * scale;
  const double r = std::sqrt(-2.0 * std::log(1.0 - u2));
  const double theta = 2.0 * kPi * u1;
  cached_normal_ = r * std::sin(theta);
  has_cached_normal_ = true;
  return r * std::cos(theta);
}

void TorchCpuGenerator::randn(float* out, int64_t numel) {
  if (numel <= 0) return;
  if (numel < 16) {
    for (int64_t i = 0; i < numel; ++i) out[i] = float(normal_double());
    return;
  }
  auto transform = kernel_ == Kernel::Avx2 ? torch_box_muller16_avx2 : torch_box_muller16_default;
  for (int64_t i = 0; i < numel; ++i) out[i] = uniform_f32(engine_);
  for (int64_t i = 0; i + 16 <= numel; i += 16) transform(out + i);
  if (numel % 16 != 0) {  // redo the last 16 with fresh uniforms
    float* tail = out + numel - 16;
    for (int i = 0; i < 16; ++i) tail[i] = uniform_f32(engine_);
    transform(tail);
  }
}

}  // namespace sd::sample
