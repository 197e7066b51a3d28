#include "adapter_keys.h"

#include <algorithm>
#include <regex>

namespace sd::adapters {
namespace {

std::string underscored(std::string s) {
  std::replace(s.begin(), s.end(), '.', '_');
  return s;
}

bool starts_with(const std::string& s, const std::string& head) { return s.compare(0, head.size(), head) == 0; }
bool ends_with(const std::string& s, const std::string& tail) {
  return s.size() >= tail.size() && s.compare(s.size() - tail.size(), tail.size(), tail) == 0;
}

// Tensor suffixes as files spell them -> the kohya/LyCORIS spelling the math reads.
const std::vector<std::pair<std::string, std::string>>& suffixes() {
  static const std::vector<std::pair<std::string, std::string>> table = {
      {"lora_up.weight", "lora_up.weight"},     {"lora_down.weight", "lora_down.weight"}, {"lora_mid.weight", "lora_mid.weight"},
      {"lora_B.weight", "lora_up.weight"},      {"lora_A.weight", "lora_down.weight"},    {"lora.up.weight", "lora_up.weight"},
      {"lora.down.weight", "lora_down.weight"}, {"lora_linear_layer.up.weight", "lora_up.weight"},
      {"lora_linear_layer.down.weight", "lora_down.weight"},
      {"hada_w1_a", "hada_w1_a"}, {"hada_w1_b", "hada_w1_b"}, {"hada_w2_a", "hada_w2_a"}, {"hada_w2_b", "hada_w2_b"},
      {"hada_t1", "hada_t1"},     {"hada_t2", "hada_t2"},     {"lokr_w1_a", "lokr_w1_a"}, {"lokr_w1_b", "lokr_w1_b"},
      {"lokr_w2_a", "lokr_w2_a"}, {"lokr_w2_b", "lokr_w2_b"}, {"lokr_w1", "lokr_w1"},     {"lokr_w2", "lokr_w2"},
      {"lokr_t2", "lokr_t2"},     {"dora_scale", "dora_scale"}, {"alpha", "alpha"},     {"scale", "scale"},
  };
  return table;
}

// diffusers' attention-processor names: "attn1.processor.to_q_lora" is the module "attn1.to_q".
std::string without_processor(std::string path) {
  static const std::regex proc(R"(\.processor\.(to_q|to_k|to_v|to_out)_lora$)");
  std::smatch m;
  if (std::regex_search(path, m, proc)) path = m.prefix().str() + "." + (m[1] == "to_out" ? std::string("to_out.0") : m[1].str());
  return path;
}

std::string resnet_suffix(const std::string& s) {
  static const std::map<std::string, std::string> table = {
      {"conv1", "in_layers_2"},          {"conv2", "out_layers_3"}, {"norm1", "in_layers_0"}, {"norm2", "out_layers_0"},
      {"time_emb_proj", "emb_layers_1"}, {"conv_shortcut", "skip_connection"}};
  auto it = table.find(s);
  return it == table.end() ? s : it->second;
}

}  // namespace

std::optional<SplitKey> split_adapter_key(const std::string& key) {
  for (const auto& [spelled, canonical] : suffixes()) {
    if (!ends_with(key, "." + spelled)) continue;
    std::string path = key.substr(0, key.size() - spelled.size() - 1);
    if (starts_with(path, "base_model.model.")) path = path.substr(17);
    std::string stem;
    if (starts_with(path, "lora_unet_") || starts_with(path, "lora_te_") || starts_with(path, "lora_te1_") || starts_with(path, "lora_te2_"))
      stem = underscored(path);
    else if (starts_with(path, "unet.")) stem = "lora_unet_" + underscored(without_processor(path.substr(5)));
    else if (starts_with(path, "diffusion_model.")) stem = "lora_unet_" + underscored(path.substr(16));
    else if (starts_with(path, "text_encoder_2.")) stem = "lora_te2_" + underscored(path.substr(15));
    else if (starts_with(path, "text_encoder.")) stem = "lora_te_" + underscored(path.substr(13));
    else return std::nullopt;
    return SplitKey{stem, canonical};
  }
  return std::nullopt;
}

CheckpointIndex::CheckpointIndex(const io::SafetensorsFile& checkpoint) : file_(checkpoint) {
  for (const io::TensorInfo& t : checkpoint.tensors())
    if (ends_with(t.name, ".weight")) {
      const std::string module = t.name.substr(0, t.name.size() - 7);
      modules_[underscored(module)] = module;
    }
  if (checkpoint.find("conditioner.embedders.1.model.ln_final.weight")) {
    text1_ = "conditioner.embedders.0.transformer.";
    text2_ = "conditioner.embedders.1.model.";
  } else if (checkpoint.find("cond_stage_model.model.ln_final.weight")) {
    text1_ = "cond_stage_model.model.";
    text1_openclip_ = true;
  } else {
    text1_ = "cond_stage_model.transformer.";
  }
  // The first downsampler's index is the number of input blocks per level (res blocks + 1).
  for (int n = 1; n < 64; ++n)
    if (checkpoint.find("model.diffusion_model.input_blocks." + std::to_string(n) + ".0.op.weight")) {
      blocks_per_level_ = n;
      break;
    }
}

std::optional<Target> CheckpointIndex::lookup(const std::string& name, Component which) const {
  auto it = modules_.find(name);
  if (it == modules_.end()) return std::nullopt;
  return Target{it->second + ".weight", 0, 0, which};
}

std::optional<Target> CheckpointIndex::unet(const std::string& name) const {
  const std::string root = "model_diffusion_model_";
  if (auto hit = lookup(root + name, Component::Unet)) return hit;  // already in the checkpoint's own names
  static const std::regex down(R"(down_blocks_(\d+)_(attentions|resnets)_(\d+)_(.+))");
  static const std::regex mid(R"(mid_block_(attentions|resnets)_(\d+)_(.+))");
  static const std::regex up(R"(up_blocks_(\d+)_(attentions|resnets)_(\d+)_(.+))");
  static const std::regex downsampler(R"(down_blocks_(\d+)_downsamplers_0_conv)");
  static const std::regex upsampler(R"(up_blocks_(\d+)_upsamplers_0_conv)");
  static const std::regex time_linear(R"(time_embedding_linear_(\d+))");
  static const std::regex add_linear(R"(add_embedding_linear_(\d+))");
  const int per = blocks_per_level_;
  auto num = [](const std::ssub_match& s) { return std::stoi(s.str()); };
  auto suffix = [](const std::ssub_match& kind, const std::ssub_match& s) { return kind == "resnets" ? resnet_suffix(s.str()) : s.str(); };
  std::smatch m;
  std::string ldm;
  if (name == "conv_in") ldm = "input_blocks_0_0";
  else if (name == "conv_out") ldm = "out_2";
  else if (name == "conv_norm_out") ldm = "out_0";
  else if (std::regex_match(name, m, time_linear)) ldm = "time_embed_" + std::to_string(num(m[1]) * 2 - 2);
  else if (std::regex_match(name, m, add_linear)) ldm = "label_emb_0_" + std::to_string(num(m[1]) * 2 - 2);
  else if (std::regex_match(name, m, downsampler)) ldm = "input_blocks_" + std::to_string((num(m[1]) + 1) * per) + "_0_op";
  else if (std::regex_match(name, m, upsampler)) {
    // The upsampler follows the level's last block: sub-module 2 when that block has attention.
    const std::string block = "output_blocks_" + std::to_string(num(m[1]) * per + per - 1);
    ldm = modules_.count(root + block + "_2_conv") ? block + "_2_conv" : block + "_1_conv";
  } else if (std::regex_match(name, m, down))
    ldm = "input_blocks_" + std::to_string(1 + num(m[1]) * per + num(m[3])) + (m[2] == "attentions" ? "_1_" : "_0_") + suffix(m[2], m[4]);
  else if (std::regex_match(name, m, mid))
    ldm = "middle_block_" + std::to_string(m[1] == "attentions" ? 1 : num(m[2]) * 2) + "_" + suffix(m[1], m[3]);
  else if (std::regex_match(name, m, up))
    ldm = "output_blocks_" + std::to_string(num(m[1]) * per + num(m[3])) + (m[2] == "attentions" ? "_1_" : "_0_") + suffix(m[2], m[4]);
  else return std::nullopt;
  return lookup(root + ldm, Component::Unet);
}

std::optional<Target> CheckpointIndex::text(const std::string& name, Component which) const {
  const std::string& prefix = which == Component::Text2 ? text2_ : text1_;
  if (prefix.empty()) return std::nullopt;
  const bool openclip = which == Component::Text2 || text1_openclip_;
  if (auto hit = lookup(underscored(prefix) + name, which)) return hit;
  if (!openclip) return std::nullopt;
  // HF CLIP names on an OpenCLIP encoder (kohya trains through HF's CLIPTextModel): q, k and v are
  // row bands of the packed in_proj_weight.
  static const std::regex layer(R"(text_model_encoder_layers_(\d+)_(.+))");
  std::smatch m;
  if (!std::regex_match(name, m, layer)) return std::nullopt;
  const std::string block = prefix + "transformer.resblocks." + m[1].str() + ".";
  const std::string part = m[2].str();
  static const std::map<std::string, std::string> renamed = {
      {"self_attn_out_proj", "attn.out_proj.weight"}, {"mlp_fc1", "mlp.c_fc.weight"}, {"mlp_fc2", "mlp.c_proj.weight"}};
  if (auto it = renamed.find(part); it != renamed.end()) {
    if (!file_.find(block + it->second)) return std::nullopt;
    return Target{block + it->second, 0, 0, which};
  }
  const int band = part == "self_attn_q_proj" ? 0 : part == "self_attn_k_proj" ? 1 : part == "self_attn_v_proj" ? 2 : -1;
  const io::TensorInfo* packed = file_.find(block + "attn.in_proj_weight");
  if (band < 0 || !packed || packed->shape.size() != 2) return std::nullopt;
  const int64_t width = packed->shape[0] / 3;
  return Target{packed->name, band * width, width, which};
}

std::optional<Target> CheckpointIndex::resolve(const std::string& stem) const {
  if (starts_with(stem, "lora_unet_")) return unet(stem.substr(10));
  if (starts_with(stem, "lora_te1_")) return is_sdxl() ? text(stem.substr(9), Component::Text1) : std::nullopt;
  if (starts_with(stem, "lora_te2_")) return is_sdxl() ? text(stem.substr(9), Component::Text2) : std::nullopt;
  if (starts_with(stem, "lora_te_")) return text(stem.substr(8), Component::Text1);
  return std::nullopt;
}

}  // namespace sd::adapters
