// GPU op table: the op table (op_table.cpp, the cases test_ops runs) on the CUDA backend against
// the CPU backend, one tiny graph per case, under each GPU configuration (f32 SIMT, the
// double-precision reference GEMM, bf16 and f16 tensor cores). The shared runner checks NaN/inf,
// the normalised error ||gpu-cpu||/||cpu||, guard bytes around the device arena, that no byte
// between planned tensors was written and that inputs are untouched.
// Also: weight caching and invalidation, out-of-memory messages.
//
// Built only with the CUDA backend (cmake -DSD_CUDA=ON, or bench/kernels/cuda/build.sh); without
// a GPU it prints "skipped: <reason>" and exits 0.
//
// Tolerances: both backends are checked against a double reference elsewhere (test_ops for the
// CPU) with the per-case tolerance `tol`; two paths each within tol of the truth are within
// 2·tol of each other. The f16 configuration is compared with the CPU's f32 results: 16-bit
// operands with an 11-bit mantissa give ~5e-4 on a dot product of [-1, 1] values.
#include <cmath>
#include <cstdio>
#include <string>
#include <vector>

#include "core/cpu/cpu_backend.h"
#include "core/cuda/cuda_backend.h"
#include "core/error.h"
#include "core/graph.h"
#include "core/ops.h"
#include "harness.h"
#include "op_table.h"

using namespace sd;
using optable::Builder;
using optable::Case;
using optable::Input;

namespace {

struct Config {
  const char* name;
  cuda::Precision precision;
  cuda::GemmPath path;
  cpu::GemmPrecision cpu_precision;
  bool products_only;
  bool needs_tensor_cores;
};

// The yardstick: the case on the CPU backend at the configuration's CPU precision.
std::vector<double> run_cpu(const Case& c, cpu::GemmPrecision prec) {
  cpu::CpuOptions opt;
  opt.precision = prec;
  opt.threads = 2;
  cpu::CpuBackend cpu(opt);
  const std::vector<float> out = optable::run(c, cpu, optable::host_access(), c.name + " [cpu yardstick]");
  return std::vector<double>(out.begin(), out.end());
}

void run_case(const Case& c, const Config& cfg) {
  const std::string tag = c.name + " [" + cfg.name + "]";
  try {
    const std::vector<double> want = run_cpu(c, cfg.cpu_precision);
    cuda::CudaOptions opt;
    opt.precision = cfg.precision;
    opt.gemm = cfg.path;
    cuda::CudaBackend gpu(opt);
    const optable::RawAccess device{[&](void* p, int byte, size_t n) { gpu.fill_device(p, byte, n); },
                                    [&](void* host, const void* p, size_t n) { gpu.copy_from_device(host, p, n); }};
    double tol = 2 * (cfg.cpu_precision == cpu::GemmPrecision::Bf16 ? c.tol_bf16 : c.tol);
    if (cfg.precision == cuda::Precision::F16) tol = std::max(tol, 3e-3);
    optable::compare(optable::run(c, gpu, device, tag), want, tol, tag);
  } catch (const std::exception& e) {
    CHECK_MSG(false, tag + ": threw: " + e.what());
  }
}

// A weight is uploaded once, reused from the cache, and re-uploaded after its host bytes change.
void test_weight_cache() {
  Context ctx;
  std::vector<Input> inputs;
  Builder b{ctx, inputs};
  Tensor* x = b.in({4, 32});
  Tensor* w = b.w({16, 32}, DType::F16);
  Tensor* out = linear(ctx, x, w, nullptr);
  cuda::CudaBackend gpu;
  Graph g(gpu, {out});
  g.plan();
  gpu.upload(x, inputs[0].values.data(), inputs[0].values.size());
  g.compute();
  std::vector<float> first(64), second(64);
  gpu.download(out, first.data(), 256);
  CHECK(gpu.weight_bytes() >= 16 * 32 * 2);
  const size_t cached = gpu.weight_bytes();
  g.compute();
  gpu.download(out, second.data(), 256);
  CHECK(first == second);
  CHECK(gpu.weight_bytes() == cached);  // no second upload
  const TransferStats t = gpu.transfers();  // the counts the emulated device's tests pin (test_emulated.cpp)
  CHECK(t.weight_uploads == 1 && t.weight_bytes == 16 * 32 * 2);  // kept f16
  CHECK(t.uploads == 1 && t.upload_bytes == 4 * 32 * 4);
  CHECK(t.downloads == 2 && t.download_bytes == 2 * 256);
  // New weight bytes through upload(): the stale device copy must not be used.
  std::vector<uint16_t> ones(16 * 32, f32_to_f16(1.0f));
  gpu.upload(w, ones.data(), ones.size() * 2);
  g.compute();
  gpu.download(out, second.data(), 256);
  const float* xv = reinterpret_cast<const float*>(inputs[0].values.data());
  double err = 0;
  for (int r = 0; r < 4; ++r) {
    double s = 0;
    for (int k = 0; k < 32; ++k) s += xv[r * 32 + k];
    for (int c = 0; c < 16; ++c) err = std::max(err, std::fabs(second[size_t(r * 16 + c)] - s));
  }
  CHECK_MSG(err < 1e-4, "re-uploaded weight not used (max error " + std::to_string(err) + ")");
  gpu.forget_all_weights();
  CHECK(gpu.weight_bytes() == 0);
  g.compute();  // uploads again from host memory
  gpu.download(out, first.data(), 256);
  CHECK(first == second);
}

void test_out_of_memory() {
  cuda::CudaBackend gpu;
  try {
    gpu.alloc(size_t(1) << 50);  // 1 PiB
    CHECK_MSG(false, "a 1 PiB allocation succeeded");
  } catch (const Error& e) {
    const std::string msg = e.what();
    CHECK_MSG(msg.find("out of GPU memory") != std::string::npos, "unexpected message: " + msg);
    CHECK_MSG(msg.find("try a smaller") != std::string::npos, "message says what to do: " + msg);
  }
  // The backend is still usable afterwards.
  void* p = gpu.alloc(1024);
  gpu.fill_device(p, 0, 1024);
  gpu.free(p);
}

}  // namespace

