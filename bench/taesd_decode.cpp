// TAESD decode vs the checkpoint's VAE decode, one 512² image (latent [1, 4, 64, 64]), through the
// real graph + CPU backend. Medians of several runs; prints one JSON object as its last line.
//   g++ -O2 -std=c++17 -Inative -Inative/include bench/taesd_decode.cpp build-native/tests/libsd_core.a -lpthread -o /tmp/taesd_bench
//   /tmp/taesd_bench /tmp/sd15-random.safetensors test/fixtures/taesd_golden.safetensors decoder. [f32|bf16]
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <functional>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "core/cpu/cpu_backend.h"
#include "core/graph.h"
#include "model/taesd.h"
#include "model/vae.h"

using namespace sd;

// Median seconds of `reps` runs of a planned graph; the input is filled with N(0, 1) once.
static double median_seconds(cpu::CpuBackend& backend, const std::function<Tensor*(Context&, Tensor*)>& build, int reps, size_t* arena) {
  Context ctx;
  Tensor* z = ctx.new_tensor(DType::F32, {1, 4, 64, 64}, "z");
  Graph g(backend, {build(ctx, z)});
  g.plan();
  *arena = g.arena_bytes();
  std::mt19937 rng(1);
  std::normal_distribution<float> n;
  for (int64_t i = 0; i < z->numel(); ++i) z->ptr<float>()[i] = n(rng);
  std::vector<double> t;
  for (int r = 0; r < reps; ++r) {
    auto t0 = std::chrono::steady_clock::now();
    g.compute();
    t.push_back(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
  }
  std::sort(t.begin(), t.end());
  return t[t.size() / 2];
}

int main(int argc, char** argv) {
  if (argc < 4) { std::fprintf(stderr, "usage: %s <sd checkpoint> <taesd file> <taesd prefix> [f32|bf16]\n", argv[0]); return 2; }
  cpu::CpuOptions opt;
  opt.precision = argc > 4 && std::strcmp(argv[4], "bf16") == 0 ? cpu::GemmPrecision::Bf16 : cpu::GemmPrecision::F32;
  cpu::CpuBackend backend(opt);
  auto wctx = std::make_shared<Context>();
  std::shared_ptr<const io::SafetensorsFile> ckpt = io::SafetensorsFile::open(argv[1]);
  std::shared_ptr<const io::SafetensorsFile> tf = io::SafetensorsFile::open(argv[2]);
  model::Vae vae(model::Weights(ckpt, wctx, "first_stage_model."));
  model::Taesd taesd(model::Weights(tf, wctx, argv[3]), model::Taesd::Part::Decoder);
  size_t taesd_arena = 0, vae_arena = 0;
  const double t_taesd = median_seconds(backend, [&](Context& c, Tensor* z) { return taesd.forward(c, z); }, 5, &taesd_arena);
  const double t_vae = median_seconds(backend, [&](Context& c, Tensor* z) { return vae.decode(c, z); }, 3, &vae_arena);
  std::printf("%s 512x512: TAESD %.0f ms (arena %zu MiB), VAE %.0f ms (arena %zu MiB), %.1fx\n", backend.name().c_str(), t_taesd * 1e3,
              taesd_arena >> 20, t_vae * 1e3, vae_arena >> 20, t_vae / t_taesd);
  std::printf("{\"taesd_ms\":%.1f,\"vae_ms\":%.1f,\"taesd_arena_mib\":%zu,\"vae_arena_mib\":%zu}\n", t_taesd * 1e3, t_vae * 1e3,
              taesd_arena >> 20, vae_arena >> 20);
  return 0;
}
