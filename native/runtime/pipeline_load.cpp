// Loading: map the file, detect the family from the tensors present, build the models.
#include <cmath>
#include <cstdlib>

#include "core/error.h"
#include "device.h"
#include "external_vae.h"
#include "pipeline_impl.h"
#include "prediction.h"

namespace sd {

const char* family_name(Family f) {
  switch (f) {
    case Family::SD1: return "sd1";
    case Family::SD2: return "sd2";
    case Family::SDXL: return "sdxl";
  }
  return "?";
}

std::unique_ptr<Pipeline> Pipeline::load(const std::string& path, const LoadOptions& options) {
  runtime::resolve_device(options.device);  // an unusable device fails before the file is mapped
  auto file = io::SafetensorsFile::open(path);
  return std::make_unique<runtime::PipelineImpl>(std::shared_ptr<io::SafetensorsFile>(std::move(file)), options);
}

namespace runtime {
namespace {

// Both spellings of a per-model key are accepted: "sd_native.unet_heads" and "sd_native.unet.num_heads".
// Returns the entry (its key is the spelling the file used) or null.
const std::pair<const std::string, std::string>* find_meta(const io::SafetensorsFile& f, const std::string& key) {
  auto it = f.metadata().find(key);
  if (it != f.metadata().end()) return &*it;
  const size_t us = key.rfind('_'), dot = key.rfind('.');
  if (us == std::string::npos || (dot != std::string::npos && us < dot)) return nullptr;
  const std::string field = key.substr(us + 1);
  it = f.metadata().find(key.substr(0, us) + "." + (field == "heads" ? "num_heads" : field));
  return it != f.metadata().end() ? &*it : nullptr;
}

// A recorded setting outside [lo, hi] (or not a number) is ignored rather than trusted: metadata is user data.
float parse_number(const std::string& text, float fallback, float lo, float hi) {
  char* end = nullptr;
  const float v = std::strtof(text.c_str(), &end);
  return end != text.c_str() && *end == '\0' && v >= lo && v <= hi ? v : fallback;
}

// A count such as the step count or a head count: "40.5" is as unusable as "forty" (truncating it would run a
// setting the file never named), so it falls back too.
int parse_count(const std::string& text, int fallback, int lo, int hi) {
  const float v = parse_number(text, float(fallback), float(lo), float(hi));
  return v == std::floor(v) ? int(v) : fallback;
}

float meta_number(const io::SafetensorsFile& f, const std::string& key, float fallback, float lo, float hi) {
  const auto* entry = find_meta(f, key);
  return entry ? parse_number(entry->second, fallback, lo, hi) : fallback;
}

int meta_count(const io::SafetensorsFile& f, const std::string& key, int fallback, int lo, int hi) {
  const auto* entry = find_meta(f, key);
  return entry ? parse_count(entry->second, fallback, lo, hi) : fallback;
}

// Head counts are not visible in tensor shapes; models we train record them in the metadata (an absent key
// gives the fallback, 0 meaning "derive from the width"). Unlike a sampling default, a wrong head count computes
// a different model, so a recorded value that is not a count is an error rather than a silent fallback.
int meta_heads(const io::SafetensorsFile& f, const std::string& key, int fallback) {
  const auto* entry = find_meta(f, key);
  if (!entry) return fallback;
  const int heads = parse_count(entry->second, -1, 1, 4096);
  if (heads < 1)
    throw Error("\"" + f.path() + "\" records " + entry->first + " = \"" + entry->second + "\", which is not a head count (1..4096); "
                "correct or remove that metadata entry");
  return heads;
}

}  // namespace

PipelineImpl::PipelineImpl(std::shared_ptr<io::SafetensorsFile> file, const LoadOptions& options)
    : file_(std::move(file)), weights_ctx_(std::make_shared<Context>()), schedule_(sample::DiscreteSchedule::scaled_linear()) {
  const io::SafetensorsFile& f = *file_;
  const std::string& path = f.path();
  const bool has_unet = f.find("model.diffusion_model.input_blocks.0.0.weight") != nullptr;
  const bool has_vae = f.find("first_stage_model.decoder.conv_in.weight") != nullptr;
  const bool sd1_text = f.find("cond_stage_model.transformer.text_model.final_layer_norm.weight") != nullptr;
  const bool sd2_text = f.find("cond_stage_model.model.ln_final.weight") != nullptr;
  const bool xl_l = f.find("conditioner.embedders.0.transformer.text_model.final_layer_norm.weight") != nullptr;
  const bool xl_g = f.find("conditioner.embedders.1.model.ln_final.weight") != nullptr;
  const bool xl_unet = f.find("model.diffusion_model.label_emb.0.0.weight") != nullptr;
  // a checkpoint shipped without its VAE is usable with an external one
  if (!has_unet || (!has_vae && options.vae.empty()))
    throw Error("\"" + path + "\" is not a Stable Diffusion checkpoint: " + std::string(!has_unet ? "no UNet (model.diffusion_model.*)" : "no VAE (first_stage_model.*; give one with the vae option)") +
                " found among its " + std::to_string(f.tensors().size()) + " tensors. sd-native loads single-file SD 1.x/2.x/XL checkpoints in the original layout");
  backend_ = make_backend(resolve_device(options.device), options, &info_.device);
  vae_budget_bytes_ = options.vae_budget_bytes;
  taesd_path_ = options.taesd;
  weights_.emplace(file_, weights_ctx_, "");
  const model::Weights& root = *weights_;
  adapters_ = std::make_unique<adapters::AdapterSets>(f, [this](const std::string& key) { return weights_->get(key); }, options.adapter_cache_bytes, unsigned(std::max(0, options.threads)),
                                                        [this](const void* data, size_t bytes) { backend_->forget_weights(data, bytes); });
  const int clip_heads = meta_heads(f, "sd_native.clip_heads", 0);
  if (xl_unet || xl_g) {
    if (!xl_unet || !xl_g || !xl_l)
      throw Error("\"" + path + "\" looks like SDXL but lacks " + std::string(!xl_unet ? "the UNet's label embedding" : !xl_g ? "its second text encoder (conditioner.embedders.1, OpenCLIP bigG)" : "its first text encoder (conditioner.embedders.0, CLIP-L)") +
                  "; the file is incomplete (an SDXL UNet alone cannot generate)");
    info_.family = Family::SDXL;
    clip_l_.emplace(root.sub("conditioner.embedders.0.transformer.text_model."), model::ClipLayout::HuggingFace, clip_heads);
    clip_g_.emplace(root.sub("conditioner.embedders.1.model."), model::ClipLayout::OpenClip, meta_heads(f, "sd_native.clip_g_heads", 0));
    unet_.emplace(root.sub("model.diffusion_model."), 0, meta_heads(f, "sd_native.unet_head_dim", 64));
    info_.vae_scale_factor = 0.13025f;
    info_.default_size = 1024;
  } else if (sd2_text) {
    info_.family = Family::SD2;
    clip_g_.emplace(root.sub("cond_stage_model.model."), model::ClipLayout::OpenClip, clip_heads);
    unet_.emplace(root.sub("model.diffusion_model."), 0, meta_heads(f, "sd_native.unet_head_dim", 64));
    info_.default_size = 768;
  } else if (sd1_text) {
    info_.family = Family::SD1;
    clip_l_.emplace(root.sub("cond_stage_model.transformer.text_model."), model::ClipLayout::HuggingFace, clip_heads);
    unet_.emplace(root.sub("model.diffusion_model."), meta_heads(f, "sd_native.unet_heads", 8), 0);
  } else {
    throw Error("\"" + path + "\" has a UNet and a VAE but no text encoder this version knows (cond_stage_model.transformer.* for SD1, cond_stage_model.model.* for SD2, conditioner.embedders.* for SDXL)");
  }
  vae_.emplace(options.vae.empty() ? root.sub("first_stage_model.") : open_external_vae(options.vae, weights_ctx_, f));
  if (vae_->config().z_channels != unet_->config().out_channels)
    throw Error("the VAE" + std::string(options.vae.empty() ? "" : " \"" + options.vae + "\"") + " has " + std::to_string(vae_->config().z_channels) +
                " latent channels but the UNet makes " + std::to_string(unet_->config().out_channels));
  if (!options.prediction.empty() && options.prediction != "eps" && options.prediction != "v")
    throw Error("prediction must be \"eps\" or \"v\", got \"" + options.prediction + "\"");
  info_.prediction = options.prediction;
  // a default size generate() would refuse (not a multiple of the VAE's downscale) is ignored like any bad setting
  const int downscale = vae_->config().downscale();
  const int size = meta_count(f, "sd_native.resolution", info_.default_size, downscale, 256 * downscale);
  info_.default_size = size % downscale == 0 ? size : info_.default_size;
  info_.default_steps = meta_count(f, "sd_native.steps", info_.default_steps, 1, 1000);
  info_.default_cfg_scale = meta_number(f, "sd_native.cfg_scale", info_.default_cfg_scale, 0, 100);
  const auto& u = unet_->config();
  info_.unet_model_channels = u.model_channels;
  info_.unet_context_dim = u.context_dim;
  info_.unet_adm_channels = u.adm_channels;
  info_.latent_channels = u.out_channels;
  info_.unet_in_channels = u.in_channels;
  if (u.in_channels != u.out_channels && !info_.inpainting_unet())
    throw Error("\"" + path + "\": a UNet with " + std::to_string(u.in_channels) + " input and " + std::to_string(u.out_channels) +
                " output channels is neither a plain nor an inpainting (latent + 5) model");
  const model::ClipTextEncoder& main_clip = clip_l_ ? *clip_l_ : *clip_g_;
  info_.clip_width = main_clip.config().width;
  info_.clip_layers = main_clip.config().layers;
  info_.clip_heads = main_clip.config().heads;
  info_.vae_downscale = vae_->config().downscale();
  info_.tensors = f.tensors().size();
  info_.file_bytes = f.file_size();
  info_.backend = backend_->name();
  if (info_.prediction.empty()) info_.prediction = declared_prediction(f);
  // Record (never run) every model's graph once: a missing or mis-shaped tensor fails here, at
  // load time, naming the tensor, instead of in the middle of a generation.
  {
    Context dry;
    Tensor* ids = dry.new_tensor(DType::I32, {77}, "ids");
    if (clip_l_) clip_l_->forward(dry, ids, 1, 0, true, false);
    if (clip_g_) clip_g_->forward(dry, ids, 1, 1, true, info_.family == Family::SDXL);
    const int64_t side = 64;
    Tensor* x = dry.new_tensor(DType::F32, {1, unet_->config().in_channels, side, side}, "x");
    Tensor* t = dry.new_tensor(DType::F32, {1}, "t");
    Tensor* c = dry.new_tensor(DType::F32, {1, 77, unet_->config().context_dim}, "c");
    Tensor* y = unet_->config().adm_channels ? dry.new_tensor(DType::F32, {1, unet_->config().adm_channels}, "y") : nullptr;
    unet_->forward(dry, x, t, c, y);
    vae_->decode(dry, dry.new_tensor(DType::F32, {1, vae_->config().z_channels, 8, 8}, "z"));
    if (vae_->config().has_encoder) vae_->encode(dry, dry.new_tensor(DType::F32, {1, 3, 64, 64}, "image"));
  }
  const int text_width = (clip_l_ ? clip_l_->config().width : 0) + (clip_g_ && info_.family != Family::SD1 ? clip_g_->config().width : 0);
  if (u.context_dim != text_width)
    throw Error("\"" + path + "\": the UNet's cross-attention expects " + std::to_string(u.context_dim) + "-wide text features but the text encoder gives " +
                std::to_string(text_width) + "; the checkpoint mixes parts of different models");
  // A1111 asks only plain SD2 UNets (its SD2 inpainting config is eps); last, so a broken model is named first
  if (info_.prediction.empty())
    info_.prediction = info_.family == Family::SD2 && !info_.inpainting_unet() && unet_probe_says_v(*unet_, *backend_) ? "v" : "eps";
}

}  // namespace runtime
}  // namespace sd
