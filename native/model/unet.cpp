#include "unet.h"

#include <cmath>

#include "core/error.h"

namespace sd::model {

UNet::UNet(const Weights& w, int heads, int head_dim) : w_(w) {
  Tensor* conv_in = w_.get("input_blocks.0.0.weight");
  config_.in_channels = int(conv_in->shape[1]);
  config_.model_channels = int(conv_in->shape[0]);
  config_.out_channels = int(w_.get("out.2.weight")->shape[0]);
  config_.input_blocks = w_.max_index("input_blocks.", ".") + 1;
  config_.output_blocks = w_.max_index("output_blocks.", ".") + 1;
  if (config_.input_blocks <= 0 || config_.output_blocks != config_.input_blocks)
    throw Error("\"" + w_.file().path() + "\": the UNet's input and output blocks do not pair up (" + std::to_string(config_.input_blocks) +
                " vs " + std::to_string(config_.output_blocks) + "); the checkpoint is incomplete");
  if (Tensor* label = w_.opt("label_emb.0.0.weight")) config_.adm_channels = int(label->shape[1]);
  // The first cross-attention found gives the context width and the projection style.
  for (const auto& t : w_.file().tensors()) {
    const std::string& n = t.name;
    if (n.compare(0, w_.prefix().size(), w_.prefix()) != 0) continue;
    const std::string key = "transformer_blocks.0.attn2.to_k.weight";
    if (n.size() >= key.size() && n.compare(n.size() - key.size(), key.size(), key) == 0) {
      config_.context_dim = int(t.shape[1]);
      const std::string proj = n.substr(w_.prefix().size(), n.size() - key.size() - w_.prefix().size()) + "proj_in.weight";
      config_.linear_proj = w_.get(proj)->ndim == 2;
      break;
    }
  }
  config_.heads = heads;
  config_.head_dim = head_dim;
  if (heads <= 0 && head_dim <= 0) throw Error("UNet: neither a head count nor a head width is known");
}

Tensor* UNet::resblock(Context& ctx, const Weights& w, Tensor* x, Tensor* emb) const {
  // x [B, C, H, W], emb [B, 4·mc]
  Tensor* h = group_norm(ctx, x, 32, 1e-5f, w.get("in_layers.0.weight"), w.get("in_layers.0.bias"), /*silu=*/true);
  h = conv2d(ctx, h, w.get("in_layers.2.weight"), w.get("in_layers.2.bias"), 1, 1, nullptr, padding_);  // [B, O, H, W]
  Tensor* e = linear(ctx, silu(ctx, emb), w.get("emb_layers.1.weight"), w.get("emb_layers.1.bias"));      // [B, O]
  h = add(ctx, h, reshape(ctx, e, {e->shape[0], e->shape[1], 1, 1}));
  h = group_norm(ctx, h, 32, 1e-5f, w.get("out_layers.0.weight"), w.get("out_layers.0.bias"), /*silu=*/true);
  Tensor* skip = x;
  if (Tensor* sw = w.opt("skip_connection.weight")) skip = conv2d(ctx, x, sw, w.get("skip_connection.bias"), 1, 0);
  return conv2d(ctx, h, w.get("out_layers.3.weight"), w.get("out_layers.3.bias"), 1, 1, skip, padding_);
}

Tensor* UNet::transformer(Context& ctx, const Weights& w, Tensor* x, Tensor* context) const {
  const int64_t B = x->shape[0], C = x->shape[1], H = x->shape[2], W = x->shape[3];
  Tensor* h = group_norm(ctx, x, 32, 1e-6f, w.get("norm.weight"), w.get("norm.bias"));
  Tensor* proj_in = w.get("proj_in.weight");
  const int64_t inner = proj_in->shape[0];
  if (proj_in->ndim == 4) proj_in = reshape(ctx, proj_in, {proj_in->shape[0], proj_in->shape[1]});  // 1×1 conv = linear over channels
  h = contiguous(ctx, permute(ctx, h, {0, 2, 3, 1}));                         // [B, H, W, C]
  h = reshape(ctx, h, {B, H * W, C});
  h = linear(ctx, h, proj_in, w.get("proj_in.bias"));                          // [B, HW, inner]
  const int heads = config_.heads_for(int(inner));
  const float scale = 1.0f / std::sqrt(float(inner / heads));
  const int depth = w.max_index("transformer_blocks.", ".") + 1;
  for (int i = 0; i < depth; ++i) {
    const Weights b = w.sub("transformer_blocks." + std::to_string(i) + ".");
    Tensor* n = layer_norm(ctx, h, 1e-5f, b.get("norm1.weight"), b.get("norm1.bias"));
    Tensor* q = linear(ctx, n, b.get("attn1.to_q.weight"), nullptr);
    Tensor* k = linear(ctx, n, b.get("attn1.to_k.weight"), nullptr);
    Tensor* v = linear(ctx, n, b.get("attn1.to_v.weight"), nullptr);
    h = linear(ctx, attention(ctx, q, k, v, heads, scale), b.get("attn1.to_out.0.weight"), b.get("attn1.to_out.0.bias"), h);
    n = layer_norm(ctx, h, 1e-5f, b.get("norm2.weight"), b.get("norm2.bias"));
    q = linear(ctx, n, b.get("attn2.to_q.weight"), nullptr);
    k = linear(ctx, context, b.get("attn2.to_k.weight"), nullptr);
    v = linear(ctx, context, b.get("attn2.to_v.weight"), nullptr);
    h = linear(ctx, attention(ctx, q, k, v, heads, scale), b.get("attn2.to_out.0.weight"), b.get("attn2.to_out.0.bias"), h);
    n = layer_norm(ctx, h, 1e-5f, b.get("norm3.weight"), b.get("norm3.bias"));
    n = geglu(ctx, linear(ctx, n, b.get("ff.net.0.proj.weight"), b.get("ff.net.0.proj.bias")));
    h = linear(ctx, n, b.get("ff.net.2.weight"), b.get("ff.net.2.bias"), h);
  }
  Tensor* proj_out = w.get("proj_out.weight");
  if (proj_out->ndim == 4) proj_out = reshape(ctx, proj_out, {proj_out->shape[0], proj_out->shape[1]});
  h = linear(ctx, h, proj_out, w.get("proj_out.bias"));                       // [B, HW, C]
  h = contiguous(ctx, permute(ctx, reshape(ctx, h, {B, H, W, C}), {0, 3, 1, 2}));  // [B, C, H, W]
  return add(ctx, h, x);
}

// One input/middle/output block: its sub-modules in checkpoint order.
Tensor* UNet::block(Context& ctx, const std::string& prefix, Tensor* h, Tensor* emb, Tensor* context) const {
  for (int j = 0;; ++j) {
    const Weights m = w_.sub(prefix + std::to_string(j) + ".");
    if (m.has("in_layers.0.weight")) {
      h = resblock(ctx, m, h, emb);
    } else if (m.has("proj_in.weight")) {
      h = transformer(ctx, m, h, context);
    } else if (m.has("op.weight")) {                       // Downsample: 3×3 stride 2, pad 1
      h = conv2d(ctx, h, m.get("op.weight"), m.get("op.bias"), 2, 1, nullptr, padding_);
    } else if (m.has("conv.weight")) {                     // Upsample: nearest ×2 then 3×3
      h = conv2d(ctx, upsample_nearest2x(ctx, h), m.get("conv.weight"), m.get("conv.bias"), 1, 1, nullptr, padding_);
    } else if (j == 0 && w_.has(prefix + "0.weight")) {    // input_blocks.0.0 is a bare conv
      h = conv2d(ctx, h, w_.get(prefix + "0.weight"), w_.get(prefix + "0.bias"), 1, 1, nullptr, padding_);
    } else {
      break;
    }
    h = named(h, "unet." + prefix + std::to_string(j));
  }
  return h;
}

Tensor* UNet::forward(Context& ctx, Tensor* x, Tensor* t, Tensor* context, Tensor* y) const {
  const int mc = config_.model_channels;
  Tensor* emb = named(timestep_embedding(ctx, t, mc), "unet.time_embed.in0");
  emb = linear(ctx, emb, w_.get("time_embed.0.weight"), w_.get("time_embed.0.bias"));
  emb = named(linear(ctx, silu(ctx, emb), w_.get("time_embed.2.weight"), w_.get("time_embed.2.bias")), "unet.time_embed.out");
  if (config_.adm_channels) {
    if (!y) throw Error("this UNet (SDXL) needs the pooled-text/size vector y");
    Tensor* l = linear(ctx, y, w_.get("label_emb.0.0.weight"), w_.get("label_emb.0.0.bias"));
    l = named(linear(ctx, silu(ctx, l), w_.get("label_emb.0.2.weight"), w_.get("label_emb.0.2.bias")), "unet.label_emb.out");
    emb = add(ctx, emb, l);
  }
  std::vector<Tensor*> skips;
  Tensor* h = x;
  for (int i = 0; i < config_.input_blocks; ++i) {
    h = named(block(ctx, "input_blocks." + std::to_string(i) + ".", h, emb, context), "unet.input_blocks." + std::to_string(i));
    skips.push_back(h);
  }
  h = named(block(ctx, "middle_block.", h, emb, context), "unet.middle_block");
  for (int i = 0; i < config_.output_blocks; ++i) {
    h = concat(ctx, h, skips.back(), 1);
    skips.pop_back();
    h = named(block(ctx, "output_blocks." + std::to_string(i) + ".", h, emb, context), "unet.output_blocks." + std::to_string(i));
  }
  h = group_norm(ctx, h, 32, 1e-5f, w_.get("out.0.weight"), w_.get("out.0.bias"), /*silu=*/true);
  return named(conv2d(ctx, h, w_.get("out.2.weight"), w_.get("out.2.bias"), 1, 1, nullptr, padding_), "unet.out");
}

}  // namespace sd::model
