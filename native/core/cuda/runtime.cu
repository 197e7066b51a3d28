// Device discovery and error reporting. Host code only; it is a .cu so that nvcc defines
// __CUDA_ARCH_LIST__ (the architectures this build has kernels for).
#include <string>

#include "../error.h"
#include "cuda_backend.h"
#include "cuda_util.h"

namespace sd::cuda {
namespace {

// Lowest compute capability (major*10 + minor) with kernels in this build: SASS for X.Y runs
// on X.Z (Z >= Y) and the embedded PTX JITs forward, so anything at or above it can run.
constexpr int min_arch() {
#ifdef __CUDA_ARCH_LIST__
  constexpr int list[] = {__CUDA_ARCH_LIST__};
  int m = list[0];
  for (int a : list) m = a < m ? a : m;
  return m / 10;
#else
  return 80;
#endif
}

std::string arch_list() {
#ifdef __CUDA_ARCH_LIST__
  constexpr int list[] = {__CUDA_ARCH_LIST__};
  std::string s;
  for (int a : list) s += (s.empty() ? "sm_" : " sm_") + std::to_string(a / 10);
  return s;
#else
  return "sm_80";
#endif
}

std::string version_str(int v) { return std::to_string(v / 1000) + "." + std::to_string(v % 1000 / 10); }

std::string hint(cudaError_t err) {
  switch (err) {
    case cudaErrorMemoryAllocation:
      return "out of GPU memory: try a smaller width/height or batch size, enable VAE tiling, close other programs "
             "using the GPU (nvidia-smi lists them), or use the CPU backend";
    case cudaErrorInsufficientDriver:
      return "the NVIDIA driver is older than this build's CUDA runtime " + version_str(CUDART_VERSION) +
             ": update the driver or use the CPU backend";
    case cudaErrorNoDevice:
      return "no CUDA GPU is visible (check nvidia-smi and CUDA_VISIBLE_DEVICES) or use the CPU backend";
    case cudaErrorNoKernelImageForDevice:
    case cudaErrorUnsupportedPtxVersion:
    case cudaErrorInvalidKernelImage:
      return "this build has no kernels for this GPU (built for " + arch_list() +
             "): rebuild with CMAKE_CUDA_ARCHITECTURES set to your GPU's, or use the CPU backend";
    case cudaErrorIllegalAddress:
    case cudaErrorLaunchFailure:
    case cudaErrorMisalignedAddress:
      return "a kernel faulted; this is a bug in sd-native: please report it with the output of a run with "
             "SD_CUDA_SYNC=1 (the GPU context is unusable until the process restarts)";
    case cudaErrorLaunchTimeout:
      return "a kernel ran too long for the display watchdog: use a GPU without a display attached or a smaller size";
    default:
      return "set SD_CUDA_SYNC=1 to find the operation that failed";
  }
}

bool fits(const cudaDeviceProp& p) { return p.major * 10 + p.minor >= min_arch(); }

}  // namespace

[[noreturn]] void throw_cuda_error(cudaError_t err, const char* what, const char* file, int line) {
  // Clear a non-sticky error so the next call does not report it again.
  (void)cudaGetLastError();
  std::string where = file;
  const size_t slash = where.find_last_of('/');
  if (slash != std::string::npos) where = where.substr(slash + 1);
  throw Error(std::string("CUDA error in ") + what + " (" + where + ":" + std::to_string(line) + "): " +
              cudaGetErrorString(err) + " [" + cudaGetErrorName(err) + "]; " + hint(err));
}

int cuda_device_count() {
  int n = 0;
  if (cudaGetDeviceCount(&n) != cudaSuccess) {
    (void)cudaGetLastError();
    return 0;
  }
  return n;
}

bool cuda_available(std::string* why) {
  auto no = [&](const std::string& reason) {
    if (why) *why = reason;
    return false;
  };
  try {
    int n = 0;
    const cudaError_t err = cudaGetDeviceCount(&n);
    if (err != cudaSuccess) {
      (void)cudaGetLastError();
      if (err == cudaErrorNoDevice) return no("no CUDA GPU found (nvidia-smi shows none, or CUDA_VISIBLE_DEVICES hides them)");
      if (err == cudaErrorInsufficientDriver) {
        int driver = 0;
        cudaDriverGetVersion(&driver);
        if (driver == 0) return no("no NVIDIA driver is installed (libcuda.so not found)");
        return no("the NVIDIA driver supports CUDA " + version_str(driver) + " but this build needs " +
                  version_str(CUDART_VERSION) + ": update the driver");
      }
      return no(std::string("CUDA is unavailable: ") + cudaGetErrorString(err));
    }
    if (n == 0) return no("no CUDA GPU found");
    std::string best;
    for (int i = 0; i < n; ++i) {
      cudaDeviceProp p;
      if (cudaGetDeviceProperties(&p, i) != cudaSuccess) {
        (void)cudaGetLastError();
        continue;
      }
      if (fits(p)) {
        if (why) why->clear();
        return true;
      }
      best = std::string(p.name) + " has compute capability " + std::to_string(p.major) + "." + std::to_string(p.minor);
    }
    return no(best.empty() ? std::string("no CUDA GPU could be queried")
                           : best + "; this build needs " + std::to_string(min_arch() / 10) + "." +
                                 std::to_string(min_arch() % 10) + " or newer (kernels for " + arch_list() + ")");
  } catch (...) {
    return no("CUDA is unavailable (unexpected error while probing)");
  }
}

DeviceInfo cuda_device_info(int device) {
  DeviceInfo info;
  cudaDeviceProp p;
  SD_CUDA_CHECK(cudaGetDeviceProperties(&p, device));
  info.index = device;
  info.name = p.name;
  info.cc_major = p.major;
  info.cc_minor = p.minor;
  info.sm_count = p.multiProcessorCount;
  info.total_bytes = p.totalGlobalMem;
  info.shared_per_block_optin = p.sharedMemPerBlockOptin;
  cudaDriverGetVersion(&info.driver_version);
  cudaRuntimeGetVersion(&info.runtime_version);
  // Free memory needs a context on that device; keep the caller's current device.
  int current = 0;
  if (cudaGetDevice(&current) == cudaSuccess && cudaSetDevice(device) == cudaSuccess) {
    size_t free_b = 0, total_b = 0;
    if (cudaMemGetInfo(&free_b, &total_b) == cudaSuccess) info.free_bytes = free_b;
    cudaSetDevice(current);
  }
  (void)cudaGetLastError();
  return info;
}

std::string cuda_build_info() {
  return "cuda runtime " + version_str(CUDART_VERSION) + ", kernels for " + arch_list();
}

}  // namespace sd::cuda
