// What the UNet predicts (eps or v) when the caller does not say. SD2-768-v checkpoints carry no
// marker in their tensors, so, as A1111 (modules/sd_models_config.py) and sd.cpp do, an SD2 UNet
// is run once on a constant input at t = 999: an eps model answers close to that input, a v model
// well below it, and mean(out − x) < −1 is the line both draw between them.
#pragma once
#include <string>

#include "core/backend.h"
#include "io/safetensors.h"
#include "model/unet.h"

namespace sd::runtime {

// "v" or "eps" when the file says so, else "". In order: a `v_pred` tensor (NoobAI-style marker,
// read by sd.cpp and ComfyUI), metadata modelspec.prediction_type ("v", "v_prediction", "velocity" /
// "epsilon", "eps"), modelspec.architecture ending in "-v" (stable-diffusion-v2-768-v), then our own
// sd_native.prediction.
std::string declared_prediction(const io::SafetensorsFile& f);

// A1111's is_using_v_parameterization_for_sd2: x = 0.5 over a [1, 4, 8, 8] latent, context 0.5 over
// 2 tokens, t = 999; true when mean(unet(x) − x) < −1. *mean_out receives that mean.
bool unet_probe_says_v(const model::UNet& unet, Backend& backend, double* mean_out = nullptr);

}  // namespace sd::runtime
