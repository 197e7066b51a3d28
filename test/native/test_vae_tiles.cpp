// The VAE tile geometry (runtime/vae_tiles.h) against hand-worked layouts, and its invariants over
// every size up to 300 latent pixels: the last tile ends at the edge, neighbours overlap by at
// least the requested overlap, tiles never exceed the requested size.
#include <string>
#include <vector>

#include "../../native/runtime/vae_tiles.h"
#include "harness.h"

namespace {

using sd::runtime::fit_tile;
using sd::runtime::tile_starts;
using Starts = std::vector<int64_t>;

void test_worked_layouts() {
  // test/js/vae-tiles.test.ts: a 64-latent axis in tiles of 16 overlapping by >= 4.
  CHECK(fit_tile(64, 16, 4) == 16);
  CHECK(tile_starts(64, 16, 4) == Starts({0, 12, 24, 36, 48}));
  // SD at 1024² (128 latent), the default tile 64: three tiles each way, shrunk to fit.
  CHECK(fit_tile(128, 64, 16) == 54);  // ceil((128 + 2·16) / 3)
  CHECK(tile_starts(128, 54, 16) == Starts({0, 37, 74}));  // overlaps of 17
  CHECK(fit_tile(128, 64, 8) == 48);
  CHECK(tile_starts(128, 48, 8) == Starts({0, 40, 80}));  // overlaps of exactly 8
  // Axes no longer than a tile are one tile of their own size.
  CHECK(fit_tile(40, 64, 16) == 40 && tile_starts(40, 40, 16) == Starts({0}));
  CHECK(fit_tile(64, 64, 16) == 64 && tile_starts(64, 64, 16) == Starts({0}));
  // Just over a tile: two tiles, each shrunk so that they still overlap by >= 16.
  CHECK(fit_tile(65, 64, 16) == 41 && tile_starts(65, 41, 16) == Starts({0, 24}));
}

void test_invariants() {
  for (int64_t overlap : {0, 4, 8, 16, 32})
    for (int64_t size = 1; size <= 300; ++size) {
      const int64_t t = fit_tile(size, 64, overlap);
      const Starts s = tile_starts(size, t, overlap);
      const std::string at = "size " + std::to_string(size) + " overlap " + std::to_string(overlap);
      CHECK_MSG(t >= 1 && t <= 64 && t <= size, at + ": tile " + std::to_string(t));
      CHECK_MSG(s.front() == 0 && s.back() + t == size, at + ": does not span the axis");
      for (size_t i = 1; i < s.size(); ++i)
        CHECK_MSG(s[i - 1] + t - s[i] >= overlap && s[i] > s[i - 1], at + ": overlap " + std::to_string(s[i - 1] + t - s[i]));
      // Fitting never costs a tile: as many as the unshrunk tile would need.
      CHECK_MSG(s.size() == tile_starts(size, 64, overlap).size(), at + ": tile count changed by fitting");
    }
}

}  // namespace

int main() {
  test_worked_layouts();
  test_invariants();
  return harness::finish("test_vae_tiles");
}
