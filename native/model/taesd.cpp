#include "taesd.h"

#include "core/error.h"

namespace sd::model {
namespace {

// Block: relu(conv(relu(conv(relu(conv(x))))) + skip(x)); skip is a 1×1 conv only where the
// width changes. The residual add rides in the last conv.
Tensor* block(Context& ctx, const Weights& w, Tensor* x) {
  if (w.has("pool.0.weight")) throw Error("\"" + w.file().path() + "\": TAESD blocks with a pooled group-norm branch (TAEF2) are not supported");
  Tensor* skip = x;
  if (Tensor* s = w.opt("skip.weight")) skip = conv2d(ctx, x, s, nullptr, 1, 0);
  Tensor* h = relu(ctx, conv2d(ctx, x, w.get("conv.0.weight"), w.get("conv.0.bias"), 1, 1));
  h = relu(ctx, conv2d(ctx, h, w.get("conv.2.weight"), w.get("conv.2.bias"), 1, 1));
  return relu(ctx, conv2d(ctx, h, w.get("conv.4.weight"), w.get("conv.4.bias"), 1, 1, skip));
}

bool is_block(const Weights& w, int i) { return w.has(std::to_string(i) + ".conv.0.weight"); }
bool is_conv(const Weights& w, int i) { return w.has(std::to_string(i) + ".weight"); }
bool has_bias(const Weights& w, int i) { return w.has(std::to_string(i) + ".bias"); }

}  // namespace

Taesd::Taesd(const Weights& w, Part part) : w_(w), part_(part) {
  const char* what = part == Part::Decoder ? "decoder" : "encoder";
  // Decoder layer 0 is the soft clamp (no parameters), encoder layer 0 the input conv.
  first_ = part == Part::Decoder ? 1 : 0;
  last_ = w_.max_index("", ".");
  if (last_ <= first_ || !is_conv(w_, first_) || !has_bias(w_, first_) || !is_conv(w_, last_) || !has_bias(w_, last_))
    throw Error("\"" + w_.file().path() + "\": not a TAESD " + what + " (expected nn.Sequential keys \"" +
                std::to_string(first_) + ".weight\" ... under \"" + w_.prefix() + "\")");
  // Between the input and output convs, plain convs are bias-free resampling convs.
  for (int i = first_ + 1; i < last_; ++i) {
    if (!is_conv(w_, i)) continue;
    if (has_bias(w_, i)) throw Error("\"" + w_.file().path() + "\": unexpected biased conv \"" + std::to_string(i) + ".weight\" inside a TAESD " + what);
    ++resamples_;
  }
  const Tensor* latent_side = part == Part::Decoder ? w_.get("1.weight") : w_.get(std::to_string(last_) + ".weight");
  latent_channels_ = int(latent_side->shape[part == Part::Decoder ? 1 : 0]);
}

Tensor* Taesd::forward(Context& ctx, Tensor* x) const {
  const bool dec = part_ == Part::Decoder;
  const std::string layer = dec ? "taesd.decoder." : "taesd.encoder.";
  const std::string in = std::to_string(first_);
  Tensor* h = dec ? tanh_clamp(ctx, x, 3.0f) : x;                                  // [B, C or 3, h, w]
  h = conv2d(ctx, h, w_.get(in + ".weight"), w_.get(in + ".bias"), 1, 1);         // [B, 64, h, w]
  h = dec ? named(relu(ctx, h), layer + "2") : named(h, layer + in);
  for (int i = first_ + 1; i < last_; ++i) {
    const std::string k = std::to_string(i);
    if (is_block(w_, i)) {
      h = named(block(ctx, w_.sub(k + "."), h), layer + k);
    } else if (is_conv(w_, i)) {
      // Decoder: the parameterless layer before is nn.Upsample(scale_factor=2), nearest; encoder: stride 2.
      h = dec ? conv2d(ctx, upsample_nearest2x(ctx, h), w_.get(k + ".weight"), nullptr, 1, 1)  // [B, 64, 2h, 2w]
              : conv2d(ctx, h, w_.get(k + ".weight"), nullptr, 2, 1);                             // [B, 64, h/2, w/2]
      h = named(h, layer + k);
    }
  }
  const std::string out = std::to_string(last_);
  return named(conv2d(ctx, h, w_.get(out + ".weight"), w_.get(out + ".bias"), 1, 1), layer + out);  // [B, 3 or C, ...]
}

}  // namespace sd::model
