#include "ops.h"

#include <algorithm>
#include <vector>

#include "error.h"

namespace sd {
namespace {

[[noreturn]] void shape_error(const char* op, const std::string& what) {
  throw Error(std::string(op) + ": " + what);
}

std::string nm(const Tensor* t) { return t->name.empty() ? std::string("<unnamed>") : t->name; }

Tensor* node(Context& ctx, Op op, int ndim, const int64_t* shape, std::initializer_list<Tensor*> srcs) {
  Tensor* t = ctx.new_tensor(DType::F32, ndim, shape);
  t->op = op;
  int i = 0;
  for (Tensor* s : srcs) t->src[i++] = s;
  return t;
}

Tensor* like(Context& ctx, Op op, Tensor* x) { return node(ctx, op, x->ndim, x->shape, {x}); }

void require_f32(const char* op, const Tensor* x) {
  if (x->dtype != DType::F32) shape_error(op, "activation " + nm(x) + " must be f32, got " + dtype_name(x->dtype));
}

bool is_float(DType t) { return t == DType::F32 || t == DType::F16 || t == DType::BF16; }

}  // namespace

Tensor* reshape(Context& ctx, Tensor* x, std::initializer_list<int64_t> shape) {
  if (!x->is_contiguous()) shape_error("reshape", nm(x) + " is not contiguous; call contiguous() first");
  std::vector<int64_t> s(shape);
  int64_t known = 1;
  int infer = -1;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == -1) {
      if (infer >= 0) shape_error("reshape", "more than one -1");
      infer = int(i);
    } else {
      known *= s[i];
    }
  }
  if (infer >= 0) {
    if (known == 0 || x->numel() % known) shape_error("reshape", "cannot infer -1 for " + x->shape_str());
    s[infer] = x->numel() / known;
  }
  int64_t n = 1;
  for (int64_t d : s) n *= d;
  if (n != x->numel()) shape_error("reshape", x->shape_str() + " has " + std::to_string(x->numel()) + " elements, target has " + std::to_string(n));
  Tensor* t = ctx.new_tensor(x->dtype, int(s.size()), s.data());
  t->op = Op::View;
  t->src[0] = x;
  t->view_src = x;
  t->view_offset = 0;
  return t;
}

Tensor* permute(Context& ctx, Tensor* x, std::initializer_list<int> axes) {
  if (int(axes.size()) != x->ndim) shape_error("permute", "needs " + std::to_string(x->ndim) + " axes");
  Tensor* t = ctx.new_tensor(x->dtype, x->ndim, x->shape);
  t->op = Op::Permute;
  t->src[0] = x;
  t->view_src = x;
  int i = 0;
  bool seen[kMaxDims] = {false, false, false, false};
  for (int a : axes) {
    if (a < 0 || a >= x->ndim || seen[a]) shape_error("permute", "axes are not a permutation");
    seen[a] = true;
    t->shape[i] = x->shape[a];
    t->stride[i] = x->stride[a];
    ++i;
  }
  return t;
}

Tensor* slice(Context& ctx, Tensor* x, int axis, int64_t begin, int64_t end) {
  if (axis < 0) axis += x->ndim;
  if (axis < 0 || axis >= x->ndim || begin < 0 || end > x->shape[axis] || begin > end)
    shape_error("slice", "range [" + std::to_string(begin) + ", " + std::to_string(end) + ") on axis " + std::to_string(axis) + " of " + x->shape_str());
  Tensor* t = ctx.new_tensor(x->dtype, x->ndim, x->shape);
  t->op = Op::View;
  t->src[0] = x;
  t->view_src = x;
  for (int i = 0; i < x->ndim; ++i) t->stride[i] = x->stride[i];
  t->shape[axis] = end - begin;
  t->view_offset = begin * x->stride[axis];
  return t;
}

Tensor* contiguous(Context& ctx, Tensor* x) {
  require_f32("contiguous", x);
  return like(ctx, Op::Contiguous, x);
}

