#include "op_reference.h"

#include <algorithm>
#include <cmath>

#include "core/cpu/cpu_util.h"
#include "core/ops.h"

namespace reference {
using sd::Op;
using sd::Tensor;

namespace {

int64_t total_offset(const Tensor* t) {
  int64_t off = 0;
  for (const Tensor* v = t; v->view_src; v = v->view_src) off += v->view_offset;
  return off;
}

double bf16(double x) { return sd::bf16_to_f32(sd::f32_to_bf16(float(x))); }

// Index helpers over a logical row-major shape.
int64_t numel(const Tensor* t) { return t->numel(); }

}  // namespace

std::vector<double> Interpreter::logical(const Tensor* t) const {
  const Tensor* s = const_cast<Tensor*>(t)->storage();
  const std::vector<double>& base = storage_.at(s);
  std::vector<double> out(size_t(numel(t)));
  const int64_t off = total_offset(t);
  int64_t idx[4] = {0, 0, 0, 0};
  for (int64_t i = 0; i < numel(t); ++i) {
    int64_t rem = i, pos = off;
    for (int d = t->ndim - 1; d >= 0; --d) {
      idx[d] = rem % t->shape[d];
      rem /= t->shape[d];
      pos += idx[d] * t->stride[d];
    }
    out[size_t(i)] = base[size_t(pos)];
  }
  return out;
}

void Interpreter::run(const std::vector<Tensor*>& nodes) {
  for (Tensor* t : nodes) {
    if (t->is_view()) continue;
    if (t->op == Op::None) {
      // A leaf's storage: every element its memory holds (it is contiguous by construction).
      std::vector<double> v(size_t(t->numel()));
      for (int64_t i = 0; i < t->numel(); ++i) v[size_t(i)] = sd::cpu::load_as_f32(t->data, t->dtype, i);
      storage_[t] = std::move(v);
    } else {
      storage_[t] = eval(t);
    }
  }
}

std::vector<double> Interpreter::eval(const Tensor* t) const {
  const int64_t n = t->numel();
  std::vector<double> y(size_t(n), 0.0);
  auto in = [&](int i) { return logical(t->src[i]); };
  auto in_opt = [&](int i) { return t->src[i] ? in(i) : std::vector<double>{}; };  // empty when absent
  auto in_product = [&](int i) {  // a product operand, rounded like the bf16 path rounds it
    std::vector<double> v = in(i);
    if (opt_.bf16_products) for (double& x : v) x = bf16(x);
    return v;
  };
  switch (t->op) {
    case Op::Add:
    case Op::Mul: {
      auto a = in(0), b = in(1);
      const Tensor* ta = t->src[0];
      const Tensor* tb = t->src[1];
      for (int64_t i = 0; i < n; ++i) {
        int64_t rem = i, ia = 0, ib = 0, sa = 1, sb = 1;
        for (int d = t->ndim - 1; d >= 0; --d) {
          int64_t c = rem % t->shape[d];
          rem /= t->shape[d];
          int da = d - (t->ndim - ta->ndim), db = d - (t->ndim - tb->ndim);
          if (da >= 0) { ia += (ta->shape[da] == 1 ? 0 : c) * sa; sa *= ta->shape[da]; }
          if (db >= 0) { ib += (tb->shape[db] == 1 ? 0 : c) * sb; sb *= tb->shape[db]; }
        }
        y[size_t(i)] = t->op == Op::Add ? a[size_t(ia)] + b[size_t(ib)] : a[size_t(ia)] * b[size_t(ib)];
      }
      break;
    }
    case Op::Scale: {
      auto x = in(0);
      for (int64_t i = 0; i < n; ++i) y[size_t(i)] = x[size_t(i)] * t->fparam[0] + t->fparam[1];
      break;
    }
    case Op::Silu: case Op::Gelu: case Op::GeluTanh: case Op::QuickGelu: {
      auto x = in(0);
      for (int64_t i = 0; i < n; ++i) {
        double v = x[size_t(i)];
        switch (t->op) {
          case Op::Silu: y[size_t(i)] = v / (1 + std::exp(-v)); break;
          case Op::Gelu: y[size_t(i)] = 0.5 * v * (1 + std::erf(v / std::sqrt(2.0))); break;
          case Op::GeluTanh: y[size_t(i)] = 0.5 * v * (1 + std::tanh(std::sqrt(2 / M_PI) * (v + 0.044715 * v * v * v))); break;
          default: y[size_t(i)] = v / (1 + std::exp(-1.702 * v)); break;
        }
      }
      break;
    }
    case Op::Relu: {
      auto x = in(0);
      for (int64_t i = 0; i < n; ++i) y[size_t(i)] = std::max(0.0, double(x[size_t(i)]));
      break;
    }
    case Op::TanhClamp: {
      auto x = in(0);
      const double b = t->fparam[0];
      for (int64_t i = 0; i < n; ++i) y[size_t(i)] = std::tanh(x[size_t(i)] / b) * b;
      break;
    }
    case Op::Geglu: {
      auto x = in(0);
      const int64_t f = t->shape[t->ndim - 1];
      for (int64_t r = 0; r < n / f; ++r)
        for (int64_t j = 0; j < f; ++j) {
          double a = x[size_t(r * 2 * f + j)], g = x[size_t(r * 2 * f + f + j)];
          y[size_t(r * f + j)] = a * 0.5 * g * (1 + std::erf(g / std::sqrt(2.0)));
        }
      break;
    }
    case Op::Contiguous:
      y = in(0);
      break;
    case Op::Concat: {
      auto a = in(0), b = in(1);
      const int axis = t->iparam[0];
      int64_t outer = 1, inner = 1;
      for (int i = 0; i < axis; ++i) outer *= t->shape[i];
      for (int i = axis + 1; i < t->ndim; ++i) inner *= t->shape[i];
      const int64_t la = t->src[0]->shape[axis], lb = t->src[1]->shape[axis];
      for (int64_t o = 0; o < outer; ++o) {
        for (int64_t j = 0; j < la * inner; ++j) y[size_t(o * (la + lb) * inner + j)] = a[size_t(o * la * inner + j)];
        for (int64_t j = 0; j < lb * inner; ++j) y[size_t(o * (la + lb) * inner + la * inner + j)] = b[size_t(o * lb * inner + j)];
      }
      break;
    }
    case Op::Upsample2x: {
      auto x = in(0);
      const int64_t N = t->shape[0], C = t->shape[1], H = t->shape[2], W = t->shape[3];
      for (int64_t i = 0; i < N * C; ++i)
        for (int64_t yy = 0; yy < H; ++yy)
          for (int64_t xx = 0; xx < W; ++xx) y[size_t((i * H + yy) * W + xx)] = x[size_t((i * (H / 2) + yy / 2) * (W / 2) + xx / 2)];
      break;
    }
    case Op::GetRows: {
      auto table = in(0), ids = in(1);
      const int64_t d = t->shape[1];
      for (int64_t i = 0; i < t->shape[0]; ++i)
        for (int64_t j = 0; j < d; ++j) y[size_t(i * d + j)] = table[size_t(int64_t(ids[size_t(i)]) * d + j)];
      break;
    }
    case Op::TimestepEmbedding: {
      auto tv = in(0);
      const int64_t dim = t->iparam[0], half = dim / 2;
      for (int64_t b = 0; b < t->shape[0]; ++b)
        for (int64_t i = 0; i < half; ++i) {
          double f = std::exp(-std::log(double(t->fparam[0])) * double(i) / double(half));
          y[size_t(b * dim + i)] = std::cos(tv[size_t(b)] * f);
          y[size_t(b * dim + half + i)] = std::sin(tv[size_t(b)] * f);
        }
      break;
    }
    case Op::Softmax: {
      auto x = in(0);
      const int64_t c = t->shape[t->ndim - 1];
      for (int64_t r = 0; r < n / c; ++r) {
        double mx = -INFINITY, s = 0;
        for (int64_t j = 0; j < c; ++j) mx = std::max(mx, x[size_t(r * c + j)] * t->fparam[0]);
        for (int64_t j = 0; j < c; ++j) s += std::exp(x[size_t(r * c + j)] * t->fparam[0] - mx);
        for (int64_t j = 0; j < c; ++j) y[size_t(r * c + j)] = std::exp(x[size_t(r * c + j)] * t->fparam[0] - mx) / s;
      }
      break;
    }
    case Op::LayerNorm: {
      auto x = in(0);
      const std::vector<double> g = in_opt(1), b = in_opt(2);
      const int64_t c = t->shape[t->ndim - 1];
      for (int64_t r = 0; r < n / c; ++r) {
        double m = 0, v = 0;
        for (int64_t j = 0; j < c; ++j) m += x[size_t(r * c + j)];
        m /= double(c);
        for (int64_t j = 0; j < c; ++j) v += (x[size_t(r * c + j)] - m) * (x[size_t(r * c + j)] - m);
        v /= double(c);
        for (int64_t j = 0; j < c; ++j)
          y[size_t(r * c + j)] = (x[size_t(r * c + j)] - m) / std::sqrt(v + t->fparam[0]) * (g.empty() ? 1 : g[size_t(j)]) + (b.empty() ? 0 : b[size_t(j)]);
      }
      break;
    }
    case Op::GroupNorm: {
      auto x = in(0);
      const std::vector<double> g = in_opt(1), b = in_opt(2);
      const int64_t N = t->shape[0], C = t->shape[1], G = t->iparam[0], S = n / (N * C), cg = C / G;
      for (int64_t i = 0; i < N; ++i)
        for (int64_t gi = 0; gi < G; ++gi) {
          const int64_t base = (i * C + gi * cg) * S, len = cg * S;
          double m = 0, v = 0;
          for (int64_t j = 0; j < len; ++j) m += x[size_t(base + j)];
          m /= double(len);
          for (int64_t j = 0; j < len; ++j) v += (x[size_t(base + j)] - m) * (x[size_t(base + j)] - m);
          v /= double(len);
          for (int64_t j = 0; j < len; ++j) {
            int64_t c = gi * cg + j / S;
            double val = (x[size_t(base + j)] - m) / std::sqrt(v + t->fparam[0]) * (g.empty() ? 1 : g[size_t(c)]) + (b.empty() ? 0 : b[size_t(c)]);
            if (t->iparam[1]) val = val / (1 + std::exp(-val));
            y[size_t(base + j)] = val;
          }
        }
      break;
    }
    case Op::Linear: {
      const std::vector<double> x = in_product(0), w = in_product(1), b = in_opt(2), r = in_opt(3);
      const int64_t K = t->src[0]->shape[t->src[0]->ndim - 1], N = t->shape[t->ndim - 1], M = n / N;
      for (int64_t m = 0; m < M; ++m)
        for (int64_t o = 0; o < N; ++o) {
          double s = b.empty() ? 0 : b[size_t(o)];
          for (int64_t k = 0; k < K; ++k) s += x[size_t(m * K + k)] * w[size_t(o * K + k)];
          y[size_t(m * N + o)] = s + (r.empty() ? 0 : r[size_t(m * N + o)]);
        }
      break;
    }
    case Op::Matmul: {
      const std::vector<double> a = in_product(0), b = in_product(1);
      const int64_t B = t->shape[0], M = t->shape[1], N = t->shape[2], K = t->src[0]->shape[2];
      const bool bcast = t->src[1]->shape[0] == 1;
      for (int64_t i = 0; i < B; ++i)
        for (int64_t m = 0; m < M; ++m)
          for (int64_t o = 0; o < N; ++o) {
            double s = 0;
            for (int64_t k = 0; k < K; ++k) s += a[size_t((i * M + m) * K + k)] * b[size_t(((bcast ? 0 : i) * N + o) * K + k)];
            y[size_t((i * M + m) * N + o)] = s;
          }
      break;
    }
    case Op::Conv2d: {
      const std::vector<double> x = in_product(0), w = in_product(1), b = in_opt(2), r = in_opt(3);
      const Tensor* tx = t->src[0];
      const Tensor* tw = t->src[1];
      const int64_t N = tx->shape[0], C = tx->shape[1], H = tx->shape[2], W = tx->shape[3];
      const int64_t O = tw->shape[0], KH = tw->shape[2], KW = tw->shape[3], OH = t->shape[2], OW = t->shape[3];
      const int st = t->iparam[0], pt = t->iparam[1], pl = t->iparam[2];
      const bool circular = sd::Padding(t->iparam[5]) == sd::Padding::Circular;
      for (int64_t i = 0; i < N; ++i)
        for (int64_t o = 0; o < O; ++o)
          for (int64_t oy = 0; oy < OH; ++oy)
            for (int64_t ox = 0; ox < OW; ++ox) {
              double s = b.empty() ? 0 : b[size_t(o)];
              for (int64_t c = 0; c < C; ++c)
                for (int64_t ky = 0; ky < KH; ++ky)
                  for (int64_t kx = 0; kx < KW; ++kx) {
                    int64_t iy = oy * st - pt + ky, ix = ox * st - pl + kx;
                    if (circular) {  // torch 'circular': the index wraps to the opposite edge
                      iy = (iy % H + H) % H;
                      ix = (ix % W + W) % W;
                    }
                    if (iy < 0 || iy >= H || ix < 0 || ix >= W) continue;
                    s += x[size_t(((i * C + c) * H + iy) * W + ix)] * w[size_t(((o * C + c) * KH + ky) * KW + kx)];
                  }
              size_t at = size_t(((i * O + o) * OH + oy) * OW + ox);
              y[at] = s + (r.empty() ? 0 : r[at]);
            }
      break;
    }
    case Op::Attention: {
      auto q = in(0), k = in(1), v = in(2);
      const int64_t B = t->shape[0], TQ = t->src[0]->shape[1], TK = t->src[1]->shape[1];
      const int64_t H = t->iparam[0], D = t->src[0]->shape[2] / H, DV = t->src[2]->shape[2] / H;
      std::vector<double> s(static_cast<size_t>(TK), 0.0);
      for (int64_t b = 0; b < B; ++b)
        for (int64_t h = 0; h < H; ++h)
          for (int64_t i = 0; i < TQ; ++i) {
            double mx = -INFINITY;
            const int64_t limit = t->iparam[1] ? std::min(TK, i + 1) : TK;
            for (int64_t j = 0; j < limit; ++j) {
              double d = 0;
              for (int64_t e = 0; e < D; ++e) d += q[size_t((b * TQ + i) * H * D + h * D + e)] * k[size_t((b * TK + j) * H * D + h * D + e)];
              s[size_t(j)] = d * t->fparam[0];
              mx = std::max(mx, s[size_t(j)]);
            }
            double tot = 0;
            for (int64_t j = 0; j < limit; ++j) tot += (s[size_t(j)] = std::exp(s[size_t(j)] - mx));
            for (int64_t e = 0; e < DV; ++e) {
              double acc = 0;
              for (int64_t j = 0; j < limit; ++j) acc += s[size_t(j)] * v[size_t((b * TK + j) * H * DV + h * DV + e)];
              y[size_t((b * TQ + i) * H * DV + h * DV + e)] = acc / tot;
            }
          }
      break;
    }
    default:
      break;
  }
  return y;
}

}  // namespace reference
