// The op table (op_table.cpp) on every CPU path this machine supports (each ISA, products also
// under bf16 precision) and on the emulated device (the CPU kernels behind device-only memory, so
// a backend that read a host pointer it should have uploaded would fault), against the
// double-precision reference interpreter (op_reference.cpp). test_cuda runs the same table.
#include <cstdio>

#include "core/cpu/cpu_backend.h"
#include "core/emulated/emulated_backend.h"
#include "harness.h"
#include "op_table.h"

using namespace sd;

int main() {
  int run = 0;
  const optable::RawAccess host = optable::host_access();
  for (const optable::Case& c : optable::cases()) {
    for (cpu::GemmPrecision prec : {cpu::GemmPrecision::F32, cpu::GemmPrecision::Bf16}) {
      const bool bf16 = prec == cpu::GemmPrecision::Bf16;
      if (bf16 && !c.product) continue;
      const std::vector<double> want = optable::reference(c, bf16);
      for (int i = 0; i < cpu::kIsaCount; ++i) {
        const cpu::Isa isa = cpu::Isa(i);
        if (!cpu::isa_supported(isa)) continue;
        cpu::CpuOptions opt;
        opt.isa = isa;
        opt.precision = prec;
        opt.threads = 2;
        cpu::CpuBackend backend(opt);
        const std::string tag = c.name + " [" + cpu::isa_name(isa) + (bf16 ? "/bf16" : "/f32") + "]";
        optable::compare(optable::run(c, backend, host, tag), want, bf16 ? c.tol_bf16 : c.tol, tag);
        ++run;
      }
      cpu::CpuOptions opt;
      opt.precision = prec;
      opt.threads = 2;
      emulated::EmulatedBackend device(opt);
      const optable::RawAccess raw{[&](void* p, int byte, size_t n) { device.fill_device(p, byte, n); },
                                   [&](void* out, const void* p, size_t n) { device.copy_from_device(out, p, n); }};
      const std::string tag = c.name + std::string(" [emulated") + (bf16 ? "/bf16]" : "/f32]");
      optable::compare(optable::run(c, device, raw, tag), want, bf16 ? c.tol_bf16 : c.tol, tag);
      ++run;
    }
  }
  for (int i = 0; i < cpu::kIsaCount; ++i)
    if (!cpu::isa_supported(cpu::Isa(i))) std::printf("skipping %s: not supported by this CPU\n", cpu::isa_name(cpu::Isa(i)));
  std::printf("op table: %d case runs\n", run);
  return harness::finish("test_ops");
}
