// The SDE samplers' noise as A1111 draws it: k-diffusion's BrownianTreeNoiseSampler over one
// torchsde.BrownianTree per image (torchsde 0.2.6: a BrownianInterval with halfway_tree, tol 1e-6,
// pool_size 24, no Lévy area). Seed-exact: the same seed gives the same noise as A1111.
//
// The tree bisects [t0, t1] at midpoints rounded to 6 decimals; each split node's noise is one
// torch.randn from a fresh generator seeded with SeedSequence(entropy, spawn_key=(key, depth)) —
// torch's CPU generator, or A1111's Philox imitation of CUDA's for a run on an NVIDIA GPU. A child's
// increment is the Brownian bridge of its parent's: W_left = W·l/h + √(l·r/h)·ξ, W_right = W − W_left.
// A query [ta, tb] is the sum of the dyadic nodes that tile it (the same for any query order).
//
//   sd::sample::BrownianNoise tree(sigma_min, sigma_max, seeds, 4 * 64 * 64, sd::sample::RngKind::Cpu);
//   params.interval_noise = &tree;   // each noise_sampler(σ, σ_next) call of the SDE samplers
#pragma once
#include <cstdint>
#include <list>
#include <unordered_map>
#include <vector>

#include "noise.h"
#include "rng_torch_cpu.h"
#include "sampler.h"

namespace sd::sample {

class BrownianTree {
 public:
  // torchsde.BrownianTree(t0, w0 = zeros(size), t1, entropy=entropy) with float32 samples.
  BrownianTree(double t0, double t1, uint64_t entropy, int64_t size, RngKind kind,
               TorchCpuGenerator::Kernel cpu_kernel = TorchCpuGenerator::Kernel::Avx2);
  // tree(ta, tb) = W(tb) − W(ta) into out (size floats). ta, tb are clamped to [t0, t1] as torchsde
  // does; ta > tb throws.
  void increment(double ta, double tb, float* out);
  int64_t size() const { return size_; }
  size_t nodes() const { return nodes_.size(); }

 private:
  struct Node {
    double start, end, mid = 0;
    int parent = -1, left = -1, right = -1;
    bool is_left = false;
    uint64_t spawn_key = 0;
    int depth = 0;
    uint32_t w_seed = 0;
  };
  void split(int id);
  void tile(int id, double ta, double tb, std::vector<int>& out);
  const float* increment_of(int id);  // cached, least recently used out first
  const float* remember(int id, std::vector<float>&& w);
  void draw_ahead(const std::vector<int>& ids);
  void randn(uint32_t seed, float* out);

  int64_t size_;
  uint64_t entropy_;
  RngKind kind_;
  TorchCpuGenerator::Kernel cpu_kernel_;
  std::vector<Node> nodes_;  // [0] = the root [t0, t1]
  std::vector<float> root_w_, noise_;
  std::unordered_map<int, std::vector<float>> drawn_;  // this query's split-node noises, by node
  std::list<int> lru_;  // most recent first
  std::unordered_map<int, std::pair<std::vector<float>, std::list<int>::iterator>> cache_;
};

// k-diffusion's BrownianTreeNoiseSampler(x, sigma_min, sigma_max, seed=[one per image]) over a batch
// laid out image after image: draw(σ, σ_next) = ±tree(min, max) / √|σ_next − σ| per image (sign: +
// when σ < σ_next), in float32 as k-diffusion computes it. A1111 takes sigma_min / sigma_max from
// the whole schedule (the positive sigmas' min, the max), even when img2img samples only its tail.
class BrownianNoise : public IntervalNoise {
 public:
  BrownianNoise(float sigma_min, float sigma_max, const std::vector<uint64_t>& seeds, int64_t per_image, RngKind kind,
                TorchCpuGenerator::Kernel cpu_kernel = TorchCpuGenerator::Kernel::Avx2);
  void draw(float sigma, float sigma_next, float* out) override;  // out: seeds × per_image floats
  int images() const { return int(trees_.size()); }

 private:
  float sign_;  // −1 when sigma_min ≥ sigma_max (k-diffusion sorts the ends)
  int64_t per_image_;
  std::vector<BrownianTree> trees_;
};

}  // namespace sd::sample
