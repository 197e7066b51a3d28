// TAESD as the runtime uses it: full-size step previews and the fast final decode. The decoder
// file is read on first use (a pipeline that never asks for TAESD never opens it); each
// generation plans one graph for its latent size and drops it when done.
#pragma once
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/backend.h"
#include "core/graph.h"
#include "model/taesd.h"
#include "sd.h"

namespace sd::runtime {

class TaesdModel {
 public:
  // path: a TAESD decoder .safetensors, or a folder with the family's taesd[xl]_decoder.safetensors.
  TaesdModel(const std::string& path, Family family);
  const model::Taesd& decoder() const { return *decoder_; }

 private:
  std::shared_ptr<Context> weights_ctx_;
  std::optional<model::Taesd> decoder_;
};

// One planned decode of [1, C, h, w] sampler-space latents to 8× images.
class TaesdImages {
 public:
  TaesdImages(const model::Taesd& decoder, Backend& backend, int64_t h, int64_t w);
  int width() const { return int(out_->shape[3]); }
  int height() const { return int(out_->shape[2]); }
  // latent: one image's [C, h, w]. channels 3: RGB bytes (previews), 4: RGBA with opaque alpha.
  void decode(const float* latent, int channels, std::vector<uint8_t>& out);

 private:
  Backend& backend_;
  Context ctx_;
  Tensor* in_ = nullptr;
  Tensor* out_ = nullptr;
  std::unique_ptr<Graph> graph_;
};

}  // namespace sd::runtime
