// systemInfo(): what this binary is and what it can use (for `sd-native doctor` and bug reports).
#include <thread>

#include "addon_common.h"
#include "core/cpu/isa.h"
#include "runtime/device.h"

namespace sd::addon {

static Napi::Value system_info(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Object o = Napi::Object::New(env);
  o.Set("isa", cpu::isa_name(cpu::detect_isa()));
  Napi::Array paths = Napi::Array::New(env);
  for (int i = 0; i < cpu::kIsaCount; ++i)
    if (cpu::isa_supported(cpu::Isa(i))) paths.Set(paths.Length(), cpu::isa_name(cpu::Isa(i)));
  o.Set("cpuPaths", paths);
  o.Set("hardwareThreads", double(std::thread::hardware_concurrency()));
  o.Set("cuda", runtime::build_has_cuda());
  // What device 'auto' picks on this machine: 'cuda' only when this build has CUDA and a device is present.
  const std::string why_cpu = runtime::why_auto_is_cpu();
  o.Set("autoDevice", why_cpu.empty() ? "cuda" : "cpu");
  o.Set("noCudaReason", why_cpu);
  return o;
}

void register_system(Napi::Env env, Napi::Object exports) {
  exports.Set("systemInfo", Napi::Function::New(env, system_info, "systemInfo"));
}

}  // namespace sd::addon