Tensor* concat(Context& ctx, Tensor* a, Tensor* b, int axis) {
  require_f32("concat", a);
  require_f32("concat", b);
  if (axis < 0) axis += a->ndim;
  if (a->ndim != b->ndim || axis < 0 || axis >= a->ndim) shape_error("concat", "rank mismatch");
  int64_t shape[kMaxDims];
  for (int i = 0; i < a->ndim; ++i) {
    if (i != axis && a->shape[i] != b->shape[i]) shape_error("concat", a->shape_str() + " vs " + b->shape_str() + " on axis " + std::to_string(axis));
    shape[i] = a->shape[i];
  }
  shape[axis] = a->shape[axis] + b->shape[axis];
  Tensor* t = node(ctx, Op::Concat, a->ndim, shape, {a, b});
  t->iparam[0] = axis;
  return t;
}

Tensor* upsample_nearest2x(Context& ctx, Tensor* x) {
  require_f32("upsample_nearest2x", x);
  if (x->ndim != 4) shape_error("upsample_nearest2x", "expects [N, C, H, W], got " + x->shape_str());
  int64_t s[4] = {x->shape[0], x->shape[1], x->shape[2] * 2, x->shape[3] * 2};
  return node(ctx, Op::Upsample2x, 4, s, {x});
}

Tensor* get_rows(Context& ctx, Tensor* table, Tensor* ids) {
  if (table->ndim != 2 || !is_float(table->dtype)) shape_error("get_rows", "table must be a float [V, D] matrix");
  if (ids->dtype != DType::I32 || ids->ndim != 1) shape_error("get_rows", "ids must be i32 [n]");
  int64_t s[2] = {ids->shape[0], table->shape[1]};
  return node(ctx, Op::GetRows, 2, s, {table, ids});
}

static Tensor* broadcast_binary(Context& ctx, Op op, Tensor* a, Tensor* b) {
  require_f32(op_name(op), a);
  if (!is_float(b->dtype)) shape_error(op_name(op), "operand " + nm(b) + " must be a float tensor");
  int nd = std::max(a->ndim, b->ndim);
  int64_t s[kMaxDims];
  for (int i = 0; i < nd; ++i) {
    int ia = i - (nd - a->ndim), ib = i - (nd - b->ndim);
    int64_t da = ia >= 0 ? a->shape[ia] : 1, db = ib >= 0 ? b->shape[ib] : 1;
    if (da != db && da != 1 && db != 1) shape_error(op_name(op), "cannot broadcast " + a->shape_str() + " with " + b->shape_str());
    s[i] = std::max(da, db);
    if (da == 0 || db == 0) s[i] = 0;
  }
  return node(ctx, op, nd, s, {a, b});
}

Tensor* add(Context& ctx, Tensor* a, Tensor* b) { return broadcast_binary(ctx, Op::Add, a, b); }
Tensor* mul(Context& ctx, Tensor* a, Tensor* b) { return broadcast_binary(ctx, Op::Mul, a, b); }

Tensor* scale(Context& ctx, Tensor* x, float s, float bias) {
  require_f32("scale", x);
  Tensor* t = like(ctx, Op::Scale, x);
  t->fparam[0] = s;
  t->fparam[1] = bias;
  return t;
}

static Tensor* unary(Context& ctx, Op op, Tensor* x) {
  require_f32(op_name(op), x);
  return like(ctx, op, x);
}
Tensor* silu(Context& ctx, Tensor* x) { return unary(ctx, Op::Silu, x); }
Tensor* gelu(Context& ctx, Tensor* x) { return unary(ctx, Op::Gelu, x); }
Tensor* gelu_tanh(Context& ctx, Tensor* x) { return unary(ctx, Op::GeluTanh, x); }
Tensor* quick_gelu(Context& ctx, Tensor* x) { return unary(ctx, Op::QuickGelu, x); }
Tensor* relu(Context& ctx, Tensor* x) { return unary(ctx, Op::Relu, x); }

Tensor* tanh_clamp(Context& ctx, Tensor* x, float bound) {
  if (!(bound > 0.0f)) shape_error("tanh_clamp", "bound must be positive, got " + std::to_string(bound));
  Tensor* t = unary(ctx, Op::TanhClamp, x);
  t->fparam[0] = bound;
  return t;
}

