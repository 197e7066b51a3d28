// The op table: every op, on every CPU path this machine supports, against the double-precision
// reference interpreter (op_reference.cpp). Each case is one line: name, builder, tolerance.
// The runner checks NaN/inf, the normalised error ||got-ref||/||ref||, that inputs are left
// untouched, and guard bytes around and between tensors (out-of-bounds writes).
#include <cmath>
#include <cstring>
#include <functional>
#include <random>
#include <vector>

#include "core/context.h"
#include "core/cpu/cpu_backend.h"
#include "core/graph.h"
#include "core/ops.h"
#include "harness.h"
#include "op_reference.h"

using namespace sd;

namespace {

constexpr uint8_t kCanary = 0xA5;
constexpr size_t kGuard = 256;

// Allocates with guard zones on both sides so writes past the arena are caught.
class GuardedCpu : public cpu::CpuBackend {
 public:
  using CpuBackend::CpuBackend;
  void* alloc(size_t bytes) override {
    auto* raw = static_cast<uint8_t*>(CpuBackend::alloc(bytes + 2 * kGuard));
    std::memset(raw, kCanary, bytes + 2 * kGuard);
    size_ = bytes;
    base_ = raw;
    return raw + kGuard;
  }
  void free(void* p) override { CpuBackend::free(static_cast<uint8_t*>(p) - kGuard); }
  bool guards_intact() const {
    for (size_t i = 0; i < kGuard; ++i)
      if (base_[i] != kCanary || base_[kGuard + size_ + i] != kCanary) return false;
    return true;
  }
  size_t size_ = 0;
  uint8_t* base_ = nullptr;
};

struct Builder {
  Context& ctx;
  std::mt19937& rng;
  std::vector<Tensor*> inputs;
  Tensor* in(std::initializer_list<int64_t> shape, DType dt = DType::F32) {
    Tensor* t = ctx.new_tensor(dt, shape, "in" + std::to_string(inputs.size()));
    inputs.push_back(t);
    return t;
  }
};

using BuildFn = std::function<Tensor*(Builder&)>;

struct Case {
  std::string name;
  BuildFn build;
  double tol_f32;
  double tol_bf16;  // products under bf16 precision (reference rounds operands the same way)
};

void fill(Tensor* t, std::mt19937& rng) {
  std::uniform_real_distribution<float> u(-1.0f, 1.0f);
  for (int64_t i = 0; i < t->numel(); ++i) {
    float v = u(rng);
    switch (t->dtype) {
      case DType::F32: t->ptr<float>()[i] = v; break;
      case DType::F16: t->ptr<uint16_t>()[i] = f32_to_f16(v); break;
      case DType::BF16: t->ptr<uint16_t>()[i] = f32_to_bf16(v); break;
      case DType::I32: t->ptr<int32_t>()[i] = int32_t(std::uniform_int_distribution<int>(0, 9)(rng)); break;
      case DType::I64: t->ptr<int64_t>()[i] = 0; break;
    }
  }
}

bool run_case(const Case& c, cpu::Isa isa, cpu::GemmPrecision prec) {
  std::mt19937 rng(1234);
  Context ctx;
  Builder b{ctx, rng, {}};
  Tensor* out = c.build(b);
  cpu::CpuOptions opt;
  opt.isa = isa;
  opt.precision = prec;
  opt.threads = 2;
  GuardedCpu backend(opt);
  Graph g(backend, {out});
  g.plan();
  // Canary-fill the arena, then write inputs: bytes outside every tensor must stay canary.
  std::memset(backend.base_ + kGuard, kCanary, backend.size_);
  for (Tensor* t : b.inputs) fill(t, rng);
  std::vector<std::vector<uint8_t>> saved;
  for (Tensor* t : b.inputs) saved.emplace_back(static_cast<uint8_t*>(t->data), static_cast<uint8_t*>(t->data) + t->nbytes());
  g.compute();

  reference::Interpreter ref({prec == cpu::GemmPrecision::Bf16});
  ref.run(g.nodes());
  std::vector<double> want = ref.logical(out);
  const float* got = out->ptr<float>();
  double num = 0, den = 0, max_abs = 0;
  bool finite = true;
  for (int64_t i = 0; i < out->numel(); ++i) {
    if (!std::isfinite(got[i])) finite = false;
    double d = double(got[i]) - want[size_t(i)];
    num += d * d;
    den += want[size_t(i)] * want[size_t(i)];
    max_abs = std::max(max_abs, std::fabs(d));
  }
  double err = den > 0 ? std::sqrt(num / den) : std::sqrt(num);
  double tol = prec == cpu::GemmPrecision::Bf16 ? c.tol_bf16 : c.tol_f32;
  std::string tag = c.name + " [" + cpu::isa_name(isa) + (prec == cpu::GemmPrecision::Bf16 ? "/bf16" : "/f32") + "]";
  bool ok = true;
  auto fail = [&](const std::string& why) { CHECK_MSG(false, tag + ": " + why); ok = false; };
  if (!finite) fail("NaN or inf in output");
  if (!(err <= tol)) fail("normalised error " + std::to_string(err) + " > " + std::to_string(tol) + " (max abs " + std::to_string(max_abs) + ")");
  for (size_t i = 0; i < b.inputs.size(); ++i)
    if (std::memcmp(saved[i].data(), b.inputs[i]->data, saved[i].size()) != 0) fail("input " + std::to_string(i) + " was modified");
  if (!backend.guards_intact()) fail("wrote outside the arena");
  // Every byte the planner gave no tensor must still be canary.
  std::vector<bool> owned(backend.size_, false);
  for (Tensor* t : g.nodes()) {
    if (t->is_view()) continue;
    size_t off = size_t(static_cast<uint8_t*>(t->data) - (backend.base_ + kGuard));
    for (size_t i = 0; i < t->nbytes() && off + i < owned.size(); ++i) owned[off + i] = true;
  }
  for (size_t i = 0; i < backend.size_; ++i)
    if (!owned[i] && backend.base_[kGuard + i] != kCanary) { fail("wrote between tensors at arena byte " + std::to_string(i)); break; }
  ++harness::checks();
  if (getenv("SD_TEST_VERBOSE")) std::printf("%-70s err %.2e\n", tag.c_str(), err);
  return ok;
}

std::vector<Case> cases() {
  std::vector<Case> v;
  auto push = [&](std::string name, BuildFn f, double tol = 1e-6, double tol_bf16 = -1) {
    v.push_back({std::move(name), std::move(f), tol, tol_bf16 < 0 ? tol : tol_bf16});
  };
  // elementwise with broadcasting
  for (auto sh : std::vector<std::vector<int64_t>>{{1}, {7}, {3, 17}, {2, 5, 33}, {2, 3, 9, 31}}) {
    std::string s = std::to_string(sh.size()) + "d/" + std::to_string(sh.back());
    push("add " + s, [sh](Builder& b) {
      Tensor* a = b.ctx.new_tensor(DType::F32, int(sh.size()), sh.data(), "a"); b.inputs.push_back(a);
      Tensor* c = b.ctx.new_tensor(DType::F32, int(sh.size()), sh.data(), "b"); b.inputs.push_back(c);
      return add(b.ctx, a, c); });
    push("mul " + s, [sh](Builder& b) {
      Tensor* a = b.ctx.new_tensor(DType::F32, int(sh.size()), sh.data(), "a"); b.inputs.push_back(a);
      Tensor* c = b.ctx.new_tensor(DType::F32, int(sh.size()), sh.data(), "b"); b.inputs.push_back(c);
      return mul(b.ctx, a, c); });
  }
  push("add broadcast [2,5,7,9]+[5,1,1]", [](Builder& b) { return add(b.ctx, b.in({2, 5, 7, 9}), b.in({5, 1, 1})); });
  push("add broadcast [2,5,7,9]+[2,5,1,1] (time emb)", [](Builder& b) { return add(b.ctx, b.in({2, 5, 7, 9}), b.in({2, 5, 1, 1})); });
  push("add broadcast [3,77,64]+[77,64] f16", [](Builder& b) { return add(b.ctx, b.in({3, 77, 64}), b.in({77, 64}, DType::F16)); });
  push("mul broadcast [4,1,33]*[1,6,1]", [](Builder& b) { return mul(b.ctx, b.in({4, 1, 33}), b.in({1, 6, 1})); });
  push("add permuted view", [](Builder& b) { Tensor* x = b.in({3, 4, 5}); return add(b.ctx, permute(b.ctx, x, {2, 0, 1}), b.in({5, 3, 4})); });
  push("scale", [](Builder& b) { return scale(b.ctx, b.in({3, 1001}), 0.18215f, 0.5f); });
  for (int64_t n : {1, 15, 16, 17, 1000, 70001}) {
    push("silu " + std::to_string(n), [n](Builder& b) { return silu(b.ctx, b.in({n})); });
    push("gelu " + std::to_string(n), [n](Builder& b) { return gelu(b.ctx, scale(b.ctx, b.in({n}), 4.0f)); });
    push("gelu_tanh " + std::to_string(n), [n](Builder& b) { return gelu_tanh(b.ctx, scale(b.ctx, b.in({n}), 4.0f)); });
    push("quick_gelu " + std::to_string(n), [n](Builder& b) { return quick_gelu(b.ctx, scale(b.ctx, b.in({n}), 4.0f)); });
  }
  push("silu large magnitudes", [](Builder& b) { return silu(b.ctx, scale(b.ctx, b.in({4099}), 100.0f)); });
  push("geglu [2,33,2*19]", [](Builder& b) { return geglu(b.ctx, scale(b.ctx, b.in({2, 33, 38}), 3.0f)); });
  // movement
  push("contiguous of permute [2,3,5,7]->(0,2,3,1)", [](Builder& b) { return contiguous(b.ctx, permute(b.ctx, b.in({2, 3, 5, 7}), {0, 2, 3, 1})); });
  push("contiguous of slice", [](Builder& b) { return contiguous(b.ctx, slice(b.ctx, b.in({2, 9, 12}), 2, 4, 8)); });
  push("reshape then add", [](Builder& b) { return add(b.ctx, reshape(b.ctx, b.in({6, 10}), {3, 2, 10}), b.in({10})); });
  push("concat axis 1 [2,3,4,5]+[2,6,4,5]", [](Builder& b) { return concat(b.ctx, b.in({2, 3, 4, 5}), b.in({2, 6, 4, 5}), 1); });
  push("concat axis -1 [3,7]+[3,2]", [](Builder& b) { return concat(b.ctx, b.in({3, 7}), b.in({3, 2}), -1); });
  push("concat permuted", [](Builder& b) { return concat(b.ctx, permute(b.ctx, b.in({4, 3}), {1, 0}), b.in({3, 5}), 1); });
  push("upsample2x [2,3,5,7]", [](Builder& b) { return upsample_nearest2x(b.ctx, b.in({2, 3, 5, 7})); });
  for (DType dt : {DType::F32, DType::F16, DType::BF16})
    push(std::string("get_rows ") + dtype_name(dt), [dt](Builder& b) { return get_rows(b.ctx, b.in({10, 13}, dt), b.in({7}, DType::I32)); });
  // Evaluated in f32 like the reference implementations (t·f rounds in f32 at t ~ 1000), so
  // the gap to the double reference is ~5e-6 by design.
  push("timestep_embedding [3]x320", [](Builder& b) { return timestep_embedding(b.ctx, scale(b.ctx, b.in({3}), 500.0f, 500.0f), 320); }, 2e-5);
  // normalisation
  for (int64_t n : {1, 7, 64, 77, 768, 4096}) {
    push("softmax " + std::to_string(n), [n](Builder& b) { return softmax(b.ctx, b.in({3, n}), 5.0f); }, 2e-6);
    push("layer_norm " + std::to_string(n), [n](Builder& b) { return layer_norm(b.ctx, b.in({3, n}), 1e-5f, b.in({n}), b.in({n})); }, 2e-6);
  }
  push("layer_norm bias only", [](Builder& b) { return layer_norm(b.ctx, b.in({4, 33}), 1e-5f, nullptr, b.in({33})); }, 2e-6);
  push("layer_norm f16 weights", [](Builder& b) { return layer_norm(b.ctx, b.in({2, 5, 96}), 1e-5f, b.in({96}, DType::F16), b.in({96}, DType::F16)); }, 2e-6);
  push("group_norm 32 groups [2,64,9,7]", [](Builder& b) { return group_norm(b.ctx, b.in({2, 64, 9, 7}), 32, 1e-6f, b.in({64}), b.in({64})); }, 2e-6);
  push("group_norm+silu [1,96,16,16]", [](Builder& b) { return group_norm(b.ctx, b.in({1, 96, 16, 16}), 32, 1e-5f, b.in({96}), b.in({96}), true); }, 2e-6);
  push("group_norm no affine [2,6,5]", [](Builder& b) { return group_norm(b.ctx, b.in({2, 6, 5}), 3, 1e-5f, nullptr, nullptr); }, 2e-6);
  push("group_norm offset data", [](Builder& b) { return group_norm(b.ctx, scale(b.ctx, b.in({1, 32, 33, 33}), 1.0f, 30.0f), 32, 1e-6f, nullptr, nullptr); }, 1e-5);
  // products, every weight dtype
  for (DType dt : {DType::F32, DType::F16, DType::BF16}) {
    std::string d = dtype_name(dt);
    for (auto mnk : std::vector<std::array<int64_t, 3>>{{1, 1, 1}, {3, 5, 7}, {17, 33, 65}, {64, 96, 129}, {100, 31, 320}, {257, 130, 40}}) {
      int64_t m = mnk[0], n = mnk[1], k = mnk[2];
      push("linear " + d + " m" + std::to_string(m) + " n" + std::to_string(n) + " k" + std::to_string(k),
          [=](Builder& b) { return linear(b.ctx, b.in({m, k}), b.in({n, k}, dt), b.in({n}, dt)); }, 2e-6, 1e-5);
    }
    push("linear " + d + " 3d + residual", [=](Builder& b) { return linear(b.ctx, b.in({2, 19, 48}), b.in({24, 48}, dt), b.in({24}), b.in({2, 19, 24})); }, 2e-6, 1e-5);
    push("linear " + d + " no bias, strided rows (slice)", [=](Builder& b) { return linear(b.ctx, slice(b.ctx, b.in({9, 50}), 1, 0, 40), b.in({8, 40}, dt), nullptr); }, 2e-6, 1e-5);
    push("matmul " + d + " [3,17,40]x[3,21,40]", [=](Builder& b) { return matmul(b.ctx, b.in({3, 17, 40}), b.in({3, 21, 40}, dt)); }, 2e-6, 1e-5);
    push("matmul " + d + " broadcast b", [=](Builder& b) { return matmul(b.ctx, b.in({2, 9, 33}), b.in({1, 5, 33}, dt)); }, 2e-6, 1e-5);
    for (int ks : {1, 3})
      for (int st : {1, 2}) {
        if (ks == 1 && st == 2) continue;
        for (auto chw : std::vector<std::array<int64_t, 3>>{{3, 5, 7}, {32, 16, 16}, {17, 9, 13}}) {
          int64_t c = chw[0], h = chw[1], w = chw[2], o = c == 32 ? 48 : 5;
          int pad = ks / 2;
          push("conv2d " + d + " k" + std::to_string(ks) + " s" + std::to_string(st) + " c" + std::to_string(c) + " " + std::to_string(h) + "x" + std::to_string(w),
              [=](Builder& b) { return conv2d(b.ctx, b.in({2, c, h, w}), b.in({o, c, ks, ks}, dt), b.in({o}, dt), st, pad); }, 2e-6, 1e-5);
        }
      }
    push("conv2d " + d + " downsample pad (0,1,0,1)", [=](Builder& b) { return conv2d(b.ctx, b.in({1, 8, 10, 10}), b.in({8, 8, 3, 3}, dt), b.in({8}), 2, 0, 0, 1, 1); }, 2e-6, 1e-5);
    push("conv2d " + d + " + residual", [=](Builder& b) { return conv2d(b.ctx, b.in({2, 6, 8, 8}), b.in({6, 6, 3, 3}, dt), b.in({6}), 1, 1, b.in({2, 6, 8, 8})); }, 2e-6, 1e-5);
  }
  // attention (flash path), incl. strided q/k/v out of a packed projection
  for (auto sh : std::vector<std::array<int64_t, 5>>{{1, 1, 1, 1, 8}, {2, 17, 77, 2, 16}, {2, 64, 64, 2, 40}, {1, 300, 300, 1, 64}, {2, 129, 33, 4, 20}}) {
    int64_t B = sh[0], TQ = sh[1], TK = sh[2], H = sh[3], D = sh[4];
    push("attention B" + std::to_string(B) + " tq" + std::to_string(TQ) + " tk" + std::to_string(TK) + " h" + std::to_string(H) + " d" + std::to_string(D),
        [=](Builder& b) { return attention(b.ctx, b.in({B, TQ, H * D}), b.in({B, TK, H * D}), b.in({B, TK, H * D}), int(H), 1.0f / std::sqrt(float(D))); }, 5e-6, 1e-2);
  }
  push("attention causal 77 tokens", [](Builder& b) { return attention(b.ctx, b.in({2, 77, 64}), b.in({2, 77, 64}), b.in({2, 77, 64}), 2, 0.176f, true); }, 5e-6, 1e-2);
  push("attention on packed qkv slices", [](Builder& b) {
    Tensor* qkv = b.in({2, 50, 3 * 48});
    return attention(b.ctx, slice(b.ctx, qkv, 2, 0, 48), slice(b.ctx, qkv, 2, 48, 96), slice(b.ctx, qkv, 2, 96, 144), 3, 0.25f); }, 5e-6, 1e-2);
  return v;
}

bool is_product(const std::string& name) {
  for (const char* p : {"linear", "matmul", "conv2d", "attention"})
    if (name.rfind(p, 0) == 0) return true;
  return false;
}

}  // namespace

int main() {
  int run = 0;
  for (int i = 0; i < cpu::kIsaCount; ++i) {
    cpu::Isa isa = cpu::Isa(i);
    if (!cpu::isa_supported(isa)) {
      std::printf("skipping %s: not supported by this CPU\n", cpu::isa_name(isa));
      continue;
    }
    for (const Case& c : cases()) {
      run_case(c, isa, cpu::GemmPrecision::F32);
      ++run;
      if (is_product(c.name)) {
        run_case(c, isa, cpu::GemmPrecision::Bf16);
        ++run;
      }
    }
  }
  std::printf("op table: %d case runs\n", run);
  return harness::finish("test_ops");
}
