#include "op_table.h"

#include <array>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>

#include "core/cpu/cpu_backend.h"
#include "core/graph.h"
#include "core/ops.h"
#include "harness.h"
#include "op_reference.h"

namespace optable {
using namespace sd;

namespace {

constexpr uint8_t kCanary = 0xA5;
constexpr size_t kGuard = 256;

// Wraps a backend so its arena has guard zones on both sides, canary-filled at alloc().
class Guarded : public Backend {
 public:
  Guarded(Backend& inner, const RawAccess& raw) : inner_(inner), raw_(raw) {}
  std::string name() const override { return inner_.name(); }
  void* alloc(size_t bytes) override {
    auto* raw = static_cast<uint8_t*>(inner_.alloc(bytes + 2 * kGuard));
    raw_.fill(raw, kCanary, bytes + 2 * kGuard);
    base_ = raw;
    size_ = bytes;
    return raw + kGuard;
  }
  void free(void* p) override { inner_.free(static_cast<uint8_t*>(p) - kGuard); }
  void compute(Tensor* node) override { inner_.compute(node); }
  void upload(Tensor* t, const void* host, size_t bytes) override { inner_.upload(t, host, bytes); }
  void download(const Tensor* t, void* host, size_t bytes) override { inner_.download(t, host, bytes); }

  std::vector<uint8_t> arena_bytes() const {  // guards included
    std::vector<uint8_t> v(base_ ? size_ + 2 * kGuard : 0);
    if (base_) raw_.read(v.data(), base_, v.size());
    return v;
  }
  // Offset of p in the arena, or SIZE_MAX when p is elsewhere (a host weight).
  size_t offset(const void* p) const {
    const auto a = reinterpret_cast<uintptr_t>(p), b = reinterpret_cast<uintptr_t>(base_) + kGuard;
    return base_ && a >= b && a < b + size_ ? size_t(a - b) : SIZE_MAX;
  }
  size_t size() const { return size_; }

