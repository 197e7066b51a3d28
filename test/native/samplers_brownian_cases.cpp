// The SDE samplers' Brownian-tree noise against brownian.safetensors (numpy SeedSequence, torchsde
// 0.2.6 BrownianTree and k-diffusion's BrownianTreeNoiseSampler as A1111 builds it, torch CPU
// generator and A1111's Philox), then DPM++ SDE / 2M SDE / 2M SDE Heun / 3M SDE on the toy denoiser
// with that noise. Part of test_samplers.
#include "../../native/sample/fp_exact.h"  // first: the toy denoiser is f32 arithmetic as torch does it

#include <chrono>
#include <cstdio>
#include <string>
#include <vector>

#include "../../native/core/error.h"
#include "../../native/io/safetensors.h"
#include "../../native/sample/brownian_tree.h"
#include "../../native/sample/sampler.h"
#include "../../native/sample/schedule.h"
#include "../../native/sample/seed_sequence.h"
#include "golden.h"
#include "harness.h"
#include "toy_denoiser.h"

namespace ss = sd::sample;
using Vec = std::vector<float>;

namespace {

using toy::rel;

// The golden was made with Debian's torch on an AVX2 machine: its randn takes the AVX2 kernel (as
// A1111's usual host does, and BrownianNoise by default).
constexpr auto kKernel = ss::TorchCpuGenerator::Kernel::Avx2;

ss::RngKind kind_of(const std::string& k) { return k == "cpu" ? ss::RngKind::Cpu : ss::RngKind::Philox; }

void test_seed_sequence(const sd::io::SafetensorsFile& g) {
  struct Case { uint64_t entropy; std::vector<uint64_t> spawn; int pool; };
  const std::vector<Case> cases = {{0, {}, 24},          {42, {}, 24},        {42, {0, 0}, 24},
                                   {42, {5, 3}, 24},     {4294967295ull, {1, 1}, 24},
                                   {(1ull << 40) + 3, {123456, 17}, 24}, {7, {(1ull << 33) + 1, 40}, 4},
                                   {(1ull << 63) + 11, {}, 4}};
  int exact = 0;
  for (size_t i = 0; i < cases.size(); ++i) {
    const auto* t = g.find("golden.seed_sequence." + std::to_string(i));
    CHECK_MSG(t != nullptr, "seed_sequence golden " + std::to_string(i));
    if (!t) continue;
    const auto got = ss::SeedSequence(ss::int_words(cases[i].entropy), cases[i].spawn, cases[i].pool).generate_state(5);
    bool same = true;
    for (size_t k = 0; k < got.size(); ++k) same = same && int64_t(got[k]) == golden::int64_at(t->data, k);
    exact += same;
  }
  std::printf("SeedSequence.generate_state vs numpy: %d/%zu cases bit-exact\n", exact, cases.size());
  CHECK_MSG(exact == int(cases.size()), "SeedSequence == numpy for every case");
}

// One noise_sampler call sequence: golden.tree.<name>.{range,queries,noise}.
double tree_case(const sd::io::SafetensorsFile& g, const std::string& name, const std::vector<uint64_t>& seeds, int64_t per_image) {
  const std::string pre = "golden.tree." + name;
  const Vec range = golden::floats(g, pre + ".range"), q = golden::floats(g, pre + ".queries"), want = golden::floats(g, pre + ".noise");
  ss::BrownianNoise noise(range[0], range[1], seeds, per_image, kind_of(name.substr(0, name.find('.'))), kKernel);
  const int64_t n = per_image * int64_t(seeds.size());
  Vec got(q.size() / 2 * size_t(n));
  for (size_t i = 0; i < q.size() / 2; ++i) noise.draw(q[2 * i], q[2 * i + 1], got.data() + i * size_t(n));
  return rel(got, want);
}

void test_trees(const sd::io::SafetensorsFile& g) {
  double worst = 0;
  for (const std::string kind : {"cpu", "philox"}) {
    const double e[3] = {tree_case(g, kind + ".karras", {42}, 256), tree_case(g, kind + ".batch2", {1234, 1235}, 256),
                         tree_case(g, kind + ".odd_size", {(1ull << 33) + 7}, 100)};
    std::printf("brownian tree %-6s rel-L2 vs torchsde: karras (repeat, reversed, half step) %.3g, batch of 2 %.3g, numel 100 %.3g\n",
                kind.c_str(), e[0], e[1], e[2]);
    for (double v : e) worst = std::fmax(worst, v);
  }
  const double wide = tree_case(g, "cpu.wide", {7}, 64), img2img = tree_case(g, "cpu.img2img", {99}, 256);
  std::printf("brownian tree cpu    rel-L2 vs torchsde: sigma_max 80 %.3g, img2img tail %.3g\n", wide, img2img);
  worst = std::fmax(worst, std::fmax(wide, img2img));
  CHECK_MSG(worst < 1e-5, "BrownianNoise == k-diffusion BrownianTreeNoiseSampler (every case)");

  // A query order of our own (backwards) gives the same numbers: the tree is the dyadic one.
  ss::BrownianTree fwd(0.03, 14.6, 5, 64, ss::RngKind::Cpu, kKernel), bwd(0.03, 14.6, 5, 64, ss::RngKind::Cpu, kKernel);
  Vec a(64), b(64), c(64);
  fwd.increment(0.5, 1.0, a.data());
  bwd.increment(7.0, 9.0, c.data());
  bwd.increment(0.5, 1.0, b.data());
  CHECK_MSG(rel(a, b) == 0.0, "tree increments do not depend on the query order");
  bool threw = false;
  try { fwd.increment(2.0, 1.0, a.data()); } catch (const sd::Error&) { threw = true; }
  CHECK_MSG(threw, "a reversed interval is an error");
  fwd.increment(1.0, 1.0, a.data());
  CHECK_MSG(a[0] == 0.0f && a[63] == 0.0f, "an empty interval's increment is 0");
}

void test_sampler_runs(const sd::io::SafetensorsFile& g, const sd::io::SafetensorsFile& base, const ss::DiscreteSchedule& sched) {
  const Vec noise = golden::floats(base, "golden.input.noise");
  const int64_t per = int64_t(noise.size());
  struct Run { const char* kind; std::vector<uint64_t> seeds; };
  double worst = 0;
  int runs = 0;
  for (const Run& r : {Run{"cpu", {31337}}, Run{"cpu", {5, 6}}, Run{"philox", {31337}}}) {
    for (const char* sn : {"normal", "karras"}) {
      const Vec sigmas = ss::make_sigmas(sched, ss::scheduler_from_name(sn), 10);
      float lo = sigmas[0], hi = sigmas[0];
      for (float s : sigmas) if (s > 0) lo = std::fmin(lo, s), hi = std::fmax(hi, s);
      for (const char* name : {"dpmpp_sde", "dpmpp_2m_sde", "dpmpp_2m_sde_heun", "dpmpp_3m_sde"}) {
        CHECK_MSG(ss::sampler(name).brownian_noise, std::string(name) + " is marked brownian_noise");
        const int64_t n = per * int64_t(r.seeds.size());
        toy::RecordingToy toy(n);
        ss::BrownianNoise tree(lo, hi, r.seeds, per, kind_of(r.kind), kKernel);
        ss::SampleParams p;
        p.interval_noise = &tree;
        Vec x(static_cast<size_t>(n));
        for (int64_t k = 0; k < n; ++k) x[size_t(k)] = noise[size_t(k % per)] * sigmas[0];
        const bool done = ss::sampler(name).fn(toy, x.data(), n, sigmas, p);
        const std::string key = std::string(name) + "." + sn + "." + r.kind + ".b" + std::to_string(r.seeds.size());
        const double e = rel(x, golden::floats(g, "golden.output." + key));
        CHECK_MSG(done && e < 1e-5, key + " output vs k-diffusion with the Brownian tree");
        worst = std::fmax(worst, e);
        ++runs;
      }
    }
  }
  std::printf("SDE samplers with the Brownian tree: %d runs (cpu b1, cpu b2, philox b1 × normal, karras), worst rel-L2 %.3g\n",
              runs, worst);
  for (const auto& s : ss::samplers()) {
    const std::string nm = s.name;
    const bool sde = nm == "dpmpp_sde" || nm == "dpmpp_2m_sde" || nm == "dpmpp_2m_sde_heun" || nm == "dpmpp_3m_sde";
    CHECK_MSG(s.brownian_noise == sde, nm + ": brownian_noise only on A1111's brownian_noise samplers");
  }
}

// What the tree costs per noise_sampler call on an SD1 512² latent (printed, not checked).
void time_tree() {
  const int64_t per = 4 * 64 * 64;
  const ss::DiscreteSchedule sched = ss::DiscreteSchedule::scaled_linear();
  const Vec sigmas = ss::make_sigmas(sched, ss::Scheduler::Karras, 20);
  ss::BrownianNoise tree(sigmas[sigmas.size() - 2], sigmas[0], {1}, per, ss::RngKind::Cpu);
  Vec out(static_cast<size_t>(per));
  const auto t0 = std::chrono::steady_clock::now();
  for (size_t i = 0; i + 2 < sigmas.size(); ++i) tree.draw(sigmas[i], sigmas[i + 1], out.data());
  const double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
  std::printf("brownian tree 4x64x64, karras 20 steps: %.2f ms per noise_sampler call (cpu generator)\n", ms / double(sigmas.size() - 2));
}

}  // namespace

void test_samplers_brownian(const std::string& dir) {
  auto g = sd::io::SafetensorsFile::open(dir + "/brownian.safetensors");
  auto base = sd::io::SafetensorsFile::open(dir + "/samplers.safetensors");
  test_seed_sequence(*g);
  test_trees(*g);
  test_sampler_runs(*g, *base, ss::DiscreteSchedule::scaled_linear());
  time_tree();
}
