// Per-thread scratch for packed GEMM panels (gemm.cpp, winograd_products.cpp; baseline code
// only), kept across calls so repeated products don't pay for fresh pages (a 4 MiB panel costs
// ~1000 page faults when newly mapped). 64-byte aligned: the kernels load panels aligned.
#pragma once
#include <algorithm>
#include <cstddef>
#include <cstdlib>
#include <memory>
#include <string>

#include "../error.h"

namespace sd::cpu {

class PanelScratch {
 public:
  char* get(size_t bytes) {
    if (bytes > size_) {
      size_t want = std::max(bytes, size_ + size_ / 2);
      want = (want + 63) / 64 * 64;
      mem_.reset(static_cast<char*>(std::aligned_alloc(64, want)));
      if (!mem_) throw Error("out of memory allocating " + std::to_string(want) + " bytes of GEMM panel scratch");
      size_ = want;
    }
    return mem_.get();
  }
  float* floats(size_t count) { return reinterpret_cast<float*>(get(count * sizeof(float))); }

 private:
  struct Free {
    void operator()(char* p) const { std::free(p); }
  };
  std::unique_ptr<char, Free> mem_;
  size_t size_ = 0;
};

}  // namespace sd::cpu
