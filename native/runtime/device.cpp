#include "device.h"

#include <cstdlib>

#include "core/cpu/cpu_backend.h"
#include "core/emulated/emulated_backend.h"
#ifdef SD_WITH_CUDA
#include "core/cuda/cuda_backend.h"
#endif

namespace sd::runtime {
namespace {

// "cuda:N" -> N; anything after "cuda:" that is not a plain small integer is a spelling error.
int parse_index(const std::string& spec) {
  const std::string digits = spec.substr(5);
  if (digits.empty() || digits.size() > 3 || digits.find_first_not_of("0123456789") != std::string::npos)
    throw DeviceError("device must be 'auto', 'cpu', 'cuda', 'cuda:N' (N a device number) or 'emulated', got '" + spec + "'");
  return std::atoi(digits.c_str());
}

#ifdef SD_WITH_CUDA
void require_cuda_device(int index) {
  std::string why;
  if (!cuda::cuda_available(&why)) throw DeviceError("device 'cuda' was asked for but no usable CUDA device was found: " + why);
  const int n = cuda::cuda_device_count();
  if (index >= n)
    throw DeviceError("device 'cuda:" + std::to_string(index) + "' does not exist: " + std::to_string(n) + " CUDA device" + (n == 1 ? "" : "s") +
                      " found (cuda:0" + (n > 1 ? " … cuda:" + std::to_string(n - 1) : std::string()) + ")");
}
#endif

}  // namespace

bool build_has_cuda() {
#ifdef SD_WITH_CUDA
  return true;
#else
  return false;
#endif
}

std::string why_auto_is_cpu() {
#ifdef SD_WITH_CUDA
  std::string why;
  return cuda::cuda_available(&why) ? std::string() : why;
#else
  return "this build has no CUDA backend";
#endif
}

DeviceChoice resolve_device(const std::string& spec) {
  DeviceChoice d;
  if (spec == "cpu") return d;
  if (spec == "emulated") {
    d.kind = DeviceChoice::Kind::Emulated;
    return d;
  }
  if (spec == "auto") {
#ifdef SD_WITH_CUDA
    if (cuda::cuda_available(nullptr)) d.kind = DeviceChoice::Kind::Cuda;
#endif
    return d;
  }
  if (spec != "cuda" && spec.rfind("cuda:", 0) != 0)
    throw DeviceError("device must be 'auto', 'cpu', 'cuda', 'cuda:N' (N a device number) or 'emulated', got '" + spec + "'");
  d.kind = DeviceChoice::Kind::Cuda;
  d.index = spec == "cuda" ? 0 : parse_index(spec);
#ifdef SD_WITH_CUDA
  require_cuda_device(d.index);
  return d;
#else
  throw DeviceError("device '" + spec + "' was asked for but this build of sd-native has no CUDA backend (it is the CPU-only build); "
                    "use device 'cpu' or 'auto', or install a CUDA build");
#endif
}

std::unique_ptr<Backend> make_backend(const DeviceChoice& device, const LoadOptions& options, std::string* description) {
  cpu::CpuOptions cpu_opt;
  cpu_opt.threads = options.threads;
  cpu_opt.precision = options.compute == Compute::Bf16 ? cpu::GemmPrecision::Bf16 : cpu::GemmPrecision::F32;
  switch (device.kind) {
    case DeviceChoice::Kind::Cpu:
      *description = "cpu";
      return std::make_unique<cpu::CpuBackend>(cpu_opt);
    case DeviceChoice::Kind::Emulated:
      *description = "emulated";
      return std::make_unique<emulated::EmulatedBackend>(cpu_opt);
    case DeviceChoice::Kind::Cuda: {
#ifdef SD_WITH_CUDA
      cuda::CudaOptions o;
      o.device = device.index;
      o.precision = options.compute == Compute::Bf16 ? cuda::Precision::Bf16 : cuda::Precision::F32;
      auto b = std::make_unique<cuda::CudaBackend>(o);
      *description = "cuda:" + std::to_string(device.index) + " (" + b->device().name + ")";
      return b;
#else
      throw DeviceError("this build of sd-native has no CUDA backend");
#endif
    }
  }
  throw DeviceError("unknown device kind");
}

}  // namespace sd::runtime
