// DPM fast, DPM adaptive, DPM++ 2M SDE Heun, Restart and DDIM CFG++ against samplers_a1111.safetensors
// (k-diffusion and A1111 v1.10.1 run on the toy denoiser D(x, σ) = x/(1+σ²), every randn_like and
// noise_sampler call fed from the golden's draw list). Part of test_samplers.
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

using toy::ListNoise;
using toy::RecordingToy;
using toy::rel;

// The golden's CFG pair: cond D_c = x/(1+σ²), uncond D_u = 0.8·x/(1+σ²), combined as CfgDenoiser does
// (scale already divided by 12.5 for CFG++).
struct CfgToy : RecordingToy {
  float scale;
  Vec den_c, den_u;
  CfgToy(int64_t n_, float s) : RecordingToy(n_), scale(s), den_c(size_t(n_)), den_u(size_t(n_)) {}
  void denoise(const float* x, float sigma, float* d) override {
    RecordingToy::denoise(x, sigma, den_c.data());
    const float den = 1.0f + sigma * sigma;
    for (int64_t k = 0; k < n; ++k) den_u[size_t(k)] = 0.8f * x[k] / den;
    ss::cfg_combine(den_u.data(), den_c.data(), scale, d, n);
  }
  const float* last_uncond() const override { return den_u.data(); }
};

struct Worst {
  double out = 0, calls = 0;
  int runs = 0;
};

// One run from x = noise·scale; checks the output, every model input and sigma, the number of model
// calls and of draws against the golden.
void check_run(const sd::io::SafetensorsFile& g, const std::string& key, const char* name, const Vec& sigmas, const Vec& noise,
               float scale, ss::SampleParams p, RecordingToy& model, Worst& w, int want_draws, double tol = 1e-5, double tol_sigma = 1e-6) {
  const Vec draws = golden::floats(g, "golden.input.draws");
  ListNoise ln(draws, int64_t(noise.size()));
  p.noise = &ln;
  Vec x(noise.size());
  for (size_t k = 0; k < x.size(); ++k) x[k] = noise[k] * scale;
  const toy::GoldenRun r = toy::run_vs_golden(g, key, name, model, x, sigmas, p);
  std::printf("%-34s %10.3g %10.3g %10.3g %5zu %5zu\n", key.c_str(), r.out, r.xs, r.sigmas, r.nfe, ln.calls);
  CHECK_MSG(r.done && r.nfe == r.want_nfe && int(ln.calls) == want_draws, key + " model calls and draws = reference's");
  CHECK_MSG(r.out < tol && r.xs < tol && r.sigmas < tol_sigma, key + " output and every model input vs golden");
  w.out = std::max(w.out, r.out);
  w.calls = std::max({w.calls, r.xs, r.sigmas});
  ++w.runs;
}

}  // namespace

