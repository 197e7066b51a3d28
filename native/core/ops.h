// Op constructors. Each one checks shapes, records a node (op, params, sources) in the context
// and returns it; nothing is allocated or computed until a Graph runs. Shapes outermost first.
#pragma once
#include <initializer_list>
#include <string>

#include "context.h"

namespace sd {

// ---- views: share memory with their source
Tensor* reshape(Context& ctx, Tensor* x, std::initializer_list<int64_t> shape);  // x contiguous; one -1 allowed
Tensor* permute(Context& ctx, Tensor* x, std::initializer_list<int> axes);       // out.shape[i] = x.shape[axes[i]]
// Sub-range along one axis (e.g. q|k|v thirds of a packed projection).
Tensor* slice(Context& ctx, Tensor* x, int axis, int64_t begin, int64_t end);

// ---- data movement
Tensor* contiguous(Context& ctx, Tensor* x);
Tensor* concat(Context& ctx, Tensor* a, Tensor* b, int axis);
Tensor* upsample_nearest2x(Context& ctx, Tensor* x);            // [N, C, H, W] -> [N, C, 2H, 2W]
Tensor* get_rows(Context& ctx, Tensor* table, Tensor* ids);     // table [V, D] (any float dtype), ids i32 [n] -> [n, D]

// ---- elementwise; a and b broadcast numpy-style (dims aligned from the right)
Tensor* add(Context& ctx, Tensor* a, Tensor* b);
Tensor* mul(Context& ctx, Tensor* a, Tensor* b);
Tensor* scale(Context& ctx, Tensor* x, float s, float bias = 0.0f);  // x*s + bias
Tensor* silu(Context& ctx, Tensor* x);
Tensor* gelu(Context& ctx, Tensor* x);        // exact: 0.5x(1+erf(x/√2))
Tensor* gelu_tanh(Context& ctx, Tensor* x);
Tensor* quick_gelu(Context& ctx, Tensor* x);  // x·σ(1.702x)
Tensor* geglu(Context& ctx, Tensor* x);       // [..., 2F] -> [..., F]: x[..., :F] * gelu(x[..., F:])
Tensor* relu(Context& ctx, Tensor* x);
Tensor* tanh_clamp(Context& ctx, Tensor* x, float bound);  // tanh(x/bound)·bound: a smooth clamp to (-bound, bound)

// ---- normalisation
Tensor* softmax(Context& ctx, Tensor* x, float scale = 1.0f);  // over the last axis of scale·x
// x [N, C, ...]; gamma/beta [C] or null; fused SiLU afterwards when silu_after.
Tensor* group_norm(Context& ctx, Tensor* x, int groups, float eps, Tensor* gamma, Tensor* beta, bool silu_after = false);
Tensor* layer_norm(Context& ctx, Tensor* x, float eps, Tensor* gamma, Tensor* beta);  // over the last axis

// ---- products (weights may be f32/f16/bf16; they are read in place)
// x [..., K] · wᵀ (w [N, K]) + b [N] -> [..., N]. If residual is given (shape of the output) it is added.
Tensor* linear(Context& ctx, Tensor* x, Tensor* w, Tensor* b, Tensor* residual = nullptr);
// a [B, M, K], b [B or 1, N, K] -> [B, M, N] = a · bᵀ (batched, b broadcast over B when 1)
Tensor* matmul(Context& ctx, Tensor* a, Tensor* b);
// What a convolution reads outside the image: zeros, or the opposite edge (torch's
// padding_mode='circular', A1111's "tiling": the output tiles seamlessly). Circular pads must not
// exceed the image (torch refuses to wrap more than once).
enum class Padding : int32_t { Zeros = 0, Circular = 1 };
// x [N, C, H, W], w [O, C, kh, kw], b [O] or null. Padding (top, left, bottom, right) per mode.
// residual [N, O, H', W'] or null: added to the output in the same pass.
Tensor* conv2d(Context& ctx, Tensor* x, Tensor* w, Tensor* b, int stride, int pad_top, int pad_left,
               int pad_bottom, int pad_right, Tensor* residual = nullptr, Padding mode = Padding::Zeros);
inline Tensor* conv2d(Context& ctx, Tensor* x, Tensor* w, Tensor* b, int stride = 1, int pad = 0, Tensor* residual = nullptr,
                      Padding mode = Padding::Zeros) {
  return conv2d(ctx, x, w, b, stride, pad, pad, pad, pad, residual, mode);
}
// q [B, Tq, H·d], k [B, Tk, H·d], v [B, Tk, H·dv] (may be strided views) -> [B, Tq, H·dv]
Tensor* attention(Context& ctx, Tensor* q, Tensor* k, Tensor* v, int heads, float scale, bool causal = false);
// An attention node's operands and sizes as the backends read them back.
struct AttentionGeometry {
  Tensor *q, *k, *v;
  int64_t batch, heads, tq, tk, head_dim, head_dim_v;
  float scale;
  bool causal;
};
AttentionGeometry attention_geometry(const Tensor* node);

// ---- diffusion helpers
// t [B] f32 -> [B, dim]: cat[cos(t·f), sin(t·f)], f_i = exp(-ln(max_period)·i/half)
Tensor* timestep_embedding(Context& ctx, Tensor* t, int dim, float max_period = 10000.0f);

// Names a tensor (for dumps and parity tests); returns it for chaining.
inline Tensor* named(Tensor* t, const std::string& name) { t->name = name; return t; }

}  // namespace sd
