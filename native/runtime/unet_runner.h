// Runs the UNet as the sampler's batch model: one planned graph per input shape, reused for
// every step (inputs rewritten in place, activations planned once).
#pragma once
#include <map>
#include <memory>
#include <tuple>
#include <vector>

#include "core/backend.h"
#include "core/graph.h"
#include "model/unet.h"
#include "sample/denoiser.h"

namespace sd::runtime {

class UNetRunner : public sample::BatchModel {
 public:
  UNetRunner(const model::UNet& unet, Backend& backend) : unet_(unet), backend_(backend) {}
  // context: [2B or B, T, C] rows for the batch the sampler will pass (uncond images first);
  // y likewise for SDXL (may be empty).
  void set_conditioning(std::vector<float> context, int64_t tokens, std::vector<float> y);
  // Prompt editing: model call k (counted from 0, as A1111's CFGDenoiser counts its steps) uses the
  // first segment with k <= end_at_step (the last one beyond). Every segment has the same layout.
  struct Conditioning {
    int end_at_step;
    std::vector<float> context, y;
  };
  void set_conditioning_schedule(std::vector<Conditioning> segments, int64_t tokens);
  void set_latent_shape(int64_t channels, int64_t h, int64_t w) { c_ = channels; h_ = h; w_ = w; }
  // Extra input channels appended to every latent (inpainting UNets: mask + masked-image latent),
  // [images, channels, h, w]; batch element i (uncond and cond halves alike) takes image i % images.
  void set_concat(std::vector<float> per_image, int64_t channels);
  void forward(const float* x_in, int batch, float t, float* out) override;
  size_t peak_bytes() const { return peak_; }
  Graph::Profile* profile = nullptr;  // set to collect per-op timings

 private:
  struct Planned {
    std::unique_ptr<Context> ctx;
    std::unique_ptr<Graph> graph;
    Tensor *x, *t, *context, *y, *out;
    // The conditioning rows last uploaded (segment, batch offset): the context stays on the device
    // across steps and goes up again only when prompt editing switches segment.
    int context_segment = -1, context_offset = -1;
  };
  Planned& graph_for(int batch);
  const model::UNet& unet_;
  Backend& backend_;
  std::vector<Conditioning> segments_;
  int calls_ = 0;
  std::vector<float> concat_;
  std::vector<float> staged_;  // x with the concat channels, and t, built on the host before upload
  int64_t tokens_ = 0, c_ = 4, h_ = 0, w_ = 0, concat_c_ = 0;
  int context_batch_ = 0;
  std::map<std::tuple<int, int64_t, int64_t, int64_t>, Planned> graphs_;
  size_t peak_ = 0;
};

}  // namespace sd::runtime