void test_samplers_a1111(const std::string& dir) {
  auto g = sd::io::SafetensorsFile::open(dir + "/samplers_a1111.safetensors");
  auto base = sd::io::SafetensorsFile::open(dir + "/samplers.safetensors");
  const Vec noise = golden::floats(*base, "golden.input.noise");
  const ss::DiscreteSchedule sched = ss::DiscreteSchedule::scaled_linear();
  const int64_t n = int64_t(noise.size());
  std::printf("%-34s %10s %10s %10s %5s %5s\n", "run", "out rel", "calls.x", "calls.sig", "nfe", "draws");
  for (const std::string name : {"dpm_fast", "dpm_adaptive", "dpmpp_2m_sde_heun", "restart", "ddim_cfgpp"}) {
    Worst w, w_torch;
    const std::string prefix = "golden.output." + name + ".";
    for (const auto& t : g->tensors()) {
      if (t.name.compare(0, prefix.size(), prefix) != 0) continue;
      const std::string key = t.name.substr(14);
      const Vec m = golden::floats(*g, "golden.params." + key);  // eta, cfg scale, sigma_min, sigma_max, draws
      ss::SampleParams p;
      p.eta = m[0];
      p.dpm_sigma_min = m[2];
      p.dpm_sigma_max = m[3];
      const int draws = int(m[4]);
      if (name != "ddim_cfgpp") {
        const Vec sigmas = golden::floats(*g, "golden.sigmas." + key);
        RecordingToy toy(n);
        // DPM adaptive under torch's own exp/log (Sleef, not correctly rounded): its first error
        // estimates are rounding noise, so last bits steer the step sizes (the ".cr" runs, with
        // correctly rounded ones as ours, are held to float rounding).
        const bool torch_bits = name == "dpm_adaptive" && key.compare(key.size() - 3, 3, ".cr") != 0;
        Worst& into = torch_bits ? w_torch : w;
        check_run(*g, key, name.c_str(), sigmas, noise, sigmas[0], p, toy, into, draws, torch_bits ? 1e-4 : 1e-5, torch_bits ? 1e-4 : 1e-6);
        continue;
      }
      // ddim_uniform sigmas ending in 0 ("full": last step to ᾱ[0]) or without it (A1111's own run,
      // which stops at timestep 1); key = ddim_cfgpp.<kind>.<steps>.cfg<scale>.eta<eta>.
      const size_t a = key.find('.', 11) + 1;
      const int steps = std::stoi(key.substr(a, key.find('.', a) - a));
      const Vec full = ss::make_sigmas(sched, ss::Scheduler::DdimUniform, steps);
      p.eta = 1.0f;
      p.ddim_eta = m[0];
      p.ddim_final_sigma = sched.sigma_min();
      p.draw_unused_noise = true;  // A1111 draws every step
      CfgToy toy(n, float(double(m[1]) * (1.0 / 12.5)));
      const Vec sigmas = key.find(".a1111.") != std::string::npos ? Vec(full.begin(), full.end() - 1) : full;
      check_run(*g, key, name.c_str(), sigmas, noise, ss::init_noise_scale(ss::sampler(name), full[0]), p, toy, w, draws);
    }
    std::printf("%s: %d runs, worst output rel-L2 %.2e, model inputs %.2e\n", name.c_str(), w.runs, w.out, w.calls);
    if (w_torch.runs > 0)
      std::printf("%s under torch's exp/log: %d runs, worst output rel-L2 %.2e, model inputs %.2e\n", name.c_str(), w_torch.runs,
                  w_torch.out, w_torch.calls);
    CHECK_MSG(w.runs > 0, name + " has golden runs");
  }

  // CfgDenoiser in CFG++ mode: A1111's 12.5 → scale 1 still runs [uncond; cond] and keeps the uncond
  // prediction; plain scale 1 runs the conditional half only and has none.
  struct HalfUnet : ss::BatchModel {  // eps = 0 for the uncond half, x_in for the cond half
    int batch = 0;
    void forward(const float* x_in, int b, float, float* out) override {
      batch = b;
      for (int64_t k = 0; k < 4 * b; ++k) out[k] = b == 2 && k < 4 ? 0.0f : x_in[k];
    }
  } hu;
  Vec xs = {1, 2, 3, 4}, ds(4);
  ss::CfgDenoiser pp(hu, sched, ss::Prediction::Eps, 12.5f, 4);
  pp.set_cfg_pp();
  pp.denoise(xs.data(), 2.0f, ds.data());
  const float* u = pp.last_uncond();
  const float c_in = 1.0f / std::sqrt(5.0f);
  CHECK_MSG(hu.batch == 2 && u != nullptr && u[1] == 2.0f && std::fabs(ds[1] - (2.0f - 2.0f * 2.0f * c_in)) < 1e-6f,
            "CFG++ at 12.5: both halves run, the uncond kept, guidance scale 1");
  ss::CfgDenoiser plain(hu, sched, ss::Prediction::Eps, 1.0f, 4);
  plain.denoise(xs.data(), 2.0f, ds.data());
  CHECK_MSG(hu.batch == 1 && plain.last_uncond() == nullptr, "scale 1 without CFG++: conditional only, no uncond");
}
