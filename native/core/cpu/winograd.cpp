// Winograd F(4,3) driver: filter cache, tile blocking, the three stages on the pool.
#include "winograd.h"

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <iterator>
#include <string>

#include "../error.h"
#include "avx2_clones.h"
#include "cpu_util.h"
#include "vec_kernels.h"
#include "gemm.h"
#include "winograd_products.h"
#include "winograd_transforms.h"

namespace sd::cpu {
namespace {

using winograd_detail::kLanes;
constexpr int kXi = 36;  // 6x6 transformed elements per tile

// V and M of one block of tiles together stay under this (a 960->320 conv at 64x64, batch 2,
// would take 94 MB in one block); blocks re-read U, so fewer is better.
constexpr size_t kBlockBytes = size_t(48) << 20;
// Per-call transformed filters (past the cache budget) are made this many bytes at a time.
constexpr size_t kSliceBytes = size_t(16) << 20;

int64_t env_int(const char* name, int64_t fallback) {
  const char* s = std::getenv(name);
  if (!s || !*s) return fallback;
  char* end = nullptr;
  const long long v = std::strtoll(s, &end, 10);
  return end && *end == '\0' && v >= 0 ? int64_t(v) : fallback;
}

// U[xi][cin] of one output channel, rows `plane` floats apart, from its weights w[cin][3][3].
SD_AVX2_CLONES void filter_row(const float* w, int64_t cin, float* u, int64_t plane) {
  for (int64_t ci0 = 0; ci0 < cin; ci0 += kLanes) {
    const int lanes = int(std::min<int64_t>(kLanes, cin - ci0));
    alignas(32) float out[kXi * kLanes];
    winograd_detail::filter_lanes(w + ci0 * 9, lanes, out);
    for (int xi = 0; xi < kXi; ++xi)
      for (int l = 0; l < lanes; ++l) u[xi * plane + ci0 + l] = out[xi * kLanes + l];
  }
}

// U [36][co1 - co0][cin] of output channels [co0, co1) of weight [cout][cin][3][3].
void transform_filters(const WinogradConv& c, int64_t co0, int64_t co1, const VecKernels& vk, ThreadPool& pool,
                       float* u) {
  const int64_t plane = (co1 - co0) * c.cin;
  pool.run(co1 - co0, [&](int64_t r, int) {
    thread_local std::vector<float> converted;
    converted.resize(size_t(c.cin) * 9);
    const float* w = winograd_detail::weight_rows(c, co0 + r, 0, c.cin, vk, converted.data());
    filter_row(w, c.cin, u + r * c.cin, plane);
  });
}

struct TileGeometry {
  int tiles_y, tiles_x;
  int64_t per_image;
};

// V of tiles [tile0, tile0 + count) and channels [c0, c1) into v[xi][t][ci - c0], rows of ld_c
// floats and products ld_tiles rows apart; the input patch starts one pixel above and left of
// the output tile (padding 1), reading zeros outside the image.
SD_AVX2_CLONES void input_tiles(const WinogradConv& c, const TileGeometry& tg, int64_t tile0, int64_t count, int64_t c0,
                                int64_t c1, float* v, int64_t ld_tiles, int64_t ld_c) {
  const int64_t plane = int64_t(c.h) * c.w;
  const int64_t xi_stride = ld_tiles * ld_c;
  alignas(32) float d[kXi * kLanes], out[kXi * kLanes];
  for (int64_t t = 0; t < count; ++t) {
    const int64_t tile = tile0 + t, img = tile / tg.per_image, r = tile % tg.per_image;
    const int y0 = int(r / tg.tiles_x) * 4 - 1, x0 = int(r % tg.tiles_x) * 4 - 1;
    const bool inside = y0 >= 0 && x0 >= 0 && y0 + 6 <= c.h && x0 + 6 <= c.w;
    const float* image = c.x + img * int64_t(c.cin) * plane;
    for (int64_t ci0 = c0; ci0 < c1; ci0 += kLanes) {
      const int lanes = int(std::min<int64_t>(kLanes, c1 - ci0));
      for (int l = 0; l < kLanes; ++l) {
        if (l >= lanes) {
          for (int e = 0; e < kXi; ++e) d[e * kLanes + l] = 0.0f;
          continue;
        }
        const float* p = image + (ci0 + l) * plane;
        if (inside) {
          for (int i = 0; i < 6; ++i)
            for (int j = 0; j < 6; ++j) d[(i * 6 + j) * kLanes + l] = p[(y0 + i) * c.w + x0 + j];
        } else {
          for (int i = 0; i < 6; ++i)
            for (int j = 0; j < 6; ++j) {
              const int y = y0 + i, x = x0 + j;
              d[(i * 6 + j) * kLanes + l] = (y >= 0 && y < c.h && x >= 0 && x < c.w) ? p[y * c.w + x] : 0.0f;
            }
        }
      }
      winograd_detail::input_tile(d, out);
      float* dst = v + t * ld_c + (ci0 - c0);
      if (lanes == kLanes)  // fixed size: inlined vector moves, not a library call each
        for (int xi = 0; xi < kXi; ++xi) std::memcpy(dst + xi * xi_stride, out + xi * kLanes, sizeof(float) * kLanes);
      else
        for (int xi = 0; xi < kXi; ++xi) std::memcpy(dst + xi * xi_stride, out + xi * kLanes, sizeof(float) * size_t(lanes));
    }
  }
}

// V[xi][t - t0][cin] for tiles [t0, t0 + nt), rows ld_block apart.
void input_transform(const WinogradConv& c, const TileGeometry& tg, int64_t t0, int64_t nt, int64_t ld_block,
                     float* v, ThreadPool& pool) {
  constexpr int kTilesPerTask = 8;
  pool.run((nt + kTilesPerTask - 1) / kTilesPerTask, [&](int64_t task, int) {
    const int64_t tb = task * kTilesPerTask, te = std::min(nt, tb + kTilesPerTask);
    input_tiles(c, tg, t0 + tb, te - tb, 0, c.cin, v + tb * c.cin, ld_block, c.cin);
  });
}

// Where a tile's outputs go (channel 0) and how much of it lies inside the image.
struct Place { int64_t at; int rows, cols; };

// Output channel co of nt tiles from M[xi][cout][ld_block], plus bias, plus y when accumulating.
SD_AVX2_CLONES void output_channel(const WinogradConv& c, int64_t co, int64_t nt, int64_t ld_block, const float* m,
                                   const Place* place) {
  const int64_t plane = int64_t(c.h) * c.w;
  const int64_t xi_stride = int64_t(c.cout) * ld_block;
  alignas(32) float in[kXi * kLanes], out[16 * kLanes];
  const float bias = c.bias ? c.bias[co] : 0.0f;
  for (int64_t tb = 0; tb < nt; tb += kLanes) {
    const int lanes = int(std::min<int64_t>(kLanes, nt - tb));
    const float* src = m + co * ld_block + tb;
    for (int xi = 0; xi < kXi; ++xi) {
      for (int l = 0; l < lanes; ++l) in[xi * kLanes + l] = src[xi * xi_stride + l];
      for (int l = lanes; l < kLanes; ++l) in[xi * kLanes + l] = 0.0f;
    }
    winograd_detail::output_tile(in, out);
    for (int l = 0; l < lanes; ++l) {
      const Place& pl = place[tb + l];
      float* dst = c.y + pl.at + co * plane;
      for (int i = 0; i < pl.rows; ++i) {
        float* row = dst + int64_t(i) * c.w;
        for (int j = 0; j < pl.cols; ++j) {
          const float val = out[(i * 4 + j) * kLanes + l] + bias;
          row[j] = c.accumulate ? row[j] + val : val;
        }
      }
    }
  }
}

// y tiles [t0, t0 + nt) from M[xi][cout][ld_block], plus bias, plus y itself when accumulating.
void output_transform(const WinogradConv& c, const TileGeometry& tg, int64_t t0, int64_t nt, int64_t ld_block,
                      const float* m, ThreadPool& pool) {
  const int64_t plane = int64_t(c.h) * c.w;
  // Places once per block rather than three divisions per tile per output channel.
  std::vector<Place> place(static_cast<size_t>(nt));
  for (int64_t t = 0; t < nt; ++t) {
    const int64_t tile = t0 + t, img = tile / tg.per_image, r = tile % tg.per_image;
    const int y0 = int(r / tg.tiles_x) * 4, x0 = int(r % tg.tiles_x) * 4;
    place[size_t(t)] = {img * c.cout * plane + int64_t(y0) * c.w + x0, std::min(4, c.h - y0), std::min(4, c.w - x0)};
  }
  pool.run(int64_t(c.cout), [&](int64_t co, int) { output_channel(c, co, nt, ld_block, m, place.data()); });
}

}  // namespace

bool winograd_pays(int cin, int cout, int h, int w) {
  const int64_t tiles = int64_t((h + 3) / 4) * ((w + 3) / 4);
  // 16x16 pays for wide convs only: 64->64 there is 0.3 ms against 0.5 direct, while Winograd's
  // extra rounding moves TAESD's decode of a 16x16 latent up to 0.23 of a byte from the reference.
  return cin >= 64 && cout >= 64 && (tiles >= 64 || (tiles >= 16 && cin >= 256 && cout >= 256));
}

size_t winograd_cache_budget_default() { return size_t(env_int("SD_NATIVE_WINOGRAD_CACHE_MB", 0)) << 20; }

WinogradMode winograd_default() { return env_int("SD_NATIVE_WINOGRAD", 1) != 0 ? WinogradMode::Auto : WinogradMode::Off; }

Winograd::Winograd(size_t cache_budget_bytes) : budget_(cache_budget_bytes) {}
Winograd::~Winograd() = default;

const float* Winograd::filters(const WinogradConv& c, const VecKernels& vk, ThreadPool& pool) {
  if (!c.cacheable) return nullptr;
  auto it = cache_.find(c.weight);
  if (it != cache_.end()) {
    const Entry& e = it->second;
    if (e.cout == c.cout && e.cin == c.cin && e.dtype == c.weight_dtype) return e.u.data();
    drop(it);  // the address now holds a tensor of another shape
  }
  const size_t u_floats = size_t(kXi) * c.cout * c.cin;
  if (cache_bytes_ + u_floats * sizeof(float) <= budget_) {
    Entry e{c.cout, c.cin, c.weight_dtype, size_t(c.cout) * c.cin * 9 * dtype_size(c.weight_dtype), std::vector<float>(u_floats)};
    transform_filters(c, 0, c.cout, vk, pool, e.u.data());
    cache_bytes_ += u_floats * sizeof(float);
    return cache_.emplace(c.weight, std::move(e)).first->second.u.data();
  }
  return nullptr;
}

void Winograd::drop(std::unordered_map<const void*, Entry>::iterator it) {
  cache_bytes_ -= it->second.u.size() * sizeof(float);
  cache_.erase(it);
}

void Winograd::forget(const void* data, size_t bytes) {
  const auto* lo = static_cast<const unsigned char*>(data);
  for (auto it = cache_.begin(); it != cache_.end();) {
    const auto* w = static_cast<const unsigned char*>(it->first);
    const bool overlaps = w < lo + bytes && lo < w + it->second.weight_bytes;
    if (overlaps) {
      auto next = std::next(it);
      drop(it);
      it = next;
    } else {
      ++it;
    }
  }
}

namespace {

// Blocks of fewer tiles than this make their filters inside the products (winograd_products.h);
// larger ones go through a per-call U and gemm(), where the GEMMs' own blocking wins (64x64 and
// VAE convs: 0.85-0.9x fused, measured in bench/RESULTS.md) and the transform is a small share.
constexpr int64_t kFusedMaxTiles = 256;

// Tiles per block and output channels per per-call filter slice: V [36][block][cin] and
// M [36][block][cout] of one block together stay under kBlockBytes, a slice of per-call filters
// U [36][slice][cin] under kSliceBytes.
struct Blocking {
  int64_t tiles, block, slice;
  bool fused;  // filters made inside the products
};
Blocking blocking(const WinogradConv& c, bool cached) {
  const int64_t tiles = c.n * (int64_t((c.h + 3) / 4) * ((c.w + 3) / 4));
  const int64_t block_max = c.block_tiles > 0 ? c.block_tiles
                            : std::max<int64_t>(kLanes, int64_t(kBlockBytes / (sizeof(float) * kXi * size_t(c.cin + c.cout))));
  const int64_t blocks = (tiles + block_max - 1) / block_max;
  const int64_t block = (tiles + blocks - 1) / blocks;
  const int64_t slice = std::clamp<int64_t>(int64_t(kSliceBytes / (sizeof(float) * kXi * size_t(c.cin))), 1, c.cout);
  return {tiles, block, cached ? c.cout : slice, !cached && block < kFusedMaxTiles};
}

// The scratch one conv3x3 call uses on blocking b, in floats: V (U path), M, and a third part
// (the fused path's packed V, or a slice of per-call filters on the U path without cached U).
// workspace_bytes() and conv3x3() both size from here, so the plan cannot drift from the use.
struct ScratchFloats {
  size_t v, m, third;
  size_t bytes() const { return sizeof(float) * (v + m + third) + 3 * 64; }  // each part 64-byte aligned
};
ScratchFloats scratch_floats(const WinogradConv& c, const Blocking& b, Isa isa, bool u_cached) {
  const size_t block = size_t(b.block), cin = size_t(c.cin);
  return {b.fused ? 0 : kXi * block * cin, kXi * block * size_t(c.cout),
          b.fused ? winograd_detail::packed_b_floats(b.block, c.cin, isa) : u_cached ? 0 : kXi * size_t(b.slice) * cin};
}

}  // namespace

size_t Winograd::workspace_bytes(const WinogradConv& c, Isa isa) const {
  if (c.n <= 0 || c.cout <= 0 || c.h <= 0 || c.w <= 0 || c.cin <= 0) return 0;
  const size_t per_call = scratch_floats(c, blocking(c, false), isa, false).bytes();
  // A weight the cache may hold takes the U path (V and M, no slice) once it is cached.
  if (budget_ == 0 || !c.cacheable) return per_call;
  return std::max(per_call, scratch_floats(c, blocking(c, true), isa, true).bytes());
}

void Winograd::conv3x3(const WinogradConv& c, Isa isa, ThreadPool& pool, void* workspace) {
  if (c.n <= 0 || c.cout <= 0 || c.h <= 0 || c.w <= 0) return;
  if (c.cin <= 0) throw Error("winograd: no input channels");
  const TileGeometry tg{(c.h + 3) / 4, (c.w + 3) / 4, int64_t((c.h + 3) / 4) * ((c.w + 3) / 4)};
  const VecKernels& vk = vec_kernels(isa);
  const float* u = filters(c, vk, pool);
  const Blocking bk = blocking(c, u != nullptr);
  const int64_t tiles = bk.tiles, block = bk.block, slice = bk.slice;

  // Scratch: the graph's workspace (arena memory free while this node runs) when given, else
  // buffers of our own kept across calls. The third part holds the packed V of the fused
  // products or a slice of per-call filters.
  const ScratchFloats sf = scratch_floats(c, bk, isa, u != nullptr);
  const size_t v_floats = sf.v, m_floats = sf.m, third_floats = sf.third;
  auto aligned = [](float* p) { return reinterpret_cast<float*>((reinterpret_cast<uintptr_t>(p) + 63) / 64 * 64); };
  float *v, *m, *third;
  if (workspace) {
    v = aligned(static_cast<float*>(workspace));
    m = v_floats ? aligned(v + v_floats) : v;
    third = aligned(m + m_floats);
  } else {
    if (v_.size() < v_floats) v_.resize(v_floats);
    if (m_.size() < m_floats) m_.resize(m_floats);
    if (third_.size() < third_floats + 16) third_.resize(third_floats + 16);
    v = v_.data(), m = m_.data(), third = aligned(third_.data());
  }

  // The 36 GEMMs of the U path are independent: on a few threads each runs whole on one (no
  // barrier inside, no shared packing); on many, 36 would not divide evenly, so each GEMM uses
  // the whole pool.
  const bool per_thread_gemms = pool.size() <= 4;
  if (!bk.fused && per_thread_gemms)
    while (int(solo_.size()) < pool.size()) solo_.push_back(std::make_unique<ThreadPool>(1));

  // When one slice holds every output channel, the per-call filters are made once for all the
  // tile blocks rather than once per block.
  const bool whole = !bk.fused && !u && slice == c.cout;
  if (whole) transform_filters(c, 0, c.cout, vk, pool, third);

  for (int64_t t0 = 0; t0 < tiles; t0 += block) {
    const int64_t nt = std::min(block, tiles - t0);
    if (bk.fused) {
      const auto input = [&](int64_t t, int64_t count, int64_t c0, int64_t c1, float* vt, int64_t ld_c) {
        input_tiles(c, tg, t0 + t, count, c0, c1, vt, count, ld_c);
      };
      winograd_detail::products({&c, input, nt, block, m, third}, vk, isa, pool);
    } else {
      input_transform(c, tg, t0, nt, block, v, pool);
      for (int64_t co0 = 0; co0 < c.cout; co0 += slice) {
        const int64_t rows = std::min(slice, c.cout - co0);
        const float* us = u ? u : third;
        if (!u && !whole) transform_filters(c, co0, co0 + rows, vk, pool, third);
        auto gemm_xi = [&](int64_t xi, ThreadPool& on) {
          GemmParams p;
          p.m = rows;
          p.n = nt;
          p.k = c.cin;
          p.a = GemmOperand::dense(us + xi * rows * c.cin, DType::F32, c.cin);
          p.b = GemmOperand::dense(v + xi * block * c.cin, DType::F32, c.cin);
          p.c = m + (xi * c.cout + co0) * block;
          p.c_row_stride = block;
          p.isa = isa;
          gemm(p, on);
        };
        if (per_thread_gemms) pool.run(kXi, [&](int64_t xi, int thread) { gemm_xi(xi, *solo_[size_t(thread)]); });
        else for (int64_t xi = 0; xi < kXi; ++xi) gemm_xi(xi, pool);
      }
    }
    output_transform(c, tg, t0, nt, block, m, pool);
  }
}

}  // namespace sd::cpu