Tensor* geglu(Context& ctx, Tensor* x) {
  require_f32("geglu", x);
  if (x->shape[x->ndim - 1] % 2) shape_error("geglu", "last axis of " + x->shape_str() + " must be even");
  Tensor* t = like(ctx, Op::Geglu, x);
  t->shape[t->ndim - 1] /= 2;
  set_contiguous_strides(t);
  return t;
}

Tensor* softmax(Context& ctx, Tensor* x, float s) {
  require_f32("softmax", x);
  Tensor* t = like(ctx, Op::Softmax, x);
  t->fparam[0] = s;
  return t;
}

static void check_vec(const char* op, Tensor* v, int64_t n, const char* what) {
  if (!v) return;
  if (v->numel() != n || !is_float(v->dtype))
    shape_error(op, std::string(what) + " " + nm(v) + " must have " + std::to_string(n) + " float elements, got " + v->shape_str());
}

Tensor* group_norm(Context& ctx, Tensor* x, int groups, float eps, Tensor* gamma, Tensor* beta, bool silu_after) {
  require_f32("group_norm", x);
  if (x->ndim < 2 || groups <= 0 || x->shape[1] % groups) shape_error("group_norm", "channels of " + x->shape_str() + " not divisible into " + std::to_string(groups) + " groups");
  check_vec("group_norm", gamma, x->shape[1], "weight");
  check_vec("group_norm", beta, x->shape[1], "bias");
  Tensor* t = node(ctx, Op::GroupNorm, x->ndim, x->shape, {x, gamma, beta});
  t->iparam[0] = groups;
  t->iparam[1] = silu_after ? 1 : 0;
  t->fparam[0] = eps;
  return t;
}

Tensor* layer_norm(Context& ctx, Tensor* x, float eps, Tensor* gamma, Tensor* beta) {
  require_f32("layer_norm", x);
  int64_t c = x->shape[x->ndim - 1];
  check_vec("layer_norm", gamma, c, "weight");
  check_vec("layer_norm", beta, c, "bias");
  Tensor* t = node(ctx, Op::LayerNorm, x->ndim, x->shape, {x, gamma, beta});
  t->fparam[0] = eps;
  return t;
}

Tensor* linear(Context& ctx, Tensor* x, Tensor* w, Tensor* b, Tensor* residual) {
  require_f32("linear", x);
  if (w->ndim != 2 || !is_float(w->dtype)) shape_error("linear", "weight " + nm(w) + " must be a float [out, in] matrix, got " + w->shape_str());
  int64_t k = x->shape[x->ndim - 1];
  if (w->shape[1] != k) shape_error("linear", "input " + x->shape_str() + " does not match weight " + nm(w) + " " + w->shape_str());
  check_vec("linear", b, w->shape[0], "bias");
  int64_t s[kMaxDims];
  for (int i = 0; i < x->ndim; ++i) s[i] = x->shape[i];
  s[x->ndim - 1] = w->shape[0];
  Tensor* t = node(ctx, Op::Linear, x->ndim, s, {x, w, b, residual});
  if (residual && (residual->numel() != t->numel() || residual->ndim != t->ndim))
    shape_error("linear", "residual " + residual->shape_str() + " does not match output " + t->shape_str());
  return t;
}

Tensor* matmul(Context& ctx, Tensor* a, Tensor* b) {
  require_f32("matmul", a);
  if (a->ndim != 3 || b->ndim != 3 || a->shape[2] != b->shape[2] || (b->shape[0] != a->shape[0] && b->shape[0] != 1))
    shape_error("matmul", "expects a [B, M, K] and b [B|1, N, K], got " + a->shape_str() + " and " + b->shape_str());
  int64_t s[3] = {a->shape[0], a->shape[1], b->shape[1]};
  return node(ctx, Op::Matmul, 3, s, {a, b});
}

