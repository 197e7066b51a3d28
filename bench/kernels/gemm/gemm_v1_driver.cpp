// Lab variant v1 of the GEMM driver (the first version, kept for comparison in bench_gemm):
// per (K block, N block) two pool.run phases: pack the shared B block, then tasks of
// (mc rows x column group) that pack their own A block. One barrier pair per K block and one
// read+write pass over C per K block. Superseded by the single-phase driver in gemm.cpp.
#include <algorithm>
#include <cstdlib>
#include <memory>
#include <string>

#include "core/cpu/gemm_kernels.h"
#include "core/error.h"

namespace sd::cpu::gemm_lab {
using namespace gemm_detail;
namespace {

const GemmKernels* select_kernels(Isa isa, GemmPrecision precision) {
  switch (isa) {
    case Isa::Avx512Bf16:
      if (precision == GemmPrecision::Bf16) return gemm_kernels_avx512bf16();
      return gemm_kernels_avx512();
    case Isa::Avx512: return gemm_kernels_avx512();
    case Isa::Avx2: return gemm_kernels_avx2();
    case Isa::Scalar: return gemm_kernels_scalar();
  }
  return gemm_kernels_scalar();
}

struct AlignedFree {
  void operator()(void* p) const { std::free(p); }
};

// Scratch for packed panels, kept per calling thread so repeated calls don't pay for fresh
// pages (a 4 MiB panel costs ~1000 page faults when newly mapped).
struct Scratch {
  std::unique_ptr<char, AlignedFree> mem;
  size_t size = 0;
  char* get(size_t bytes) {
    if (bytes > size) {
      size_t want = std::max(bytes, size + size / 2);
      want = (want + 63) / 64 * 64;
      mem.reset(static_cast<char*>(std::aligned_alloc(64, want)));
      if (!mem) throw Error("gemm: out of memory allocating " + std::to_string(want) + " bytes of packing scratch");
      size = want;
    }
    return mem.get();
  }
};

int64_t round_up(int64_t x, int64_t m) { return (x + m - 1) / m * m; }

void bias_only(const GemmParams& p) {
  for (int64_t i = 0; i < p.m; ++i) {
    float* c = p.c + i * p.c_row_stride;
    for (int64_t j = 0; j < p.n; ++j) {
      float v = p.accumulate ? c[j] : 0.0f;
      if (p.bias_m) v += p.bias_m[i];
      if (p.bias_n) v += p.bias_n[j];
      c[j] = v;
    }
  }
}

}  // namespace

void gemm_v1(const GemmParams& p, ThreadPool& pool) {
  if (p.m == 0 || p.n == 0) return;
  if (p.k == 0) {
    bias_only(p);
    return;
  }
  const GemmKernels& kr = *select_kernels(p.isa, p.precision);
  const bool round_bf16 = p.precision == GemmPrecision::Bf16 && kr.elem_bytes == 4;
  const int mr = kr.mr, nr = kr.nr;

  // K blocks of (nearly) equal size, each a multiple of kstep; up to 1.5x the preferred kc in
  // one block (every extra block is one more read+write pass over C).
  const int64_t k_pad = round_up(p.k, kr.kstep);
  int64_t k_blocks = k_pad <= kr.kc * 3 / 2 ? 1 : (k_pad + kr.kc - 1) / kr.kc;
  if (k_pad > k_blocks * kGemmMaxKc) k_blocks = (k_pad + kGemmMaxKc - 1) / kGemmMaxKc;
  const int64_t kc = round_up((k_pad + k_blocks - 1) / k_blocks, kr.kstep);

  // N blocks: the packed B block kc x nc is shared by all threads (aim: fits in L3 easily).
  const int64_t nc_max = std::max<int64_t>(nr, (int64_t(8) << 20) / (kc * kr.elem_bytes) / nr * nr);
  const int64_t n_blocks = (p.n + nc_max - 1) / nc_max;
  const int64_t nc = round_up((p.n + n_blocks - 1) / n_blocks, nr);

  const int64_t m_panels = (p.m + mr - 1) / mr;
  const int64_t a_panel_bytes = int64_t(mr) * kc * kr.elem_bytes;
  const int64_t b_panel_bytes = int64_t(nr) * kc * kr.elem_bytes;
  const int64_t nc_panels = nc / nr;
  const int threads = pool.size();

  // Phase-2 tasks: mc rows x a group of nr panels. Each task packs its own A block into
  // per-thread scratch (it stays in L2 while the task sweeps its columns), so packed A never
  // makes a round trip through memory. Enough tasks (>= 4 per thread) for balance on a shared
  // machine, but column groups of >= 4 panels so each packed A block is reused.
  const int64_t mc_panels = std::max<int64_t>(1, std::min<int64_t>(kr.mc / mr, m_panels));
  const int64_t m_tasks = (m_panels + mc_panels - 1) / mc_panels;
  const int64_t a_block_bytes = mc_panels * a_panel_bytes;

  thread_local Scratch scratch;
  char* b_buf = scratch.get(size_t(nc_panels * b_panel_bytes + threads * a_block_bytes));
  char* a_bufs = b_buf + nc_panels * b_panel_bytes;

  const DenseView av{p.a.data, p.a.dtype, p.a.row_stride};
  const DenseView bv{p.b.data, p.b.dtype, p.b.row_stride};
  const bool im2col = p.b.kind == GemmOperand::Kind::Im2col;

  for (int64_t j0 = 0; j0 < p.n; j0 += nc) {
    const int64_t ncols = std::min(nc, p.n - j0);
    const int64_t n_panels = (ncols + nr - 1) / nr;
    int64_t ng_panels = n_panels;
    while (ng_panels > 4 && m_tasks * ((n_panels + ng_panels - 1) / ng_panels) < 4 * threads)
      ng_panels = (ng_panels + 1) / 2;
    const int64_t n_tasks = (n_panels + ng_panels - 1) / ng_panels;

    for (int64_t k0 = 0; k0 < p.k; k0 += kc) {
      const int kcb = int(std::min(kc, k_pad - k0));
      // Phase 1: pack the shared B block, groups of panels per task.
      const int64_t group = 4;
      pool.run((n_panels + group - 1) / group, [&](int64_t t, int) {
        for (int64_t jp = t * group; jp < std::min(n_panels, (t + 1) * group); ++jp) {
          const int cols = int(std::min<int64_t>(nr, ncols - jp * nr));
          char* dst = b_buf + jp * b_panel_bytes;
          if (im2col)
            kr.pack_b_im2col(p.b.im2col, p.k, j0 + jp * nr, cols, k0, kcb, round_bf16, dst);
          else
            kr.pack_b(bv, p.k, j0 + jp * nr, cols, k0, kcb, round_bf16, dst);
        }
      });
      // Phase 2: pack A blocks and run the micro-kernels.
      const bool first = k0 == 0;
      const int flags = (first && !p.accumulate) ? 0 : kLoadC;
      pool.run(m_tasks * n_tasks, [&](int64_t t, int thread) {
        const int64_t mt = t / n_tasks, nt = t % n_tasks;
        const int64_t ip0 = mt * mc_panels, ip_end = std::min(m_panels, ip0 + mc_panels);
        const int64_t jp_end = std::min(n_panels, (nt + 1) * ng_panels);
        char* a_buf = a_bufs + thread * a_block_bytes;
        for (int64_t ip = ip0; ip < ip_end; ++ip) {
          const int rows = int(std::min<int64_t>(mr, p.m - ip * mr));
          kr.pack_a(av, p.k, ip * mr, rows, k0, kcb, round_bf16, a_buf + (ip - ip0) * a_panel_bytes);
        }
        for (int64_t jp = nt * ng_panels; jp < jp_end; ++jp) {
          const int64_t col = j0 + jp * nr;
          const int n_valid = int(std::min<int64_t>(nr, j0 + ncols - col));
          const char* bp = b_buf + jp * b_panel_bytes;
          for (int64_t ip = ip0; ip < ip_end; ++ip) {
            const int64_t row = ip * mr;
            const int m_valid = int(std::min<int64_t>(mr, p.m - row));
            kr.kernel(kcb, a_buf + (ip - ip0) * a_panel_bytes, bp, p.c + row * p.c_row_stride + col,
                      p.c_row_stride, m_valid, n_valid, flags,
                      first && p.bias_m ? p.bias_m + row : nullptr,
                      first && p.bias_n ? p.bias_n + col : nullptr);
          }
        }
      });
    }
  }
}

}  // namespace sd::cpu::gemm_lab
