// GPU op table: every op on the CUDA backend against the CPU backend, one tiny graph per case,
// under each GPU configuration (f32 SIMT, the double-precision reference GEMM, bf16 and f16
// tensor cores). The runner checks NaN/inf, the normalised error ||gpu-cpu||/||cpu||, guard
// bytes around the device arena, and that no byte between planned tensors was written.
// Also: weight caching and invalidation, out-of-memory messages.
//
// Without a GPU (or without SD_CUDA) it prints "skipped: <reason>" and exits 0.
//
// Tolerances: both backends are checked against a double reference elsewhere (test_ops for the
// CPU) with the per-case tolerance `tol`; two paths each within tol of the truth are within
// 2·tol of each other. The f16 configuration is compared with the CPU's f32 results: 16-bit
// operands with an 11-bit mantissa give ~5e-4 on a dot product of [-1, 1] values.
#include <cstdio>

#ifndef SD_WITH_CUDA
int main() {
  std::printf("test_cuda: skipped: built without the CUDA backend (cmake -DSD_CUDA=ON)\n");
  return 0;
}
#else

#include <array>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <random>
#include <string>
#include <vector>

#include "core/context.h"
#include "core/cpu/cpu_backend.h"
#include "core/cuda/cuda_backend.h"
#include "core/error.h"
#include "core/graph.h"
#include "core/ops.h"
#include "harness.h"

using namespace sd;

