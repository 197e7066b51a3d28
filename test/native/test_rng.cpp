// RNG parity: torch's CPU generator (both kernels) and A1111's Philox "NV" source against
// rng.safetensors (+ the full-tensor sums in rng.json), and the per-image batch noise source.
// Usage: test_rng [fixtures_dir]   (default test/fixtures)
#include <cmath>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <functional>
#include <sstream>
#include <string>
#include <vector>

#include "../../native/io/json.h"
#include "../../native/io/safetensors.h"
#include "../../native/sample/noise.h"
#include "../../native/sample/rng_philox.h"
#include "../../native/sample/rng_torch_cpu.h"
#include "harness.h"

using sd::sample::ImageNoise;
using sd::sample::PhiloxGenerator;
using sd::sample::RngKind;
using sd::sample::TorchCpuGenerator;

namespace {

std::vector<float> tensor(const sd::io::SafetensorsFile& f, const std::string& name) {
  const sd::io::TensorInfo* t = f.find(name);
  if (!t) throw sd::Error("fixture lacks " + name);
  std::vector<float> v(static_cast<size_t>(t->numel()));
  std::memcpy(v.data(), t->data, v.size() * 4);
  return v;
}

struct Tally {
  int64_t values = 0, exact = 0;
  double max_abs = 0;
  void add(const std::vector<float>& got, const std::vector<float>& want) {
    for (size_t i = 0; i < want.size(); ++i) {
      ++values;
      if (std::memcmp(&got[i], &want[i], 4) == 0) ++exact;
      max_abs = std::fmax(max_abs, std::fabs(double(got[i]) - double(want[i])));
    }
  }
};

// Draws a generator's output for one golden case; `gen` makes a fresh generator for a seed and
// `randn(g, out, n)` performs one call.
template <class Gen>
std::vector<float> run_case(const std::string& c, const std::function<Gen(uint64_t)>& make,
                            const std::function<void(Gen&, float*, int64_t)>& randn, bool* known) {
  *known = true;
  auto draw = [&](Gen& g, int64_t n) { std::vector<float> v(static_cast<size_t>(n)); randn(g, v.data(), n); return v; };
  const std::string first16 = ".shape_4x64x64.first16";
  if (c.size() > first16.size() && c.compare(c.size() - first16.size(), first16.size(), first16) == 0) {
    const uint64_t seed = std::stoull(c.substr(4, c.size() - first16.size() - 4));
    Gen g = make(seed);
    std::vector<float> v = draw(g, 4 * 64 * 64);
    v.resize(16);
    return v;
  }
  Gen g = make(42);
  if (c == "seed42.shape_1x4x8x8") return draw(g, 256);
  if (c == "seed42.shape_1x4x64x64") return draw(g, 16384);
  if (c == "seed42.shape_1x4x8x8.call1") { draw(g, 256); return draw(g, 256); }
  if (c == "seed42.shape_1x4x8x8.call2") { draw(g, 256); draw(g, 256); return draw(g, 256); }
  if (c == "seed42.size_1.call1") { draw(g, 1); return draw(g, 1); }
  if (c == "seed42.seq_1_16_1") {
    std::vector<float> a = draw(g, 1), b = draw(g, 16), d = draw(g, 1);
    a.insert(a.end(), b.begin(), b.end());
    a.insert(a.end(), d.begin(), d.end());
    return a;
  }
  if (c.rfind("seed42.size_", 0) == 0) return draw(g, std::stoll(c.substr(12)));
  *known = false;
  return {};
}

std::string read_text(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw sd::Error("cannot read " + path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

}  // namespace

int main(int argc, char** argv) {
  const std::string dir = argc > 1 ? argv[1] : "test/fixtures";
  auto file = sd::io::SafetensorsFile::open(dir + "/rng.safetensors");
  const sd::json::Value sidecar = sd::json::parse(read_text(dir + "/rng.json"));

  // ---- raw engines -------------------------------------------------------------------------
  {  // std::mt19937 == torch's mt19937 (10000th output of the default-seeded engine is 4123659995)
    std::mt19937 e;
    e.discard(9999);
    CHECK(e() == 4123659995u);
  }
  {  // Philox4x32-10 known-answer test (Random123 kat_vectors: zero counter/key; all-ones)
    auto r = sd::sample::philox4x32_10({0, 0, 0, 0}, {0, 0});
    CHECK(r[0] == 0x6627e8d5u && r[1] == 0xe169c58du && r[2] == 0xbc57ac4cu && r[3] == 0x9b00dbd8u);
    auto r2 = sd::sample::philox4x32_10({0xffffffffu, 0xffffffffu, 0xffffffffu, 0xffffffffu}, {0xffffffffu, 0xffffffffu});
    CHECK(r2[0] == 0x408f276du && r2[1] == 0x41c83b0eu && r2[2] == 0xa20bc7c6u && r2[3] == 0x6d5451fdu);
  }

  // ---- golden cases ------------------------------------------------------------------------
  struct Variant {
    std::string gen;
    std::function<std::vector<float>(const std::string&, bool*)> run;
  };
  auto torch_variant = [](TorchCpuGenerator::Kernel k) {
    return [k](const std::string& c, bool* known) {
      return run_case<TorchCpuGenerator>(
          c, [k](uint64_t s) { return TorchCpuGenerator(s, k); },
          [](TorchCpuGenerator& g, float* o, int64_t n) { g.randn(o, n); }, known);
    };
  };
  std::vector<Variant> variants = {
      {"torch_cpu_default", torch_variant(TorchCpuGenerator::Kernel::Default)},
      {"torch_cpu_avx2", torch_variant(TorchCpuGenerator::Kernel::Avx2)},
      {"a1111_philox",
       [](const std::string& c, bool* known) {
         return run_case<PhiloxGenerator>(
             c, [](uint64_t s) { return PhiloxGenerator(s); },
             [](PhiloxGenerator& g, float* o, int64_t n) { g.randn(o, n); }, known);
       }},
  };
  // Our two torch kernels against both torch goldens (a kernel should match its own variant).
  std::vector<std::pair<std::string, std::string>> pairs = {
      {"torch_cpu_default", "torch_cpu_default"}, {"torch_cpu_avx2", "torch_cpu_avx2"},
      {"torch_cpu_default", "torch_cpu_avx2"},    {"torch_cpu_avx2", "torch_cpu_default"},
      {"a1111_philox", "a1111_philox"}};
  for (const auto& [ours, golden] : pairs) {
    const Variant* v = nullptr;
    for (const auto& x : variants)
      if (x.gen == ours) v = &x;
    Tally all, scalar;
    const std::string prefix = "golden.output." + golden + ".";
    int cases = 0;
    for (const auto& t : file->tensors()) {
      if (t.name.rfind(prefix, 0) != 0) continue;
      const std::string c = t.name.substr(prefix.size());
      bool known = false;
      std::vector<float> got = v->run(c, &known);
      CHECK_MSG(known, "unhandled rng case " + t.name);
      if (!known) continue;
      const std::vector<float> want = tensor(*file, t.name);
      CHECK_MSG(got.size() == want.size(), "size of " + t.name);
      if (got.size() != want.size()) continue;
      ++cases;
      all.add(got, want);
      // Cases drawn entirely by the scalar (numel < 16) path.
      const bool is_scalar = c == "seed42.size_1" || c == "seed42.size_8" || c == "seed42.size_15" ||
                             c == "seed42.size_1.call1";
      if (is_scalar) scalar.add(got, want);
    }
    std::printf("%-18s vs %-18s %2d cases: %6lld/%6lld values bit-exact (%.4f%%), max |err| %.3g; scalar path %lld/%lld\n",
                ours.c_str(), golden.c_str(), cases, (long long)all.exact, (long long)all.values,
                100.0 * double(all.exact) / double(all.values), all.max_abs, (long long)scalar.exact,
                (long long)scalar.values);
    if (ours == golden) {
      CHECK_MSG(cases >= 16, ours + ": all cases present");
      CHECK_MSG(scalar.exact == scalar.values, ours + ": scalar path bit-exact");
      if (ours == "torch_cpu_default") {  // libm logf/cosf/sinf: exact with glibc, ~1 ulp elsewhere
        CHECK_MSG(all.max_abs < 5e-7 && double(all.exact) >= 0.98 * double(all.values), ours + " close to its golden");
      } else {  // our own arithmetic (Philox in f64; the AVX2 kernel's Cephes polynomials)
        CHECK_MSG(all.exact == all.values, ours + " bit-exact");
      }
    } else {
      CHECK_MSG(all.max_abs < 5e-6, ours + " vs " + golden + " within the kernels' documented difference");
    }
  }

  // ---- full 4x64x64 tensors against the sidecar sums ---------------------------------------
  for (const auto& v : variants) {
    const sd::json::Value* per_gen = sidecar.get("summaries") ? sidecar.get("summaries")->get(v.gen) : nullptr;
    CHECK_MSG(per_gen != nullptr, "rng.json summaries for " + v.gen);
    if (!per_gen) continue;
    double worst_sum = 0, worst_std = 0;
    for (const auto& [key, summary] : per_gen->members) {  // "seed=S"
      const uint64_t seed = std::stoull(key.substr(5));
      std::vector<float> x(16384);
      if (v.gen == "a1111_philox") PhiloxGenerator(seed).randn(x.data(), 16384);
      else TorchCpuGenerator(seed, v.gen == "torch_cpu_avx2" ? TorchCpuGenerator::Kernel::Avx2
                                                            : TorchCpuGenerator::Kernel::Default).randn(x.data(), 16384);
      double sum = 0, sq = 0;
      for (float f : x) sum += f;
      const double mean = sum / 16384;
      for (float f : x) sq += (f - mean) * (f - mean);
      const double sd_unbiased = std::sqrt(sq / 16383);
      worst_sum = std::fmax(worst_sum, std::fabs(sum - summary.get("sum")->number().to_double()));
      worst_std = std::fmax(worst_std, std::fabs(sd_unbiased - summary.get("std_unbiased")->number().to_double()));
    }
    std::printf("%-18s full 4x64x64 for %zu seeds: max |sum - golden| %.3g, max |std - golden| %.3g\n",
                v.gen.c_str(), per_gen->members.size(), worst_sum, worst_std);
    CHECK_MSG(per_gen->members.size() == 7, v.gen + ": 7 seeds summarised");
    CHECK_MSG(worst_sum < 2e-3 && worst_std < 1e-6, v.gen + ": full-tensor sums match");
  }

  // ---- seeds: torch uses the low 32 bits, Philox all 64 --------------------------------------
  {
    std::vector<float> a(16), b(16);
    TorchCpuGenerator(0).randn(a.data(), 16);
    TorchCpuGenerator(uint64_t(1) << 32).randn(b.data(), 16);
    CHECK(a == b);
    PhiloxGenerator(0).randn(a.data(), 16);
    PhiloxGenerator(uint64_t(1) << 32).randn(b.data(), 16);
    CHECK(a != b);
    // manual_seed clears the cached scalar normal
    TorchCpuGenerator g(42);
    float one, again;
    g.randn(&one, 1);
    g.manual_seed(42);
    g.randn(&again, 1);
    CHECK(one == again);
  }

  // ---- ImageNoise: one generator per image, consecutive calls continue each stream ----------
  {
    const int64_t per = 256;
    for (RngKind kind : {RngKind::Cpu, RngKind::Philox}) {
      ImageNoise noise(kind, sd::sample::consecutive_seeds(41, 2), per);
      std::vector<float> call0(2 * per), call1(2 * per);
      noise.next(call0.data());
      noise.next(call1.data());
      CHECK(noise.calls() == 2);
      // image 1 (seed 42) equals the golden stream of seed 42: call 0 and call 1
      const std::string g = kind == RngKind::Cpu ? "torch_cpu_avx2" : "a1111_philox";
      const std::vector<float> want0 = tensor(*file, "golden.output." + g + ".seed42.shape_1x4x8x8");
      const std::vector<float> want1 = tensor(*file, "golden.output." + g + ".seed42.shape_1x4x8x8.call1");
      CHECK_MSG(harness::rel_l2(call0.data() + per, want0.data(), per) < 1e-6, g + " ImageNoise image 1 call 0");
      CHECK_MSG(harness::rel_l2(call1.data() + per, want1.data(), per) < 1e-6, g + " ImageNoise image 1 call 1");
      // image 0 is seed 41's own stream
      std::vector<float> own(per);
      if (kind == RngKind::Cpu) TorchCpuGenerator(41, TorchCpuGenerator::Kernel::Avx2).randn(own.data(), per);
      else PhiloxGenerator(41).randn(own.data(), per);
      CHECK(std::memcmp(own.data(), call0.data(), per * 4) == 0);
    }
    {  // eta_noise_seed_delta: after the first call the streams restart from seed + delta
      ImageNoise noise(RngKind::Philox, {42}, per);
      std::vector<float> a(per), b(per);
      noise.next(a.data());
      noise.reseed({42 + 31337});
      noise.next(a.data());
      PhiloxGenerator(42 + 31337).randn(b.data(), per);
      CHECK(a == b);
    }
    CHECK(sd::sample::rng_kind_from_name("nv") == RngKind::Philox);
    bool threw = false;
    try { sd::sample::rng_kind_from_name("gpu0"); } catch (const sd::Error& e) {
      threw = std::string(e.what()) == "unknown rng \"gpu0\"; known: cpu, cuda (= nv, gpu, philox)";
    }
    CHECK(threw);
  }
  return harness::finish("test_rng");
}