 private:
  Backend& inner_;
  const RawAccess& raw_;
  uint8_t* base_ = nullptr;
  size_t size_ = 0;
};

}  // namespace

Tensor* Builder::make(const std::vector<int64_t>& shape, DType dt, bool weight) {
  Tensor* t = ctx.new_tensor(dt, int(shape.size()), shape.data(), (weight ? "w" : "in") + std::to_string(inputs.size()));
  std::mt19937 rng(1234 + uint32_t(inputs.size()));
  std::uniform_real_distribution<float> u(-1.0f, 1.0f);
  std::vector<uint8_t> v(t->nbytes());
  for (int64_t i = 0; i < t->numel(); ++i) {
    const float f = u(rng);
    switch (dt) {
      case DType::F32: std::memcpy(&v[size_t(i) * 4], &f, 4); break;
      case DType::F16: { uint16_t h = f32_to_f16(f); std::memcpy(&v[size_t(i) * 2], &h, 2); break; }
      case DType::BF16: { uint16_t h = f32_to_bf16(f); std::memcpy(&v[size_t(i) * 2], &h, 2); break; }
      case DType::I32: { int32_t id = int32_t(rng() % 10); std::memcpy(&v[size_t(i) * 4], &id, 4); break; }
      case DType::I64: break;
    }
  }
  inputs.push_back({t, weight, v, weight ? v : std::vector<uint8_t>{}});
  if (weight) t->data = inputs.back().memory.data();  // the buffer stays put when the vector moves
  return t;
}

RawAccess host_access() {
  return {[](void* dst, int byte, size_t n) { std::memset(dst, byte, n); },
          [](void* host, const void* src, size_t n) { std::memcpy(host, src, n); }};
}

std::vector<float> run(const Case& c, Backend& backend, const RawAccess& raw, const std::string& tag) {
  auto fail = [&](const std::string& why) { CHECK_MSG(false, tag + ": " + why); };
  Context ctx;
  std::vector<Input> inputs;
  Builder b{ctx, inputs};
  Tensor* out = c.build(b);
  Guarded guarded(backend, raw);
  Graph g(guarded, {out});
  g.plan();
  for (Input& in : inputs)
    if (!in.weight) guarded.upload(in.t, in.values.data(), in.values.size());
  g.compute();
  std::vector<float> got(size_t(out->numel()));
  guarded.download(out, got.data(), got.size() * sizeof(float));

  // Guards intact, nothing written between planned tensors, inputs untouched.
  const std::vector<uint8_t> arena = guarded.arena_bytes();
  const size_t size = guarded.size();
  if (!arena.empty())
    for (size_t i = 0; i < kGuard; ++i)
      if (arena[i] != kCanary || arena[kGuard + size + i] != kCanary) { fail("wrote outside the arena"); break; }
  std::vector<bool> owned(size, false);
  for (Tensor* t : g.nodes()) {
    const size_t off = t->is_view() ? SIZE_MAX : guarded.offset(t->data);
    if (off == SIZE_MAX) continue;
    for (size_t i = 0; i < t->nbytes() && off + i < owned.size(); ++i) owned[off + i] = true;
  }
  for (size_t i = 0; i < size; ++i)
    if (!owned[i] && arena[kGuard + i] != kCanary) { fail("wrote between tensors at arena byte " + std::to_string(i)); break; }
  for (Input& in : inputs) {
    std::vector<uint8_t> now = in.memory;
    if (!in.weight) {
      now.resize(in.values.size());
      guarded.download(in.t, now.data(), now.size());
    }
    if (now != in.values) fail("input " + in.t->name + " was modified");
  }
  return got;
}

std::vector<double> reference(const Case& c, bool bf16) {
  Context ctx;
  std::vector<Input> inputs;
  Builder b{ctx, inputs};
  Tensor* out = c.build(b);
  for (Input& in : inputs)
    if (!in.weight) {
      in.memory = in.values;
      in.t->data = in.memory.data();
    }
  cpu::CpuBackend unused;  // a Graph only for its node order: nothing is planned or computed
  Graph g(unused, {out});
  reference::Interpreter ref({bf16});
  ref.run(g.nodes());
  return ref.logical(out);
}

void compare(const std::vector<float>& got, const std::vector<double>& want, double tol, const std::string& tag) {
  bool finite = true;
  double num = 0, den = 0, max_abs = 0;
  for (size_t i = 0; i < got.size(); ++i) {
    if (!std::isfinite(got[i])) finite = false;
    const double d = double(got[i]) - want[i];
    num += d * d;
    den += want[i] * want[i];
    max_abs = std::max(max_abs, std::fabs(d));
  }
  const double err = den > 0 ? std::sqrt(num / den) : std::sqrt(num);
  CHECK_MSG(finite, tag + ": NaN or inf in output");
  CHECK_MSG(err <= tol, tag + ": normalised error " + std::to_string(err) + " > " + std::to_string(tol) + " (max abs " + std::to_string(max_abs) + ")");
  if (std::getenv("SD_NATIVE_TEST_VERBOSE")) std::printf("%-72s err %.2e\n", tag.c_str(), err);
}

const std::vector<Case>& cases() {
  static const std::vector<Case> table = [] {
    std::vector<Case> v;
    auto op = [&](std::string name, BuildFn f, double tol = 1e-6) { v.push_back({std::move(name), std::move(f), tol, tol, false}); };
    auto prod = [&](std::string name, BuildFn f, double tol = 2e-6, double tol_bf16 = 1e-5) {
      v.push_back({std::move(name), std::move(f), tol, tol_bf16, true});
    };
    const auto str = [](int64_t i) { return std::to_string(i); };
    // elementwise, broadcasting, strided views, weight operands
    for (auto sh : std::vector<std::vector<int64_t>>{{1}, {7}, {3, 17}, {2, 5, 33}, {2, 3, 9, 31}}) {
      const std::string s = str(int64_t(sh.size())) + "d/" + str(sh.back());
      op("add " + s, [sh](Builder& b) { return add(b.ctx, b.in(sh), b.in(sh)); });
      op("mul " + s, [sh](Builder& b) { return mul(b.ctx, b.in(sh), b.in(sh)); });
    }
    op("add broadcast [2,5,7,9]+[5,1,1]", [](Builder& b) { return add(b.ctx, b.in({2, 5, 7, 9}), b.in({5, 1, 1})); });
    op("add broadcast [2,5,7,9]+[2,5,1,1] (time emb)", [](Builder& b) { return add(b.ctx, b.in({2, 5, 7, 9}), b.in({2, 5, 1, 1})); });
    op("add broadcast [3,77,64]+[77,64] f16 weight", [](Builder& b) { return add(b.ctx, b.in({3, 77, 64}), b.w({77, 64}, DType::F16)); });
    op("mul broadcast [4,1,33]*[1,6,1]", [](Builder& b) { return mul(b.ctx, b.in({4, 1, 33}), b.in({1, 6, 1})); });
    op("mul bf16 weight broadcast", [](Builder& b) { return mul(b.ctx, b.in({2, 8, 5}), b.w({8, 1}, DType::BF16)); });
    op("add permuted view", [](Builder& b) { return add(b.ctx, permute(b.ctx, b.in({3, 4, 5}), {2, 0, 1}), b.in({5, 3, 4})); });
    op("scale", [](Builder& b) { return scale(b.ctx, b.in({3, 1001}), 0.18215f, 0.5f); });
    for (int64_t n : {1, 15, 16, 17, 1000, 70001}) {
      op("silu " + str(n), [n](Builder& b) { return silu(b.ctx, b.in({n})); });
      op("gelu " + str(n), [n](Builder& b) { return gelu(b.ctx, scale(b.ctx, b.in({n}), 4.0f)); });
      op("gelu_tanh " + str(n), [n](Builder& b) { return gelu_tanh(b.ctx, scale(b.ctx, b.in({n}), 4.0f)); });
      op("quick_gelu " + str(n), [n](Builder& b) { return quick_gelu(b.ctx, scale(b.ctx, b.in({n}), 4.0f)); });
    }
    for (int64_t n : {1, 17, 70001}) {
      op("relu " + str(n), [n](Builder& b) { return relu(b.ctx, b.in({n})); });
      op("tanh_clamp 3 " + str(n), [n](Builder& b) { return tanh_clamp(b.ctx, scale(b.ctx, b.in({n}), 8.0f), 3.0f); });
    }
    op("relu of permuted view", [](Builder& b) { return relu(b.ctx, permute(b.ctx, b.in({3, 5, 7}), {2, 1, 0})); });
    op("silu large magnitudes", [](Builder& b) { return silu(b.ctx, scale(b.ctx, b.in({4099}), 100.0f)); });
    op("silu of permuted view", [](Builder& b) { return silu(b.ctx, permute(b.ctx, b.in({3, 5, 7}), {2, 1, 0})); });
    op("geglu [2,33,2*19]", [](Builder& b) { return geglu(b.ctx, scale(b.ctx, b.in({2, 33, 38}), 3.0f)); });
    // movement
    op("contiguous of permute [2,3,5,7]->(0,2,3,1)", [](Builder& b) { return contiguous(b.ctx, permute(b.ctx, b.in({2, 3, 5, 7}), {0, 2, 3, 1})); });
    op("contiguous of slice", [](Builder& b) { return contiguous(b.ctx, slice(b.ctx, b.in({2, 9, 12}), 2, 4, 8)); });
    op("reshape then add", [](Builder& b) { return add(b.ctx, reshape(b.ctx, b.in({6, 10}), {3, 2, 10}), b.in({10})); });
    op("concat axis 1 [2,3,4,5]+[2,6,4,5]", [](Builder& b) { return concat(b.ctx, b.in({2, 3, 4, 5}), b.in({2, 6, 4, 5}), 1); });
    op("concat axis -1 [3,7]+[3,2]", [](Builder& b) { return concat(b.ctx, b.in({3, 7}), b.in({3, 2}), -1); });
    op("concat permuted", [](Builder& b) { return concat(b.ctx, permute(b.ctx, b.in({4, 3}), {1, 0}), b.in({3, 5}), 1); });
    op("upsample2x [2,3,5,7]", [](Builder& b) { return upsample_nearest2x(b.ctx, b.in({2, 3, 5, 7})); });
    op("upsample2x of permute", [](Builder& b) { return upsample_nearest2x(b.ctx, permute(b.ctx, b.in({2, 5, 7, 3}), {0, 3, 1, 2})); });
    for (DType dt : {DType::F32, DType::F16, DType::BF16})
      op(std::string("get_rows ") + dtype_name(dt), [dt](Builder& b) { return get_rows(b.ctx, b.w({10, 13}, dt), b.in({7}, DType::I32)); });
    // Evaluated in f32 like the reference implementations (t·f rounds in f32 at t ~ 1000), so
    // the gap to the double reference is ~5e-6 by design.
    op("timestep_embedding [3]x320", [](Builder& b) { return timestep_embedding(b.ctx, scale(b.ctx, b.in({3}), 500.0f, 500.0f), 320); }, 2e-5);
    // normalisation
    for (int64_t n : {1, 7, 64, 77, 768, 4096}) {
      op("softmax " + str(n), [n](Builder& b) { return softmax(b.ctx, b.in({3, n}), 5.0f); }, 2e-6);
      op("layer_norm " + str(n), [n](Builder& b) { return layer_norm(b.ctx, b.in({3, n}), 1e-5f, b.w({n}), b.w({n})); }, 2e-6);
    }
    op("layer_norm bias only", [](Builder& b) { return layer_norm(b.ctx, b.in({4, 33}), 1e-5f, nullptr, b.w({33})); }, 2e-6);
    op("layer_norm f16 weights", [](Builder& b) { return layer_norm(b.ctx, b.in({2, 5, 96}), 1e-5f, b.w({96}, DType::F16), b.w({96}, DType::F16)); }, 2e-6);
    op("group_norm 32 groups [2,64,9,7]", [](Builder& b) { return group_norm(b.ctx, b.in({2, 64, 9, 7}), 32, 1e-6f, b.w({64}), b.w({64})); }, 2e-6);
    op("group_norm+silu [1,96,16,16]", [](Builder& b) { return group_norm(b.ctx, b.in({1, 96, 16, 16}), 32, 1e-5f, b.w({96}), b.w({96}), true); }, 2e-6);
    op("group_norm+silu f16 weights", [](Builder& b) { return group_norm(b.ctx, b.in({1, 96, 16, 16}), 32, 1e-5f, b.w({96}, DType::F16), b.w({96}, DType::F16), true); }, 2e-6);
    op("group_norm no affine [2,6,5]", [](Builder& b) { return group_norm(b.ctx, b.in({2, 6, 5}), 3, 1e-5f, nullptr, nullptr); }, 2e-6);
    op("group_norm offset data", [](Builder& b) { return group_norm(b.ctx, scale(b.ctx, b.in({1, 32, 33, 33}), 1.0f, 30.0f), 32, 1e-6f, nullptr, nullptr); }, 1e-5);
    op("group_norm split groups (4 ch x 96x96)", [](Builder& b) { return group_norm(b.ctx, b.in({1, 8, 96, 96}), 2, 1e-6f, b.w({8}), b.w({8}), true); }, 2e-6);
    // products, every weight dtype; shapes with several tiles and ragged edges
    for (DType dt : {DType::F32, DType::F16, DType::BF16}) {
      const std::string d = dtype_name(dt);
      for (auto mnk : std::vector<std::array<int64_t, 3>>{{1, 1, 1}, {3, 5, 7}, {17, 33, 65}, {64, 96, 129}, {100, 31, 320}, {257, 130, 40}, {300, 260, 200}}) {
        const int64_t m = mnk[0], n = mnk[1], k = mnk[2];
        prod("linear " + d + " m" + str(m) + " n" + str(n) + " k" + str(k), [=](Builder& b) { return linear(b.ctx, b.in({m, k}), b.w({n, k}, dt), b.w({n}, dt)); });
      }
      prod("linear " + d + " 3d + residual", [=](Builder& b) { return linear(b.ctx, b.in({2, 19, 48}), b.w({24, 48}, dt), b.w({24}), b.in({2, 19, 24})); });
      prod("linear " + d + " no bias, strided rows (slice)", [=](Builder& b) { return linear(b.ctx, slice(b.ctx, b.in({9, 50}), 1, 0, 40), b.w({8, 40}, dt), nullptr); });
      prod("linear " + d + " permuted input", [=](Builder& b) { return linear(b.ctx, permute(b.ctx, b.in({40, 9}), {1, 0}), b.w({8, 40}, dt), b.w({8}, dt)); });
      prod("matmul " + d + " [3,17,40]x[3,21,40]", [=](Builder& b) { return matmul(b.ctx, b.in({3, 17, 40}), b.w({3, 21, 40}, dt)); });
      prod("matmul " + d + " broadcast b", [=](Builder& b) { return matmul(b.ctx, b.in({2, 9, 33}), b.w({1, 5, 33}, dt)); });
      for (int ks : {1, 3})
        for (int st : {1, 2}) {
          if (ks == 1 && st == 2) continue;
          for (auto chwo : std::vector<std::array<int64_t, 4>>{{3, 5, 7, 5}, {17, 9, 13, 5}, {32, 16, 16, 48}, {64, 18, 18, 96}}) {
            const int64_t c = chwo[0], h = chwo[1], w = chwo[2], o = chwo[3];
            const int pad = ks / 2;
            prod("conv2d " + d + " k" + str(ks) + " s" + str(st) + " c" + str(c) + " " + str(h) + "x" + str(w),
                 [=](Builder& b) { return conv2d(b.ctx, b.in({2, c, h, w}), b.w({o, c, ks, ks}, dt), b.w({o}, dt), st, pad); });
          }
        }
      prod("conv2d " + d + " downsample pad (0,1,0,1)", [=](Builder& b) { return conv2d(b.ctx, b.in({1, 8, 10, 10}), b.w({8, 8, 3, 3}, dt), b.w({8}), 2, 0, 0, 1, 1); });
      prod("conv2d " + d + " + residual", [=](Builder& b) { return conv2d(b.ctx, b.in({2, 6, 8, 8}), b.w({6, 6, 3, 3}, dt), b.w({6}), 1, 1, b.in({2, 6, 8, 8})); });
      prod("conv2d " + d + " k5 (generic im2col)", [=](Builder& b) { return conv2d(b.ctx, b.in({1, 4, 11, 9}), b.w({7, 4, 5, 5}, dt), b.w({7}), 1, 2); });
      // Circular padding (A1111 tiling): the UNet's 3x3 convs, its stride-2 downsample (torch pads 1
      // on every side, then strides), odd sizes, asymmetric pads, a pad as wide as the image.
      const Padding circ = Padding::Circular;
      prod("conv2d " + d + " circular k3 s1", [=](Builder& b) { return conv2d(b.ctx, b.in({2, 5, 9, 7}), b.w({6, 5, 3, 3}, dt), b.w({6}, dt), 1, 1, nullptr, circ); });
      prod("conv2d " + d + " circular k3 s1 c32 16x16", [=](Builder& b) { return conv2d(b.ctx, b.in({2, 32, 16, 16}), b.w({48, 32, 3, 3}, dt), b.w({48}, dt), 1, 1, nullptr, circ); });
      prod("conv2d " + d + " circular k3 s2", [=](Builder& b) { return conv2d(b.ctx, b.in({2, 8, 10, 10}), b.w({8, 8, 3, 3}, dt), b.w({8}, dt), 2, 1, nullptr, circ); });
      prod("conv2d " + d + " circular k3 s2 odd 9x11", [=](Builder& b) { return conv2d(b.ctx, b.in({1, 4, 9, 11}), b.w({5, 4, 3, 3}, dt), b.w({5}, dt), 2, 1, nullptr, circ); });
      prod("conv2d " + d + " circular pad (0,1,0,1) s2", [=](Builder& b) { return conv2d(b.ctx, b.in({1, 8, 10, 10}), b.w({8, 8, 3, 3}, dt), b.w({8}), 2, 0, 0, 1, 1, nullptr, circ); });
      prod("conv2d " + d + " circular + residual", [=](Builder& b) { return conv2d(b.ctx, b.in({2, 6, 8, 8}), b.w({6, 6, 3, 3}, dt), b.w({6}), 1, 1, b.in({2, 6, 8, 8}), circ); });
      prod("conv2d " + d + " circular strided input (slice)", [=](Builder& b) { return conv2d(b.ctx, slice(b.ctx, b.in({2, 6, 8, 8}), 1, 1, 5), b.w({3, 4, 3, 3}, dt), nullptr, 1, 1, nullptr, circ); });
      prod("conv2d " + d + " circular k5 pad 2 on 2x3", [=](Builder& b) { return conv2d(b.ctx, b.in({1, 3, 2, 3}), b.w({4, 3, 5, 5}, dt), b.w({4}), 1, 2, nullptr, circ); });
      prod("conv2d " + d + " circular k1 (no pad)", [=](Builder& b) { return conv2d(b.ctx, b.in({1, 5, 6, 6}), b.w({4, 5, 1, 1}, dt), b.w({4}), 1, 0, nullptr, circ); });
      prod("conv2d " + d + " k2 s2 (generic im2col)", [=](Builder& b) { return conv2d(b.ctx, b.in({2, 4, 8, 8}), b.w({6, 4, 2, 2}, dt), nullptr, 2, 0); });
    }
    // attention: every padded head dim of the flash kernels, then a materialising fallback (d > 160);
    // strided q/k/v out of a packed projection
    for (auto sh : std::vector<std::array<int64_t, 5>>{{1, 1, 1, 1, 8}, {2, 17, 77, 2, 16}, {2, 64, 64, 2, 40}, {1, 300, 300, 1, 64},
                                                       {2, 129, 33, 4, 20}, {1, 130, 70, 2, 80}, {1, 70, 100, 1, 128}, {1, 100, 90, 2, 160},
                                                       {1, 40, 50, 3, 10}, {1, 70, 90, 1, 512}}) {
      const int64_t B = sh[0], TQ = sh[1], TK = sh[2], H = sh[3], D = sh[4];
      prod("attention B" + str(B) + " tq" + str(TQ) + " tk" + str(TK) + " h" + str(H) + " d" + str(D),
           [=](Builder& b) { return attention(b.ctx, b.in({B, TQ, H * D}), b.in({B, TK, H * D}), b.in({B, TK, H * D}), int(H), 1.0f / std::sqrt(float(D))); },
           5e-6, 1e-2);
    }
    prod("attention causal 77 tokens", [](Builder& b) { return attention(b.ctx, b.in({2, 77, 64}), b.in({2, 77, 64}), b.in({2, 77, 64}), 2, 0.176f, true); }, 5e-6, 1e-2);
    prod("attention causal, d 512", [](Builder& b) { return attention(b.ctx, b.in({1, 20, 512}), b.in({1, 20, 512}), b.in({1, 20, 512}), 1, 0.05f, true); }, 5e-6, 1e-2);
    prod("attention dv != d", [](Builder& b) { return attention(b.ctx, b.in({2, 33, 64}), b.in({2, 40, 64}), b.in({2, 40, 96}), 2, 0.2f); }, 5e-6, 1e-2);
    prod("attention on packed qkv slices", [](Builder& b) {
      Tensor* qkv = b.in({2, 50, 3 * 48});
      return attention(b.ctx, slice(b.ctx, qkv, 2, 0, 48), slice(b.ctx, qkv, 2, 48, 96), slice(b.ctx, qkv, 2, 96, 144), 3, 0.25f); }, 5e-6, 1e-2);
    return v;
  }();
  return table;
}

}  // namespace optable
