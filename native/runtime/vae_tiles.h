// The VAE on large images in overlapping tiles. Tiles are spread evenly over each axis (the last
// one ends at the edge), all the same size, so one graph is planned once and run for every tile;
// outputs are blended with linear ramps across each overlap and normalised by the weight sum, so
// weights sum to 1 at every pixel. Peak activation memory becomes one tile's arena instead of the
// whole image's.
//
//   VaeTiler t(vae, backend, VaeTiler::Direction::Decode, h, w, f, tile_size_from_env());
//   t.run(z, image);   // z [4, h, w] (already divided by the scale factor) -> image [3, h·f, w·f]
#pragma once
#include <cstdint>
#include <functional>
#include <memory>
#include <vector>

#include "core/context.h"
#include "core/graph.h"
#include "model/vae.h"
#include "sd.h"

namespace sd::runtime {

// Latent pixels. 64 = 512² pixels for SD's 8× VAE, the size the VAE was trained at; the overlap
// was chosen by measurement (bench/RESULTS.md, 2026-12-06: 46.4 dB at 1024² against 42.7 dB at 8).
struct TileSize {
  int64_t tile = 64, overlap = 16;
};
// The default, or SD_NATIVE_VAE_TILE="tile[,overlap]" in latent pixels (tests force small tiles).
TileSize tile_size_from_env();

// Starts along one axis of length `size`: the fewest tiles of `tile` whose neighbours overlap by at
// least `overlap`, spread evenly from 0 to size - tile. One tile of `size` when size <= tile.
std::vector<int64_t> tile_starts(int64_t size, int64_t tile, int64_t overlap);

// The tile side actually used: as many tiles as `tile` needs, shrunk until neighbours overlap by
// about `overlap` (128 latent pixels, tile 64, overlap 8: 3 tiles of 48, not 3 of 64 overlapping
// by 32), so compute beyond the whole-image pass stays near (n-1)·overlap/size.
int64_t fit_tile(int64_t size, int64_t tile, int64_t overlap);

// Whether `mode` tiles a VAE pass whose whole-image graph would plan `whole_arena_bytes`.
bool wants_tiles(VaeTiling mode, size_t whole_arena_bytes, size_t budget_bytes);

class VaeTiler {
 public:
  enum class Direction { Decode, Encode };
  // A latent grid of h × w; f is the VAE's downscale. Plans the one tile graph.
  VaeTiler(const model::Vae& vae, Backend& backend, Direction dir, int64_t h, int64_t w, int f, TileSize size);
  // Decode: in [z, h, w] -> out [3, h·f, w·f]. Encode: in [3, h·f, w·f] -> out moments [2z, h, w].
  // Returns false when keep_going said stop (out is then incomplete).
  bool run(const float* in, float* out, const std::function<bool()>& keep_going = {});
  int tiles() const { return int(ys_.size() * xs_.size()); }
  size_t tile_arena_bytes() const { return graph_->arena_bytes(); }

 private:
  // Blend weights of one tile along one axis, in output pixels (ramps over the overlaps).
  std::vector<float> ramp(const std::vector<int64_t>& starts, size_t i, int64_t tile) const;

  Backend& backend_;
  Direction dir_;
  int64_t h_, w_, th_, tw_;   // latent grid and tile
  int in_scale_, out_scale_;  // input / output pixels per latent pixel
  int64_t in_c_ = 0, out_c_ = 0;
  std::vector<int64_t> ys_, xs_;
  Context ctx_;
  Tensor* input_ = nullptr;
  Tensor* output_ = nullptr;
  std::unique_ptr<Graph> graph_;
};

}  // namespace sd::runtime
