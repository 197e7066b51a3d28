#include "taesd_decode.h"

#include <cmath>
#include <cstring>
#include <filesystem>

#include "core/error.h"
#include "io/safetensors.h"
#include "pipeline_impl.h"

namespace sd::runtime {

TaesdModel::TaesdModel(const std::string& path, Family family) : weights_ctx_(std::make_shared<Context>()) {
  if (path.empty()) throw Error("TAESD was asked for but no decoder is set (load option taesd)");
  std::string file = path;
  if (std::filesystem::is_directory(path))
    file = (std::filesystem::path(path) / (family == Family::SDXL ? "taesdxl_decoder.safetensors" : "taesd_decoder.safetensors")).string();
  if (!std::filesystem::exists(file))
    throw Error("TAESD decoder \"" + file + "\" not found; set the load option taesd to a taesd_decoder.safetensors (SD1/SD2) or "
                "taesdxl_decoder.safetensors (SDXL), converted with models/taesd/convert.py");
  std::shared_ptr<const io::SafetensorsFile> f = io::SafetensorsFile::open(file);
  decoder_.emplace(model::Weights(f, weights_ctx_, ""), model::Taesd::Part::Decoder);
}

TaesdImages::TaesdImages(const model::Taesd& decoder, Backend& backend, int64_t h, int64_t w) : backend_(backend) {
  if (decoder.part() != model::Taesd::Part::Decoder) throw Error("TaesdImages needs a TAESD decoder");
  in_ = ctx_.new_tensor(DType::F32, {1, decoder.latent_channels(), h, w}, "taesd.latent");
  out_ = decoder.forward(ctx_, in_);  // [1, 3, h·8, w·8]
  graph_ = std::make_unique<Graph>(backend, std::vector<Tensor*>{out_});
  graph_->plan();
}

void TaesdImages::decode(const float* latent, int channels, std::vector<uint8_t>& out) {
  backend_.upload(in_, latent, in_->nbytes());
  graph_->compute();
  const int64_t plane = out_->shape[2] * out_->shape[3];
  std::vector<float> pixels(size_t(out_->numel()));
  backend_.download(out_, pixels.data(), out_->nbytes());
  const float* img = pixels.data();
  out.resize(size_t(plane * channels));
  for (int64_t p = 0; p < plane; ++p) {
    for (int c = 0; c < 3; ++c) {
      const float v = img[c * plane + p];  // TAESD decodes to [0, 1] directly (no (x+1)/2)
      out[size_t(p * channels + c)] = uint8_t(std::lround((v < 0 ? 0 : v > 1 ? 1 : v) * 255.0f));
    }
    if (channels == 4) out[size_t(p * 4 + 3)] = 255;
  }
}

}  // namespace sd::runtime

// PipelineImpl's TAESD members live here, beside the code they drive.
namespace sd::runtime {

const TaesdModel& PipelineImpl::taesd() {
  if (!taesd_) taesd_ = std::make_unique<TaesdModel>(taesd_path_, info_.family);
  return *taesd_;
}

std::vector<std::vector<uint8_t>> PipelineImpl::decode_latent_taesd(const std::vector<float>& latent, int batch, int h, int w) {
  const int64_t per = int64_t(info_.latent_channels) * h * w;
  if (int64_t(latent.size()) != batch * per) throw Error("latent size does not match [batch, 4, h, w]");
  const TaesdModel& model = taesd();
  if (model.decoder().factor() != info_.vae_downscale)
    throw Error("decoder 'taesd': the TAESD decoder upsamples " + std::to_string(model.decoder().factor()) + "x but this model's VAE " +
                std::to_string(info_.vae_downscale) + "x");
  TaesdImages images(model.decoder(), *backend_, h, w);
  std::vector<std::vector<uint8_t>> out(static_cast<size_t>(batch));
  for (int b = 0; b < batch; ++b) images.decode(latent.data() + b * per, 4, out[size_t(b)]);
  return out;
}

}  // namespace sd::runtime
