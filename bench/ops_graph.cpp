// Op timings at Stable Diffusion 1.5 shapes, run through the real graph + CPU backend (what the
// UNet executes), f16 weights read in place, in f32 and bf16 arithmetic. Medians of several runs.
// Built and run by bench/ops.ts; prints one JSON object as its last line.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <functional>
#include <random>
#include <string>
#include <vector>

#include "core/cpu/cpu_backend.h"
#include "core/graph.h"
#include "core/ops.h"

using namespace sd;

struct Case {
  std::string name;
  double gflop;
  std::function<Tensor*(Context&, std::vector<Tensor*>&)> build;
};

static Tensor* leaf(Context& ctx, std::vector<Tensor*>& leaves, DType dt, std::initializer_list<int64_t> shape) {
  Tensor* t = ctx.new_tensor(dt, shape);
  leaves.push_back(t);
  return t;
}

// Median milliseconds of `reps` runs of the graph `build` makes, on a backend with `opt`, after
// one warm-up run (which also caches Winograd filters when SD_NATIVE_WINOGRAD_CACHE_MB gives them
// a budget; by default each run transforms them); random leaves.
static double median_ms(const cpu::CpuOptions& opt, const std::function<Tensor*(Context&, std::vector<Tensor*>&)>& build, int reps) {
  cpu::CpuBackend backend(opt);
  Context ctx;
  std::vector<Tensor*> leaves;
  Tensor* out = build(ctx, leaves);
  Graph g(backend, {out});
  g.plan();
  std::mt19937 rng(1);
  std::uniform_real_distribution<float> u(-1, 1);
  for (Tensor* t : leaves)
    for (int64_t i = 0; i < t->numel(); ++i) {
      if (t->dtype == DType::F16) t->ptr<uint16_t>()[i] = f32_to_f16(u(rng) * 0.05f);
      else t->ptr<float>()[i] = u(rng);
    }
  g.compute();
  std::vector<double> times;
  for (int r = 0; r < reps; ++r) {
    auto t0 = std::chrono::steady_clock::now();
    g.compute();
    times.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
  }
  std::sort(times.begin(), times.end());
  return times[times.size() / 2];
}

