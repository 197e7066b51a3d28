// CLIP text encoders in both checkpoint layouts: HF CLIPTextModel (SD1, SDXL's CLIP-L; QuickGELU)
// and OpenCLIP (SD2's ViT-H, SDXL's bigG; exact GELU, packed in_proj). Config comes from the
// tensors: width, layer count, vocabulary and context length; heads from width (64-wide heads,
// 32-wide below 256) unless the caller knows better.
#pragma once
#include <string>

#include "core/ops.h"
#include "weights.h"

namespace sd::model {

enum class ClipLayout { HuggingFace, OpenClip };

struct ClipConfig {
  ClipLayout layout = ClipLayout::HuggingFace;
  int width = 0, layers = 0, heads = 0, vocab = 0, context = 0;
  bool quick_gelu = true;       // HF CLIP-L; OpenCLIP uses exact GELU
  int projection_dim = 0;       // text_projection columns, 0 if absent
};

struct ClipOutputs {
  Tensor* hidden = nullptr;     // the context for the UNet, per the skip/final-norm choice
  Tensor* last_normed = nullptr;  // ln_final(h[-1]) (for pooled vectors)
};

class ClipTextEncoder {
 public:
  // w: weights under the encoder's prefix (e.g. "cond_stage_model.transformer.text_model.").
  ClipTextEncoder(const Weights& w, ClipLayout layout, int heads_override = 0);
  const ClipConfig& config() const { return config_; }

  // ids: i32 [B·77]; returns the hidden states after `layers - skip` layers, final-normed if
  // final_norm (SD1 and SD2 conventions) or raw (SDXL's penultimate), shape [B, 77, width].
  // ids: [B·T] I32 token ids, or [B·T, W] F32 token rows (prompts with textual-inversion vectors).
  ClipOutputs forward(Context& ctx, Tensor* ids, int batch, int skip, bool final_norm, bool want_last_normed) const;
  Tensor* token_embedding() const;  // [vocab, W]
  // pooled = last_normed[b, eot_index[b]] @ text_projection, for SDXL's bigG: computed on the host.
  Tensor* text_projection() const;

 private:
  Tensor* layer(Context& ctx, Tensor* x, int i) const;
  Weights w_;
  ClipConfig config_;
};

}  // namespace sd::model
