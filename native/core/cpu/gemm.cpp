// GEMM driver (compiled with no ISA flags): picks the kernel table for the requested Isa and
// precision, blocks the problem BLIS-style and runs it on the pool.
//  - Dense B: C is cut into tasks of (mc rows x nc columns); each task loops over K blocks,
//    packing its A block (mc x kc) and B panels (kc x nr) into per-thread scratch and running
//    the micro-kernel over them, so a product is one pool.run. A B shared by several row blocks
//    (weights) is packed once up front instead.
//  - Im2col B: per K block, a shared B pack then tasks (gemm_shared_b_per_kblock).
// Also holds the double-precision reference.
#include "gemm.h"

#include <algorithm>
#include <cstdlib>
#include <memory>
#include <string>
#include <vector>

#include "../error.h"
#include "gemm_kernels.h"
#include "panel_scratch.h"

namespace sd::cpu {
namespace gemm_detail {

const GemmKernels* select_kernels(Isa isa, GemmPrecision precision) {
#if defined(__x86_64__) || defined(_M_X64)
  switch (isa) {
    case Isa::Avx512Bf16:
      if (precision == GemmPrecision::Bf16) return gemm_kernels_avx512bf16();
      return gemm_kernels_avx512();
    case Isa::Avx512: return gemm_kernels_avx512();
    case Isa::Avx2: return gemm_kernels_avx2();
    default: break;
  }
#elif defined(__aarch64__)
  switch (isa) {
    case Isa::NeonBf16:
      if (precision == GemmPrecision::Bf16) return gemm_kernels_neonbf16();
      return gemm_kernels_neon();
    case Isa::Neon: return gemm_kernels_neon();
    default: break;
  }
#else  // only the portable TU is built elsewhere; detect_isa() reports Scalar
  (void)isa, (void)precision;
#endif
  return gemm_kernels_scalar();
}

KBlocking k_blocking(const GemmKernels& kr, int64_t k) {
  KBlocking b;
  b.k_pad = (k + kr.kstep - 1) / kr.kstep * kr.kstep;
  b.blocks = b.k_pad <= kr.kc * 3 / 2 ? 1 : (b.k_pad + kr.kc - 1) / kr.kc;
  if (b.k_pad > b.blocks * kGemmMaxKc) b.blocks = (b.k_pad + kGemmMaxKc - 1) / kGemmMaxKc;
  b.kc = int((b.k_pad + b.blocks - 1) / b.blocks + kr.kstep - 1) / kr.kstep * kr.kstep;
  return b;
}

namespace {

int64_t round_up(int64_t x, int64_t m) { return (x + m - 1) / m * m; }

// A conv whose whole im2col B packs into this much goes through the one-barrier path (B packed
// once, then tasks that each run all K blocks). The per-K-block path costs two pool barriers per
// K block and re-packs A for every few columns: at 1280 channels on 8x8 (30 K blocks, 64 columns)
// it ran at 61% of peak against 76% this way, and 640 on 32x32 (23.6 MB of B) at 68% vs 74%.
// The 64x64 convs (47 MB of B) stay per K block, where it measured faster (bench/RESULTS.md).
constexpr int64_t kIm2colWholeBMax = int64_t(32) << 20;

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

void validate(const GemmParams& p) {
  if (p.m < 0 || p.n < 0 || p.k < 0) throw Error("gemm: negative size");
  if (p.m > 0 && p.n > 0 && !p.c) throw Error("gemm: c is null");
  if (p.a.kind != GemmOperand::Kind::Dense)
    throw Error("gemm: operand A must be dense (only B may be an im2col view)");
  if (!isa_supported(p.isa))
    throw Error(std::string("gemm: ISA path ") + isa_name(p.isa) + " is not supported by this CPU");
  if (p.b.kind == GemmOperand::Kind::Im2col) {
    const Im2col& g = p.b.im2col;
    if (int64_t(g.channels) * g.kernel_h * g.kernel_w != p.k)
      throw Error("gemm: im2col K must equal channels*kernel_h*kernel_w");
    if (int64_t(g.out_h) * g.out_w != p.n) throw Error("gemm: im2col N must equal out_h*out_w");
    if (g.stride < 1) throw Error("gemm: im2col stride must be >= 1");
  }
  if (p.m > 0 && p.n > 0 && p.c_row_stride < p.n) throw Error("gemm: c_row_stride < n");
  for (const GemmOperand* op : {&p.a, &p.b})
    if (op->kind == GemmOperand::Kind::Dense && p.m > 0 && p.n > 0 && p.k > 0 &&
        (!op->data || op->row_stride < p.k))
      throw Error("gemm: dense operand needs data and row_stride >= k");
  for (const GemmOperand* op : {&p.a, &p.b})
    if (op->kind == GemmOperand::Kind::Dense && op->dtype != DType::F32 &&
        op->dtype != DType::F16 && op->dtype != DType::BF16)
      throw Error(std::string("gemm: operand dtype ") + dtype_name(op->dtype) + " is not f32/f16/bf16");
}

// A panels [ip0, ip1) (mr rows each) of K block [k0, k0 + kcb) into a_buf, one after another.
void pack_a_panels(const GemmKernels& kr, const GemmParams& p, const DenseView& av, int64_t ip0,
                   int64_t ip1, int64_t k0, int kcb, bool round_bf16, char* a_buf,
                   int64_t a_panel_bytes) {
  for (int64_t ip = ip0; ip < ip1; ++ip) {
    const int rows = int(std::min<int64_t>(kr.mr, p.m - ip * kr.mr));
    kr.pack_a(av, p.k, ip * kr.mr, rows, k0, kcb, round_bf16, a_buf + (ip - ip0) * a_panel_bytes);
  }
}

// The micro-kernel over A panels [ip0, ip1) (packed by pack_a_panels) and the B panel bp of
// columns [col, col + n_valid); biases only with the first K block.
void run_kernels(const GemmKernels& kr, const GemmParams& p, int64_t ip0, int64_t ip1, int kcb,
                 const char* a_buf, int64_t a_panel_bytes, const char* bp, int64_t col, int n_valid,
                 int flags, bool first) {
  for (int64_t ip = ip0; ip < ip1; ++ip) {
    const int64_t row = ip * kr.mr;
    const int m_valid = int(std::min<int64_t>(kr.mr, p.m - row));
    kr.kernel(kcb, a_buf + (ip - ip0) * a_panel_bytes, bp, p.c + row * p.c_row_stride + col,
              p.c_row_stride, m_valid, n_valid, flags, first && p.bias_m ? p.bias_m + row : nullptr,
              first && p.bias_n ? p.bias_n + col : nullptr);
  }
}

// Im2col B (convolutions): per K block, all threads first pack the shared B block (im2col is
// the expensive packing, so it is done exactly once), then run tasks of (mc rows x a group of
// panels) that pack their own A block. Measured 1.2-1.5x faster than per-task B packing on the
// SD convs (bench/RESULTS.md).
void gemm_shared_b_per_kblock(const GemmParams& p, ThreadPool& pool) {
  const GemmKernels& kr = *select_kernels(p.isa, p.precision);
  const bool round_bf16 = p.precision == GemmPrecision::Bf16 && kr.elem_bytes == 4;
  const int mr = kr.mr, nr = kr.nr;

  const KBlocking kbl = k_blocking(kr, p.k);
  const int64_t k_pad = kbl.k_pad, k_blocks = kbl.blocks, kc = kbl.kc;

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

  thread_local PanelScratch scratch;
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
        pack_a_panels(kr, p, av, ip0, ip_end, k0, kcb, round_bf16, a_buf, a_panel_bytes);
        for (int64_t jp = nt * ng_panels; jp < jp_end; ++jp) {
          const int64_t col = j0 + jp * nr;
          const int n_valid = int(std::min<int64_t>(nr, j0 + ncols - col));
          const char* bp = b_buf + jp * b_panel_bytes;
          run_kernels(kr, p, ip0, ip_end, kcb, a_buf, a_panel_bytes, bp, col, n_valid, flags, first);
        }
      });
    }
  }
}

}  // namespace
}  // namespace gemm_detail

