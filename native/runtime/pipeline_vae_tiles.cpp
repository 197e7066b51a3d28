// The pipeline's tiled VAE passes: decode_latent / encode_image hand over here when vaeTiling asks
// for tiles (runtime/vae_tiles.h does the tiling itself).
#include "pipeline_impl.h"

#include <string>

#include "core/error.h"

namespace sd::runtime {

void PipelineImpl::set_conv_padding(Padding mode) {
  unet_->set_padding(mode);
  if (vae_) vae_->set_padding(mode);
}

namespace {
// A tile's circular padding would wrap around the tile, not the image: the seams would be
// inside the picture. Tiled VAE passes therefore refuse tiling instead of drawing them.
void refuse_circular(const model::Vae& vae, const char* pass) {
  if (vae.padding() == Padding::Circular)
    throw Error(std::string("tiling (seamless images) needs the whole image in one VAE ") + pass +
                " graph, but this one asks for VAE tiles (vaeTiling 'on', or 'auto' over the memory budget); "
                "set vaeTiling 'off' or generate a smaller image");
}
}  // namespace

std::vector<std::vector<uint8_t>> PipelineImpl::decode_tiled(const std::vector<float>& latent, int batch, int h, int w, VaePass& pass) {
  refuse_circular(*vae_, "decode");
  const int f = info_.vae_downscale;
  const int64_t c = info_.latent_channels, per = c * h * w;
  VaeTiler tiler(*vae_, *backend_, VaeTiler::Direction::Decode, h, w, f, tile_size_from_env());
  pass.tiles = tiler.tiles();
  std::vector<float> z(size_t(per), 0.0f), image(size_t(3) * size_t(h * f) * size_t(w * f));
  std::vector<std::vector<uint8_t>> out;
  for (int b = 0; b < batch; ++b) {
    for (int64_t i = 0; i < per; ++i) z[size_t(i)] = latent[size_t(b * per + i)] / info_.vae_scale_factor;
    if (!tiler.run(z.data(), image.data(), pass.keep_going)) break;  // cancelled: generate() reports it
    out.push_back(to_rgba(image.data(), h * f, w * f));
  }
  return out;
}

std::vector<float> PipelineImpl::encode_tiled(const std::vector<float>& pixels, int h, int w, VaePass& pass) {
  refuse_circular(*vae_, "encode");
  VaeTiler tiler(*vae_, *backend_, VaeTiler::Direction::Encode, h, w, info_.vae_downscale, tile_size_from_env());
  pass.tiles = tiler.tiles();
  std::vector<float> moments(size_t(2 * info_.latent_channels) * size_t(h) * size_t(w));
  tiler.run(pixels.data(), moments.data(), pass.keep_going);  // a cancelled encode is caught after it
  return moments;
}

}  // namespace sd::runtime
