// Align Your Steps, GITS, Beta, KL Optimal, DPM++ SDE, DPM++ 3M SDE, iPNDM and iPNDM-V against
// samplers_extra.safetensors (A1111 v1.10.1 / ComfyUI / k-diffusion run on the toy denoiser
// D(x, σ) = x/(1+σ²); the SDE samplers fed the golden's noise list). Part of test_samplers.
#include "../../native/sample/fp_exact.h"  // first: the toy denoiser is f32 arithmetic as torch does it

#include <cmath>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "../../native/core/error.h"
#include "../../native/io/safetensors.h"
#include "../../native/sample/sampler.h"
#include "../../native/sample/schedule.h"
#include "../../native/sample/schedule_extra.h"
#include "golden.h"
#include "harness.h"
#include "toy_denoiser.h"

namespace ss = sd::sample;
using Vec = std::vector<float>;

namespace {

Vec tensor(const sd::io::SafetensorsFile& f, const std::string& name) { return golden::floats(f, name); }

using toy::RecordingToy;
using toy::rel;

using toy::ListNoise;

void test_schedules(const sd::io::SafetensorsFile& g, const ss::DiscreteSchedule& sched) {
  double worst[4] = {0, 0, 0, 0};
  for (int n : {5, 10, 15, 25}) {
    const std::string k = std::to_string(n);
    const double e[4] = {
        std::fmax(rel(ss::make_sigmas(sched, ss::Scheduler::AlignYourSteps, n), tensor(g, "golden.sigmas.align_your_steps." + k)),
                  rel(ss::make_sigmas(sched, ss::Scheduler::AlignYourSteps, n, true), tensor(g, "golden.sigmas.align_your_steps_sdxl." + k))),
        0.0,
        rel(ss::make_sigmas(sched, ss::Scheduler::Beta, n), tensor(g, "golden.sigmas.beta." + k)),
        rel(ss::make_sigmas(sched, ss::Scheduler::KlOptimal, n), tensor(g, "golden.sigmas.kl_optimal." + k)),
    };
    for (int i = 0; i < 4; ++i) worst[i] = std::fmax(worst[i], e[i]);
  }
  for (int n = 2; n <= 25; ++n)
    worst[1] = std::fmax(worst[1], rel(ss::make_sigmas(sched, ss::Scheduler::Gits, n), tensor(g, "golden.sigmas.gits." + std::to_string(n))));
  std::printf("extra schedules rel-L2 vs golden: align_your_steps %.3g, gits %.3g, beta %.3g, kl_optimal %.3g\n",
              worst[0], worst[1], worst[2], worst[3]);
  CHECK_MSG(worst[0] < 1e-7, "align_your_steps (SD1 and SDXL, n = 5, 10, 15, 25) vs A1111");
  CHECK_MSG(worst[1] < 1e-7, "gits (n = 2..25) vs ComfyUI");
  CHECK_MSG(worst[2] < 1e-7, "beta (n = 5, 10, 15, 25) vs A1111");
  CHECK_MSG(worst[3] < 1e-7, "kl_optimal (n = 5, 10, 15, 25) vs A1111");
  // scipy beta.ppf values (scipy 1.10): symmetric, and its known midpoint
  CHECK(std::fabs(ss::beta_ppf(0.5, 0.6, 0.6) - 0.5) < 1e-15);
  CHECK(std::fabs(ss::beta_ppf(0.25, 0.6, 0.6) + ss::beta_ppf(0.75, 0.6, 0.6) - 1.0) < 1e-14);
  bool threw = false;
  try { ss::make_sigmas(sched, ss::Scheduler::Gits, 1); } catch (const sd::Error&) { threw = true; }
  CHECK_MSG(threw, "gits needs 2 steps");
}

void test_samplers(const sd::io::SafetensorsFile& g, const sd::io::SafetensorsFile& base, const ss::DiscreteSchedule& sched) {
  const int64_t n = 256;
  const Vec noise = tensor(base, "golden.input.noise"), draws = tensor(g, "golden.input.sde_noise");
  std::printf("%-14s %-7s %10s %10s %10s %5s %6s\n", "sampler", "sched", "out rel", "calls.x", "calls.sig", "nfe", "noise");
  for (const char* sn : {"normal", "karras"}) {
    const Vec sigmas = ss::make_sigmas(sched, ss::scheduler_from_name(sn), 10);
    for (const char* name : {"dpmpp_sde", "dpmpp_3m_sde", "ipndm", "ipndm_v"}) {
      const std::string key = std::string(name) + "." + sn;
      RecordingToy toy(n);
      ListNoise ln(draws, n);
      ss::SampleParams p;
      p.noise = &ln;
      Vec x(static_cast<size_t>(n));
      for (int64_t k = 0; k < n; ++k) x[size_t(k)] = noise[size_t(k)] * sigmas[0];
      const bool done = ss::sampler(name).fn(toy, x.data(), n, sigmas, p);
      const Vec want_x = tensor(g, "golden.calls." + key + ".x"), want_s = tensor(g, "golden.calls." + key + ".sigma");
      const double r = rel(x, tensor(g, "golden.output." + key));
      const double rx = rel(toy.xs, want_x), rs = rel(toy.sigmas, want_s);
      std::printf("%-14s %-7s %10.3g %10.3g %10.3g %5zu %6zu\n", name, sn, r, rx, rs, toy.sigmas.size(), ln.calls);
      CHECK_MSG(done && toy.sigmas.size() == want_s.size(), key + " model calls = reference's");
      CHECK_MSG(r < 1e-5 && rx < 1e-5 && rs < 1e-6, key + " output and every model input vs golden");
      const size_t want_noise = !std::strcmp(name, "dpmpp_sde") ? 18 : !std::strcmp(name, "dpmpp_3m_sde") ? 9 : 0;
      CHECK_MSG(ln.calls == want_noise, key + " noise calls");
    }
  }
}

}  // namespace

void test_samplers_extra(const std::string& dir) {
  auto g = sd::io::SafetensorsFile::open(dir + "/samplers_extra.safetensors");
  auto base = sd::io::SafetensorsFile::open(dir + "/samplers.safetensors");
  const ss::DiscreteSchedule sched = ss::DiscreteSchedule::scaled_linear();
  test_schedules(*g, sched);
  test_samplers(*g, *base, sched);
}