namespace {

constexpr uint8_t kCanary = 0xA5;
constexpr size_t kGuard = 256;

// Device arena with guard zones on both sides.
class GuardedCuda : public cuda::CudaBackend {
 public:
  using CudaBackend::CudaBackend;
  void* alloc(size_t bytes) override {
    auto* raw = static_cast<uint8_t*>(CudaBackend::alloc(bytes + 2 * kGuard));
    fill_device(raw, kCanary, bytes + 2 * kGuard);
    base_ = raw;
    size_ = bytes;
    return raw + kGuard;
  }
  void free(void* p) override { CudaBackend::free(static_cast<uint8_t*>(p) - kGuard); }
  std::vector<uint8_t> arena_bytes() {  // guards included
    std::vector<uint8_t> v(size_ + 2 * kGuard);
    copy_from_device(v.data(), base_, v.size());
    return v;
  }
  uint8_t* base_ = nullptr;
  size_t size_ = 0;
};

// Inputs are data-less leaves (written after plan()); weights are leaves whose data is host
// memory, like a mapped checkpoint, which the CUDA backend uploads on first use.
struct Input {
  Tensor* t;
  bool weight;
  std::vector<uint8_t> host;
};

struct Builder {
  Context& ctx;
  std::vector<Input>& inputs;
  Tensor* make(std::initializer_list<int64_t> shape, DType dt, bool weight) {
    Tensor* t = ctx.new_tensor(dt, shape, (weight ? "w" : "in") + std::to_string(inputs.size()));
    std::mt19937 rng(1234 + uint32_t(inputs.size()));  // same values for the CPU and GPU builds
    std::uniform_real_distribution<float> u(-1.0f, 1.0f);
    std::vector<uint8_t> host(t->nbytes());
    for (int64_t i = 0; i < t->numel(); ++i) {
      const float v = u(rng);
      switch (dt) {
        case DType::F32: std::memcpy(&host[size_t(i) * 4], &v, 4); break;
        case DType::F16: { uint16_t h = f32_to_f16(v); std::memcpy(&host[size_t(i) * 2], &h, 2); break; }
        case DType::BF16: { uint16_t h = f32_to_bf16(v); std::memcpy(&host[size_t(i) * 2], &h, 2); break; }
        case DType::I32: { int32_t id = int32_t(rng() % 10); std::memcpy(&host[size_t(i) * 4], &id, 4); break; }
        case DType::I64: break;
      }
    }
    inputs.push_back({t, weight, std::move(host)});
    if (weight) t->data = inputs.back().host.data();  // the vector's buffer stays put when moved
    return t;
  }
  Tensor* in(std::initializer_list<int64_t> shape, DType dt = DType::F32) { return make(shape, dt, false); }
  Tensor* w(std::initializer_list<int64_t> shape, DType dt = DType::F32) { return make(shape, dt, true); }
};

using BuildFn = std::function<Tensor*(Builder&)>;

struct Case {
  std::string name;
  BuildFn build;
  double tol;       // f32 paths, against the CPU at f32
  double tol_bf16;  // bf16 paths, against the CPU at bf16
  bool product;
};

struct Config {
  const char* name;
  cuda::Precision precision;
  cuda::GemmPath path;
  cpu::GemmPrecision cpu_precision;
  bool products_only;
  bool needs_tensor_cores;
};

std::vector<float> run_cpu(const Case& c, cpu::GemmPrecision prec) {
  Context ctx;
  std::vector<Input> inputs;
  Builder b{ctx, inputs};
  Tensor* out = c.build(b);
  cpu::CpuOptions opt;
  opt.precision = prec;
  opt.threads = 2;
  cpu::CpuBackend backend(opt);
  Graph g(backend, {out});
  g.plan();
  for (Input& in : inputs)
    if (!in.weight) std::memcpy(in.t->data, in.host.data(), in.host.size());
  g.compute();
  return std::vector<float>(out->ptr<float>(), out->ptr<float>() + out->numel());
}

void run_case(const Case& c, const Config& cfg) {
  const std::string tag = c.name + " [" + cfg.name + "]";
  auto fail = [&](const std::string& why) { CHECK_MSG(false, tag + ": " + why); };
  try {
    const std::vector<float> want = run_cpu(c, cfg.cpu_precision);
    Context ctx;
    std::vector<Input> inputs;
    Builder b{ctx, inputs};
    Tensor* out = c.build(b);
    cuda::CudaOptions opt;
    opt.precision = cfg.precision;
    opt.gemm = cfg.path;
    GuardedCuda gpu(opt);
    Graph g(gpu, {out});
    g.plan();
    for (Input& in : inputs)
      if (!in.weight) gpu.upload(in.t, in.host.data(), in.host.size());
    g.compute();
    std::vector<float> got(size_t(out->numel()));
    gpu.download(out, got.data(), got.size() * sizeof(float));

    bool finite = true;
    double num = 0, den = 0, max_abs = 0;
    for (size_t i = 0; i < got.size(); ++i) {
      if (!std::isfinite(got[i])) finite = false;
      const double d = double(got[i]) - double(want[i]);
      num += d * d;
      den += double(want[i]) * want[i];
      max_abs = std::max(max_abs, std::fabs(d));
    }
    const double err = den > 0 ? std::sqrt(num / den) : std::sqrt(num);
    double tol = 2 * (cfg.cpu_precision == cpu::GemmPrecision::Bf16 ? c.tol_bf16 : c.tol);
    if (cfg.precision == cuda::Precision::F16) tol = std::max(tol, 3e-3);
    if (!finite) fail("NaN or inf in output");
    if (!(err <= tol)) fail("normalised error " + std::to_string(err) + " > " + std::to_string(tol) + " (max abs " + std::to_string(max_abs) + ")");

    // Inputs untouched, guards intact, nothing written between planned tensors.
    std::vector<uint8_t> arena = gpu.arena_bytes();
    for (size_t i = 0; i < kGuard; ++i)
      if (arena[i] != kCanary || arena[kGuard + gpu.size_ + i] != kCanary) { fail("wrote outside the arena"); break; }
    std::vector<bool> owned(gpu.size_, false);
    for (Tensor* t : g.nodes()) {
      if (t->is_view() || !gpu.is_device_pointer(t->data)) continue;
      const size_t off = size_t(static_cast<uint8_t*>(t->data) - (gpu.base_ + kGuard));
      for (size_t i = 0; i < t->nbytes() && off + i < owned.size(); ++i) owned[off + i] = true;
    }
    // The arena was canary-filled at alloc(); inputs were uploaded over their own bytes only.
    for (size_t i = 0; i < gpu.size_; ++i)
      if (!owned[i] && arena[kGuard + i] != kCanary) { fail("wrote between tensors at arena byte " + std::to_string(i)); break; }
    for (Input& in : inputs) {
      if (in.weight) continue;
      std::vector<uint8_t> now(in.host.size());
      gpu.download(in.t, now.data(), now.size());
      if (now != in.host) fail("input " + in.t->name + " was modified");
    }
    if (getenv("SD_TEST_VERBOSE")) std::printf("%-72s err %.2e\n", tag.c_str(), err);
  } catch (const std::exception& e) {
    fail(std::string("threw: ") + e.what());
  }
}

std::vector<Case> cases() {
  std::vector<Case> v;
  auto op = [&](std::string name, BuildFn f, double tol = 1e-6) { v.push_back({std::move(name), std::move(f), tol, tol, false}); };
  auto prod = [&](std::string name, BuildFn f, double tol = 2e-6, double tol_bf16 = 1e-5) {
    v.push_back({std::move(name), std::move(f), tol, tol_bf16, true});
  };
  // elementwise, broadcasting, strided views, weight operands
  op("add [2,3,9,31]", [](Builder& b) { return add(b.ctx, b.in({2, 3, 9, 31}), b.in({2, 3, 9, 31})); });
  op("mul [3,17]", [](Builder& b) { return mul(b.ctx, b.in({3, 17}), b.in({3, 17})); });
  op("add broadcast [2,5,7,9]+[5,1,1]", [](Builder& b) { return add(b.ctx, b.in({2, 5, 7, 9}), b.in({5, 1, 1})); });
  op("add broadcast [2,5,7,9]+[2,5,1,1]", [](Builder& b) { return add(b.ctx, b.in({2, 5, 7, 9}), b.in({2, 5, 1, 1})); });
  op("add [3,77,64]+[77,64] f16 weight", [](Builder& b) { return add(b.ctx, b.in({3, 77, 64}), b.w({77, 64}, DType::F16)); });
  op("mul [4,1,33]*[1,6,1]", [](Builder& b) { return mul(b.ctx, b.in({4, 1, 33}), b.in({1, 6, 1})); });
  op("add permuted view", [](Builder& b) { return add(b.ctx, permute(b.ctx, b.in({3, 4, 5}), {2, 0, 1}), b.in({5, 3, 4})); });
  op("mul bf16 weight broadcast", [](Builder& b) { return mul(b.ctx, b.in({2, 8, 5}), b.w({8, 1}, DType::BF16)); });
  op("scale", [](Builder& b) { return scale(b.ctx, b.in({3, 1001}), 0.18215f, 0.5f); });
  for (int64_t n : {1, 17, 1000, 70001}) {
    op("silu " + std::to_string(n), [n](Builder& b) { return silu(b.ctx, b.in({n})); });
    op("gelu " + std::to_string(n), [n](Builder& b) { return gelu(b.ctx, scale(b.ctx, b.in({n}), 4.0f)); });
    op("gelu_tanh " + std::to_string(n), [n](Builder& b) { return gelu_tanh(b.ctx, scale(b.ctx, b.in({n}), 4.0f)); });
    op("quick_gelu " + std::to_string(n), [n](Builder& b) { return quick_gelu(b.ctx, scale(b.ctx, b.in({n}), 4.0f)); });
  }
  op("silu large magnitudes", [](Builder& b) { return silu(b.ctx, scale(b.ctx, b.in({4099}), 100.0f)); });
  op("silu of permuted view", [](Builder& b) { return silu(b.ctx, permute(b.ctx, b.in({3, 5, 7}), {2, 1, 0})); });
  op("geglu [2,33,38]", [](Builder& b) { return geglu(b.ctx, scale(b.ctx, b.in({2, 33, 38}), 3.0f)); });
  // movement
  op("contiguous of permute", [](Builder& b) { return contiguous(b.ctx, permute(b.ctx, b.in({2, 3, 5, 7}), {0, 2, 3, 1})); });
  op("contiguous of slice", [](Builder& b) { return contiguous(b.ctx, slice(b.ctx, b.in({2, 9, 12}), 2, 4, 8)); });
  op("reshape then add", [](Builder& b) { return add(b.ctx, reshape(b.ctx, b.in({6, 10}), {3, 2, 10}), b.in({10})); });
  op("concat axis 1", [](Builder& b) { return concat(b.ctx, b.in({2, 3, 4, 5}), b.in({2, 6, 4, 5}), 1); });
  op("concat axis -1", [](Builder& b) { return concat(b.ctx, b.in({3, 7}), b.in({3, 2}), -1); });
  op("concat permuted", [](Builder& b) { return concat(b.ctx, permute(b.ctx, b.in({4, 3}), {1, 0}), b.in({3, 5}), 1); });
  op("upsample2x", [](Builder& b) { return upsample_nearest2x(b.ctx, b.in({2, 3, 5, 7})); });
  op("upsample2x of permute", [](Builder& b) { return upsample_nearest2x(b.ctx, permute(b.ctx, b.in({2, 5, 7, 3}), {0, 3, 1, 2})); });
  for (DType dt : {DType::F32, DType::F16, DType::BF16})
    op(std::string("get_rows ") + dtype_name(dt), [dt](Builder& b) { return get_rows(b.ctx, b.w({10, 13}, dt), b.in({7}, DType::I32)); });
  op("timestep_embedding", [](Builder& b) { return timestep_embedding(b.ctx, scale(b.ctx, b.in({3}), 500.0f, 500.0f), 320); }, 2e-5);
  // normalisation
  for (int64_t n : {1, 7, 77, 768, 4096}) {
    op("softmax " + std::to_string(n), [n](Builder& b) { return softmax(b.ctx, b.in({3, n}), 5.0f); }, 2e-6);
    op("layer_norm " + std::to_string(n), [n](Builder& b) { return layer_norm(b.ctx, b.in({3, n}), 1e-5f, b.w({n}), b.w({n})); }, 2e-6);
  }
  op("layer_norm f16 weights", [](Builder& b) { return layer_norm(b.ctx, b.in({2, 5, 96}), 1e-5f, b.w({96}, DType::F16), b.w({96}, DType::F16)); }, 2e-6);
  op("group_norm 32 groups", [](Builder& b) { return group_norm(b.ctx, b.in({2, 64, 9, 7}), 32, 1e-6f, b.w({64}), b.w({64})); }, 2e-6);
  op("group_norm+silu f16 weights", [](Builder& b) { return group_norm(b.ctx, b.in({1, 96, 16, 16}), 32, 1e-5f, b.w({96}, DType::F16), b.w({96}, DType::F16), true); }, 2e-6);
  op("group_norm no affine", [](Builder& b) { return group_norm(b.ctx, b.in({2, 6, 5}), 3, 1e-5f, nullptr, nullptr); }, 2e-6);
  op("group_norm offset data", [](Builder& b) { return group_norm(b.ctx, scale(b.ctx, b.in({1, 32, 33, 33}), 1.0f, 30.0f), 32, 1e-6f, nullptr, nullptr); }, 1e-5);
  op("group_norm split groups (4 ch x 96x96)", [](Builder& b) { return group_norm(b.ctx, b.in({1, 8, 96, 96}), 2, 1e-6f, b.w({8}), b.w({8}), true); }, 2e-6);
  // products, every weight dtype; shapes with several tiles and ragged edges
  for (DType dt : {DType::F32, DType::F16, DType::BF16}) {
    const std::string d = dtype_name(dt);
    for (auto mnk : std::vector<std::array<int64_t, 3>>{{1, 1, 1}, {3, 5, 7}, {17, 33, 65}, {100, 31, 320}, {257, 130, 40}, {300, 260, 200}}) {
      const int64_t m = mnk[0], n = mnk[1], k = mnk[2];
      prod("linear " + d + " m" + std::to_string(m) + " n" + std::to_string(n) + " k" + std::to_string(k),
           [=](Builder& b) { return linear(b.ctx, b.in({m, k}), b.w({n, k}, dt), b.w({n}, dt)); });
    }
    prod("linear " + d + " 3d + residual", [=](Builder& b) { return linear(b.ctx, b.in({2, 19, 48}), b.w({24, 48}, dt), b.w({24}), b.in({2, 19, 24})); });
    prod("linear " + d + " strided rows (slice), no bias", [=](Builder& b) { return linear(b.ctx, slice(b.ctx, b.in({9, 50}), 1, 0, 40), b.w({8, 40}, dt), nullptr); });
    prod("linear " + d + " permuted input", [=](Builder& b) { return linear(b.ctx, permute(b.ctx, b.in({40, 9}), {1, 0}), b.w({8, 40}, dt), b.w({8}, dt)); });
    prod("matmul " + d, [=](Builder& b) { return matmul(b.ctx, b.in({3, 17, 40}), b.w({3, 21, 40}, dt)); });
    prod("matmul " + d + " broadcast b", [=](Builder& b) { return matmul(b.ctx, b.in({2, 9, 33}), b.w({1, 5, 33}, dt)); });
    for (int ks : {1, 3})
      for (int st : {1, 2}) {
        if (ks == 1 && st == 2) continue;
        for (auto chw : std::vector<std::array<int64_t, 3>>{{3, 5, 7}, {32, 16, 16}, {64, 18, 18}}) {
          const int64_t c = chw[0], h = chw[1], w = chw[2], o = c == 3 ? 5 : 96;
          const int pad = ks / 2;
          prod("conv2d " + d + " k" + std::to_string(ks) + " s" + std::to_string(st) + " c" + std::to_string(c) + " " + std::to_string(h) + "x" + std::to_string(w),
               [=](Builder& b) { return conv2d(b.ctx, b.in({2, c, h, w}), b.w({o, c, ks, ks}, dt), b.w({o}, dt), st, pad); });
        }
      }
    prod("conv2d " + d + " downsample pad (0,1,0,1)", [=](Builder& b) { return conv2d(b.ctx, b.in({1, 8, 10, 10}), b.w({8, 8, 3, 3}, dt), b.w({8}), 2, 0, 0, 1, 1); });
    prod("conv2d " + d + " + residual", [=](Builder& b) { return conv2d(b.ctx, b.in({2, 6, 8, 8}), b.w({6, 6, 3, 3}, dt), b.w({6}), 1, 1, b.in({2, 6, 8, 8})); });
    prod("conv2d " + d + " k5 (generic im2col)", [=](Builder& b) { return conv2d(b.ctx, b.in({1, 4, 11, 9}), b.w({7, 4, 5, 5}, dt), b.w({7}), 1, 2); });
    prod("conv2d " + d + " k2 s2 (generic im2col)", [=](Builder& b) { return conv2d(b.ctx, b.in({2, 4, 8, 8}), b.w({6, 4, 2, 2}, dt), nullptr, 2, 0); });
  }
  // attention: flash kernel at every padded head dim, then the materialising fallback (d > 160)
  for (auto sh : std::vector<std::array<int64_t, 5>>{{1, 1, 1, 1, 8}, {2, 17, 77, 2, 16}, {2, 64, 64, 2, 40}, {1, 300, 300, 1, 64},
                                                     {2, 129, 33, 4, 20}, {1, 130, 70, 2, 80}, {1, 70, 100, 1, 128}, {1, 100, 90, 2, 160},
                                                     {1, 40, 50, 3, 10}, {1, 70, 90, 1, 512}}) {
    const int64_t B = sh[0], TQ = sh[1], TK = sh[2], H = sh[3], D = sh[4];
    prod("attention B" + std::to_string(B) + " tq" + std::to_string(TQ) + " tk" + std::to_string(TK) + " h" + std::to_string(H) + " d" + std::to_string(D),
         [=](Builder& b) { return attention(b.ctx, b.in({B, TQ, H * D}), b.in({B, TK, H * D}), b.in({B, TK, H * D}), int(H), 1.0f / std::sqrt(float(D))); },
         5e-6, 1e-2);
  }
  prod("attention causal 77 tokens", [](Builder& b) { return attention(b.ctx, b.in({2, 77, 64}), b.in({2, 77, 64}), b.in({2, 77, 64}), 2, 0.176f, true); }, 5e-6, 1e-2);
  prod("attention causal, d 512 (fallback)", [](Builder& b) { return attention(b.ctx, b.in({1, 20, 512}), b.in({1, 20, 512}), b.in({1, 20, 512}), 1, 0.05f, true); }, 5e-6, 1e-2);
  prod("attention dv != d", [](Builder& b) { return attention(b.ctx, b.in({2, 33, 64}), b.in({2, 40, 64}), b.in({2, 40, 96}), 2, 0.2f); }, 5e-6, 1e-2);
  prod("attention on packed qkv slices", [](Builder& b) {
    Tensor* qkv = b.in({2, 50, 3 * 48});
    return attention(b.ctx, slice(b.ctx, qkv, 2, 0, 48), slice(b.ctx, qkv, 2, 48, 96), slice(b.ctx, qkv, 2, 96, 144), 3, 0.25f); }, 5e-6, 1e-2);
  return v;
}

// A weight is uploaded once, reused from the cache, and re-uploaded after its host bytes change.
void test_weight_cache() {
  Context ctx;
  std::vector<Input> inputs;
  Builder b{ctx, inputs};
  Tensor* x = b.in({4, 32});
  Tensor* w = b.w({16, 32}, DType::F16);
  Tensor* out = linear(ctx, x, w, nullptr);
  cuda::CudaBackend gpu;
  Graph g(gpu, {out});
  g.plan();
  gpu.upload(x, inputs[0].host.data(), inputs[0].host.size());
  g.compute();
  std::vector<float> first(64), second(64);
  gpu.download(out, first.data(), 256);
  CHECK(gpu.weight_bytes() >= 16 * 32 * 2);
  const size_t cached = gpu.weight_bytes();
  g.compute();
  gpu.download(out, second.data(), 256);
  CHECK(first == second);
  CHECK(gpu.weight_bytes() == cached);  // no second upload
  // New weight bytes through upload(): the stale device copy must not be used.
  std::vector<uint16_t> ones(16 * 32, f32_to_f16(1.0f));
  gpu.upload(w, ones.data(), ones.size() * 2);
  g.compute();
  gpu.download(out, second.data(), 256);
  const float* xv = reinterpret_cast<const float*>(inputs[0].host.data());
  double err = 0;
  for (int r = 0; r < 4; ++r) {
    double s = 0;
    for (int k = 0; k < 32; ++k) s += xv[r * 32 + k];
    for (int c = 0; c < 16; ++c) err = std::max(err, std::fabs(second[size_t(r * 16 + c)] - s));
  }
  CHECK_MSG(err < 1e-4, "re-uploaded weight not used (max error " + std::to_string(err) + ")");
  gpu.forget_weights();
  CHECK(gpu.weight_bytes() == 0);
  g.compute();  // uploads again from host memory
  gpu.download(out, first.data(), 256);
  CHECK(first == second);
}

void test_out_of_memory() {
  cuda::CudaBackend gpu;
  try {
    gpu.alloc(size_t(1) << 50);  // 1 PiB
    CHECK_MSG(false, "a 1 PiB allocation succeeded");
  } catch (const Error& e) {
    const std::string msg = e.what();
    CHECK_MSG(msg.find("out of GPU memory") != std::string::npos, "unexpected message: " + msg);
    CHECK_MSG(msg.find("try a smaller") != std::string::npos, "message says what to do: " + msg);
  }
  // The backend is still usable afterwards.
  void* p = gpu.alloc(1024);
  gpu.fill_device(p, 0, 1024);
  gpu.free(p);
}

}  // namespace

