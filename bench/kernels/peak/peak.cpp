// FMA peak probe on 1 and N threads: fp32 FMA on the widest vectors the CPU has (zmm with
// AVX-512, else ymm) and bf16 dot products (vdpbf16ps zmm) where AVX512_BF16 exists. Built with
// no ISA flags: every ISA loop carries its own target attribute and runs only where the CPU has
// it, so the probe also runs on plain AVX2 machines. Prints a JSON object as its last line.
//   g++ -O2 -std=c++17 -Inative bench/kernels/peak/peak.cpp build/Release/obj.target/sd_core.a -lpthread
#include <cstdio>
#include <cstdlib>
#include <string>
#include <thread>

#include "core/cpu/isa.h"
#include "core/cpu/thread_pool.h"
#include "peak_probe.h"

int main(int argc, char** argv) {
  const int n = argc > 1 ? std::atoi(argv[1]) : int(std::thread::hardware_concurrency());
  sd::cpu::ThreadPool one(1), all(n);
  const PeakNow p1 = measure_peak(one), pn = measure_peak(all);
  std::printf("cpu paths : best %s\n", sd::cpu::isa_name(sd::cpu::detect_isa()));
  std::printf("fp32 FMA (%s): 1 thread %.1f GFLOP/s, %d threads %.1f GFLOP/s\n", pn.fp32_isa, p1.fp32, n, pn.fp32);
  if (pn.bf16 > 0) std::printf("bf16 dot  : 1 thread %.1f GFLOP/s, %d threads %.1f GFLOP/s\n", p1.bf16, n, pn.bf16);
  else std::printf("bf16 dot  : no AVX512_BF16 on this CPU\n");
  std::printf("{\"bench\":\"peak\",\"threads\":%d,\"isa\":\"%s\",\"fp32_isa\":\"%s\",\"fp32_1t\":%.1f,\"fp32_nt\":%.1f,"
              "\"bf16_1t\":%s,\"bf16_nt\":%s}\n", n, sd::cpu::isa_name(sd::cpu::detect_isa()), pn.fp32_isa, p1.fp32,
              pn.fp32, pn.bf16 > 0 ? std::to_string(p1.bf16).c_str() : "null",
              pn.bf16 > 0 ? std::to_string(pn.bf16).c_str() : "null");
}
