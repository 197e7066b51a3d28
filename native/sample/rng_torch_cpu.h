// torch's CPU generator: `torch.manual_seed(s); torch.randn(shape)` reproduced without torch.
//
// Engine: mt19937 seeded with the LOW 32 BITS of the seed (2^32 ≡ 0). randn of float32:
//   numel >= 16: numel uniforms u = (r & 0xFFFFFF)·2^-24, Box–Muller per 16-block (j < 8:
//     u1 = 1 − d[j], u2 = d[j+8] → d[j] = ρ cos θ, d[j+8] = ρ sin θ, ρ = √(−2 ln u1), θ = 2π u2);
//     if numel % 16 != 0, 16 more uniforms overwrite the last 16 values and that block is redone.
//   numel < 16: per value normal_distribution<double> (two 53-bit uniforms, cos returned, the sin
//     cached in the generator for the next scalar draw; manual_seed clears the cache).
// The 16-block transcendental differs between torch kernels: `Kernel::Default` (libm logf/cosf/sinf,
// ATEN_CPU_CAPABILITY=default/avx512/non-x86) and `Kernel::Avx2` (avx_mathfun's Cephes polynomials, the
// usual x86 build). They differ by up to ~2e-6; pick the one whose bits you need.
//
//   sd::sample::TorchCpuGenerator g(42);
//   std::vector<float> noise(4 * 64 * 64);
//   g.randn(noise.data(), int64_t(noise.size()));   // == torch.randn(1, 4, 64, 64) after manual_seed(42)
#pragma once
#include <cstdint>
#include <random>

namespace sd::sample {

class TorchCpuGenerator {
 public:
  enum class Kernel { Default, Avx2 };
  explicit TorchCpuGenerator(uint64_t seed = 67280421310721ull, Kernel kernel = Kernel::Default);
  void manual_seed(uint64_t seed);
  Kernel kernel() const { return kernel_; }

  void randn(float* out, int64_t numel);  // one torch.randn call
  double normal_double();                 // at::normal_distribution<double>(0, 1), with the cache
  uint32_t random() { return uint32_t(engine_()); }
  uint64_t random64();                    // (first draw << 32) | second draw

 private:
  std::mt19937 engine_;
  Kernel kernel_;
  bool has_cached_normal_ = false;
  double cached_normal_ = 0.0;
};

// The two scalar kernels of the 16-block transform, exposed for tests: (u1 = 1 − uniform, u2) →
// (ρ cos θ, ρ sin θ) in f32.
void torch_box_muller16_default(float* data16);
void torch_box_muller16_avx2(float* data16);

}  // namespace sd::sample
