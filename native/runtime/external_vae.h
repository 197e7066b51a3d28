// A VAE from its own file (the `vae` load option), standing in for the checkpoint's: A1111's
// sd_vae, sd.cpp's --vae. The file is checked against the checkpoint's VAE tensor by tensor
// before anything runs, so a wrong file fails at load naming the tensor.
#pragma once
#include <memory>
#include <string>

#include "core/context.h"
#include "io/safetensors.h"
#include "model/weights.h"

namespace sd::runtime {

// The VAE weights in `path`, rooted where `encoder.*` / `decoder.*` resolve: bare AutoencoderKL
// keys (vae-ft-mse-840000-ema-pruned) or a whole checkpoint's `first_stage_model.*`. When the
// checkpoint has its own VAE (first_stage_model.*), every decoder tensor of it must be present with
// the same shape; encoder tensors too unless the file is decoder-only.
model::Weights open_external_vae(const std::string& path, std::shared_ptr<Context> ctx, const io::SafetensorsFile& checkpoint);

}  // namespace sd::runtime
