// libFuzzer: any bytes as a .safetensors file. The reader must either accept them (every tensor's
// bytes then lie inside the input and match dtype × shape) or throw sd::Error, never crash, read
// out of bounds (ASan), overflow (UBSan) or throw anything else.
#include <cstdint>
#include <cstdlib>

#include "core/error.h"
#include "io/safetensors.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  try {
    auto f = sd::io::SafetensorsFile::from_memory("fuzz", data, size);
    for (const sd::io::TensorInfo& t : f->tensors()) {
      if (t.data < data || t.data + t.nbytes > data + size) std::abort();
      if (size_t(t.numel()) * sd::dtype_size(t.dtype) != t.nbytes) std::abort();
      volatile uint8_t sink = 0;
      for (size_t i = 0; i < t.nbytes; i += 4096) sink ^= t.data[i];  // touch: ASan checks the range
      (void)sink;
    }
  } catch (const sd::Error&) {
  }
  return 0;
}