int main() {
  std::string why;
  if (!cuda::cuda_available(&why)) {
    std::printf("test_cuda: skipped: %s\n", why.c_str());
    return 0;
  }
  const cuda::DeviceInfo info = cuda::cuda_device_info(0);
  std::printf("device: %s (sm_%d%d, %d SMs, %zu MiB), %s\n", info.name.c_str(), info.cc_major, info.cc_minor, info.sm_count,
              info.total_bytes >> 20, cuda::cuda_build_info().c_str());
  const Config configs[] = {
      {"f32/auto", cuda::Precision::F32, cuda::GemmPath::Auto, cpu::GemmPrecision::F32, false, false},
      {"f32/reference", cuda::Precision::F32, cuda::GemmPath::Reference, cpu::GemmPrecision::F32, true, false},
      {"bf16/tensor-core", cuda::Precision::Bf16, cuda::GemmPath::TensorCore, cpu::GemmPrecision::Bf16, true, true},
      {"bf16/reference", cuda::Precision::Bf16, cuda::GemmPath::Reference, cpu::GemmPrecision::Bf16, true, false},
      {"bf16/simt", cuda::Precision::Bf16, cuda::GemmPath::Simt, cpu::GemmPrecision::F32, true, false},
      {"f16/tensor-core", cuda::Precision::F16, cuda::GemmPath::TensorCore, cpu::GemmPrecision::F32, true, true},
  };
  int runs = 0;
  const std::vector<Case>& all = optable::cases();
  for (const Config& cfg : configs) {
    if (cfg.needs_tensor_cores && info.cc_major < 8) {
      std::printf("skipping %s: needs sm_80+\n", cfg.name);
      continue;
    }
    for (const Case& c : all) {
      if (cfg.products_only && !c.product) continue;
      if (c.name.find("circular") != std::string::npos) continue;  // the CUDA backend refuses circular convs
      run_case(c, cfg);
      ++runs;
    }
  }
  test_weight_cache();
  test_out_of_memory();
  std::printf("cuda op table: %d case runs\n", runs);
  return harness::finish("test_cuda");
}
