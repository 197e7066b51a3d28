// Schedules, samplers and CFG against samplers.safetensors / cfg_euler_sd1_tiny.safetensors, with the
// toy denoiser D(x, σ) = x/(1+σ²), plus reference checks for the samplers that have no golden.
// Usage: test_samplers [fixtures_dir]   (default test/fixtures)
#include "../../native/sample/fp_exact.h"  // first: the toy denoiser is f32 arithmetic as torch does it

#include <cmath>
#include <cstdio>
#include <cstring>
#include <functional>
#include <random>
#include <string>
#include <vector>

#include "../../native/core/error.h"
#include "../../native/io/safetensors.h"
#include "../../native/sample/denoiser.h"
#include "../../native/sample/sampler.h"
#include "../../native/sample/schedule.h"
#include "harness.h"

namespace ss = sd::sample;
using Vec = std::vector<float>;

namespace {

Vec tensor(const sd::io::SafetensorsFile& f, const std::string& name) {
  const sd::io::TensorInfo* t = f.find(name);
  if (!t) throw sd::Error(f.path() + " lacks " + name);
  Vec v(static_cast<size_t>(t->numel()));
  if (t->dtype == sd::DType::I64) {
    for (size_t i = 0; i < v.size(); ++i) {
      int64_t q;
      std::memcpy(&q, t->data + 8 * i, 8);
      v[i] = float(q);
    }
  } else {
    std::memcpy(v.data(), t->data, v.size() * 4);
  }
  return v;
}

Vec slice(const Vec& v, size_t index, size_t len) { return Vec(v.begin() + long(index * len), v.begin() + long((index + 1) * len)); }

double rel(const Vec& got, const Vec& want) {
  if (got.size() != want.size()) return INFINITY;
  return harness::rel_l2(got.data(), want.data(), int64_t(want.size()));
}

double max_abs(const Vec& a, const Vec& b) {
  double m = 0;
  for (size_t i = 0; i < a.size(); ++i) m = std::fmax(m, std::fabs(double(a[i]) - double(b[i])));
  return m;
}

struct Toy : ss::Denoiser {  // exact MMSE denoiser for N(0, I) data
  int64_t n;
  int calls = 0;
  explicit Toy(int64_t n_) : n(n_) {}
  void denoise(const float* x, float sigma, float* d) override {
    ++calls;
    const float den = 1.0f + sigma * sigma;
    for (int64_t k = 0; k < n; ++k) d[k] = x[k] / den;
  }
};

struct ListNoise : ss::NoiseSource {  // the k-th call returns draws[k]
  std::vector<Vec> draws;
  size_t calls = 0;
  void next(float* out) override {
    if (calls >= draws.size()) throw sd::Error("ListNoise exhausted");
    std::memcpy(out, draws[calls].data(), draws[calls].size() * 4);
    ++calls;
  }
};

struct GaussNoise : ss::NoiseSource {  // plain N(0,1) for statistics
  std::mt19937_64 rng;
  std::normal_distribution<float> nd;
  int64_t n;
  int calls = 0;
  GaussNoise(uint64_t seed, int64_t n_) : rng(seed), n(n_) {}
  void next(float* out) override {
    for (int64_t k = 0; k < n; ++k) out[k] = nd(rng);
    ++calls;
  }
};

struct Trajectory {
  std::vector<Vec> x, den;
  std::vector<float> sigma;
  int64_t n = 0;
  int cancel_at = -1;
  static bool record(void* user, int i, int steps, const float* x, const float* d, float sigma) {
    auto* t = static_cast<Trajectory*>(user);
    (void)steps;
    t->x.emplace_back(x, x + t->n);
    t->den.emplace_back(d, d + t->n);
    t->sigma.push_back(sigma);
    return i != t->cancel_at;
  }
};

// ---- schedules ------------------------------------------------------------------------------
void test_schedule(const sd::io::SafetensorsFile& g, const ss::DiscreteSchedule& sched) {
  const Vec ac = tensor(g, "golden.schedule.alphas_cumprod"), sig = tensor(g, "golden.schedule.kdiff_sigmas_1000");
  CHECK(sched.size() == 1000);
  CHECK_MSG(std::memcmp(sched.alphas_cumprod().data(), ac.data(), 4000) == 0, "alphas_cumprod bit-exact");
  CHECK_MSG(std::memcmp(sched.sigmas().data(), sig.data(), 4000) == 0, "k-diffusion sigma table bit-exact");
  CHECK(std::fabs(sched.sigma_min() - 0.029168f) < 1e-6f && std::fabs(sched.sigma_max() - 14.614642f) < 1e-5f);

  for (const char* name : {"normal", "karras"}) {
    const std::string k = std::string("golden.sigmas.") + name;
    const Vec want = tensor(g, k);
    const Vec got = ss::make_sigmas(sched, ss::scheduler_from_name(name), 10);
    const Vec want_t = tensor(g, k + ".t"), want_tq = tensor(g, k + ".t_quantized");
    const Vec want_cin = tensor(g, k + ".c_in"), want_cout = tensor(g, k + ".c_out");
    Vec t(10), tq(10), cin(10), cout(10);
    for (int i = 0; i < 10; ++i) {
      t[size_t(i)] = sched.sigma_to_t(got[size_t(i)]);
      tq[size_t(i)] = sched.sigma_to_t(got[size_t(i)], true);
      const ss::Scalings c = ss::scalings(ss::Prediction::Eps, got[size_t(i)]);
      cin[size_t(i)] = c.c_in;
      cout[size_t(i)] = c.c_out;
    }
    std::printf("sigmas.%-7s max|err| %.3g (bit-exact %s); t %.3g; t_quantized %.3g; c_in %.3g; c_out %.3g\n", name,
                max_abs(got, want), got == want ? "yes" : "no", max_abs(t, want_t), max_abs(tq, want_tq),
                max_abs(cin, want_cin), max_abs(cout, want_cout));
    CHECK_MSG(got.size() == 11 && got.back() == 0.0f, k + " has 11 entries ending in 0");
    CHECK_MSG(rel(got, want) < 1e-7, k);
    CHECK_MSG(max_abs(t, want_t) < 2e-4 && tq == want_tq, k + ".t");
    CHECK_MSG(rel(cin, want_cin) < 1e-7 && rel(cout, want_cout) < 1e-7, k + ".c_in/.c_out");
  }
  // A1111's discard_next_to_last_sigma: DPM2 (and DPM2 a, DPM++ 3M SDE) at 9 steps runs k-diffusion's
  // 10-step sigmas without the next-to-last one; other samplers run the n-step sigmas as they are.
  {
    const Vec karras10 = tensor(g, "golden.sigmas.karras");
    Vec want(karras10.begin(), karras10.end() - 2);
    want.push_back(karras10.back());
    const auto karras = [&](int k) { return ss::make_sigmas(sched, ss::Scheduler::Karras, k); };
    for (const char* name : {"dpm_2", "dpm_2_ancestral", "dpmpp_3m_sde"}) {
      const Vec got = ss::sampler_sigmas(ss::sampler(name), 9, karras);
      CHECK_MSG(got.size() == 10 && rel(got, want) < 1e-7, std::string(name) + " drops the next-to-last of 10 karras sigmas");
    }
    CHECK_MSG(ss::sampler_sigmas(ss::sampler("dpmpp_2m"), 10, karras) == karras(10), "dpmpp_2m keeps its sigmas");
  }
  // t_to_sigma inverts sigma_to_t on the table and between entries
  double worst = 0;
  for (float t : {0.0f, 1.0f, 37.5f, 500.25f, 998.5f, 999.0f})
    worst = std::fmax(worst, std::fabs(sched.sigma_to_t(sched.t_to_sigma(t)) - t));
  CHECK_MSG(worst < 2e-3, "sigma_to_t(t_to_sigma(t)) == t");

  // the other schedulers: shape, order and their defining values
  const std::vector<float>& tab = sched.sigmas();
  for (const std::string& name : ss::scheduler_names()) {
    const Vec s = ss::make_sigmas(sched, ss::scheduler_from_name(name), 10);
    bool descending = true;
    for (size_t i = 0; i + 1 < s.size(); ++i) descending = descending && s[i] > s[i + 1];
    const float last = name == "kl_optimal" ? sched.sigma_min() : 0.0f;  // A1111 appends no 0 there
    CHECK_MSG(s.size() == 11 && std::fabs(s.back() - last) < 1e-7f && descending, name + ": 11 descending sigmas ending in 0");
  }
  const Vec simple = ss::make_sigmas(sched, ss::Scheduler::Simple, 10);
  const Vec ddim = ss::make_sigmas(sched, ss::Scheduler::DdimUniform, 10);
  const Vec sgm = ss::make_sigmas(sched, ss::Scheduler::SgmUniform, 10);
  const Vec expo = ss::make_sigmas(sched, ss::Scheduler::Exponential, 10);
  const Vec ddim_t = tensor(g, "golden.ddim.timesteps_desc");
  bool ok_simple = true, ok_ddim = true, ok_sgm = true, ok_exp = true;
  for (int i = 0; i < 10; ++i) {
    ok_simple = ok_simple && simple[size_t(i)] == tab[size_t(999 - 100 * i)];
    ok_ddim = ok_ddim && ddim[size_t(i)] == tab[size_t(ddim_t[size_t(i)])];
    ok_sgm = ok_sgm && std::fabs(sched.sigma_to_t(sgm[size_t(i)]) - (999.0f - 99.9f * float(i))) < 2e-3f;
    if (i > 0 && i < 9)
      ok_exp = ok_exp && std::fabs(std::log(expo[size_t(i)] / expo[size_t(i) + 1]) -
                                   std::log(sched.sigma_max() / sched.sigma_min()) / 9.0) < 1e-5;
  }
  CHECK_MSG(ok_simple, "simple = table[999 - 100 i]");
  CHECK_MSG(ok_ddim, "ddim_uniform = table at CompVis DDIM timesteps [901 .. 1]");
  CHECK_MSG(ok_sgm, "sgm_uniform at t = 999 - 99.9 i");
  CHECK_MSG(ok_exp && std::fabs(expo[0] - sched.sigma_max()) < 3e-6f && std::fabs(expo[9] - sched.sigma_min()) < 1e-7f, "exponential");
  const Vec k20 = ss::make_sigmas(sched, ss::Scheduler::Karras, 20);
  CHECK(k20.size() == 21 && std::fabs(k20[0] - sched.sigma_max()) < 2e-6f && std::fabs(k20[19] - sched.sigma_min()) < 1e-8f);
  const Vec one = ss::make_sigmas(sched, ss::Scheduler::Normal, 1);
  CHECK(one.size() == 2 && one[0] == sched.t_to_sigma(999.0f) && one[1] == 0.0f);
  bool threw = false;
  try { ss::scheduler_from_name("foo"); } catch (const sd::Error& e) {
    threw = std::string(e.what()) == "unknown scheduler \"foo\"; known: normal, karras, exponential, sgm_uniform, simple, ddim_uniform, "
                                         "align_your_steps, align_your_steps_gits, beta, kl_optimal";
  }
  CHECK_MSG(threw, "scheduler_from_name error message");
  threw = false;
  try { ss::make_sigmas(sched, ss::Scheduler::Karras, 0); } catch (const sd::Error&) { threw = true; }
  CHECK(threw);
}

// ---- samplers vs golden ---------------------------------------------------------------------
void test_golden_samplers(const sd::io::SafetensorsFile& g, const ss::DiscreteSchedule& sched) {
  const int64_t n = 256;
  const Vec noise = tensor(g, "golden.input.noise"), anc = tensor(g, "golden.input.ancestral_noise");
  const char* names[] = {"euler", "euler_ancestral", "heun", "dpm_2", "dpmpp_2m", "dpmpp_2s_ancestral", "lms"};
  std::printf("%-20s %-7s %10s %10s %10s %6s %6s\n", "sampler", "sched", "out rel", "traj.x", "traj.den", "nfe", "noise");
  for (const char* sched_name : {"normal", "karras"}) {
    const Vec sigmas = ss::make_sigmas(sched, ss::scheduler_from_name(sched_name), 10);
    const Vec x_init_want = tensor(g, std::string("golden.input.x_init.") + sched_name);
    Vec x_init(static_cast<size_t>(n));
    for (int64_t k = 0; k < n; ++k) x_init[size_t(k)] = noise[size_t(k)] * ss::init_noise_scale(ss::sampler("euler"), sigmas[0]);
    CHECK_MSG(x_init == x_init_want, std::string("x_init.") + sched_name + " = noise * sigma_0");
    for (const char* name : names) {
      const std::string key = std::string(name) + "." + sched_name;
      Toy toy(n);
      ListNoise ln;
      for (size_t k = 0; k < 10; ++k) ln.draws.push_back(slice(anc, k, size_t(n)));
      Trajectory tr;
      tr.n = n;
      ss::SampleParams p;
      p.noise = &ln;
      p.on_step = Trajectory::record;
      p.user = &tr;
      Vec x = x_init;
      const bool done = ss::sampler(name).fn(toy, x.data(), n, sigmas, p);
      const Vec want = tensor(g, "golden.output." + key);
      const Vec tx = tensor(g, "golden.trajectory." + key + ".x"), td = tensor(g, "golden.trajectory." + key + ".denoised");
      double wx = 0, wd = 0;
      for (size_t i = 0; i < 10 && i < tr.x.size(); ++i) {
        wx = std::fmax(wx, rel(tr.x[i], slice(tx, i, size_t(n))));
        wd = std::fmax(wd, rel(tr.den[i], slice(td, i, size_t(n))));
      }
      const double r = rel(x, want);
      std::printf("%-20s %-7s %10.3g %10.3g %10.3g %6d %6zu\n", name, sched_name, r, wx, wd, toy.calls, ln.calls);
      CHECK_MSG(done && tr.x.size() == 10, key + " ran 10 steps");
      CHECK_MSG(r < 1e-6, key + " output vs golden");
      CHECK_MSG(wx < 1e-6 && wd < 1e-6, key + " trajectory vs golden");
      const bool ancestral = std::strstr(name, "ancestral") != nullptr;
      CHECK_MSG(ln.calls == (ancestral ? 9u : 0u), key + " noise calls (golden noise_calls)");
      const bool second_order = !std::strcmp(name, "heun") || !std::strcmp(name, "dpm_2") || !std::strcmp(name, "dpmpp_2s_ancestral");
      CHECK_MSG(toy.calls == (second_order ? 19 : 10), key + " nfe");
    }
  }

  // DDIM eta = 0 (CompVis DDIMSampler; timesteps [901 … 1], last alphas_prev = ᾱ[0])
  {
    const Vec sigmas = ss::make_sigmas(sched, ss::Scheduler::DdimUniform, 10);
    const Vec ts = tensor(g, "golden.ddim.timesteps_desc"), alphas = tensor(g, "golden.ddim.alphas");
    const Vec alphas_prev = tensor(g, "golden.ddim.alphas_prev"), x_T = tensor(g, "golden.ddim.x_T");
    double wa = 0;
    bool t_ok = true;
    for (int i = 0; i < 10; ++i) {
      t_ok = t_ok && sched.sigma_to_t(sigmas[size_t(i)]) == ts[size_t(i)];
      const float a_t = 1.0f / (1.0f + sigmas[size_t(i)] * sigmas[size_t(i)]);
      wa = std::fmax(wa, std::fabs(a_t - alphas[size_t(9 - i)]) / alphas[size_t(9 - i)]);
    }
    const float s_final = sched.sigma_min();
    wa = std::fmax(wa, std::fabs(1.0f / (1.0f + s_final * s_final) - alphas_prev[0]) / alphas_prev[0]);
    CHECK_MSG(t_ok, "ddim_uniform sigmas sit exactly on t = 901 … 1");
    CHECK_MSG(wa < 3e-7, "DDIM alphas from sigmas");
    Toy toy(n);
    Trajectory tr;
    tr.n = n;
    ss::SampleParams p;
    p.ddim_final_sigma = sched.sigma_min();  // CompVis: alphas_prev of the last step = ᾱ[0]
    p.on_step = Trajectory::record;
    p.user = &tr;
    Vec x(static_cast<size_t>(n));
    const float scale = ss::init_noise_scale(ss::sampler("ddim"), sigmas[0]);
    for (int64_t k = 0; k < n; ++k) x[size_t(k)] = x_T[size_t(k)] * scale;
    const bool done = ss::sampler("ddim").fn(toy, x.data(), n, sigmas, p);
    const Vec want = tensor(g, "golden.output.ddim_eta0");
    const Vec tx = tensor(g, "golden.trajectory.ddim_eta0.x"), tp = tensor(g, "golden.trajectory.ddim_eta0.pred_x0");
    double wx = 0, wd = 0;
    for (size_t i = 0; i < tr.x.size(); ++i) {
      const float c_in = 1.0f / std::sqrt(tr.sigma[i] * tr.sigma[i] + 1.0f);  // back to x_t
      Vec xt = tr.x[i];
      for (float& v : xt) v *= c_in;
      wx = std::fmax(wx, rel(xt, slice(tx, i, size_t(n))));
      wd = std::fmax(wd, rel(tr.den[i], slice(tp, i + 1, size_t(n))));
    }
    const double r = rel(x, want);
    std::printf("%-20s %-7s %10.3g %10.3g %10.3g %6d %6d\n", "ddim (eta 0)", "ddim_u", r, wx, wd, toy.calls, 0);
    CHECK_MSG(done && tr.x.size() == 10, "ddim ran 10 steps");
    CHECK_MSG(r < 1e-6 && wx < 1e-6, "ddim_eta0 output and x trajectory vs golden");
    // The golden pred_x0 = (x_t − √(1−ᾱ)·eps)/√ᾱ cancels at t = 901 (ᾱ = 0.014): it is itself 2.5e-6
    // (rel) from the exact x_t·√ᾱ there; our denoised is the exact value to 1e-7.
    CHECK_MSG(wd < 5e-6, "ddim_eta0 pred_x0 trajectory vs golden");
    CHECK_MSG(rel(x, slice(tx, 10, size_t(n))) < 1e-6, "ddim output = last x_inter");
  }
}

// ---- samplers without goldens ---------------------------------------------------------------
// Deterministic convergence toward the exact probability-flow answer x_init/√(1+σ_max²), checked
// against the per-sampler numbers samplers.json records (k-diffusion's own rel-L2 at 10 steps).
void test_convergence(const sd::io::SafetensorsFile& g, const ss::DiscreteSchedule& sched) {
  const int64_t n = 256;
  const Vec noise = tensor(g, "golden.input.noise");
  struct Ref { const char* name; const char* sched; double rel10; double order; };
  const Ref refs[] = {
      {"euler", "normal", 0.136282816529274, 1},     {"heun", "normal", 0.025815393775701523, 2},
      {"dpm_2", "normal", 0.04206673428416252, 2},   {"dpmpp_2m", "normal", 0.1627396196126938, 2},
      {"lms", "normal", 0.016563070937991142, 2},    {"euler", "karras", 0.15545788407325745, 1},
      {"heun", "karras", 0.05605721101164818, 2},    {"dpm_2", "karras", 0.031914182007312775, 2},
      {"dpmpp_2m", "karras", 0.05426334589719772, 2}, {"lms", "karras", 0.04827658087015152, 2},
  };
  auto run = [&](const char* name, ss::Scheduler sk, int steps, float eta, double* out_rel) {
    const Vec sigmas = ss::make_sigmas(sched, sk, steps);
    const float scale = ss::init_noise_scale(ss::sampler(name), sigmas[0]);
    Vec x(static_cast<size_t>(n)), exact(static_cast<size_t>(n));
    for (int64_t k = 0; k < n; ++k) {
      x[size_t(k)] = noise[size_t(k)] * scale;
      exact[size_t(k)] = float(double(x[size_t(k)]) / std::sqrt(1.0 + double(sigmas[0]) * sigmas[0]));
    }
    Toy toy(n);
    ss::SampleParams p;
    p.eta = eta;
    ss::sampler(name).fn(toy, x.data(), n, sigmas, p);
    *out_rel = rel(x, exact);
  };
  for (const Ref& r : refs) {
    const ss::Scheduler sk = ss::scheduler_from_name(r.sched);
    double e10, e20, e40;
    run(r.name, sk, 10, 0.0f, &e10);
    run(r.name, sk, 20, 0.0f, &e20);
    run(r.name, sk, 40, 0.0f, &e40);
    const double observed_order = std::log2(e20 / e40);
    std::printf("convergence %-9s %-6s rel vs exact ODE: 10 steps %.6f (k-diffusion %.6f), 20 %.2e, 40 %.2e, order %.2f\n",
                r.name, r.sched, e10, r.rel10, e20, e40, observed_order);
    CHECK_MSG(std::fabs(e10 - r.rel10) < 1e-5 * r.rel10 + 1e-6, std::string(r.name) + "." + r.sched + " accuracy = k-diffusion's");
    CHECK_MSG(e20 < e10 && e40 < e20, std::string(r.name) + " converges");
    CHECK_MSG(observed_order > r.order - 0.5, std::string(r.name) + " convergence order");
  }
  // the samplers without goldens, deterministically (eta 0)
  for (const char* name : {"dpm_2_ancestral", "dpmpp_2s_ancestral", "euler_ancestral", "dpmpp_2m_sde", "ddim"}) {
    double e10, e20, e40;
    run(name, ss::Scheduler::Karras, 10, 0.0f, &e10);
    run(name, ss::Scheduler::Karras, 20, 0.0f, &e20);
    run(name, ss::Scheduler::Karras, 40, 0.0f, &e40);
    std::printf("convergence %-18s eta 0 karras: %.2e %.2e %.2e order %.2f\n", name, e10, e20, e40, std::log2(e20 / e40));
    const double order = std::log2(e20 / e40);
    CHECK_MSG(e20 < e10 && e40 < e20 && e40 < 0.05 && order > 0.8, std::string(name) + " (eta 0) converges to the exact ODE");
  }
}

// eta = 0 turns the ancestral samplers into their deterministic parents; eta = 1 is checked
// against an independent f64 recurrence of k-diffusion's formula (the toy makes every step a
// per-element affine map) and, with many elements, against the analytic output variance.
void test_no_golden(const sd::io::SafetensorsFile& g, const ss::DiscreteSchedule& sched) {
  const int64_t n = 256;
  const Vec noise = tensor(g, "golden.input.noise"), anc = tensor(g, "golden.input.ancestral_noise");
  for (const char* sched_name : {"normal", "karras"}) {
    const Vec sigmas = ss::make_sigmas(sched, ss::scheduler_from_name(sched_name), 10);
    const Vec x_init = tensor(g, std::string("golden.input.x_init.") + sched_name);
    auto run = [&](const char* name, float eta, ss::NoiseSource* ns) {
      Toy toy(n);
      ss::SampleParams p;
      p.eta = eta;
      p.noise = ns;
      Vec x = x_init;
      ss::sampler(name).fn(toy, x.data(), n, sigmas, p);
      return x;
    };
    const std::string sn = sched_name;
    const double r1 = rel(run("dpm_2_ancestral", 0.0f, nullptr), tensor(g, "golden.output.dpm_2." + sn));
    const double r2 = rel(run("euler_ancestral", 0.0f, nullptr), tensor(g, "golden.output.euler." + sn));
    const double r3 = rel(run("dpmpp_2m_sde", 0.0f, nullptr), tensor(g, "golden.output.dpmpp_2m." + sn));
    std::printf("eta 0 %-7s: dpm_2_ancestral vs dpm_2 golden %.3g, euler_ancestral vs euler %.3g, dpmpp_2m_sde vs dpmpp_2m %.3g\n",
                sched_name, r1, r2, r3);
    CHECK_MSG(r1 < 1e-6, "dpm_2_ancestral(eta 0) == dpm_2 golden");
    CHECK_MSG(r2 < 1e-6, "euler_ancestral(eta 0) == euler golden");
    CHECK_MSG(r3 < 1e-5, "dpmpp_2m_sde(eta 0) == dpmpp_2m golden");

    // eta 1 with the golden ancestral noise vs a double-precision recurrence
    auto list = [&]() {
      ListNoise ln;
      for (size_t k = 0; k < 10; ++k) ln.draws.push_back(slice(anc, k, size_t(n)));
      return ln;
    };
    auto D = [](double x, double s) { return x / (1 + s * s); };
    auto anc_step = [](double from, double to, double* down, double* up) {
      *up = std::fmin(to, std::sqrt(to * to * (from * from - to * to) / (from * from)));
      *down = std::sqrt(to * to - *up * *up);
    };
    Vec want_dpm2a(static_cast<size_t>(n)), want_lcm(static_cast<size_t>(n)), want_sde(static_cast<size_t>(n));
    for (int64_t k = 0; k < n; ++k) {
      double x = x_init[size_t(k)], y = x, z = x, old = 0, h_last = 0;
      int call_a = 0, call_l = 0, call_s = 0;
      for (size_t i = 0; i + 1 < sigmas.size(); ++i) {
        const double s = sigmas[i], sn1 = sigmas[i + 1];
        double down, up;
        anc_step(s, sn1, &down, &up);
        if (down == 0) {
          x = x + (x - D(x, s)) / s * (down - s);
        } else {  // DPM-Solver-2 in log sigma to sigma_down, then noise
          const double mid = std::exp(0.5 * (std::log(s) + std::log(down)));
          const double x2 = x + (x - D(x, s)) / s * (mid - s);
          x = x + (x2 - D(x2, mid)) / mid * (down - s) + up * anc[size_t(call_a++) * n + k];
        }
        y = D(y, s);  // LCM
        if (sn1 > 0) y += sn1 * anc[size_t(call_l++) * n + k];
        const double dz = D(z, s);  // DPM++ 2M SDE, eta 1
        if (sn1 == 0) {
          z = dz;
        } else {
          const double h = std::log(s) - std::log(sn1);
          z = sn1 / s * std::exp(-h) * z - std::expm1(-2 * h) * dz;
          if (i > 0) z += 0.5 * -std::expm1(-2 * h) * (h / h_last) * (dz - old);
          z += anc[size_t(call_s++) * n + k] * sn1 * std::sqrt(-std::expm1(-2 * h));
          h_last = h;
        }
        old = dz;
      }
      want_dpm2a[size_t(k)] = float(x);
      want_lcm[size_t(k)] = float(y);
      want_sde[size_t(k)] = float(z);
    }
    ListNoise l1 = list(), l2 = list(), l3 = list();
    const double a = rel(run("dpm_2_ancestral", 1.0f, &l1), want_dpm2a);
    const double b = rel(run("lcm", 1.0f, &l2), want_lcm);
    const double c = rel(run("dpmpp_2m_sde", 1.0f, &l3), want_sde);
    std::printf("eta 1 %-7s vs f64 recurrence: dpm_2_ancestral %.3g (%zu draws), lcm %.3g (%zu), dpmpp_2m_sde %.3g (%zu)\n",
                sched_name, a, l1.calls, b, l2.calls, c, l3.calls);
    CHECK_MSG(a < 2e-6 && l1.calls == 9, "dpm_2_ancestral vs reference recurrence");
    CHECK_MSG(b < 2e-6 && l2.calls == 9, "lcm vs reference recurrence");
    CHECK_MSG(c < 2e-6 && l3.calls == 9, "dpmpp_2m_sde vs reference recurrence");
  }

  {  // DDIM with eta = 1 (CompVis σ_t) vs the VP recurrence on x_t: pred = x_t·√ᾱ, e = x_t·√(1−ᾱ)
    const Vec sigmas = ss::make_sigmas(sched, ss::Scheduler::DdimUniform, 10);
    const Vec x_T = tensor(g, "golden.ddim.x_T");
    ListNoise ln;
    for (size_t k = 0; k < 10; ++k) ln.draws.push_back(slice(anc, k, size_t(n)));
    Toy toy(n);
    ss::SampleParams p;
    p.ddim_eta = 1.0f;
    p.ddim_final_sigma = sched.sigma_min();
    p.noise = &ln;
    Vec x(static_cast<size_t>(n));
    for (int64_t k = 0; k < n; ++k) x[size_t(k)] = x_T[size_t(k)] * ss::init_noise_scale(ss::sampler("ddim"), sigmas[0]);
    ss::sampler("ddim").fn(toy, x.data(), n, sigmas, p);
    Vec want(static_cast<size_t>(n));
    for (int64_t k = 0; k < n; ++k) {
      double xt = x_T[size_t(k)];
      for (size_t i = 0; i + 1 < sigmas.size(); ++i) {
        const double s = sigmas[i], sp = sigmas[i + 1] == 0 ? sched.sigma_min() : sigmas[i + 1];
        const double a = 1 / (1 + s * s), ap = 1 / (1 + sp * sp);
        const double st = std::sqrt((1 - ap) / (1 - a)) * std::sqrt(1 - a / ap);
        xt = std::sqrt(ap) * xt * std::sqrt(a) + std::sqrt(1 - ap - st * st) * xt * std::sqrt(1 - a) +
             st * anc[i * size_t(n) + size_t(k)];
      }
      want[size_t(k)] = float(xt);
    }
    const double r = rel(x, want);
    std::printf("ddim eta 1 vs f64 recurrence: %.3g (%zu draws)\n", r, ln.calls);
    CHECK_MSG(r < 2e-6 && ln.calls == 10, "ddim eta 1 vs reference recurrence");
  }

  // Statistics: output variance for x_init = N(0,1)·σ₀ with fresh noise, vs the exact variance of
  // the same affine recursion (var' = a²·var + b²), computed from the toy's closed form.
  {
    const int64_t big = 1 << 16;
    const Vec sigmas = ss::make_sigmas(sched, ss::Scheduler::Karras, 10);
    struct Case { const char* name; std::function<double(double)> ref_var; };
    auto var_ancestral_euler = [&](double v) {
      for (size_t i = 0; i + 1 < sigmas.size(); ++i) {
        const double s = sigmas[i], sn1 = sigmas[i + 1];
        const double up = std::fmin(sn1, std::sqrt(sn1 * sn1 * (s * s - sn1 * sn1) / (s * s)));
        const double down = std::sqrt(sn1 * sn1 - up * up);
        const double a = 1 + s / (1 + s * s) * (down - s);
        v = a * a * v + (sn1 > 0 ? up * up : 0);
      }
      return v;
    };
    auto var_lcm = [&](double v) {
      for (size_t i = 0; i + 1 < sigmas.size(); ++i) {
        const double s = sigmas[i], sn1 = sigmas[i + 1];
        v = v / ((1 + s * s) * (1 + s * s)) + sn1 * sn1;
      }
      return v;
    };
    const Case cases[] = {{"euler_ancestral", var_ancestral_euler}, {"lcm", var_lcm}};
    for (const Case& c : cases) {
      GaussNoise init(7, big), ns(11, big);
      Vec x(static_cast<size_t>(big));
      init.next(x.data());
      for (float& v : x) v *= sigmas[0];
      Toy toy(big);
      ss::SampleParams p;
      p.noise = &ns;
      ss::sampler(c.name).fn(toy, x.data(), big, sigmas, p);
      double m = 0, v = 0;
      for (float f : x) m += f;
      m /= double(big);
      for (float f : x) v += (f - m) * (f - m);
      v /= double(big - 1);
      const double want = c.ref_var(double(sigmas[0]) * sigmas[0]);
      std::printf("stats %-16s output variance %.4f, analytic %.4f (|mean| %.4f) over %lld values\n", c.name, v, want,
                  std::fabs(m), (long long)big);
      CHECK_MSG(std::fabs(v / want - 1) < 0.03 && std::fabs(m) < 0.02, std::string(c.name) + " output variance");
    }
    // same seed, same output: ancestral samplers are deterministic given the noise stream
    for (const char* name : {"euler_ancestral", "dpm_2_ancestral", "dpmpp_2s_ancestral", "dpmpp_2m_sde", "lcm"}) {
      Vec a(1024), b(1024);
      for (Vec* x : {&a, &b}) {
        GaussNoise init(3, 1024), ns(5, 1024);
        init.next(x->data());
        for (float& v : *x) v *= sigmas[0];
        Toy toy(1024);
        ss::SampleParams p;
        p.noise = &ns;
        ss::sampler(name).fn(toy, x->data(), 1024, sigmas, p);
      }
      CHECK_MSG(a == b, std::string(name) + " deterministic for a given noise stream");
    }
  }
}

// ---- plumbing: callback cancel, noise requirements, k-diffusion's unused draws, registry -------
void test_plumbing(const ss::DiscreteSchedule& sched) {
  const int64_t n = 16;
  const Vec sigmas = ss::make_sigmas(sched, ss::Scheduler::Karras, 6);
  // dpm_fast turns 6 model calls into 3 steps; with 12 it takes 5 (orders 3, 3, 3, 2, 1).
  const Vec sigmas12 = ss::make_sigmas(sched, ss::Scheduler::Karras, 12);
  for (const std::string& name : ss::sampler_names()) {
    GaussNoise ns(1, n);
    Toy toy(n);
    Trajectory tr;
    tr.n = n;
    tr.cancel_at = 3;
    ss::SampleParams p;
    p.noise = &ns;
    p.on_step = Trajectory::record;
    p.user = &tr;
    Vec x(static_cast<size_t>(n), 1.0f);
    const bool done = ss::sampler(name).fn(toy, x.data(), n, name == "dpm_fast" ? sigmas12 : sigmas, p);
    const bool two_calls = name == "heun" || name == "dpm_2" || name == "dpm_2_ancestral" || name == "dpmpp_2s_ancestral" ||
                           name == "dpmpp_sde" || name == "restart";
    // plms: a second call in its first step only; dpm_fast / dpm_adaptive: 3 calls per step (try)
    const int calls = two_calls ? 7 : name == "plms" ? 5 : name == "dpm_fast" || name == "dpm_adaptive" ? 10 : 4;
    CHECK_MSG(!done && tr.x.size() == 4 && toy.calls == calls, name + ": on_step returning false cancels at step 3");
    CHECK_MSG(tr.x.size() == 4 && x == tr.x[3], name + ": x is left as it was before step 3");
    // samplers that need noise throw without a source; the others do not
    Vec y(static_cast<size_t>(n), 1.0f);
    ss::SampleParams q;
    bool threw = false;
    try { ss::sampler(name).fn(toy, y.data(), n, sigmas, q); } catch (const sd::Error&) { threw = true; }
    CHECK_MSG(threw == ss::sampler(name).needs_noise, name + ": needs_noise matches behaviour");
  }
  for (const char* name : {"euler", "heun", "dpm_2", "ddim"}) {  // k-diffusion's (and A1111 DDIM's) randn_like every step
    GaussNoise ns(1, n);
    Toy toy(n);
    ss::SampleParams p;
    p.noise = &ns;
    p.draw_unused_noise = true;
    Vec x(static_cast<size_t>(n), 1.0f), y(static_cast<size_t>(n), 1.0f);
    ss::sampler(name).fn(toy, x.data(), n, sigmas, p);
    p.draw_unused_noise = false;
    ss::sampler(name).fn(toy, y.data(), n, sigmas, p);
    CHECK_MSG(ns.calls == 6 && x == y, std::string(name) + ": draw_unused_noise draws once per step, result unchanged");
  }
  {  // churn: moves x up to σ̂ with the drawn noise (k-diffusion Algorithm 2)
    GaussNoise ns(1, n);
    Toy toy(n);
    ss::SampleParams p;
    p.noise = &ns;
    p.s_churn = 1.0f;
    Vec x(static_cast<size_t>(n), 1.0f);
    ss::sample_euler(toy, x.data(), n, sigmas, p);
    CHECK(ns.calls == 6 && toy.calls == 6);
  }
  {  // lms coefficients: order 1 = the step size; exact for polynomials
    const Vec t = {10.0f, 6.0f, 3.0f, 1.0f, 0.5f};
    CHECK(std::fabs(ss::linear_multistep_coeff(1, t, 0, 0) - (-4.0)) < 1e-12);
    double sum = 0;
    for (int j = 0; j < 4; ++j) sum += ss::linear_multistep_coeff(4, t, 3, j);
    CHECK_MSG(std::fabs(sum - (0.5 - 1.0)) < 1e-12, "lms coefficients sum to the step");
    bool threw = false;
    try { ss::linear_multistep_coeff(3, t, 1, 0); } catch (const sd::Error&) { threw = true; }
    CHECK(threw);
  }
  {  // ancestral step: σ_down² + σ_up² = σ_next², eta 0 = deterministic
    const ss::AncestralStep a = ss::get_ancestral_step(2.0f, 1.0f);
    CHECK(std::fabs(a.sigma_down * a.sigma_down + a.sigma_up * a.sigma_up - 1.0f) < 1e-6f);
    CHECK(std::fabs(a.sigma_up - std::sqrt(0.75f)) < 1e-6f);
    const ss::AncestralStep b = ss::get_ancestral_step(2.0f, 1.0f, 0.0f);
    CHECK(b.sigma_down == 1.0f && b.sigma_up == 0.0f);
  }
  const std::vector<std::string> want = {"euler", "euler_ancestral", "heun", "dpm_2", "dpm_2_ancestral", "lms",
                                         "dpmpp_2m", "dpmpp_2s_ancestral", "dpmpp_2m_sde", "dpmpp_2m_sde_heun", "dpmpp_sde",
                                         "dpmpp_3m_sde", "ipndm", "ipndm_v", "ddim", "lcm", "uni_pc", "uni_pc_bh2", "plms",
                                         "dpm_fast", "dpm_adaptive", "restart", "ddim_cfgpp"};
  CHECK(ss::sampler_names() == want);
  CHECK(ss::find_sampler("Euler a") == nullptr);
  CHECK(std::string(ss::sampler("ddim").default_scheduler) == "ddim_uniform");
  bool threw = false;
  try { ss::sampler("xyz"); } catch (const sd::Error& e) {
    threw = std::string(e.what()) ==
            "unknown sampler \"xyz\"; known: euler, euler_ancestral, heun, dpm_2, dpm_2_ancestral, lms, dpmpp_2m, "
            "dpmpp_2s_ancestral, dpmpp_2m_sde, dpmpp_2m_sde_heun, dpmpp_sde, dpmpp_3m_sde, ipndm, ipndm_v, ddim, lcm, uni_pc, "
            "uni_pc_bh2, plms, dpm_fast, dpm_adaptive, restart, ddim_cfgpp";
  }
  CHECK_MSG(threw, "sampler() error message");
  threw = false;
  Toy toy(n);
  Vec x(static_cast<size_t>(n));
  try { ss::sample_euler(toy, x.data(), n, {1.0f}, ss::SampleParams{}); } catch (const sd::Error&) { threw = true; }
  CHECK_MSG(threw, "a single sigma is rejected");
}

// ---- prediction scalings and CFG --------------------------------------------------------------
void test_scalings() {
  const ss::Scalings e = ss::scalings(ss::Prediction::Eps, 2.0f), v = ss::scalings(ss::Prediction::V, 2.0f);
  CHECK(e.c_skip == 1.0f && e.c_out == -2.0f && std::fabs(e.c_in - 0.4472136f) < 1e-7f);
  CHECK(std::fabs(v.c_skip - 0.2f) < 1e-7f && std::fabs(v.c_out + 0.8944272f) < 1e-7f && std::fabs(v.c_in - 0.4472136f) < 1e-7f);
  // From a clean x0 and noise ε at σ: x = x0 + σε; eps-model output ε and v-model output
  // v = ε/√(1+σ²) − σ·x0/√(1+σ²) must both give back x0, and eps from the denoised gives ε.
  std::mt19937 rng(5);
  std::normal_distribution<float> nd;
  for (float sigma : {0.03f, 1.0f, 14.6f}) {
    Vec x0(64), eps(64), x(64), v_out(64), den(64), back(64), eps_back(64);
    const double a = 1 / std::sqrt(1.0 + double(sigma) * sigma);
    for (size_t k = 0; k < 64; ++k) {
      x0[k] = nd(rng), eps[k] = nd(rng);
      x[k] = x0[k] + sigma * eps[k];
      v_out[k] = float(a * eps[k] - double(sigma) * a * x0[k]);
    }
    ss::model_output_to_denoised(ss::Prediction::Eps, sigma, x.data(), eps.data(), den.data(), 64);
    CHECK_MSG(rel(den, x0) < 1e-5, "eps prediction -> x0");
    ss::denoised_to_eps(sigma, x.data(), den.data(), eps_back.data(), 64);
    CHECK_MSG(rel(eps_back, eps) < 1e-4, "denoised -> eps");
    ss::model_output_to_denoised(ss::Prediction::V, sigma, x.data(), v_out.data(), den.data(), 64);
    CHECK_MSG(rel(den, x0) < 1e-5, "v prediction -> x0");
    ss::denoised_to_model_output(ss::Prediction::V, sigma, x.data(), den.data(), back.data(), 64);
    CHECK_MSG(rel(back, v_out) < 1e-4, "x0 -> v");
    ss::eps_to_denoised(sigma, x.data(), eps.data(), back.data(), 64);
    CHECK_MSG(rel(back, x0) < 1e-5, "eps_to_denoised");
  }
}

// Replays the golden UNet outputs through CfgDenoiser + sample_euler: checks the batch layout
// (uncond first, x·c_in), t = sigma_to_t(σ), the combination and the Euler update.
struct ReplayUnet : ss::BatchModel {
  const Vec &eps_u, &eps_c, &x_in_want, &t_want;
  int64_t n;
  int call = 0;
  double worst_x_in = 0, worst_t = 0;
  ReplayUnet(const Vec& u, const Vec& c, const Vec& xi, const Vec& t, int64_t n_)
      : eps_u(u), eps_c(c), x_in_want(xi), t_want(t), n(n_) {}
  void forward(const float* x_in, int batch, float t, float* out) override {
    CHECK(batch == 2);
    const Vec want = slice(x_in_want, size_t(call), size_t(n));
    worst_x_in = std::fmax(worst_x_in, harness::rel_l2(x_in, want.data(), n));
    worst_x_in = std::fmax(worst_x_in, harness::rel_l2(x_in + n, want.data(), n));
    worst_t = std::fmax(worst_t, std::fabs(double(t) - t_want[size_t(call)]));
    std::memcpy(out, eps_u.data() + call * n, size_t(n) * 4);
    std::memcpy(out + n, eps_c.data() + call * n, size_t(n) * 4);
    ++call;
  }
};

void test_cfg(const sd::io::SafetensorsFile& g, const ss::DiscreteSchedule& sched) {
  const int64_t n = 4 * 16 * 16;
  const Vec sigmas_want = tensor(g, "golden.input.sigmas"), x_init = tensor(g, "golden.input.x_init");
  const Vec noise = tensor(g, "golden.input.noise");
  const float scale = tensor(g, "golden.input.cond_scale")[0];
  const Vec tx = tensor(g, "golden.trajectory.x"), td = tensor(g, "golden.trajectory.denoised");
  const Vec tdu = tensor(g, "golden.trajectory.denoised_uncond"), tdc = tensor(g, "golden.trajectory.denoised_cond");
  const Vec eu = tensor(g, "golden.trajectory.eps_uncond"), ec = tensor(g, "golden.trajectory.eps_cond");
  const Vec xin = tensor(g, "golden.trajectory.unet_x_in"), tt = tensor(g, "golden.trajectory.t");
  const Vec tcin = tensor(g, "golden.trajectory.c_in"), tcout = tensor(g, "golden.trajectory.c_out");
  const Vec latent = tensor(g, "golden.output.latent");

  const Vec sigmas = ss::make_sigmas(sched, ss::Scheduler::Normal, 4);
  CHECK_MSG(rel(sigmas, sigmas_want) < 1e-7, "cfg golden: get_sigmas(4)");
  double wc = 0;
  for (int i = 0; i < 4; ++i) {
    const ss::Scalings c = ss::scalings(ss::Prediction::Eps, sigmas[size_t(i)]);
    wc = std::fmax(wc, std::fabs(c.c_in - tcin[size_t(i)]) + std::fabs(c.c_out - tcout[size_t(i)]));
  }
  CHECK_MSG(wc < 1e-6, "cfg golden: c_in / c_out");
  Vec x0(static_cast<size_t>(n));
  for (int64_t k = 0; k < n; ++k) x0[size_t(k)] = noise[size_t(k)] * sigmas[0];
  CHECK_MSG(x0 == x_init, "cfg golden: x_init = noise * sigma_0");

  // 1. the combination alone, from the saved eps of each step
  double w_halves = 0, w_comb = 0;
  for (size_t i = 0; i < 4; ++i) {
    const Vec x = slice(tx, i, size_t(n));
    Vec du(static_cast<size_t>(n)), dc(static_cast<size_t>(n)), d(static_cast<size_t>(n));
    ss::model_output_to_denoised(ss::Prediction::Eps, sigmas[i], x.data(), eu.data() + i * size_t(n), du.data(), n);
    ss::model_output_to_denoised(ss::Prediction::Eps, sigmas[i], x.data(), ec.data() + i * size_t(n), dc.data(), n);
    ss::cfg_combine(du.data(), dc.data(), scale, d.data(), n);
    w_halves = std::fmax(w_halves, std::fmax(rel(du, slice(tdu, i, size_t(n))), rel(dc, slice(tdc, i, size_t(n)))));
    w_comb = std::fmax(w_comb, rel(d, slice(td, i, size_t(n))));
  }
  // 2. the whole loop: CfgDenoiser (one batch of 2, uncond first) + sample_euler over replayed eps
  ReplayUnet unet(eu, ec, xin, tt, n);
  ss::CfgDenoiser den(unet, sched, ss::Prediction::Eps, scale, n);
  Trajectory tr;
  tr.n = n;
  ss::SampleParams p;
  p.on_step = Trajectory::record;
  p.user = &tr;
  Vec x = x_init;
  const bool done = ss::sample_euler(den, x.data(), n, sigmas, p);
  double wx = 0, wd = 0;
  for (size_t i = 0; i < tr.x.size(); ++i) {
    wx = std::fmax(wx, rel(tr.x[i], slice(tx, i, size_t(n))));
    wd = std::fmax(wd, rel(tr.den[i], slice(td, i, size_t(n))));
  }
  const double rl = rel(x, latent);
  std::printf("cfg_euler_sd1_tiny: den_u/den_c %.3g, combined %.3g; replayed loop: x_in %.3g, |t| %.3g, traj.x %.3g, "
              "traj.den %.3g, latent %.3g (max |err| %.3g)\n",
              w_halves, w_comb, unet.worst_x_in, unet.worst_t, wx, wd, rl, max_abs(x, latent));
  CHECK_MSG(w_halves < 1e-7 && w_comb < 1e-7, "cfg combination reproduces the golden denoised");
  CHECK_MSG(done && unet.call == 4 && tr.x.size() == 4, "cfg loop: 4 batched UNet calls");
  CHECK_MSG(unet.worst_x_in < 1e-6 && unet.worst_t < 1e-3, "cfg loop: UNet input x*c_in and t");
  CHECK_MSG(wx < 1e-6 && wd < 1e-6 && rl < 1e-6, "cfg loop: trajectory and latent");

  // scale 1 runs the conditional half only, batch of 1
  struct CountUnet : ss::BatchModel {
    int batch = 0;
    void forward(const float* x_in, int b, float, float* out) override {
      batch = b;
      for (int64_t k = 0; k < 4 * b; ++k) out[k] = x_in[k];
    }
  } cu;
  ss::CfgDenoiser one(cu, sched, ss::Prediction::Eps, 1.0f, 4);
  Vec xs = {1, 2, 3, 4}, ds(4);
  one.denoise(xs.data(), 2.0f, ds.data());
  const float c_in = 1.0f / std::sqrt(5.0f);
  CHECK(cu.batch == 1 && std::fabs(ds[1] - (2.0f - 2.0f * 2.0f * c_in)) < 1e-6f);
}

}  // namespace

void test_samplers_extra(const std::string& dir);  // samplers_extra_cases.cpp
void test_samplers_more(const std::string& dir);   // samplers_more_cases.cpp
void test_samplers_a1111(const std::string& dir);  // samplers_a1111_cases.cpp
void test_samplers_brownian(const std::string& dir);  // samplers_brownian_cases.cpp

int main(int argc, char** argv) {
  const std::string dir = argc > 1 ? argv[1] : "test/fixtures";
  try {
    auto g = sd::io::SafetensorsFile::open(dir + "/samplers.safetensors");
    auto cfg = sd::io::SafetensorsFile::open(dir + "/cfg_euler_sd1_tiny.safetensors");
    const ss::DiscreteSchedule sched = ss::DiscreteSchedule::scaled_linear();
    test_schedule(*g, sched);
    test_golden_samplers(*g, sched);
    test_convergence(*g, sched);
    test_no_golden(*g, sched);
    test_plumbing(sched);
    test_scalings();
    test_cfg(*cfg, sched);
    test_samplers_extra(dir);
    test_samplers_more(dir);
    test_samplers_a1111(dir);
    test_samplers_brownian(dir);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "FAIL: exception: %s\n", e.what());
    return 1;
  }
  return harness::finish("test_samplers");
}