void gemm(const GemmParams& p, ThreadPool& pool) {
  using namespace gemm_detail;
  validate(p);
  if (p.m == 0 || p.n == 0) return;
  if (p.k == 0) {
    bias_only(p);
    return;
  }
  const GemmKernels& kr = *select_kernels(p.isa, p.precision);
  const bool round_bf16 = p.precision == GemmPrecision::Bf16 && kr.elem_bytes == 4;
  const int mr = kr.mr, nr = kr.nr;
  const int threads = pool.size();

  const KBlocking kbl = k_blocking(kr, p.k);
  const int64_t k_pad = kbl.k_pad, k_blocks = kbl.blocks, kc = kbl.kc;

  // Tasks are (mc rows) x (nc columns) blocks of C; each runs the whole K loop, so its C block
  // stays in cache across K blocks and the whole product is one pool.run (one barrier: on a
  // shared machine every barrier waits for the slowest, possibly descheduled, thread).
  const int64_t m_panels = (p.m + mr - 1) / mr;
  const int64_t n_panels = (p.n + nr - 1) / nr;
  int64_t mc_panels = std::max<int64_t>(1, std::min<int64_t>(kr.mc / mr, m_panels));
  int64_t nc_panels = std::min<int64_t>(8, n_panels);
  auto task_count = [&] {
    return ((m_panels + mc_panels - 1) / mc_panels) * ((n_panels + nc_panels - 1) / nc_panels);
  };
  // Bigger column blocks while there are plenty of tasks (fewer A re-packs) ...
  while (nc_panels < n_panels && task_count() >= 16 * threads) nc_panels *= 2;
  // ... smaller blocks while there are too few to keep every thread busy.
  while (task_count() < 4 * threads && (mc_panels > 1 || nc_panels > 1)) {
    if (mc_panels >= nc_panels && mc_panels > 1) mc_panels = (mc_panels + 1) / 2;
    else nc_panels = (nc_panels + 1) / 2;
  }
  nc_panels = std::min(nc_panels, n_panels);
  const int64_t m_tasks = (m_panels + mc_panels - 1) / mc_panels;
  const int64_t n_tasks = (n_panels + nc_panels - 1) / nc_panels;

  const int64_t a_panel_bytes = int64_t(mr) * kc * kr.elem_bytes;
  const int64_t b_panel_bytes = int64_t(nr) * kc * kr.elem_bytes;
  const bool im2col = p.b.kind == GemmOperand::Kind::Im2col;
  // A dense B that several row blocks share is packed once, up front, by all threads (all K
  // blocks, up to 32 MiB); otherwise each task packs the B panels it uses.
  const int64_t b_all_bytes = n_panels * k_blocks * b_panel_bytes;
  if (im2col && b_all_bytes > (p.im2col_whole_b_max >= 0 ? p.im2col_whole_b_max : kIm2colWholeBMax)) {
    gemm_shared_b_per_kblock(p, pool);
    return;
  }
  const bool b_shared = m_tasks > 1 && b_all_bytes <= (int64_t(32) << 20);
  const int64_t per_thread = mc_panels * a_panel_bytes + (b_shared ? 0 : nc_panels * b_panel_bytes);

  thread_local PanelScratch scratch;
  char* base = scratch.get(size_t((b_shared ? b_all_bytes : 0) + threads * per_thread));
  char* b_all = base;
  char* thread_bufs = base + (b_shared ? b_all_bytes : 0);

  const DenseView av{p.a.data, p.a.dtype, p.a.row_stride};
  const DenseView bv{p.b.data, p.b.dtype, p.b.row_stride};
  auto pack_b_panel = [&](int64_t jp, int64_t k0, int kcb, char* dst) {
    const int cols = int(std::min<int64_t>(nr, p.n - jp * nr));
    if (im2col)
      kr.pack_b_im2col(p.b.im2col, p.k, jp * nr, cols, k0, kcb, round_bf16, dst);
    else
      kr.pack_b(bv, p.k, jp * nr, cols, k0, kcb, round_bf16, dst);
  };
  if (b_shared) {  // layout: [k block][panel]
    const int64_t group = 4, groups = (n_panels + group - 1) / group;
    pool.run(k_blocks * groups, [&](int64_t t, int) {
      const int64_t kb = t / groups, g = t % groups;
      const int64_t k0 = kb * kc;
      const int kcb = int(std::min(kc, k_pad - k0));
      for (int64_t jp = g * group; jp < std::min(n_panels, (g + 1) * group); ++jp)
        pack_b_panel(jp, k0, kcb, b_all + (kb * n_panels + jp) * b_panel_bytes);
    });
  }

  pool.run(m_tasks * n_tasks, [&](int64_t t, int thread) {
    const int64_t mt = t / n_tasks, nt = t % n_tasks;
    const int64_t ip0 = mt * mc_panels, ip1 = std::min(m_panels, ip0 + mc_panels);
    const int64_t jp0 = nt * nc_panels, jp1 = std::min(n_panels, jp0 + nc_panels);
    char* a_buf = thread_bufs + thread * per_thread;
    char* b_buf = a_buf + mc_panels * a_panel_bytes;
    for (int64_t kb = 0; kb < k_blocks; ++kb) {
      const int64_t k0 = kb * kc;
      const int kcb = int(std::min(kc, k_pad - k0));
      pack_a_panels(kr, p, av, ip0, ip1, k0, kcb, round_bf16, a_buf, a_panel_bytes);
      const bool first = kb == 0;
      const int flags = (first && !p.accumulate) ? 0 : kLoadC;
      for (int64_t jp = jp0; jp < jp1; ++jp) {
        const char* bp;
        if (b_shared) {
          bp = b_all + (kb * n_panels + jp) * b_panel_bytes;
        } else {
          char* dst = b_buf + (jp - jp0) * b_panel_bytes;
          pack_b_panel(jp, k0, kcb, dst);
          bp = dst;
        }
        const int64_t col = jp * nr;
        const int n_valid = int(std::min<int64_t>(nr, p.n - col));
        run_kernels(kr, p, ip0, ip1, kcb, a_buf, a_panel_bytes, bp, col, n_valid, flags, first);
      }
    }
  });
}

