// See winograd_products.h. Per K block: the input transform of the block's channels goes straight
// into packed B panels (one barrier), then each task takes a group of output-channel row panels,
// makes their A panels for all 36 products and runs the micro-kernels over every B panel.
#include "winograd_products.h"

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>

#include "../error.h"
#include "avx2_clones.h"
#include "gemm_kernels.h"
#include "panel_scratch.h"
#include "vec_kernels.h"
#include "winograd_transforms.h"

namespace sd::cpu::winograd_detail {
namespace {

using gemm_detail::DenseView;
using gemm_detail::GemmKernels;

constexpr int kXi = 36;

struct Plan {
  gemm_detail::KBlocking k;  // gemm()'s K blocks: the sums come out as gemm() makes them
  int64_t n_panels, m_panels;
  int64_t a_panel_floats, b_panel_floats;
  int group;                  // row panels per task
  int64_t chunk_panels;       // B panels of one product run per pass over the group's rows
};

Plan plan(const GemmKernels& kr, const WinogradConv& c, int64_t nt, int threads) {
  Plan p;
  p.k = gemm_detail::k_blocking(kr, c.cin);
  p.n_panels = (nt + kr.nr - 1) / kr.nr;
  p.m_panels = (c.cout + kr.mr - 1) / kr.mr;
  p.a_panel_floats = int64_t(kr.mr) * p.k.kc;
  p.b_panel_floats = int64_t(kr.nr) * p.k.kc;
  // Each B panel the kernel streams serves group * mr rows (2 / (group * mr) bytes of B per
  // flop): up to four row panels per task while every thread still gets about four tasks.
  p.group = int(std::clamp<int64_t>(p.m_panels / (4 * threads), 1, 4));
  // Columns in chunks whose B panels of one product stay in L2 while the group's rows pass.
  constexpr int64_t kChunkMax = 16;
  const int64_t chunks = (p.n_panels + kChunkMax - 1) / kChunkMax;
  p.chunk_panels = (p.n_panels + chunks - 1) / chunks;
  return p;
}

// The x86 f32 kernels' A panel layout, [kc/16][mr][16] (gemm_kernels.h).
bool k16_layout(const GemmKernels& kr) { return kr.kstep == 16 && kr.elem_bytes == 4; }

// The 36 A panels of rows [row0, row0 + rows) and k [k0, k0 + kcb): a[xi * a_panel_floats].
// The transform writes the k16 layout eight channels at a time; other layouts go through
// row-major staging and pack_a.
SD_AVX2_CLONES void make_a_panels(const WinogradConv& c, const GemmKernels& kr, const Plan& pl, const VecKernels& vk, int64_t row0,
                   int rows, int64_t k0, int kcb, float* a, float* staging, float* wbuf) {
  const int mr = kr.mr;
  const bool k16 = k16_layout(kr);
  const int valid = int(std::min<int64_t>(kcb, c.cin - k0));
  auto put = [&](int xi, int r, int k, const float* eight) {
    const int n = std::min(kLanes, kcb - k);
    if (k16)
      std::memcpy(a + xi * pl.a_panel_floats + ((k / 16) * mr + r) * 16 + k % 16, eight, sizeof(float) * kLanes);
    else
      std::memcpy(staging + (int64_t(xi) * mr + r) * kcb + k, eight, sizeof(float) * size_t(n));
  };
  alignas(32) static const float kZeros[kLanes] = {};
  alignas(32) float out[kXi * kLanes];
  for (int r = 0; r < mr; ++r) {
    const float* w = r < rows ? weight_rows(c, row0 + r, k0, valid, vk, wbuf) : nullptr;
    for (int k = 0; k < kcb; k += kLanes) {
      const int lanes = w ? std::clamp(valid - k, 0, kLanes) : 0;
      if (lanes == 0) {
        for (int xi = 0; xi < kXi; ++xi) put(xi, r, k, kZeros);
        continue;
      }
      filter_lanes(w + k * 9, lanes, out);
      for (int xi = 0; xi < kXi; ++xi) put(xi, r, k, out + xi * kLanes);
    }
  }
  if (!k16)
    for (int xi = 0; xi < kXi; ++xi)
      kr.pack_a(DenseView{staging + int64_t(xi) * mr * kcb, DType::F32, kcb}, kcb, 0, mr, 0, kcb, false,
                a + xi * pl.a_panel_floats);
}

}  // namespace

// Weights [co][k0, k0 + n)[3][3] as f32: in place when they are f32, else decoded into buf.
const float* weight_rows(const WinogradConv& c, int64_t co, int64_t k0, int n, const VecKernels& vk, float* buf) {
  const int64_t at = (co * c.cin + k0) * 9, count = int64_t(n) * 9;
  switch (c.weight_dtype) {
    case DType::F32: return static_cast<const float*>(c.weight) + at;
    case DType::F16: vk.f16_to_f32(static_cast<const uint16_t*>(c.weight) + at, buf, count); return buf;
    case DType::BF16: {
      const uint16_t* src = static_cast<const uint16_t*>(c.weight) + at;
      for (int64_t i = 0; i < count; ++i) buf[i] = bf16_to_f32(src[i]);
      return buf;
    }
    default: throw Error("winograd: weights must be f32, f16 or bf16");
  }
}

size_t packed_b_floats(int64_t tiles, int cin, Isa isa) {
  const GemmKernels& kr = *gemm_detail::select_kernels(isa, GemmPrecision::F32);
  const int64_t panels = (tiles + kr.nr - 1) / kr.nr;
  return size_t(kXi) * size_t(panels) * size_t(kr.nr) * size_t(gemm_detail::k_blocking(kr, cin).kc);
}

void products(const ProductBlock& b, const VecKernels& vk, Isa isa, ThreadPool& pool) {
  const WinogradConv& c = *b.conv;
  const GemmKernels& kr = *gemm_detail::select_kernels(isa, GemmPrecision::F32);
  const Plan pl = plan(kr, c, b.nt, pool.size());
  const int64_t m_tasks = (pl.m_panels + pl.group - 1) / pl.group;

  for (int64_t kb = 0; kb < pl.k.blocks; ++kb) {
    const int64_t k0 = kb * pl.k.kc;
    const int kcb = int(std::min<int64_t>(pl.k.kc, pl.k.k_pad - k0));
    // Packed V: tasks of one B panel's tiles and 64 of the block's channels (several per panel,
    // so a single panel of tiles still feeds every thread); B panels are [kc][nr], so a channel
    // range is a run of panel rows.
    constexpr int kChannelsPerTask = 64;  // a multiple of every f32 kernel's kstep
    const int64_t splits = (kcb + kChannelsPerTask - 1) / kChannelsPerTask;
    pool.run(pl.n_panels * splits, [&](int64_t t, int) {
      thread_local PanelScratch v_mem;
      const int64_t jp = t / splits, s0 = (t % splits) * kChannelsPerTask;
      const int sub = int(std::min<int64_t>(kChannelsPerTask, kcb - s0));
      const int cols = int(std::min<int64_t>(kr.nr, b.nt - jp * kr.nr));
      const int64_t c0 = std::min<int64_t>(c.cin, k0 + s0), c1 = std::min<int64_t>(c.cin, k0 + s0 + sub);
      float* v = v_mem.floats(size_t(kXi) * size_t(cols) * size_t(sub));
      if (c1 > c0) b.input(jp * kr.nr, cols, c0, c1, v, sub);
      for (int64_t xi = 0; xi < kXi; ++xi)
        kr.pack_b(DenseView{v + xi * cols * sub, DType::F32, sub}, c1 - c0, 0, cols, 0, sub, false,
                  b.packed_b + (xi * pl.n_panels + jp) * pl.b_panel_floats + s0 * kr.nr);
    });
    const int flags = kb == 0 ? 0 : gemm_detail::kLoadC;
    pool.run(m_tasks, [&](int64_t t, int) {
      thread_local PanelScratch a_mem, staging_mem, w_mem;
      const int64_t ip0 = t * pl.group, ip1 = std::min(pl.m_panels, ip0 + pl.group);
      float* a = a_mem.floats(size_t(pl.group) * kXi * pl.a_panel_floats);
      float* staging = k16_layout(kr) ? nullptr : staging_mem.floats(size_t(kXi) * kr.mr * pl.k.kc);
      float* wbuf = w_mem.floats(size_t(pl.k.kc) * 9);
      for (int64_t ip = ip0; ip < ip1; ++ip) {
        const int64_t row0 = ip * kr.mr;
        const int rows = int(std::min<int64_t>(kr.mr, c.cout - row0));
        make_a_panels(c, kr, pl, vk, row0, rows, k0, kcb, a + (ip - ip0) * kXi * pl.a_panel_floats, staging, wbuf);
      }
      for (int64_t jp0 = 0; jp0 < pl.n_panels; jp0 += pl.chunk_panels)
        for (int xi = 0; xi < kXi; ++xi)
          for (int64_t jp = jp0; jp < std::min(pl.n_panels, jp0 + pl.chunk_panels); ++jp) {
            const float* bp = b.packed_b + (xi * pl.n_panels + jp) * pl.b_panel_floats;
            const int n_valid = int(std::min<int64_t>(kr.nr, b.nt - jp * kr.nr));
            for (int64_t ip = ip0; ip < ip1; ++ip) {
              const int64_t row0 = ip * kr.mr;
              const int m_valid = int(std::min<int64_t>(kr.mr, c.cout - row0));
              kr.kernel(kcb, a + ((ip - ip0) * kXi + xi) * pl.a_panel_floats, bp,
                        b.m + (xi * c.cout + row0) * b.ld + jp * kr.nr, b.ld, m_valid, n_valid, flags, nullptr, nullptr);
            }
          }
    });
  }
}

}  // namespace sd::cpu::winograd_detail
