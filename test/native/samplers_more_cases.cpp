// UniPC (bh1, bh2) and PLMS against samplers_more.safetensors (ComfyUI sample_unipc and A1111 plms run
// on the toy denoiser D(x, σ) = x/(1+σ²)). Part of test_samplers.
#include "../../native/sample/fp_exact.h"  // first: the toy denoiser is f32 arithmetic as torch does it

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <string>
#include <vector>

#include "../../native/io/safetensors.h"
#include "../../native/sample/denoiser.h"
#include "../../native/sample/sampler.h"
#include "../../native/sample/schedule.h"
#include "golden.h"
#include "harness.h"
#include "toy_denoiser.h"

namespace ss = sd::sample;
using Vec = std::vector<float>;

namespace {

using toy::RecordingToy;
using toy::rel;

// Runs one sampler from x = noise·scale over sigmas and checks output and every model input.
void check_run(const sd::io::SafetensorsFile& g, const std::string& key, const char* name, const Vec& sigmas,
               const Vec& noise, float scale, const ss::SampleParams& p) {
  RecordingToy toy(int64_t(noise.size()));
  Vec x(noise.size());
  for (size_t k = 0; k < x.size(); ++k) x[k] = noise[k] * scale;
  const toy::GoldenRun r = toy::run_vs_golden(g, key, name, toy, x, sigmas, p);
  std::printf("%-22s %10.3g %10.3g %10.3g %5zu\n", key.c_str(), r.out, r.xs, r.sigmas, r.nfe);
  CHECK_MSG(r.done && r.nfe == r.want_nfe, key + " model calls = reference's");
  CHECK_MSG(r.out < 1e-5 && r.xs < 1e-5 && r.sigmas < 1e-6, key + " output and every model input vs golden");
}

}  // namespace

void test_samplers_more(const std::string& dir) {
  auto g = sd::io::SafetensorsFile::open(dir + "/samplers_more.safetensors");
  auto base = sd::io::SafetensorsFile::open(dir + "/samplers.safetensors");
  const ss::DiscreteSchedule sched = ss::DiscreteSchedule::scaled_linear();
  const Vec noise = golden::floats(*base, "golden.input.noise");
  std::printf("%-22s %10s %10s %10s %5s\n", "run", "out rel", "calls.x", "calls.sig", "nfe");
  for (const char* name : {"uni_pc", "uni_pc_bh2"})
    for (const char* run : {"normal", "karras", "karras2", "karras3"}) {
      const std::string key = std::string(name) + "." + run;
      const Vec sigmas = golden::floats(*g, "golden.sigmas." + key);
      check_run(*g, key, name, sigmas, noise, sigmas[0], ss::SampleParams{});
    }
  // PLMS over A1111's timesteps: "full" = ddim_uniform sigmas ending in 0 (last step to ᾱ[0]), "a1111" =
  // A1111's own run, which stops at timestep 1.
  ss::SampleParams p;
  p.ddim_final_sigma = sched.sigma_min();
  for (int steps : {10, 4, 1}) {
    const Vec full = ss::make_sigmas(sched, ss::Scheduler::DdimUniform, steps);
    const float scale = ss::init_noise_scale(ss::sampler("plms"), full[0]);
    check_run(*g, "plms.full." + std::to_string(steps), "plms", full, noise, scale, p);
    if (steps > 1) check_run(*g, "plms.a1111." + std::to_string(steps), "plms", Vec(full.begin(), full.end() - 1), noise, scale, p);
  }
  // CFG rescale against ComfyUI's RescaleCFG run on random denoised pairs (2 images).
  const Vec x = golden::floats(*g, "golden.rescale.x"), cond = golden::floats(*g, "golden.rescale.cond");
  const Vec uncond = golden::floats(*g, "golden.rescale.uncond");
  double worst = 0;
  int cases = 0;
  for (const char* sigma : {"0.5", "3.0", "14.6"})
    for (const char* scale : {"7.0", "1.5"})
      for (const char* phi : {"0.0", "0.7", "1.0"}) {
        Vec got(x.size());
        ss::cfg_rescale_combine(x.data(), uncond.data(), cond.data(), std::stof(scale), std::stof(phi), std::stof(sigma), got.data(), int64_t(x.size()), 2);
        const double r = rel(got, golden::floats(*g, std::string("golden.rescale.out.") + sigma + "." + scale + "." + phi));
        worst = std::max(worst, r);
        CHECK_MSG(r <= 1e-5, std::string("cfg rescale sigma ") + sigma + " scale " + scale + " phi " + phi + ": rel " + std::to_string(r));
        ++cases;
      }
  std::printf("cfg rescale: %d cases, worst rel-L2 %.2e\n", cases, worst);
}
