// TAESD (madebyollin/taesd): tiny conv-only autoencoders sharing Stable Diffusion's latent space,
// used for step previews and as a fast, approximate final decode. The checkpoints are the
// upstream nn.Sequential state dicts, so keys are layer indices ("3.conv.0.weight"); the layer
// list is read from the indices present (blocks, resampling convs, the output conv).
#pragma once
#include "core/ops.h"
#include "weights.h"

namespace sd::model {

// One half of TAESD; each half is its own file upstream (taesd_decoder.pth, taesd_encoder.pth).
//   Decoder: latent [B, C, h, w] in the sampler's space (the VAE latent already multiplied by the
//            scale factor; TAESD applies none of its own) -> image [B, 3, h·f, w·f], about [0, 1],
//            not clamped.
//   Encoder: image [B, 3, H, W] in [0, 1] -> latent [B, C, H/f, W/f] in the sampler's space.
// Intermediates are named "taesd.decoder.<layer index>" / "taesd.encoder.<layer index>".
class Taesd {
 public:
  enum class Part { Decoder, Encoder };
  Taesd(const Weights& w, Part part);
  Part part() const { return part_; }
  int latent_channels() const { return latent_channels_; }
  int factor() const { return 1 << resamples_; }  // f: image size over latent size
  Tensor* forward(Context& ctx, Tensor* x) const;

 private:
  Weights w_;
  Part part_;
  int first_ = 0, last_ = 0;  // the input and output conv's layer indices
  int latent_channels_ = 0, resamples_ = 0;
};

}  // namespace sd::model
