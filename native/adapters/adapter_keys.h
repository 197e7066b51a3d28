// Where an adapter file's module names land in a single-file checkpoint. Files name modules in
// four dialects: kohya with diffusers names (lora_unet_down_blocks_0_attentions_0_..., the most
// common), kohya with the checkpoint's own names (lora_unet_input_blocks_1_1_..., SDXL),
// diffusers/PEFT (unet.down_blocks.0....lora_A.weight) and the older diffusers attention
// processors (...attn1.processor.to_q_lora.down.weight). All resolve against the checkpoint's
// tensor names, so the block arithmetic follows the model actually loaded.
#pragma once
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "io/safetensors.h"

namespace sd::adapters {

enum class Component { Unet, Text1, Text2 };  // Text1: SD1 CLIP-L, SD2 OpenCLIP-H, SDXL CLIP-L; Text2: SDXL bigG

// A weight (or, for OpenCLIP's packed q|k|v projection, a band of its rows) an adapter changes.
struct Target {
  std::string tensor;    // checkpoint key, e.g. "model.diffusion_model.input_blocks.1.1.proj_in.weight"
  int64_t row0 = 0, rows = 0;  // rows == 0: the whole tensor
  Component component = Component::Unet;
};

// One adapter key split into its module stem (in the kohya spelling) and its tensor suffix.
struct SplitKey {
  std::string stem;    // "lora_unet_down_blocks_0_attentions_0_transformer_blocks_0_attn1_to_q"
  std::string suffix;  // "lora_down.weight", "alpha", "hada_w1_a", ...
};
std::optional<SplitKey> split_adapter_key(const std::string& key);

class CheckpointIndex {
 public:
  // Reads the checkpoint's tensor names: the family's encoder prefixes and the UNet's block layout.
  explicit CheckpointIndex(const io::SafetensorsFile& checkpoint);
  std::optional<Target> resolve(const std::string& stem) const;
  bool is_sdxl() const { return !text2_.empty(); }

 private:
  std::optional<Target> unet(const std::string& name) const;
  std::optional<Target> text(const std::string& name, Component which) const;
  std::optional<Target> lookup(const std::string& underscored, Component which) const;

  const io::SafetensorsFile& file_;
  std::map<std::string, std::string> modules_;  // "model_diffusion_model_input_blocks_1_1_proj_in" -> "model.diffusion_model.input_blocks.1.1.proj_in"
  std::string text1_, text2_;                   // encoder prefixes, e.g. "cond_stage_model.transformer."
  bool text1_openclip_ = false;
  int blocks_per_level_ = 3;                    // UNet input blocks per level: res blocks + 1
};

}  // namespace sd::adapters
