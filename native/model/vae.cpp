#include "vae.h"

#include <cmath>

#include "core/error.h"

namespace sd::model {

Vae::Vae(const Weights& w) : w_(w) {
  config_.levels = w_.max_index("decoder.up.", ".") + 1;
  if (config_.levels <= 0) throw Error("\"" + w_.file().path() + "\": no VAE decoder under \"" + w_.prefix() + "\"");
  config_.z_channels = int(w_.get("post_quant_conv.weight")->shape[1]);
  config_.has_encoder = w_.has("encoder.conv_in.weight");
}

Tensor* Vae::resnet(Context& ctx, const Weights& w, Tensor* x) const {
  Tensor* h = group_norm(ctx, x, 32, 1e-6f, w.get("norm1.weight"), w.get("norm1.bias"), true);
  h = conv2d(ctx, h, w.get("conv1.weight"), w.get("conv1.bias"), 1, 1, nullptr, padding_);
  h = group_norm(ctx, h, 32, 1e-6f, w.get("norm2.weight"), w.get("norm2.bias"), true);
  Tensor* skip = x;
  if (Tensor* s = w.opt("nin_shortcut.weight")) skip = conv2d(ctx, x, s, w.get("nin_shortcut.bias"), 1, 0);
  return conv2d(ctx, h, w.get("conv2.weight"), w.get("conv2.bias"), 1, 1, skip, padding_);
}

// Single-head self-attention over all pixels, q/k/v/proj_out are 1×1 convs (= linears).
Tensor* Vae::attn(Context& ctx, const Weights& w, Tensor* x) const {
  const int64_t B = x->shape[0], C = x->shape[1], H = x->shape[2], W = x->shape[3];
  auto as_linear = [&](const char* key) {
    Tensor* k = w.get(key);
    return k->ndim == 4 ? reshape(ctx, k, {k->shape[0], k->shape[1]}) : k;
  };
  Tensor* h = group_norm(ctx, x, 32, 1e-6f, w.get("norm.weight"), w.get("norm.bias"));
  h = reshape(ctx, contiguous(ctx, permute(ctx, h, {0, 2, 3, 1})), {B, H * W, C});   // [B, HW, C]
  Tensor* q = linear(ctx, h, as_linear("q.weight"), w.get("q.bias"));
  Tensor* k = linear(ctx, h, as_linear("k.weight"), w.get("k.bias"));
  Tensor* v = linear(ctx, h, as_linear("v.weight"), w.get("v.bias"));
  h = attention(ctx, q, k, v, 1, 1.0f / std::sqrt(float(C)));
  h = linear(ctx, h, as_linear("proj_out.weight"), w.get("proj_out.bias"));
  h = contiguous(ctx, permute(ctx, reshape(ctx, h, {B, H, W, C}), {0, 3, 1, 2}));   // [B, C, H, W]
  return add(ctx, h, x);
}

Tensor* Vae::encode(Context& ctx, Tensor* image) const {
  if (!config_.has_encoder) throw Error("this checkpoint has no VAE encoder; img2img needs one");
  const Weights e = w_.sub("encoder.");
  Tensor* h = named(conv2d(ctx, image, e.get("conv_in.weight"), e.get("conv_in.bias"), 1, 1, nullptr, padding_), "vae.encoder.conv_in");
  const int levels = e.max_index("down.", ".") + 1;
  for (int i = 0; i < levels; ++i) {
    const std::string p = "down." + std::to_string(i) + ".";
    h = level_blocks(ctx, e.sub(p), h);
    // Pad right/bottom by one, then 3×3 stride 2. The pad is F.pad's zeros even under tiling: A1111
    // switches only the Conv2d modules to circular, and this conv itself has padding 0.
    if (e.has(p + "downsample.conv.weight"))
      h = named(conv2d(ctx, h, e.get(p + "downsample.conv.weight"), e.get(p + "downsample.conv.bias"), 2, 0, 0, 1, 1, nullptr, Padding::Zeros),
                "vae.encoder." + p + "downsample");
  }
  h = resnet(ctx, e.sub("mid.block_1."), h);
  h = named(attn(ctx, e.sub("mid.attn_1."), h), "vae.encoder.mid.attn_1");
  h = resnet(ctx, e.sub("mid.block_2."), h);
  h = group_norm(ctx, h, 32, 1e-6f, e.get("norm_out.weight"), e.get("norm_out.bias"), true);
  h = named(conv2d(ctx, h, e.get("conv_out.weight"), e.get("conv_out.bias"), 1, 1, nullptr, padding_), "vae.encoder.out");
  return named(conv2d(ctx, h, w_.get("quant_conv.weight"), w_.get("quant_conv.bias"), 1, 0), "vae.moments");
}

Tensor* Vae::level_blocks(Context& ctx, const Weights& level, Tensor* h) const {
  // block.j resnets, each followed by attn.j where the level has attention
  const int blocks = level.max_index("block.", ".") + 1;
  for (int j = 0; j < blocks; ++j) {
    h = resnet(ctx, level.sub("block." + std::to_string(j) + "."), h);
    if (level.has("attn." + std::to_string(j) + ".q.weight")) h = attn(ctx, level.sub("attn." + std::to_string(j) + "."), h);
  }
  return h;
}

Tensor* Vae::decode(Context& ctx, Tensor* z) const {
  const Weights d = w_.sub("decoder.");
  Tensor* h = named(conv2d(ctx, z, w_.get("post_quant_conv.weight"), w_.get("post_quant_conv.bias"), 1, 0), "vae.post_quant_conv");
  h = named(conv2d(ctx, h, d.get("conv_in.weight"), d.get("conv_in.bias"), 1, 1, nullptr, padding_), "vae.decoder.conv_in");
  h = resnet(ctx, d.sub("mid.block_1."), h);
  h = named(attn(ctx, d.sub("mid.attn_1."), h), "vae.decoder.mid.attn_1");
  h = resnet(ctx, d.sub("mid.block_2."), h);
  for (int i = config_.levels - 1; i >= 0; --i) {
    const std::string p = "up." + std::to_string(i) + ".";
    h = level_blocks(ctx, d.sub(p), h);
    if (d.has(p + "upsample.conv.weight"))
      h = named(conv2d(ctx, upsample_nearest2x(ctx, h), d.get(p + "upsample.conv.weight"), d.get(p + "upsample.conv.bias"), 1, 1, nullptr, padding_), "vae.decoder." + p + "upsample");
  }
  h = group_norm(ctx, h, 32, 1e-6f, d.get("norm_out.weight"), d.get("norm_out.bias"), true);
  return named(conv2d(ctx, h, d.get("conv_out.weight"), d.get("conv_out.bias"), 1, 1, nullptr, padding_), "vae.decoded");
}

}  // namespace sd::model
