#include "vae_tiles.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <string>

#include "core/error.h"

namespace sd::runtime {

TileSize tile_size_from_env() {
  TileSize s;
  const char* v = std::getenv("SD_NATIVE_VAE_TILE");
  if (!v || !*v) return s;
  char* end = nullptr;
  s.tile = std::strtol(v, &end, 10);
  if (*end == ',') s.overlap = std::strtol(end + 1, &end, 10);
  if (*end || s.tile < 2 || s.overlap < 0 || s.overlap * 2 > s.tile)
    throw Error(std::string("SD_NATIVE_VAE_TILE must be \"tile[,overlap]\" in latent pixels with overlap <= tile/2, got \"") + v + "\"");
  return s;
}

std::vector<int64_t> tile_starts(int64_t size, int64_t tile, int64_t overlap) {
  if (size <= tile) return {0};
  const int64_t stride = tile - overlap;
  const int64_t n = 1 + (size - tile + stride - 1) / stride;
  std::vector<int64_t> starts(static_cast<size_t>(n));
  // Even spacing (not a fixed stride with a shifted last tile): every overlap is about the same,
  // at least `overlap`, so no seam gets less context than another.
  for (int64_t i = 0; i < n; ++i) starts[size_t(i)] = (i * (size - tile) + (n - 1) / 2) / (n - 1);
  return starts;
}

int64_t fit_tile(int64_t size, int64_t tile, int64_t overlap) {
  if (size <= tile) return size;
  const int64_t n = tile_starts(size, tile, overlap).size();
  return std::min(tile, (size + (n - 1) * overlap + n - 1) / n);
}

bool wants_tiles(VaeTiling mode, size_t whole_arena_bytes, size_t budget_bytes) {
  if (mode == VaeTiling::Off) return false;
  if (mode == VaeTiling::On) return true;
  return whole_arena_bytes > budget_bytes;
}

VaeTiler::VaeTiler(const model::Vae& vae, Backend& backend, Direction dir, int64_t h, int64_t w, int f, TileSize size)
    : backend_(backend), dir_(dir), h_(h), w_(w), th_(fit_tile(h, size.tile, size.overlap)), tw_(fit_tile(w, size.tile, size.overlap)) {
  const bool decode = dir == Direction::Decode;
  in_scale_ = decode ? 1 : f;
  out_scale_ = decode ? f : 1;
  ys_ = tile_starts(h, th_, size.overlap);
  xs_ = tile_starts(w, tw_, size.overlap);
  const int64_t z = vae.config().z_channels;
  in_c_ = decode ? z : 3;
  input_ = ctx_.new_tensor(DType::F32, {1, in_c_, th_ * in_scale_, tw_ * in_scale_}, decode ? "z_tile" : "image_tile");
  output_ = decode ? vae.decode(ctx_, input_) : vae.encode(ctx_, input_);
  out_c_ = output_->shape[1];  // [1, C, th·out_scale, tw·out_scale]
  graph_ = std::make_unique<Graph>(backend, std::vector<Tensor*>{output_});
  graph_->plan();
}

std::vector<float> VaeTiler::ramp(const std::vector<int64_t>& starts, size_t i, int64_t tile) const {
  const int64_t n = tile * out_scale_;
  std::vector<float> r(size_t(n), 1.0f);
  // Up over the overlap with the previous tile, down over the one with the next: in each overlap
  // the two ramps are u/L and 1 - u/L at the same pixels, so they sum to 1.
  if (i > 0) {
    const int64_t len = (starts[i - 1] + tile - starts[i]) * out_scale_;
    for (int64_t u = 0; u < len; ++u) r[size_t(u)] *= (float(u) + 0.5f) / float(len);
  }
  if (i + 1 < starts.size()) {
    const int64_t len = (starts[i] + tile - starts[i + 1]) * out_scale_;
    for (int64_t u = 0; u < len; ++u) r[size_t(n - len + u)] *= 1.0f - (float(u) + 0.5f) / float(len);
  }
  return r;
}

bool VaeTiler::run(const float* in, float* out, const std::function<bool()>& keep_going) {
  const int64_t in_h = h_ * in_scale_, in_w = w_ * in_scale_, out_h = h_ * out_scale_, out_w = w_ * out_scale_;
  const int64_t tin_h = th_ * in_scale_, tin_w = tw_ * in_scale_, tout_h = th_ * out_scale_, tout_w = tw_ * out_scale_;
  const int64_t out_plane = out_h * out_w, tout_plane = tout_h * tout_w;
  std::fill(out, out + out_c_ * out_plane, 0.0f);
  // Normalising by the weight sum keeps the blend exact where three tiles meet (a short axis whose
  // evenly spread tiles overlap by more than half) as well as at ordinary pairwise seams.
  std::vector<float> weight_sum(size_t(out_plane), 0.0f);
  std::vector<std::vector<float>> wy(ys_.size()), wx(xs_.size());
  for (size_t i = 0; i < ys_.size(); ++i) wy[i] = ramp(ys_, i, th_);
  for (size_t j = 0; j < xs_.size(); ++j) wx[j] = ramp(xs_, j, tw_);
  // Host staging for one tile: the graph's own memory may be a device's.
  std::vector<float> tile_in_buf(size_t(input_->numel())), tile_out_buf(size_t(output_->numel()));
  float* tile_in = tile_in_buf.data();
  const float* tile_out = tile_out_buf.data();
  for (size_t i = 0; i < ys_.size(); ++i)
    for (size_t j = 0; j < xs_.size(); ++j) {
      const int64_t y0 = ys_[i] * in_scale_, x0 = xs_[j] * in_scale_;
      for (int64_t c = 0; c < in_c_; ++c)
        for (int64_t y = 0; y < tin_h; ++y)
          std::memcpy(tile_in + (c * tin_h + y) * tin_w, in + (c * in_h + y0 + y) * in_w + x0, size_t(tin_w) * sizeof(float));
      backend_.upload(input_, tile_in, input_->nbytes());
      graph_->compute();
      backend_.download(output_, tile_out_buf.data(), output_->nbytes());
      const int64_t oy = ys_[i] * out_scale_, ox = xs_[j] * out_scale_;
      for (int64_t y = 0; y < tout_h; ++y)
        for (int64_t x = 0; x < tout_w; ++x) {
          const float wgt = wy[i][size_t(y)] * wx[j][size_t(x)];
          const int64_t p = (oy + y) * out_w + ox + x;
          weight_sum[size_t(p)] += wgt;
          for (int64_t c = 0; c < out_c_; ++c) out[c * out_plane + p] += wgt * tile_out[c * tout_plane + y * tout_w + x];
        }
      if (keep_going && !keep_going()) return false;
    }
  for (int64_t p = 0; p < out_plane; ++p) {
    const float inv = 1.0f / weight_sum[size_t(p)];
    for (int64_t c = 0; c < out_c_; ++c) out[c * out_plane + p] *= inv;
  }
  return true;
}

}  // namespace sd::runtime
