// What a generation asks of the adapter sets, and what applying them did (part of sd.h's API).
#pragma once
#include <cstddef>
#include <string>

namespace sd::adapters {

// A LoRA / LyCORIS file and its strengths: A1111's <lora:name:text_weight:unet_weight>.
struct AdapterRequest {
  std::string path;
  float text_weight = 1.0f, unet_weight = 1.0f;
};

struct AdapterReport {
  int modules_applied = 0;      // modules of all files that matched a weight of the model
  int modules_unmatched = 0;    // modules a file has that this model does not (reported, not fatal)
  int tensors_changed = 0;
  size_t merged_bytes = 0;      // copies this set holds
  double merge_seconds = 0;     // 0 when the set was already merged
  bool cached = false;
};

}  // namespace sd::adapters
