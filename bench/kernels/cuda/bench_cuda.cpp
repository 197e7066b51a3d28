// CUDA kernel lab: times the CUDA backend's linear (GEMM), conv2d (implicit GEMM) and attention
// (flash) at Stable Diffusion shapes, one single-op graph per (shape, kernel), through the real
// backend (weights f16 as in SD checkpoints, uploaded on the warm-up run). Every variant is first
// validated against an independent result:
//   linear / conv2d  the reference GEMM kernel (double accumulation, operands rounded like the
//                    variant's precision): rel_l2 <= 1e-4
//   attention        the unfused graph (matmul -> softmax -> matmul with the reference GEMM):
//                    rel_l2 <= 1e-4
// GFLOP/s counts 2·M·N·K for products and 4·tq·tk·d per head for attention; %peak is against the
// device's FP32 FMA peak (SIMT, flash) or dense tensor-core peak (WMMA), computed from SM count ×
// clock × per-SM rate (sm_80: 2048 and sm_90: 4096 bf16 FLOP/clk/SM; sm_86/89 GeForce: 512 with
// f32 accumulation). SD_PEAK_F32_TFLOPS / SD_PEAK_TC_TFLOPS override (H100 SXM spec: 67 / 989).
// Prints a table and, as its last line, one JSON object with every figure.
//
//   bench/kernels/cuda/build.sh && /tmp/sd_cuda_lab/bench_cuda [filter] [iterations]
#include <cstdio>

#ifndef SD_WITH_CUDA
int main() {
  std::printf("bench_cuda: skipped: built without the CUDA backend\n");
  return 0;
}
#else

#include <cuda_runtime.h>

#include <chrono>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <string>
#include <vector>

#include "../lab.h"
#include "core/context.h"
#include "core/cuda/cuda_backend.h"
#include "core/error.h"
#include "core/graph.h"
#include "core/ops.h"

using namespace sd;

