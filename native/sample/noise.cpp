#include "fp_exact.h"  // first: no FMA contraction in this file
#include "noise.h"

#include "../core/error.h"

namespace sd::sample {

RngKind rng_kind_from_name(const std::string& name) {
  if (name == "cpu") return RngKind::Cpu;
  if (name == "cuda" || name == "gpu" || name == "nv" || name == "philox") return RngKind::Philox;
  throw Error("unknown rng \"" + name + "\"; known: cpu, cuda (= nv, gpu, philox)");
}

std::vector<uint64_t> consecutive_seeds(uint64_t seed, int count) {
  std::vector<uint64_t> out;
  for (int i = 0; i < count; ++i) out.push_back(seed + uint64_t(i));
  return out;
}

ImageNoise::ImageNoise(RngKind kind, const std::vector<uint64_t>& seeds, int64_t per_image,
                       TorchCpuGenerator::Kernel cpu_kernel)
    : kind_(kind), cpu_kernel_(cpu_kernel), per_image_(per_image) {
  if (seeds.empty()) throw Error("ImageNoise needs at least one seed");
  if (per_image <= 0) throw Error("ImageNoise: per-image size must be positive");
  reseed(seeds);
}

void ImageNoise::reseed(const std::vector<uint64_t>& seeds) {
  if (!seeds_.empty() && seeds.size() != seeds_.size())
    throw Error("ImageNoise::reseed: " + std::to_string(seeds.size()) + " seeds for " +
                std::to_string(seeds_.size()) + " images");
  seeds_ = seeds;
  cpu_.clear();
  philox_.clear();
  for (uint64_t s : seeds_) {
    if (kind_ == RngKind::Cpu) cpu_.emplace_back(s, cpu_kernel_);
    else philox_.emplace_back(s);
  }
}

void ImageNoise::next(float* out) {
  for (size_t b = 0; b < seeds_.size(); ++b) {
    float* dst = out + int64_t(b) * per_image_;
    if (kind_ == RngKind::Cpu) cpu_[b].randn(dst, per_image_);
    else philox_[b].randn(dst, per_image_);
  }
  ++calls_;
}

}  // namespace sd::sample
