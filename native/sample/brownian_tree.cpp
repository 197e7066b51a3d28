#include "fp_exact.h"  // first: no FMA contraction in this file
#include "brownian_tree.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <thread>
#include <utility>

#include "../core/error.h"
#include "rng_philox.h"
#include "seed_sequence.h"

namespace sd::sample {

namespace {

constexpr int kPoolSize = 24;  // torchsde.BrownianTree's pool_size
// Node increments kept (torchsde keeps 45): a query's new path and the previous query's, with their
// siblings, fit in 100, so each new point costs one randn per level (~17 on SD's sigma range, against
// ~38 with 45). 100 latents of memory per image: 6.5 MB at 512², 26 MB at 1024².
constexpr size_t kCacheSize = 100;

// Python's round(x, 6) (torchsde's tol = 1e-6): the correctly rounded decimal, read back. printf and
// strtod are exact in glibc and the other C libraries we build with, as CPython's dtoa is.
double round6(double x) {
  char buf[512];
  std::snprintf(buf, sizeof buf, "%.6f", x);
  return std::strtod(buf, nullptr);
}

}  // namespace

BrownianTree::BrownianTree(double t0, double t1, uint64_t entropy, int64_t size, RngKind kind,
                           TorchCpuGenerator::Kernel cpu_kernel)
    : size_(size), entropy_(entropy), kind_(kind), cpu_kernel_(cpu_kernel) {
  if (size <= 0) throw Error("BrownianTree: size must be positive");
  if (!(t0 <= t1)) throw Error("BrownianTree: t0 " + std::to_string(t0) + " must not exceed t1 " + std::to_string(t1));
  nodes_.push_back(Node{round6(t0), round6(t1)});
  root_w_.resize(size_t(size));
  noise_.resize(size_t(size));
  const std::vector<uint32_t> seeds = SeedSequence(int_words(entropy), {}, kPoolSize).generate_state(3);
  randn(seeds[0], root_w_.data());  // seeds[1] is H's (space-time Lévy area), unused without it
  const float scale = float(std::sqrt(t1 - t0));  // torchsde uses the unrounded ends here
  for (float& v : root_w_) v = v * scale;
}

void BrownianTree::randn(uint32_t seed, float* out) {
  if (kind_ == RngKind::Cpu) TorchCpuGenerator(seed, cpu_kernel_).randn(out, size_);
  else PhiloxGenerator(seed).randn(out, size_);
}

void BrownianTree::split(int id) {
  Node& n = nodes_[size_t(id)];
  if (n.left >= 0) return;
  if (n.parent >= 0) {
    const Node& p = nodes_[size_t(n.parent)];
    n.spawn_key = 2 * p.spawn_key + (n.is_left ? 0 : 1);
    n.depth = p.depth + 1;
  }
  if (n.depth >= 63) throw Error("BrownianTree: interval bisected past depth 62");
  n.mid = round6(0.5 * (n.end + n.start));
  n.w_seed = SeedSequence(int_words(entropy_), {n.spawn_key, uint64_t(n.depth)}, kPoolSize).generate_state(1)[0];
  Node left{n.start, n.mid}, right{n.mid, n.end};
  left.parent = right.parent = id;
  left.is_left = true;
  const int l = int(nodes_.size());
  n.left = l, n.right = l + 1;  // n is not used after the push_backs (they may move it)
  nodes_.push_back(left);
  nodes_.push_back(right);
}

// torchsde's _loc: the nodes that tile [ta, tb], left to right, splitting at rounded midpoints.
void BrownianTree::tile(int id, double ta, double tb, std::vector<int>& out) {
  if (ta == nodes_[size_t(id)].start && tb == nodes_[size_t(id)].end) {
    out.push_back(id);
    return;
  }
  split(id);
  const Node& n = nodes_[size_t(id)];
  const int l = n.left, r = n.right;
  const double mid = n.mid;
  if (tb <= mid) return tile(l, ta, tb, out);
  if (ta >= mid) return tile(r, ta, tb, out);
  tile(l, ta, mid, out);
  tile(r, mid, tb, out);
}

const float* BrownianTree::increment_of(int id) {
  if (id == 0) return root_w_.data();
  auto hit = cache_.find(id);
  if (hit != cache_.end()) {
    lru_.splice(lru_.begin(), lru_, hit->second.second);
    return hit->second.first.data();
  }
  // Both children come from the parent's one draw: make and keep both (the sibling is often next).
  const int pid = nodes_[size_t(id)].parent;
  const float* w = increment_of(pid);  // most recent now, so not evicted below
  const Node& p = nodes_[size_t(pid)];
  const double h_reciprocal = 1.0 / (p.end - p.start);
  const double left_diff = p.mid - p.start, right_diff = p.end - p.mid;
  const float a = float(left_diff), b = float(h_reciprocal);
  const float sd = float(std::sqrt(left_diff * right_diff * h_reciprocal));
  auto pre = drawn_.find(pid);
  const float* noise = pre != drawn_.end() ? pre->second.data() : (randn(p.w_seed, noise_.data()), noise_.data());
  std::vector<float> left(static_cast<size_t>(size_)), right(static_cast<size_t>(size_));
  for (size_t k = 0; k < left.size(); ++k) {
    left[k] = w[k] * a * b + noise[k] * sd;
    right[k] = w[k] - left[k];
  }
  const int l = p.left, r = p.right;
  remember(id == l ? r : l, std::move(id == l ? right : left));
  return remember(id, std::move(id == l ? left : right));
}

const float* BrownianTree::remember(int id, std::vector<float>&& w) {
  auto hit = cache_.find(id);
  if (hit != cache_.end()) {
    lru_.splice(lru_.begin(), lru_, hit->second.second);
    return hit->second.first.data();
  }
  if (cache_.size() >= kCacheSize) {
    cache_.erase(lru_.back());
    lru_.pop_back();
  }
  lru_.push_front(id);
  return cache_.emplace(id, std::make_pair(std::move(w), lru_.begin())).first->second.first.data();
}

void BrownianTree::increment(double ta, double tb, float* out) {
  const double t0 = nodes_[0].start, t1 = nodes_[0].end;
  ta = std::fmin(std::fmax(ta, t0), t1);
  tb = std::fmin(std::fmax(tb, t0), t1);
  if (ta > tb) throw Error("BrownianTree: query ta " + std::to_string(ta) + " > tb " + std::to_string(tb));
  ta = round6(ta), tb = round6(tb);
  if (ta == tb) {  // torchsde: zeros (or, within one rounding step, a zero-width node's zero increment)
    std::fill(out, out + size_, 0.0f);
    return;
  }
  std::vector<int> ids;
  tile(0, ta, tb, ids);
  draw_ahead(ids);
  const float* w = increment_of(ids[0]);
  std::copy(w, w + size_, out);
  for (size_t i = 1; i < ids.size(); ++i) {
    const float* wi = increment_of(ids[i]);
    for (int64_t k = 0; k < size_; ++k) out[k] = out[k] + wi[k];
  }
  drawn_.clear();
}

// The randn of every split node whose children the query will compute, on several threads: they
// depend on seeds only, and they are nearly all of a query's time (one per tree level of a new point).
void BrownianTree::draw_ahead(const std::vector<int>& ids) {
  std::vector<int> parents;
  for (int id : ids)
    for (int x = id; x != 0 && cache_.count(x) == 0; x = nodes_[size_t(x)].parent)
      if (std::find(parents.begin(), parents.end(), nodes_[size_t(x)].parent) == parents.end())
        parents.push_back(nodes_[size_t(x)].parent);
  std::vector<uint32_t> seeds;
  for (int p : parents) seeds.push_back(nodes_[size_t(p)].w_seed);
  std::vector<std::vector<float>> out(seeds.size(), std::vector<float>(static_cast<size_t>(size_)));
  const size_t threads = std::min<size_t>(seeds.size(), std::max(1u, std::min(8u, std::thread::hardware_concurrency())));
  auto work = [&](size_t j) {
    for (size_t k = j; k < seeds.size(); k += threads) randn(seeds[k], out[k].data());
  };
  std::vector<std::thread> pool;
  for (size_t j = 1; j < threads; ++j) pool.emplace_back(work, j);
  work(0);
  for (auto& t : pool) t.join();
  for (size_t k = 0; k < parents.size(); ++k) drawn_.emplace(parents[k], std::move(out[k]));
}

BrownianNoise::BrownianNoise(float sigma_min, float sigma_max, const std::vector<uint64_t>& seeds, int64_t per_image,
                             RngKind kind, TorchCpuGenerator::Kernel cpu_kernel)
    : sign_(sigma_min < sigma_max ? 1.0f : -1.0f), per_image_(per_image) {
  if (seeds.empty()) throw Error("BrownianNoise needs one seed per image");
  const float t0 = std::fmin(sigma_min, sigma_max), t1 = std::fmax(sigma_min, sigma_max);
  for (uint64_t s : seeds) trees_.emplace_back(double(t0), double(t1), s, per_image, kind, cpu_kernel);
}

void BrownianNoise::draw(float sigma, float sigma_next, float* out) {
  const float sign = sigma < sigma_next ? sign_ : -sign_;
  const float lo = std::fmin(sigma, sigma_next), hi = std::fmax(sigma, sigma_next);
  const float scale = std::sqrt(std::fabs(sigma_next - sigma));
  for (size_t b = 0; b < trees_.size(); ++b) {
    float* dst = out + int64_t(b) * per_image_;
    trees_[b].increment(double(lo), double(hi), dst);
    for (int64_t k = 0; k < per_image_; ++k) dst[k] = dst[k] * sign / scale;
  }
}

}  // namespace sd::sample