int main() {
  std::string why;
  if (!cuda::cuda_available(&why)) {
    std::printf("test_cuda: skipped: %s\n", why.c_str());
    return 0;
  }
  const cuda::DeviceInfo info = cuda::cuda_device_info(0);
  std::printf("device: %s (sm_%d%d, %d SMs, %zu MiB), %s\n", info.name.c_str(), info.cc_major, info.cc_minor, info.sm_count,
              info.total_bytes >> 20, cuda::cuda_build_info().c_str());
  const Config configs[] = {
      {"f32/auto", cuda::Precision::F32, cuda::GemmPath::Auto, cpu::GemmPrecision::F32, false, false},
      {"f32/reference", cuda::Precision::F32, cuda::GemmPath::Reference, cpu::GemmPrecision::F32, true, false},
      {"bf16/tensor-core", cuda::Precision::Bf16, cuda::GemmPath::TensorCore, cpu::GemmPrecision::Bf16, true, true},
      {"bf16/reference", cuda::Precision::Bf16, cuda::GemmPath::Reference, cpu::GemmPrecision::Bf16, true, false},
      {"bf16/simt", cuda::Precision::Bf16, cuda::GemmPath::Simt, cpu::GemmPrecision::F32, true, false},
      {"f16/tensor-core", cuda::Precision::F16, cuda::GemmPath::TensorCore, cpu::GemmPrecision::F32, true, true},
  };
  int runs = 0;
  const std::vector<Case> all = cases();
  for (const Config& cfg : configs) {
    if (cfg.needs_tensor_cores && info.cc_major < 8) {
      std::printf("skipping %s: needs sm_80+\n", cfg.name);
      continue;
    }
    for (const Case& c : all) {
      if (cfg.products_only && !c.product) continue;
      run_case(c, cfg);
      ++runs;
    }
  }
  test_weight_cache();
  test_out_of_memory();
  std::printf("cuda op table: %d case runs\n", runs);
  return harness::finish("test_cuda");
}

#endif  // SD_WITH_CUDA