namespace {

lab::Lcg frand{12345};

enum class Kind { Linear, Conv, Attention };

struct Shape {
  const char* name;
  Kind kind;
  // linear: m, n, k. conv: batch, c_in, h(=w), c_out, kernel. attention: batch, heads, tq, tk, d.
  int64_t a, b, c, d, e;
};

const Shape kShapes[] = {
    {"linear_4096x320x320", Kind::Linear, 4096, 320, 320, 0, 0},
    {"linear_geglu_4096x2560x320", Kind::Linear, 4096, 2560, 320, 0, 0},
    {"linear_4096x320x1280", Kind::Linear, 4096, 320, 1280, 0, 0},
    {"linear_1024x640x640", Kind::Linear, 1024, 640, 640, 0, 0},
    {"linear_256x1280x1280", Kind::Linear, 256, 1280, 1280, 0, 0},
    {"linear_77x320x768", Kind::Linear, 77, 320, 768, 0, 0},
    {"conv3x3_320_64x64", Kind::Conv, 1, 320, 64, 320, 3},
    {"conv3x3_640_32x32", Kind::Conv, 1, 640, 32, 640, 3},
    {"conv3x3_1280_16x16", Kind::Conv, 1, 1280, 16, 1280, 3},
    {"conv3x3_1280_8x8", Kind::Conv, 1, 1280, 8, 1280, 3},
    {"conv1x1_320_64x64", Kind::Conv, 1, 320, 64, 320, 1},
    {"vae_conv3x3_128_512x512", Kind::Conv, 1, 128, 512, 128, 3},
    {"attn_sd15_4096x40_h8_b2", Kind::Attention, 2, 8, 4096, 4096, 40},
    {"attn_sd15_1024x80_h8_b2", Kind::Attention, 2, 8, 1024, 1024, 80},
    {"attn_sd15_256x160_h8_b2", Kind::Attention, 2, 8, 256, 256, 160},
    {"attn_sd15_cross_4096x77x40_h8_b2", Kind::Attention, 2, 8, 4096, 77, 40},
    {"attn_sdxl_1024x64_h10_b2", Kind::Attention, 2, 10, 1024, 1024, 64},
    {"attn_vae_4096x512_h1", Kind::Attention, 1, 1, 4096, 4096, 512},
};

struct Variant {
  const char* name;
  cuda::Precision precision;
  cuda::GemmPath path;
  bool tensor_cores;
};

const Variant kVariants[] = {
    {"simt-f32", cuda::Precision::F32, cuda::GemmPath::Simt, false},
    {"wmma-bf16", cuda::Precision::Bf16, cuda::GemmPath::TensorCore, true},
    {"wmma-f16", cuda::Precision::F16, cuda::GemmPath::TensorCore, true},
};

double flops(const Shape& s) {
  switch (s.kind) {
    case Kind::Linear: return 2.0 * s.a * s.b * s.c;
    case Kind::Conv: return 2.0 * s.a * s.d * s.c * s.c * s.b * s.e * s.e;  // stride 1, same padding
    case Kind::Attention: return 4.0 * s.a * s.b * s.c * s.d * s.e;
  }
  return 0;
}

struct Inputs {
  std::vector<Tensor*> acts;
  std::vector<std::vector<uint8_t>> act_data;
  std::vector<std::vector<uint8_t>> weights;  // host memory of weight leaves (data points here)
};

Tensor* act(Context& ctx, Inputs& in, std::initializer_list<int64_t> shape) {
  Tensor* t = ctx.new_tensor(DType::F32, shape, "x" + std::to_string(in.acts.size()));
  std::vector<uint8_t> v(t->nbytes());
  for (int64_t i = 0; i < t->numel(); ++i) {
    const float f = frand();
    std::memcpy(&v[size_t(i) * 4], &f, 4);
  }
  in.acts.push_back(t);
  in.act_data.push_back(std::move(v));
  return t;
}

Tensor* weight(Context& ctx, Inputs& in, std::initializer_list<int64_t> shape, float scale) {
  Tensor* t = ctx.new_tensor(DType::F16, shape, "w" + std::to_string(in.weights.size()));
  std::vector<uint8_t> v(t->nbytes());
  for (int64_t i = 0; i < t->numel(); ++i) {
    const uint16_t h = f32_to_f16(frand() * scale);
    std::memcpy(&v[size_t(i) * 2], &h, 2);
  }
  in.weights.push_back(std::move(v));
  t->data = in.weights.back().data();
  return t;
}

// The op under test (attention: also the unfused version when `unfused`).
Tensor* build(Context& ctx, Inputs& in, const Shape& s, bool unfused) {
  frand.state = 12345;  // identical inputs for every variant
  switch (s.kind) {
    case Kind::Linear: {
      Tensor* x = act(ctx, in, {s.a, s.c});
      return linear(ctx, x, weight(ctx, in, {s.b, s.c}, 1.0f / std::sqrt(float(s.c))), weight(ctx, in, {s.b}, 0.1f));
    }
    case Kind::Conv: {
      Tensor* x = act(ctx, in, {s.a, s.b, s.c, s.c});
      const float sc = 1.0f / std::sqrt(float(s.b * s.e * s.e));
      return conv2d(ctx, x, weight(ctx, in, {s.d, s.b, s.e, s.e}, sc), weight(ctx, in, {s.d}, 0.1f), 1, int(s.e / 2));
    }
    case Kind::Attention: {
      const int64_t B = s.a, H = s.b, TQ = s.c, TK = s.d, D = s.e;
      Tensor* q = act(ctx, in, {B, TQ, H * D});
      Tensor* k = act(ctx, in, {B, TK, H * D});
      Tensor* v = act(ctx, in, {B, TK, H * D});
      const float scale = 1.0f / std::sqrt(float(D));
      if (!unfused) return attention(ctx, q, k, v, int(H), scale);
      auto heads_first = [&](Tensor* t, int64_t T) {  // [B, T, H*D] -> [B*H, T, D]
        return reshape(ctx, contiguous(ctx, permute(ctx, reshape(ctx, t, {B, T, H, D}), {0, 2, 1, 3})), {B * H, T, D});
      };
      Tensor* p = softmax(ctx, matmul(ctx, heads_first(q, TQ), heads_first(k, TK)), scale);       // [B*H, TQ, TK]
      Tensor* vt = reshape(ctx, contiguous(ctx, permute(ctx, reshape(ctx, v, {B, TK, H, D}), {0, 2, 3, 1})), {B * H, D, TK});
      Tensor* o = matmul(ctx, p, vt);                                                                 // [B*H, TQ, D]
      return reshape(ctx, contiguous(ctx, permute(ctx, reshape(ctx, o, {B, H, TQ, D}), {0, 2, 1, 3})), {B, TQ, H * D});
    }
  }
  return nullptr;
}

struct Run {
  std::vector<float> out;
  double seconds = 0;  // per iteration
};

Run run(const Shape& s, cuda::Precision prec, cuda::GemmPath path, bool unfused, int iters) {
  Context ctx;
  Inputs in;
  Tensor* out = build(ctx, in, s, unfused);
  cuda::CudaOptions opt;
  opt.precision = prec;
  opt.gemm = path;
  cuda::CudaBackend gpu(opt);
  Graph g(gpu, {out});
  g.plan();
  for (size_t i = 0; i < in.acts.size(); ++i) gpu.upload(in.acts[i], in.act_data[i].data(), in.act_data[i].size());
  g.compute();  // warm-up: uploads the weights
  gpu.synchronize();
  Run r;
  if (iters > 0) {
    const auto t0 = std::chrono::steady_clock::now();
    for (int i = 0; i < iters; ++i) g.compute();
    gpu.synchronize();
    r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count() / iters;
  }
  r.out.resize(size_t(out->numel()));
  gpu.download(out, r.out.data(), r.out.size() * 4);
  return r;
}

double peak_tflops(bool tensor_cores, const cuda::DeviceInfo& info) {
  const char* env = std::getenv(tensor_cores ? "SD_PEAK_TC_TFLOPS" : "SD_PEAK_F32_TFLOPS");
  if (env) return std::atof(env);
  int khz = 0;
  cudaDeviceGetAttribute(&khz, cudaDevAttrClockRate, info.index);
  const int cc = info.cc_major * 10 + info.cc_minor;
  const double per_sm = tensor_cores ? (cc >= 90 ? 4096 : cc == 80 ? 2048 : 512) : 256;  // FLOP per clock
  return info.sm_count * per_sm * khz * 1e3 / 1e12;
}

}  // namespace

