// Schedules from published sigma lists and closed forms, matched to the code UIs run:
// Align Your Steps, KL Optimal, Beta as A1111 v1.10.1 modules/sd_schedulers.py computes them,
// GITS as ComfyUI comfy_extras/nodes_gits.py (A1111 has none) at its default coeff 1.20.
#include "fp_exact.h"  // first: no FMA contraction in this file
#include "schedule_extra.h"

#include <algorithm>
#include <cmath>

#include "../core/error.h"

namespace sd::sample {

namespace {

// numpy linspace(0, 1, n) in f64: i·step, the last one exactly 1.
double unit_linspace(int i, int n) { return n == 1 ? 0.0 : (i == n - 1 ? 1.0 : double(i) * (1.0 / double(n - 1))); }

// np.interp(x, xs, ys) for ascending xs (x within [xs[0], xs[-1]]).
double interp(double x, const std::vector<double>& xs, const std::vector<double>& ys) {
  const size_t last = xs.size() - 1;
  if (x >= xs[last]) return ys[last];
  size_t j = size_t(std::upper_bound(xs.begin(), xs.end(), x) - xs.begin()) - 1;
  const double slope = (ys[j + 1] - ys[j]) / (xs[j + 1] - xs[j]);
  return slope * (x - xs[j]) + ys[j];
}

}  // namespace

// ComfyUI/A1111 loglinear_interp: a decreasing list resampled to num points, linear in log sigma
// over an equally spaced abscissa; f64 as numpy does it.
std::vector<double> loglinear_interp(const std::vector<double>& t_steps, int num) {
  const int m = int(t_steps.size());
  std::vector<double> xs(static_cast<size_t>(m)), ys(static_cast<size_t>(m));
  for (int i = 0; i < m; ++i) {
    xs[size_t(i)] = unit_linspace(i, m);
    ys[size_t(i)] = std::log(t_steps[size_t(m - 1 - i)]);  // ascending
  }
  std::vector<double> out(static_cast<size_t>(num));
  for (int i = 0; i < num; ++i) out[size_t(num - 1 - i)] = std::exp(interp(unit_linspace(i, num), xs, ys));
  return out;
}

std::vector<float> sigmas_align_your_steps(int n, bool sdxl) {
  if (n < 1) throw Error("a noise schedule needs at least 1 step, got " + std::to_string(n));
  // NVIDIA's published 10-step lists (A1111 keeps 3 decimals). A1111 compares n with the list's 11
  // entries, so n = 11 takes the list as is and every other n (10 included) is interpolated.
  static const std::vector<double> sd1 = {14.615, 6.475, 3.861, 2.697, 1.886, 1.396, 0.963, 0.652, 0.399, 0.152, 0.029};
  static const std::vector<double> xl = {14.615, 6.315, 3.771, 2.181, 1.342, 0.862, 0.555, 0.380, 0.234, 0.113, 0.029};
  const std::vector<double>& list = sdxl ? xl : sd1;
  const std::vector<double> s = n == int(list.size()) ? list : loglinear_interp(list, n);
  std::vector<float> out(s.begin(), s.end());
  out.push_back(0.0f);
  return out;
}

std::vector<float> sigmas_gits(int n) {
  if (n < 2) throw Error("the GITS schedule needs at least 2 steps, got " + std::to_string(n));
  // ComfyUI NOISE_LEVELS[1.20]: row k holds the k+2 step schedule (k+3 values).
  static const std::vector<std::vector<double>> rows = {
#include "gits_table.inc"
  };
  std::vector<double> s = n <= 20 ? rows[size_t(n - 2)] : loglinear_interp(rows.back(), n + 1);
  s.back() = 0.0;
  return std::vector<float>(s.begin(), s.end());
}

std::vector<float> sigmas_kl_optimal(int n, float sigma_min, float sigma_max) {
  if (n < 1) throw Error("a noise schedule needs at least 1 step, got " + std::to_string(n));
  // tan(t·atan(σ_min) + (1−t)·atan(σ_max)), t = i/n, in f32 as torch; n+1 values ending at σ_min.
  const float a_min = float(std::atan(double(sigma_min))), a_max = float(std::atan(double(sigma_max)));
  std::vector<float> out(size_t(n) + 1);
  for (int i = 0; i <= n; ++i) {
    const float t = float(i) / float(n);
    out[size_t(i)] = float(std::tan(double(t * a_min + (1.0f - t) * a_max)));
  }
  return out;
}

namespace {

// Continued fraction of the regularized incomplete beta function (modified Lentz), valid for
// x < (a+1)/(a+b+2); the caller uses I_x(a,b) = 1 − I_{1−x}(b,a) beyond.
double beta_cf(double a, double b, double x) {
  const double tiny = 1e-300;
  double c = 1.0, d = 1.0 - (a + b) * x / (a + 1.0);
  d = 1.0 / (std::fabs(d) < tiny ? tiny : d);
  double f = d;
  for (int m = 1; m <= 500; ++m) {
    for (int half = 0; half < 2; ++half) {
      const double num = half == 0 ? m * (b - m) * x / ((a + 2.0 * m - 1.0) * (a + 2.0 * m))
                                   : -(a + m) * (a + b + m) * x / ((a + 2.0 * m) * (a + 2.0 * m + 1.0));
      d = 1.0 + num * d;
      d = 1.0 / (std::fabs(d) < tiny ? tiny : d);
      c = 1.0 + num / c;
      if (std::fabs(c) < tiny) c = tiny;
      f *= c * d;
      if (half == 1 && std::fabs(c * d - 1.0) < 1e-16) return f;
    }
  }
  return f;
}

double beta_cdf(double x, double a, double b) {
  if (x <= 0.0) return 0.0;
  if (x >= 1.0) return 1.0;
  const double front = std::exp(std::lgamma(a + b) - std::lgamma(a) - std::lgamma(b) + a * std::log(x) + b * std::log1p(-x));
  if (x < (a + 1.0) / (a + b + 2.0)) return front * beta_cf(a, b, x) / a;
  return 1.0 - front * beta_cf(b, a, 1.0 - x) / b;
}

}  // namespace

double beta_ppf(double q, double a, double b) {
  if (q <= 0.0) return 0.0;
  if (q >= 1.0) return 1.0;
  double lo = 0.0, hi = 1.0;  // the CDF is increasing: bisect to the last bit of f64
  for (int it = 0; it < 200 && hi - lo > 0.0; ++it) {
    const double mid = 0.5 * (lo + hi);
    if (mid == lo || mid == hi) break;
    (beta_cdf(mid, a, b) < q ? lo : hi) = mid;
  }
  return 0.5 * (lo + hi);
}

std::vector<float> sigmas_beta(int n, float sigma_min, float sigma_max, double alpha, double beta) {
  if (n < 1) throw Error("a noise schedule needs at least 1 step, got " + std::to_string(n));
  // A1111: σ_min + ppf(1 − linspace(0, 1, n)) · (σ_max − σ_min) in f64, then 0.
  std::vector<float> out(size_t(n) + 1, 0.0f);
  for (int i = 0; i < n; ++i) {
    const double x = beta_ppf(1.0 - unit_linspace(i, n), alpha, beta);
    out[size_t(i)] = float(double(sigma_min) + x * (double(sigma_max) - double(sigma_min)));
  }
  return out;
}

}  // namespace sd::sample
