// Normalisations and softmax: reductions over contiguous runs of the input.
#include <cmath>
#include <vector>

#include "../error.h"
#include "cpu_backend.h"
#include "cpu_util.h"

namespace sd::cpu {

void CpuBackend::norm(Tensor* t) {
  Tensor* x = t->src[0];
  if (!x->is_contiguous()) throw Error(std::string(op_name(t->op)) + ": input " + x->name + " must be contiguous");
  const float* xs = x->ptr<float>();
  float* y = t->ptr<float>();
  switch (t->op) {
    case Op::Softmax: {
      const int64_t n = t->shape[t->ndim - 1], rows = t->numel() / std::max<int64_t>(1, n);
      pool_.run(rows, [&](int64_t r, int) { vec_.softmax(xs + r * n, y + r * n, n, t->fparam[0]); });
      return;
    }
    case Op::LayerNorm: {
      const int64_t n = t->shape[t->ndim - 1], rows = t->numel() / std::max<int64_t>(1, n);
      float* gamma = nullptr;
      float* beta = nullptr;
      if (t->src[1]) { gamma = scratch(size_t(n), 0); to_f32(t->src[1], gamma); }
      if (t->src[2]) { beta = scratch(size_t(n), 1); to_f32(t->src[2], beta); }
      const int64_t per = std::max<int64_t>(1, 8192 / std::max<int64_t>(1, n));
      pool_.run((rows + per - 1) / per, [&](int64_t task, int) {
        for (int64_t r = task * per; r < std::min(rows, (task + 1) * per); ++r)
          vec_.layer_norm(xs + r * n, y + r * n, n, gamma, beta, t->fparam[0]);
      });
      return;
    }
    case Op::GroupNorm: {
      const int64_t batch = t->shape[0], channels = t->shape[1];
      const int64_t groups = t->iparam[0], per_group = channels / groups;
      const int64_t spatial = t->numel() / std::max<int64_t>(1, batch * channels);
      const bool silu = t->iparam[1] != 0;
      float* gamma = nullptr;
      float* beta = nullptr;
      if (t->src[1]) { gamma = scratch(size_t(channels), 0); to_f32(t->src[1], gamma); }
      if (t->src[2]) { beta = scratch(size_t(channels), 1); to_f32(t->src[2], beta); }
      // Pass 1: statistics per (image, group), each group one task.
      std::vector<float> mean(size_t(batch * groups)), rstd(size_t(batch * groups));
      pool_.run(batch * groups, [&](int64_t g, int) {
        double m, v;
        vec_.moments(xs + g * per_group * spatial, per_group * spatial, &m, &v);
        mean[size_t(g)] = float(m);
        rstd[size_t(g)] = float(1.0 / std::sqrt(v + double(t->fparam[0])));
      });
      // Pass 2: y = x·(γ·rstd) + (β − mean·γ·rstd), one affine per channel, SiLU fused.
      pool_.run(batch * channels, [&](int64_t bc, int) {
        const int64_t c = bc % channels, g = (bc / channels) * groups + c / per_group;
        const float gm = gamma ? gamma[c] : 1.0f, bt = beta ? beta[c] : 0.0f;
        const float mul = gm * rstd[size_t(g)];
        const float add = bt - mean[size_t(g)] * mul;
        vec_.affine(xs + bc * spatial, y + bc * spatial, spatial, mul, add, silu);
      });
      return;
    }
    default:
      return;
  }
}

}  // namespace sd::cpu
