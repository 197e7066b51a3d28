// UniPC, B(h) variants bh1 and bh2, as ComfyUI's sigma-space sample_unipc runs it (comfy/extra_samplers/
// uni_pc.py: multistep, data prediction, order min(3, steps − 1), lower order on the last steps, no
// corrector on the final one). It works in VP variables: x_vp = x/√(1+σ₀²), α = 1/√(1+σ²), std = σ·α,
// λ = −log σ, each computed with ComfyUI's f32 expressions, because a final sigma of 0 is replaced by
// 0.001, where 1 − exp(2·log α) cancels and the rounding decides the last step's coefficients.
#include "fp_exact.h"  // first: no FMA contraction in this file
#include <algorithm>
#include <cmath>

#include "sampler_detail.h"

namespace sd::sample {

using namespace detail;

namespace {

// ComfyUI SigmaConvert, op by op in f32.
float log_mean_coeff(float s) { return 0.5f * log_f(1.0f / (s * s + 1.0f)); }
float vp_alpha(float s) { return exp_f(log_mean_coeff(s)); }
float vp_std(float s) { return std::sqrt(1.0f - exp_f(2.0f * log_mean_coeff(s))); }
float vp_lambda(float s) {
  const float l = log_mean_coeff(s);
  return l - 0.5f * log_f(1.0f - exp_f(2.0f * l));
}

// Solves the k×k system A·r = b (k ≤ 3) by Gaussian elimination with partial pivoting.
std::vector<double> solve(std::vector<std::vector<double>> a, std::vector<double> b) {
  const size_t k = b.size();
  for (size_t c = 0; c < k; ++c) {
    size_t piv = c;
    for (size_t r = c + 1; r < k; ++r)
      if (std::fabs(a[r][c]) > std::fabs(a[piv][c])) piv = r;
    std::swap(a[c], a[piv]);
    std::swap(b[c], b[piv]);
    for (size_t r = c + 1; r < k; ++r) {
      const double f = a[r][c] / a[c][c];
      for (size_t j = c; j < k; ++j) a[r][j] -= f * a[c][j];
      b[r] -= f * b[c];
    }
  }
  std::vector<double> x(k);
  for (size_t c = k; c-- > 0;) {
    double v = b[c];
    for (size_t j = c + 1; j < k; ++j) v -= a[c][j] * x[j];
    x[c] = v / a[c][c];
  }
  return x;
}

struct UniPc {
  Denoiser& model;
  int64_t n;
  bool bh2;
  Buf x_in, den;

  // Data prediction at VP x: ComfyUI's eps from D at x·√(σ²+1), then x0 = (x − std·eps)/α.
  void x0(const float* x, float s, float* out) {
    const float up = std::sqrt(s * s + 1.0f), a = vp_alpha(s), sd = vp_std(s);
    for (int64_t k = 0; k < n; ++k) x_in[size_t(k)] = x[k] * up;
    model.denoise(x_in.data(), s, den.data());
    for (int64_t k = 0; k < n; ++k) {
      const float eps = (x_in[size_t(k)] - den[size_t(k)]) / s;
      out[k] = (x[k] - sd * eps) / a;
    }
  }