int main(int argc, char** argv) {
  std::string why;
  if (!cuda::cuda_available(&why)) {
    std::printf("bench_cuda: skipped: %s\n", why.c_str());
    return 0;
  }
  const std::string filter = argc > 1 ? argv[1] : "";
  const int iters = argc > 2 ? std::atoi(argv[2]) : 20;
  const cuda::DeviceInfo info = cuda::cuda_device_info(0);
  const double peak_f32 = peak_tflops(false, info), peak_tc = peak_tflops(true, info);
  std::printf("%s (sm_%d%d, %d SMs), %s; peak %.1f TFLOP/s f32 FMA, %.0f TFLOP/s tensor cores\n", info.name.c_str(),
              info.cc_major, info.cc_minor, info.sm_count, cuda::cuda_build_info().c_str(), peak_f32, peak_tc);
  std::printf("%-34s %-10s %10s %10s %7s %9s\n", "shape", "kernel", "ms", "GFLOP/s", "%peak", "rel_l2");
  std::string json = "{\"device\":\"" + info.name + "\",\"results\":[";
  bool first = true;
  int failures = 0;
  for (const Shape& s : kShapes) {
    if (!filter.empty() && std::string(s.name).find(filter) == std::string::npos) continue;
    for (const Variant& v : kVariants) {
      // Flash attention is f32 whatever the precision: time it once.
      if (s.kind == Kind::Attention && v.tensor_cores && s.e <= 160) continue;
      if (v.tensor_cores && info.cc_major < 8) continue;
      try {
        const Run r = run(s, v.precision, v.path, false, iters);
        const Run ref = s.kind == Kind::Attention ? run(s, cuda::Precision::F32, cuda::GemmPath::Reference, true, 0)
                                                  : run(s, v.precision, cuda::GemmPath::Reference, false, 0);
        const double err = lab::rel_l2(r.out, ref.out);
        const bool tc = v.tensor_cores;
        const double gflops = flops(s) / r.seconds / 1e9;
        const double pct = 100.0 * gflops / ((tc ? peak_tc : peak_f32) * 1e3);
        const double tol = (s.kind == Kind::Attention && tc) ? 2e-2 : 1e-4;
        const char* name = s.kind == Kind::Attention && !tc ? (s.e <= 160 ? "flash-f32" : "fallback") : v.name;
        std::printf("%-34s %-10s %10.3f %10.0f %6.1f%% %9.2e%s\n", s.name, name, r.seconds * 1e3, gflops, pct, err,
                    err <= tol ? "" : "  FAILED validation");
        if (!(err <= tol)) ++failures;
        char buf[256];
        std::snprintf(buf, sizeof buf, "%s{\"shape\":\"%s\",\"kernel\":\"%s\",\"ms\":%.4f,\"gflops\":%.1f,\"pct_peak\":%.2f,\"rel_l2\":%.3g}",
                      first ? "" : ",", s.name, name, r.seconds * 1e3, gflops, pct, err);
        json += buf;
        first = false;
      } catch (const Error& e) {
        std::printf("%-34s %-10s error: %s\n", s.name, v.name, e.what());
        ++failures;
      }
    }
  }
  json += "]}";
  std::printf("%s\n", json.c_str());
  return failures == 0 ? 0 : 1;
}

#endif  // SD_WITH_CUDA
