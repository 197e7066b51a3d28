// The load option `device`: which backend runs a pipeline. Resolved before anything is allocated,
// so an unusable choice fails the load with a DeviceError that says why.
//
//   sd::runtime::DeviceChoice d = sd::runtime::resolve_device("auto");  // CUDA if built and present
//   std::unique_ptr<sd::Backend> b = sd::runtime::make_backend(d, options);
#pragma once
#include <memory>
#include <string>

#include "core/error.h"
#include "sd.h"

namespace sd::runtime {

// A device that cannot be used here (no CUDA in this build, no GPU found, a bad spelling); the
// addon gives it the code ERR_SD_DEVICE.
class DeviceError : public Error {
 public:
  using Error::Error;
};

struct DeviceChoice {
  enum class Kind { Cpu, Cuda, Emulated } kind = Kind::Cpu;
  int index = 0;  // the CUDA device
};

bool build_has_cuda();
// "auto", "cpu", "cuda", "cuda:N" or "emulated" -> a usable device, or DeviceError.
DeviceChoice resolve_device(const std::string& spec);
// Why "auto" runs on the CPU on this machine ("" when it takes CUDA): systemInfo() and doctor tell
// the user who installed the CUDA addon what is missing (driver, device, build).
std::string why_auto_is_cpu();
// The backend for a resolved device; *description gets what runs ("cpu", "cuda:0 (NVIDIA …)").
std::unique_ptr<Backend> make_backend(const DeviceChoice& device, const LoadOptions& options, std::string* description);

}  // namespace sd::runtime