  // One multistep_uni_pc_bh_update of `order` from ts.back() to t: x → x_t; with the corrector, m_t
  // gets the model at the predicted x_t (ComfyUI's model_t) and x_t is corrected.
  void update(float* x, const std::vector<Buf>& ms, const std::vector<float>& ts, float t, int order,
              bool corrector, float* m_t) {
    const float* m0 = ms.back().data();
    const float l0 = vp_lambda(ts.back()), lt = vp_lambda(t);
    const float std_ratio = vp_std(t) / vp_std(ts.back()), alpha_t = exp_f(log_mean_coeff(t));
    const float h = lt - l0;
    std::vector<float> rks;
    std::vector<Buf> d1s;
    for (int i = 1; i < order; ++i) {
      const float rk = (vp_lambda(ts[ts.size() - 1 - size_t(i)]) - l0) / h;
      const float* mi = ms[ms.size() - 1 - size_t(i)].data();
      Buf d = buf(n);
      for (int64_t k = 0; k < n; ++k) d[size_t(k)] = (mi[k] - m0[k]) / rk;
      rks.push_back(rk);
      d1s.push_back(std::move(d));
    }
    rks.push_back(1.0f);
    const float hh = -h, h_phi_1 = expm1_f(hh), b_h = bh2 ? expm1_f(hh) : hh;
    float h_phi_k = h_phi_1 / hh - 1.0f;
    int factorial = 1;
    std::vector<std::vector<double>> R(size_t(order), std::vector<double>(size_t(order), 0.0));
    std::vector<double> b(size_t(order), 0.0);
    for (int i = 1; i <= order; ++i) {
      for (int j = 0; j < order; ++j) R[size_t(i - 1)][size_t(j)] = std::pow(double(rks[size_t(j)]), i - 1);
      b[size_t(i - 1)] = h_phi_k * float(factorial) / b_h;
      factorial *= i + 1;
      h_phi_k = h_phi_k / hh - float(1.0 / factorial);
    }
    std::vector<float> rhos_p, rhos_c;
    if (!d1s.empty()) {
      if (order == 2) rhos_p = {0.5f};
      else {
        auto Rp = R;
        Rp.pop_back();
        for (auto& row : Rp) row.pop_back();
        for (double v : solve(Rp, std::vector<double>(b.begin(), b.end() - 1))) rhos_p.push_back(float(v));
      }
    }
    if (corrector) {
      if (order == 1) rhos_c = {0.5f};
      else for (double v : solve(R, b)) rhos_c.push_back(float(v));
    }
    const float c0 = alpha_t * h_phi_1, cb = alpha_t * b_h;
    Buf x_ = buf(n);
    for (int64_t k = 0; k < n; ++k) {
      x_[size_t(k)] = std_ratio * x[k] - c0 * m0[k];
      float pred = 0.0f;
      for (size_t j = 0; j < rhos_p.size(); ++j) pred = pred + rhos_p[j] * d1s[j][size_t(k)];
      x[k] = x_[size_t(k)] - cb * pred;
    }
    if (!corrector) return;
    x0(x, t, m_t);
    for (int64_t k = 0; k < n; ++k) {
      float corr = 0.0f;
      for (size_t j = 0; j < d1s.size(); ++j) corr = corr + rhos_c[j] * d1s[j][size_t(k)];
      x[k] = x_[size_t(k)] - cb * (corr + rhos_c.back() * (m_t[k] - m0[k]));
    }
  }
};

bool unipc(const char* name, bool bh2, Denoiser& model, float* x, int64_t n, const std::vector<float>& sigmas,
           const SampleParams& p) {
  check_args(name, x, n, sigmas);
  const int steps = int(sigmas.size()) - 1;
  std::vector<float> ts = sigmas;
  if (ts.back() == 0) ts.back() = 0.001f;
  // ComfyUI's order min(3, steps − 1) is 0 for one step, which returns the input; one step is order 1 here.
  const int order = std::max(1, std::min(3, steps - 1));
  UniPc u{model, n, bh2, buf(n), buf(n)};
  Buf xv(x, x + n), m = buf(n), x_out = buf(n);
  const float s0 = std::sqrt(1.0f + ts[0] * ts[0]);
  for (int64_t k = 0; k < n; ++k) xv[size_t(k)] = x[k] / s0;
  std::vector<Buf> ms;
  std::vector<float> hist;  // t_prev_list
  u.x0(xv.data(), ts[0], m.data());
  ms.push_back(m);
  hist.push_back(ts[0]);
  for (int i = 0; i < steps; ++i) {
    const float up = std::sqrt(1.0f + ts[size_t(i)] * ts[size_t(i)]);
    for (int64_t k = 0; k < n; ++k) x_out[size_t(k)] = xv[size_t(k)] * up;
    if (!report(p, i, steps, x_out.data(), ms.back().data(), sigmas[size_t(i)])) {
      std::copy(x_out.begin(), x_out.end(), x);
      return false;
    }
    const int target = i + 1;
    const bool warmup = target < order;  // ComfyUI's init phase: orders 1 .. order−1, list grows
    const int step_order = warmup ? target : std::min(order, steps + 1 - target);
    const bool corrector = target != steps;
    u.update(xv.data(), ms, hist, ts[size_t(target)], step_order, corrector, m.data());
    if (warmup) {
      ms.push_back(m);
      hist.push_back(ts[size_t(target)]);
    } else {
      if (int(ms.size()) == order) {
        ms.erase(ms.begin());
        hist.erase(hist.begin());
      }
      hist.push_back(ts[size_t(target)]);
      ms.push_back(m);  // the final step's model is never evaluated or used
    }
  }
  const float a_last = vp_alpha(ts.back());
  for (int64_t k = 0; k < n; ++k) x[k] = xv[size_t(k)] / a_last;
  return true;
}

}  // namespace

bool sample_uni_pc(Denoiser& model, float* x, int64_t n, const std::vector<float>& sigmas, const SampleParams& p) {
  return unipc("uni_pc", false, model, x, n, sigmas, p);
}

bool sample_uni_pc_bh2(Denoiser& model, float* x, int64_t n, const std::vector<float>& sigmas, const SampleParams& p) {
  return unipc("uni_pc_bh2", true, model, x, n, sigmas, p);
}

}  // namespace sd::sample
