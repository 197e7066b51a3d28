// Sigma lists from published tables and closed forms (see schedule_extra.cpp for which UI each
// matches). Each returns descending sigmas; all but KL Optimal end in 0.
#pragma once
#include <vector>

namespace sd::sample {

// A1111 "Align Your Steps": NVIDIA's SD1 or SDXL list, log-linearly resampled to n steps, then 0.
std::vector<float> sigmas_align_your_steps(int n, bool sdxl);
// ComfyUI GITSScheduler (coeff 1.20): the published list for n <= 20, log-linear beyond; n >= 2.
std::vector<float> sigmas_gits(int n);
// A1111 "KL Optimal": n+1 values from sigma_max down to sigma_min (A1111 appends no 0).
std::vector<float> sigmas_kl_optimal(int n, float sigma_min, float sigma_max);
// A1111 "Beta" (Lee et al. 2024): sigma_min + Beta(alpha, beta).ppf(1 − i/(n−1))·(sigma_max − sigma_min), then 0.
std::vector<float> sigmas_beta(int n, float sigma_min, float sigma_max, double alpha = 0.6, double beta = 0.6);

// Helpers, exposed for tests: numpy-f64 log-linear resampling, and scipy.stats.beta.ppf.
std::vector<double> loglinear_interp(const std::vector<double>& t_steps, int num);
double beta_ppf(double q, double a, double b);

}  // namespace sd::sample