Tensor* conv2d(Context& ctx, Tensor* x, Tensor* w, Tensor* b, int stride, int pt, int pl, int pb, int pr, Tensor* residual, Padding mode) {
  require_f32("conv2d", x);
  if (x->ndim != 4 || w->ndim != 4 || !is_float(w->dtype))
    shape_error("conv2d", "expects x [N, C, H, W] and weight [O, C, kh, kw], got " + x->shape_str() + " and " + nm(w) + " " + w->shape_str());
  if (w->shape[1] != x->shape[1]) shape_error("conv2d", "input channels " + std::to_string(x->shape[1]) + " do not match weight " + nm(w) + " " + w->shape_str());
  if (stride < 1) shape_error("conv2d", "stride must be >= 1");
  if (pt < 0 || pl < 0 || pb < 0 || pr < 0) shape_error("conv2d", "padding must be >= 0");
  if (mode == Padding::Circular && (std::max(pt, pb) > x->shape[2] || std::max(pl, pr) > x->shape[3]))
    shape_error("conv2d", "circular padding wraps more than once around " + x->shape_str());
  check_vec("conv2d", b, w->shape[0], "bias");
  int64_t oh = (x->shape[2] + pt + pb - w->shape[2]) / stride + 1;
  int64_t ow = (x->shape[3] + pl + pr - w->shape[3]) / stride + 1;
  if (oh <= 0 || ow <= 0) shape_error("conv2d", "input " + x->shape_str() + " is smaller than the kernel");
  int64_t s[4] = {x->shape[0], w->shape[0], oh, ow};
  Tensor* t = node(ctx, Op::Conv2d, 4, s, {x, w, b, residual});
  if (residual && residual->numel() != t->numel()) shape_error("conv2d", "residual " + residual->shape_str() + " does not match output " + t->shape_str());
  t->iparam[0] = stride;
  t->iparam[1] = pt;
  t->iparam[2] = pl;
  t->iparam[3] = pb;
  t->iparam[4] = pr;
  t->iparam[5] = int32_t(mode);
  return t;
}

Tensor* attention(Context& ctx, Tensor* q, Tensor* k, Tensor* v, int heads, float sc, bool causal) {
  for (Tensor* t : {q, k, v}) {
    require_f32("attention", t);
    if (t->ndim != 3 || t->stride[2] != 1) shape_error("attention", "q, k, v must be [B, T, heads*d] with unit inner stride, got " + t->shape_str());
  }
  if (heads <= 0 || q->shape[2] % heads || k->shape[2] != q->shape[2] || v->shape[2] % heads ||
      k->shape[0] != q->shape[0] || v->shape[0] != q->shape[0] || v->shape[1] != k->shape[1])
    shape_error("attention", "q " + q->shape_str() + ", k " + k->shape_str() + ", v " + v->shape_str() + " with " + std::to_string(heads) + " heads do not fit");
  int64_t s[3] = {q->shape[0], q->shape[1], v->shape[2]};
  Tensor* t = node(ctx, Op::Attention, 3, s, {q, k, v});
  t->iparam[0] = heads;
  t->iparam[1] = causal ? 1 : 0;
  t->fparam[0] = sc;
  return t;
}

AttentionGeometry attention_geometry(const Tensor* t) {
  Tensor *q = t->src[0], *k = t->src[1], *v = t->src[2];
  const int64_t heads = t->iparam[0];
  return {q, k, v, q->shape[0], heads, q->shape[1], k->shape[1], q->shape[2] / heads, v->shape[2] / heads, t->fparam[0], t->iparam[1] != 0};
}

Tensor* timestep_embedding(Context& ctx, Tensor* t, int dim, float max_period) {
  require_f32("timestep_embedding", t);
  if (t->ndim != 1 || dim <= 0 || dim % 2) shape_error("timestep_embedding", "expects t [B] and an even dim");
  int64_t s[2] = {t->shape[0], dim};
  Tensor* e = node(ctx, Op::TimestepEmbedding, 2, s, {t});
  e->iparam[0] = dim;
  e->fparam[0] = max_period;
  return e;
}

}  // namespace sd
