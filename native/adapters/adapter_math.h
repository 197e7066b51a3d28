// The weight update of one LoRA / LyCORIS module, computed as AUTOMATIC1111's
// extensions-builtin/Lora computes it (network_lora.py, network_hada.py, network_lokr.py,
// lyco_helpers.py, network.py), so an image matches the one A1111 makes with the same file:
//
//   LoRA  up·down (conv: up[o,r]·down[r,i·kh·kw]); with lora_mid, the Tucker rebuild
//   LoHa  (w1a·w1b) ⊙ (w2a·w2b); with hada_t1/t2, each factor rebuilt through its core
//   LoKr  w1 ⊗ w2, each full or a low-rank product (w2 also through lokr_t2)
//   then  × scale (the file's "scale", else alpha / rank, else 1), DoRA's re-normalisation when
//         the module carries dora_scale, and × the caller's multiplier.
#pragma once
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace sd::adapters {

struct Array {
  std::vector<int64_t> shape;
  std::vector<float> data;
  int64_t numel() const;
  int64_t rows() const { return shape.empty() ? 1 : shape[0]; }
  int64_t cols() const { return rows() ? numel() / rows() : 0; }  // everything after the first dim
};

enum class ModuleKind { LoRA, LoHa, LoKr };

struct AdapterModule {
  ModuleKind kind = ModuleKind::LoRA;
  std::map<std::string, Array> w;  // by the file's suffix: "lora_up.weight", "hada_w1_a", "dora_scale", ...
  std::optional<float> alpha, scale;
  const Array* find(const std::string& suffix) const;
};

// The module kind a set of tensor suffixes makes, or nothing when it is no module A1111 knows.
std::optional<ModuleKind> module_kind(const std::map<std::string, Array>& w);

// What the module adds to a weight of target_shape whose current value is `current` (f32, row
// major): A1111's finalize_updown(calc_updown(current)). Throws sd::Error naming `what` when the
// module's product cannot fill the target's shape.
std::vector<float> weight_delta(const AdapterModule& m, const std::vector<int64_t>& target_shape, const float* current,
                                float multiplier, const std::string& what);

}  // namespace sd::adapters