int main(int argc, char** argv) {
  const int reps = argc > 1 ? std::atoi(argv[1]) : 5;
  std::vector<Case> cases = {
      {"conv3x3 320->320 64x64", 2.0 * 320 * 320 * 9 * 4096 / 1e9, [](Context& c, std::vector<Tensor*>& l) {
         return conv2d(c, leaf(c, l, DType::F32, {1, 320, 64, 64}), leaf(c, l, DType::F16, {320, 320, 3, 3}), leaf(c, l, DType::F16, {320}), 1, 1); }},
      {"conv3x3 640->640 32x32", 2.0 * 640 * 640 * 9 * 1024 / 1e9, [](Context& c, std::vector<Tensor*>& l) {
         return conv2d(c, leaf(c, l, DType::F32, {1, 640, 32, 32}), leaf(c, l, DType::F16, {640, 640, 3, 3}), leaf(c, l, DType::F16, {640}), 1, 1); }},
      {"conv3x3 1280->1280 16x16", 2.0 * 1280 * 1280 * 9 * 256 / 1e9, [](Context& c, std::vector<Tensor*>& l) {
         return conv2d(c, leaf(c, l, DType::F32, {1, 1280, 16, 16}), leaf(c, l, DType::F16, {1280, 1280, 3, 3}), leaf(c, l, DType::F16, {1280}), 1, 1); }},
      {"linear 4096x320 * 320x320", 2.0 * 4096 * 320 * 320 / 1e9, [](Context& c, std::vector<Tensor*>& l) {
         return linear(c, leaf(c, l, DType::F32, {4096, 320}), leaf(c, l, DType::F16, {320, 320}), nullptr); }},
      {"linear 4096x320 * 2560x320 (geglu proj)", 2.0 * 4096 * 320 * 2560 / 1e9, [](Context& c, std::vector<Tensor*>& l) {
         return linear(c, leaf(c, l, DType::F32, {4096, 320}), leaf(c, l, DType::F16, {2560, 320}), leaf(c, l, DType::F16, {2560})); }},
      {"linear 4096x1280 * 320x1280 (ff out)", 2.0 * 4096 * 1280 * 320 / 1e9, [](Context& c, std::vector<Tensor*>& l) {
         return linear(c, leaf(c, l, DType::F32, {4096, 1280}), leaf(c, l, DType::F16, {320, 1280}), leaf(c, l, DType::F16, {320})); }},
      {"linear 256x1280 * 1280x1280", 2.0 * 256 * 1280 * 1280 / 1e9, [](Context& c, std::vector<Tensor*>& l) {
         return linear(c, leaf(c, l, DType::F32, {256, 1280}), leaf(c, l, DType::F16, {1280, 1280}), nullptr); }},
      {"linear 77x768 * 320x768 (cross k/v)", 2.0 * 77 * 768 * 320 / 1e9, [](Context& c, std::vector<Tensor*>& l) {
         return linear(c, leaf(c, l, DType::F32, {77, 768}), leaf(c, l, DType::F16, {320, 768}), nullptr); }},
      {"attention 4096 tok x 8 heads x 40", 4.0 * 4096 * 4096 * 40 * 8 / 1e9, [](Context& c, std::vector<Tensor*>& l) {
         return attention(c, leaf(c, l, DType::F32, {1, 4096, 320}), leaf(c, l, DType::F32, {1, 4096, 320}), leaf(c, l, DType::F32, {1, 4096, 320}), 8, 1.0f / std::sqrt(40.0f)); }},
      {"attention 4096 q x 77 k x 8 x 40 (cross)", 4.0 * 4096 * 77 * 40 * 8 / 1e9, [](Context& c, std::vector<Tensor*>& l) {
         return attention(c, leaf(c, l, DType::F32, {1, 4096, 320}), leaf(c, l, DType::F32, {1, 77, 320}), leaf(c, l, DType::F32, {1, 77, 320}), 8, 1.0f / std::sqrt(40.0f)); }},
      {"group_norm+silu 320x64x64", 0, [](Context& c, std::vector<Tensor*>& l) {
         return group_norm(c, leaf(c, l, DType::F32, {1, 320, 64, 64}), 32, 1e-5f, leaf(c, l, DType::F32, {320}), leaf(c, l, DType::F32, {320}), true); }},
  };
  std::string json = "{\"bench\":\"ops\",\"results\":[";
  std::printf("%-44s %10s %10s %10s %10s\n", "op (SD1.5 shapes, f16 weights)", "f32 ms", "f32 GF/s", "bf16 ms", "bf16 GF/s");
  bool first = true;
  for (const Case& cs : cases) {
    double ms[2];
    for (int pi = 0; pi < 2; ++pi) {
      cpu::CpuOptions opt;
      opt.precision = pi == 0 ? cpu::GemmPrecision::F32 : cpu::GemmPrecision::Bf16;
      ms[pi] = median_ms(opt, cs.build, reps);
    }
    auto gfs = [&](double m) { return cs.gflop > 0 ? cs.gflop / (m / 1000) : 0.0; };
    std::printf("%-44s %10.2f %10.1f %10.2f %10.1f\n", cs.name.c_str(), ms[0], gfs(ms[0]), ms[1], gfs(ms[1]));
    char buf[400];
    std::snprintf(buf, sizeof buf, "%s{\"op\":\"%s\",\"gflop\":%.4f,\"f32_ms\":%.3f,\"f32_gflops\":%.2f,\"bf16_ms\":%.3f,\"bf16_gflops\":%.2f}",
                  first ? "" : ",", cs.name.c_str(), cs.gflop, ms[0], gfs(ms[0]), ms[1], gfs(ms[1]));
    json += buf;
    first = false;
  }
  json += "],\"winograd\":[";
  // 3x3 convs through Winograd F(4,3) vs the direct implicit GEMM, f32; GFLOP/s count the
  // direct conv's FLOPs for both, so the Winograd column is an effective rate.
  struct ConvShape { const char* name; int n, cin, cout, hw; };
  const ConvShape convs[] = {
      {"unet 320->320 64x64 x2", 2, 320, 320, 64}, {"unet 960->320 64x64 x2", 2, 960, 320, 64},
      {"unet 640->640 32x32 x2", 2, 640, 640, 32}, {"unet 1920->640 32x32 x2", 2, 1920, 640, 32},
      {"unet 1280->1280 16x16 x2", 2, 1280, 1280, 16}, {"unet 2560->1280 16x16 x2", 2, 2560, 1280, 16},
      {"unet 1280->1280 8x8 x2", 2, 1280, 1280, 8}, {"vae 512->512 64x64", 1, 512, 512, 64},
      {"vae 512->512 128x128", 1, 512, 512, 128}, {"vae 256->256 256x256", 1, 256, 256, 256},
      {"vae 128->128 512x512", 1, 128, 128, 512},
  };
  std::printf("\n%-44s %10s %10s %10s %10s %8s %5s\n", "conv3x3 (f16 weights, f32)", "direct ms", "GF/s", "wino ms", "eff GF/s", "speedup", "auto");
  first = true;
  for (const ConvShape& cs : convs) {
    const double gflop = 2.0 * cs.n * cs.cout * cs.cin * 9.0 * cs.hw * cs.hw / 1e9;
    double ms[2];
    for (int wi = 0; wi < 2; ++wi) {
      cpu::CpuOptions opt;
      opt.winograd = wi == 1 ? cpu::WinogradMode::Always : cpu::WinogradMode::Off;
      ms[wi] = median_ms(opt, [&](Context& c, std::vector<Tensor*>& l) {
        return conv2d(c, leaf(c, l, DType::F32, {cs.n, cs.cin, cs.hw, cs.hw}), leaf(c, l, DType::F16, {cs.cout, cs.cin, 3, 3}), leaf(c, l, DType::F16, {cs.cout}), 1, 1);
      }, reps);
    }
    const bool chosen = cpu::winograd_pays(cs.cin, cs.cout, cs.hw, cs.hw);  // what Auto (the default) runs
    std::printf("%-44s %10.2f %10.1f %10.2f %10.1f %7.2fx %5s\n", cs.name, ms[0], gflop / (ms[0] / 1000), ms[1], gflop / (ms[1] / 1000), ms[0] / ms[1], chosen ? "wino" : "dir");
    char buf[400];
    std::snprintf(buf, sizeof buf, "%s{\"op\":\"conv3x3 %s\",\"gflop\":%.4f,\"direct_ms\":%.3f,\"winograd_ms\":%.3f}",
                  first ? "" : ",", cs.name, gflop, ms[0], ms[1]);
    json += buf;
    first = false;
  }
  json += "]}";
  std::printf("%s\n", json.c_str());
}
