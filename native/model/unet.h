// The CompVis/SGM UNet noise predictor (SD1, SD2, SDXL). The block structure is read from the
// checkpoint's keys (which input/output blocks exist, which hold a resblock, a transformer, a
// down/upsample), so one builder serves every family; config values come from tensor shapes.
#pragma once
#include <string>
#include <vector>

#include "core/ops.h"
#include "weights.h"

namespace sd::model {

struct UNetConfig {
  int in_channels = 0, out_channels = 0, model_channels = 0;
  int context_dim = 0;         // cross-attention key width (768 SD1, 1024 SD2, 2048 SDXL)
  int adm_channels = 0;        // SDXL label_emb input (2816), 0 if none
  int head_dim = 0;            // fixed head width (SD2/SDXL: 64), or
  int heads = 0;               // fixed head count (SD1: 8)
  bool linear_proj = false;    // SD2/SDXL: Linear proj_in/out; SD1: 1×1 conv
  int input_blocks = 0, output_blocks = 0;
  int heads_for(int channels) const { return heads > 0 ? heads : channels / head_dim; }
};

class UNet {
 public:
  // w: weights under "model.diffusion_model.". heads/head_dim: one of them, from the family
  // (SD1: heads 8; SD2/SDXL: head_dim 64) or from the model's metadata.
  UNet(const Weights& w, int heads, int head_dim);
  const UNetConfig& config() const { return config_; }

  // x [B, C, H, W], t [B] (float timesteps), context [B, T, context_dim], y [B, adm] or null.
  // Returns eps (or v) [B, C, H, W]. Every block output is named like the checkpoint
  // ("unet.input_blocks.3"), so parity tests compare intermediates.
  Tensor* forward(Context& ctx, Tensor* x, Tensor* t, Tensor* context, Tensor* y) const;
  // How the 3×3 convs pad from now on (A1111's tiling: circular); graphs built later use it, the
  // weights are untouched.
  void set_padding(Padding p) { padding_ = p; }
  Padding padding() const { return padding_; }

 private:
  Tensor* resblock(Context& ctx, const Weights& w, Tensor* x, Tensor* emb) const;
  Tensor* transformer(Context& ctx, const Weights& w, Tensor* x, Tensor* context) const;
  Tensor* block(Context& ctx, const std::string& prefix, Tensor* h, Tensor* emb, Tensor* context) const;
  Weights w_;
  UNetConfig config_;
  Padding padding_ = Padding::Zeros;
};

}  // namespace sd::model
