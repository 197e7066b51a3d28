// Restart sampling (Xu et al. 2023) as A1111 v1.10.1 runs it (modules/sd_samplers_extra.py
// restart_sampler): Heun steps down the schedule, and at σ ≈ 0.1 noise back up to σ ≈ 2 and
// Heun down again. f32 in its order of operations.
#include "fp_exact.h"  // first: no FMA contraction in this file
#include <cmath>
#include <utility>

#include "schedule.h"
#include "sampler_detail.h"

namespace sd::sample {

using namespace detail;

namespace {

// torch.argmin(abs(sigmas − key)): the first index of the smallest distance.
size_t nearest(const std::vector<float>& sigmas, float key) {
  size_t best = 0;
  for (size_t i = 1; i < sigmas.size(); ++i)
    if (std::fabs(sigmas[i] - key) < std::fabs(sigmas[best] - key)) best = i;
  return best;
}

// A1111's automatic restart list: below 20 steps none (plain Heun); from 20 one restart of 9 steps,
// from 36 two of steps/4, the main schedule shortened to karras(steps − restarts) over the same range.
std::vector<std::pair<float, float>> step_list(const std::vector<float>& given) {
  const int steps = int(given.size()) - 1;
  std::vector<float> sigmas = given;
  int restart_steps = 0, restart_times = 0;
  if (steps >= 20) {
    restart_steps = steps >= 36 ? steps / 4 : 9;
    restart_times = steps >= 36 ? 2 : 1;
    sigmas = sigmas_karras(steps - restart_steps * restart_times, given[size_t(steps) - 1], given[0]);
  }
  const size_t restart_at = restart_times > 0 ? nearest(sigmas, 0.1f) : 0;
  std::vector<std::pair<float, float>> out;
  for (size_t i = 0; i + 1 < sigmas.size(); ++i) {
    out.emplace_back(sigmas[i], sigmas[i + 1]);
    if (restart_times == 0 || i + 1 != restart_at) continue;
    const size_t max_idx = nearest(sigmas, 2.0f);
    if (max_idx >= i + 1) continue;
    std::vector<float> up = sigmas_karras(restart_steps + 1, sigmas[i + 1], sigmas[max_idx]);
    up.pop_back();  // the appended 0
    for (int r = 0; r < restart_times; ++r)
      for (size_t j = 0; j + 1 < up.size(); ++j) out.emplace_back(up[j], up[j + 1]);
  }
  return out;
}

}  // namespace

bool sample_restart(Denoiser& model, float* x, int64_t n, const std::vector<float>& sigmas, const SampleParams& p) {
  check_args("restart", x, n, sigmas);
  need_noise("restart", p);  // only restarts draw (20 steps and more); asked for always, so a missing source shows at once
  const std::vector<std::pair<float, float>> steps = step_list(sigmas);
  Buf den = buf(n), d = buf(n), x_2 = buf(n), d_2 = buf(n), noise = buf(n);
  for (size_t i = 0; i < steps.size(); ++i) {
    const float old_sigma = steps[i].first, new_sigma = steps[i].second;
    if (i > 0 && steps[i - 1].second < old_sigma) {  // restart: noise back up to old_sigma
      need_noise("restart", p).next(noise.data());
      const float last = steps[i - 1].second;
      add_noise(x, noise.data(), p.s_noise, std::sqrt(old_sigma * old_sigma - last * last), n);
    }
    model.denoise(x, old_sigma, den.data());
    to_d(x, den.data(), old_sigma, d.data(), n);
    if (!report(p, int(i), int(steps.size()), x, den.data(), old_sigma)) return false;
    const float dt = new_sigma - old_sigma;
    if (new_sigma == 0) {  // Euler method
      axpy(x, d.data(), dt, n);
      continue;
    }
    for (int64_t k = 0; k < n; ++k) x_2[size_t(k)] = x[k] + d[size_t(k)] * dt;  // Heun's method
    model.denoise(x_2.data(), new_sigma, den.data());
    to_d(x_2.data(), den.data(), new_sigma, d_2.data(), n);
    for (int64_t k = 0; k < n; ++k) x[k] = x[k] + (d[size_t(k)] + d_2[size_t(k)]) / 2.0f * dt;
  }
  return true;
}

}  // namespace sd::sample