// ---- reference --------------------------------------------------------------------------

namespace {

double operand_at(const GemmOperand& op, int64_t r, int64_t k) {
  if (op.kind == GemmOperand::Kind::Im2col) {
    const Im2col& g = op.im2col;
    const int64_t taps = int64_t(g.kernel_h) * g.kernel_w;
    const int64_t c = k / taps, ky = (k % taps) / g.kernel_w, kx = k % g.kernel_w;
    const int64_t oy = r / g.out_w, ox = r % g.out_w;
    const int64_t iy = oy * g.stride + ky - g.pad_top, ix = ox * g.stride + kx - g.pad_left;
    if (iy < 0 || iy >= g.height || ix < 0 || ix >= g.width) return 0.0;
    return g.image[(c * g.height + iy) * g.width + ix];
  }
  const int64_t i = r * op.row_stride + k;
  switch (op.dtype) {
    case DType::F16: return f16_to_f32(static_cast<const uint16_t*>(op.data)[i]);
    case DType::BF16: return bf16_to_f32(static_cast<const uint16_t*>(op.data)[i]);
    default: return static_cast<const float*>(op.data)[i];
  }
}

}  // namespace

void gemm_reference(const GemmParams& p) {
  gemm_detail::validate(p);
  const bool bf16 = p.precision == GemmPrecision::Bf16;
  auto get = [&](const GemmOperand& op, int64_t r, int64_t k) {
    double v = operand_at(op, r, k);
    return bf16 ? double(bf16_to_f32(f32_to_bf16(float(v)))) : v;
  };
  std::vector<double> arow(size_t(std::max<int64_t>(p.k, 1)));
  for (int64_t i = 0; i < p.m; ++i) {
    for (int64_t kk = 0; kk < p.k; ++kk) arow[kk] = get(p.a, i, kk);
    for (int64_t j = 0; j < p.n; ++j) {
      double s = 0.0;
      for (int64_t kk = 0; kk < p.k; ++kk) s += arow[kk] * get(p.b, j, kk);
      float* c = p.c + i * p.c_row_stride + j;
      if (p.accumulate) s += *c;
      if (p.bias_m) s += p.bias_m[i];
      if (p.bias_n) s += p.bias_n[j];
      *c = float(s);
    }
  }
}

}  // namespace sd::cpu
