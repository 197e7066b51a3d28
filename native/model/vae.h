// The KL autoencoder (CompVis AutoencoderKL): encoder image -> moments (mean, logvar) and
// decoder latent -> image. Levels, blocks and channel widths are read from the checkpoint.
#pragma once
#include "core/ops.h"
#include "weights.h"

namespace sd::model {

struct VaeConfig {
  int z_channels = 0;      // 4
  int levels = 0;          // len(ch_mult): downsampling factor 2^(levels-1)
  bool has_encoder = false;
  int downscale() const { return 1 << (levels - 1); }
};

class Vae {
 public:
  explicit Vae(const Weights& w);  // weights under "first_stage_model."
  const VaeConfig& config() const { return config_; }
  // image [B, 3, H, W] in [-1, 1] -> moments [B, 2z, H/f, W/f] (quant_conv applied; logvar not clamped)
  Tensor* encode(Context& ctx, Tensor* image) const;
  // z [B, z, h, w] (already divided by the scale factor) -> image [B, 3, h·f, w·f], raw
  Tensor* decode(Context& ctx, Tensor* z) const;
  // How the 3×3 convs pad from now on (A1111's tiling: circular); graphs built later use it, the
  // weights are untouched.
  void set_padding(Padding p) { padding_ = p; }
  Padding padding() const { return padding_; }

 private:
  Tensor* resnet(Context& ctx, const Weights& w, Tensor* x) const;
  Tensor* attn(Context& ctx, const Weights& w, Tensor* x) const;
  Tensor* level_blocks(Context& ctx, const Weights& level, Tensor* h) const;
  Weights w_;
  VaeConfig config_;
  Padding padding_ = Padding::Zeros;
};

}  // namespace sd::model
