#include "clip.h"

#include <cmath>

#include "core/error.h"

namespace sd::model {
namespace {

std::string layer_prefix(ClipLayout l, int i) {
  return l == ClipLayout::HuggingFace ? "encoder.layers." + std::to_string(i) + "." : "transformer.resblocks." + std::to_string(i) + ".";
}

}  // namespace

ClipTextEncoder::ClipTextEncoder(const Weights& w, ClipLayout layout, int heads_override) : w_(w) {
  config_.layout = layout;
  const bool hf = layout == ClipLayout::HuggingFace;
  Tensor* tok = w_.get(hf ? "embeddings.token_embedding.weight" : "token_embedding.weight");
  config_.vocab = int(tok->shape[0]);
  config_.width = int(tok->shape[1]);
  Tensor* pos = w_.get(hf ? "embeddings.position_embedding.weight" : "positional_embedding");
  config_.context = int(pos->shape[0]);
  config_.layers = hf ? w_.max_index("encoder.layers.", ".") + 1 : w_.max_index("transformer.resblocks.", ".") + 1;
  if (config_.layers <= 0) throw Error("\"" + w_.file().path() + "\": no transformer layers under \"" + w_.prefix() + "\"");
  config_.heads = heads_override > 0 ? heads_override : (config_.width >= 256 ? config_.width / 64 : std::max(1, config_.width / 32));
  if (config_.width % config_.heads) throw Error("CLIP width " + std::to_string(config_.width) + " is not divisible by " + std::to_string(config_.heads) + " heads");
  config_.quick_gelu = hf;
  if (Tensor* p = w_.opt(hf ? "text_projection.weight" : "text_projection")) config_.projection_dim = int(hf ? p->shape[0] : p->shape[1]);
}

Tensor* ClipTextEncoder::text_projection() const {
  return w_.opt(config_.layout == ClipLayout::HuggingFace ? "text_projection.weight" : "text_projection");
}

Tensor* ClipTextEncoder::layer(Context& ctx, Tensor* x, int i) const {
  const bool hf = config_.layout == ClipLayout::HuggingFace;
  const Weights l = w_.sub(layer_prefix(config_.layout, i));
  const int64_t W = config_.width;
  const float eps = 1e-5f;
  // x: [B, T, W]
  Tensor* h = layer_norm(ctx, x, eps, l.get(hf ? "layer_norm1.weight" : "ln_1.weight"), l.get(hf ? "layer_norm1.bias" : "ln_1.bias"));
  Tensor *q, *k, *v;
  if (hf) {
    q = linear(ctx, h, l.get("self_attn.q_proj.weight"), l.get("self_attn.q_proj.bias"));
    k = linear(ctx, h, l.get("self_attn.k_proj.weight"), l.get("self_attn.k_proj.bias"));
    v = linear(ctx, h, l.get("self_attn.v_proj.weight"), l.get("self_attn.v_proj.bias"));
  } else {
    // One product for the packed q|k|v rows, then three strided views of it.
    Tensor* qkv = linear(ctx, h, l.get("attn.in_proj_weight", {3 * W, W}), l.get("attn.in_proj_bias"));  // [B, T, 3W]
    q = slice(ctx, qkv, 2, 0, W);
    k = slice(ctx, qkv, 2, W, 2 * W);
    v = slice(ctx, qkv, 2, 2 * W, 3 * W);
  }
  const float scale = 1.0f / std::sqrt(float(W / config_.heads));
  Tensor* a = attention(ctx, q, k, v, config_.heads, scale, /*causal=*/true);
  x = linear(ctx, a, l.get(hf ? "self_attn.out_proj.weight" : "attn.out_proj.weight"), l.get(hf ? "self_attn.out_proj.bias" : "attn.out_proj.bias"), x);
  h = layer_norm(ctx, x, eps, l.get(hf ? "layer_norm2.weight" : "ln_2.weight"), l.get(hf ? "layer_norm2.bias" : "ln_2.bias"));
  h = linear(ctx, h, l.get(hf ? "mlp.fc1.weight" : "mlp.c_fc.weight"), l.get(hf ? "mlp.fc1.bias" : "mlp.c_fc.bias"));
  h = config_.quick_gelu ? quick_gelu(ctx, h) : gelu(ctx, h);
  x = linear(ctx, h, l.get(hf ? "mlp.fc2.weight" : "mlp.c_proj.weight"), l.get(hf ? "mlp.fc2.bias" : "mlp.c_proj.bias"), x);
  return named(x, "clip.layers." + std::to_string(i));
}

Tensor* ClipTextEncoder::token_embedding() const {
  return w_.get(config_.layout == ClipLayout::HuggingFace ? "embeddings.token_embedding.weight" : "token_embedding.weight");
}

ClipOutputs ClipTextEncoder::forward(Context& ctx, Tensor* ids, int batch, int skip, bool final_norm, bool want_last_normed) const {
  const bool hf = config_.layout == ClipLayout::HuggingFace;
  const int64_t T = config_.context, W = config_.width;
  // ids: token ids [B·T] (I32), or the token rows themselves [B·T, W] (F32) when some are not tokens.
  const bool rows_given = ids->dtype == DType::F32;
  if ((rows_given ? ids->shape[0] : ids->numel()) != batch * T) throw Error("CLIP expects " + std::to_string(T) + " token ids per sequence");
  Tensor* x = rows_given ? ids : get_rows(ctx, token_embedding(), ids);  // [B·T, W]
  x = reshape(ctx, x, {batch, T, W});
  x = named(add(ctx, x, w_.get(hf ? "embeddings.position_embedding.weight" : "positional_embedding")), "clip.embeddings");
  const int run_layers = want_last_normed ? config_.layers : config_.layers - std::max(0, skip);
  if (run_layers <= 0) throw Error("clip skip " + std::to_string(skip) + " leaves no layers of " + std::to_string(config_.layers));
  Tensor* ln_w = w_.get(hf ? "final_layer_norm.weight" : "ln_final.weight");
  Tensor* ln_b = w_.get(hf ? "final_layer_norm.bias" : "ln_final.bias");
  ClipOutputs out;
  for (int i = 0; i < run_layers; ++i) {
    x = layer(ctx, x, i);
    if (i == config_.layers - std::max(0, skip) - 1)
      out.hidden = final_norm ? named(layer_norm(ctx, x, 1e-5f, ln_w, ln_b), "clip.hidden_normed") : x;
  }
  if (want_last_normed) out.last_normed = named(layer_norm(ctx, x, 1e-5f, ln_w, ln_b), "clip.last_normed");
  return out;
}

}  // namespace sd::model
