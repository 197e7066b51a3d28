#include "external_vae.h"

#include "core/error.h"

namespace sd::runtime {
namespace {

std::string shape_text(const std::vector<int64_t>& shape) {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); ++i) s += (i ? ", " : "") + std::to_string(shape[i]);
  return s + "]";
}

bool starts_with(const std::string& s, const std::string& head) { return s.compare(0, head.size(), head) == 0; }

}  // namespace

model::Weights open_external_vae(const std::string& path, std::shared_ptr<Context> ctx, const io::SafetensorsFile& checkpoint) {
  std::shared_ptr<io::SafetensorsFile> file = io::SafetensorsFile::open(path);
  const io::SafetensorsFile& f = *file;
  std::string prefix;
  if (f.find("first_stage_model.decoder.conv_in.weight")) {
    prefix = "first_stage_model.";
  } else if (f.find("decoder.conv_in.weight") && f.find("decoder.up_blocks.0.resnets.0.conv1.weight")) {
    // diffusers names its blocks differently (up_blocks reversed, linear attention); not mapped yet
    throw Error("vae \"" + path + "\" is a diffusers-format VAE (decoder.up_blocks.*); sd-native loads the original "
                "AutoencoderKL layout (decoder.up.*), as vae-ft-mse-840000-ema-pruned.safetensors has it");
  } else if (!f.find("decoder.conv_in.weight")) {
    throw Error("vae \"" + path + "\" is not a VAE: neither decoder.conv_in.weight nor first_stage_model.decoder.conv_in.weight is among its " +
                std::to_string(f.tensors().size()) + " tensors");
  }
  // decoder-only files (TAESD-style exports of the decoder half) are accepted; img2img then reports the missing encoder
  const bool has_encoder = f.find(prefix + "encoder.conv_in.weight") != nullptr;
  const std::string own = "first_stage_model.";
  for (const io::TensorInfo& t : checkpoint.tensors()) {
    if (!starts_with(t.name, own)) continue;
    const std::string key = t.name.substr(own.size());
    if (!has_encoder && (starts_with(key, "encoder.") || starts_with(key, "quant_conv."))) continue;
    const io::TensorInfo* mine = f.find(prefix + key);
    if (!mine)
      throw Error("vae \"" + path + "\" is missing tensor \"" + prefix + key + "\" that the checkpoint's VAE has; the file is not a VAE of this model's family");
    if (mine->shape != t.shape)
      throw Error("vae \"" + path + "\": tensor \"" + prefix + key + "\" has shape " + shape_text(mine->shape) + ", the checkpoint's VAE has " +
                  shape_text(t.shape) + "; the file is a VAE of another architecture");
  }
  return model::Weights(std::move(file), std::move(ctx), prefix);
}

}  // namespace sd::runtime
