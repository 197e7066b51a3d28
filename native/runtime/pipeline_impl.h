// The Pipeline behind sd.h: one checkpoint, its models, one backend (the load option device).
#pragma once
#include <functional>
#include <memory>
#include <optional>

#include "adapters/adapter_set.h"
#include "core/backend.h"
#include "io/safetensors.h"
#include "model/clip.h"
#include "model/unet.h"
#include "model/vae.h"
#include "sample/schedule.h"
#include "sd.h"
#include "vae_tiles.h"
#include "taesd_decode.h"

namespace sd::runtime {

class PipelineImpl : public Pipeline {
 public:
  PipelineImpl(std::shared_ptr<io::SafetensorsFile> file, const LoadOptions& options);
  const ModelInfo& info() const override { return info_; }
  GenerateResult generate(const GenerateParams& params) override;
  MemoryPlan plan_memory(const PlanRequest& request) const override;
  std::vector<float> encode_text(const PromptTokens& tokens, int clip_skip) override;
  std::vector<float> add_noise(const std::vector<float>& latent, int t, const std::vector<float>& noise) const override;
  std::vector<float> encode_image(const InitImage& image, const std::vector<float>* noise, VaePass* pass = nullptr) override;
  std::vector<std::vector<uint8_t>> decode_latent(const std::vector<float>& latent, int batch, int h, int w, VaePass* pass = nullptr) override;
  TransferStats transfers() const override { return backend_->transfers(); }

 private:
  // Context rows [77·chunks, context_dim] and, for SDXL, the pooled vector of the first chunk.
  // keep_going (may be empty) is polled after every node of the encoder's graph, so a long prompt
  // stops within one op of a cancel: TextCancelled is thrown then (generate() reports cancelled).
  struct TextCancelled {};
  std::vector<float> encode_prompt(const PromptTokens& tokens, int clip_skip, std::vector<float>* pooled,
                                   const std::function<bool()>& keep_going = {});
  // embed_rows: textual-inversion rows for tokens.embed_positions at this encoder's width (may be empty).
  std::vector<float> run_clip(const model::ClipTextEncoder& clip, const PromptTokens& tokens, int skip, bool final_norm,
                              std::vector<float>* pooled, const std::vector<float>& embed_rows, const std::function<bool()>& keep_going);
  std::vector<float> sdxl_y(const std::vector<float>& pooled, const GenerateParams& p) const;
  std::vector<uint8_t> to_rgba(const float* image, int h, int w) const;
  // Planar [3, height, width] pixels in [−1, 1] -> scaled latent (mean, plus std·noise when given).
  std::vector<float> encode_pixels(const std::vector<float>& chw, int width, int height, const std::vector<float>* noise, VaePass* pass = nullptr);
  // The VAE in tiles (pipeline_vae_tiles.cpp), one tile's activations at a time: RGBA images, and
  // the encoder's moments [2z, h, w] from pixels [3, h·f, w·f]. pass.tiles reports the count.
  std::vector<std::vector<uint8_t>> decode_tiled(const std::vector<float>& latent, int batch, int h, int w, VaePass& pass);
  std::vector<float> encode_tiled(const std::vector<float>& pixels, int h, int w, VaePass& pass);
  // Every UNet and VAE conv of the graphs built from now on pads this way (pipeline_vae_tiles.cpp).
  void set_conv_padding(Padding mode);
  // TAESD (taesd_decode.cpp): the decoder, read on first use; the fast final decode.
  const TaesdModel& taesd();
  std::vector<std::vector<uint8_t>> decode_latent_taesd(const std::vector<float>& latent, int batch, int h, int w);

  std::shared_ptr<io::SafetensorsFile> file_;
  std::shared_ptr<Context> weights_ctx_;
  std::optional<model::Weights> weights_;      // the checkpoint's leaves, shared by every model
  std::unique_ptr<adapters::AdapterSets> adapters_;  // after weights_: restores leaves before they go
  std::unique_ptr<Backend> backend_;
  std::optional<model::ClipTextEncoder> clip_l_, clip_g_;
  std::optional<model::UNet> unet_;
  std::optional<model::Vae> vae_;
  sample::DiscreteSchedule schedule_;
  ModelInfo info_;
  size_t vae_budget_bytes_ = 0;
  std::string taesd_path_;
  std::unique_ptr<TaesdModel> taesd_;
};

}  // namespace sd::runtime
