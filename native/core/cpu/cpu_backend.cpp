#include "cpu_backend.h"

#include <cstdlib>

#include "../error.h"

namespace sd::cpu {

CpuBackend::CpuBackend(const CpuOptions& options)
    : options_(options), pool_(options.threads), vec_(vec_kernels(options.isa)), scratch_(4),
      winograd_(options.winograd_cache_bytes) {
  if (!isa_supported(options.isa))
    throw Error(std::string("this CPU cannot run the ") + isa_name(options.isa) + " kernels (best: " + isa_name(detect_isa()) + ")");
}

std::string CpuBackend::name() const {
  return std::string("cpu/") + isa_name(options_.isa) + (options_.precision == GemmPrecision::Bf16 ? "/bf16" : "/f32") +
         "/" + std::to_string(pool_.size()) + "t";
}

void* CpuBackend::alloc(size_t bytes) {
  // 64-byte alignment: one cache line, one AVX-512 register.
  return std::aligned_alloc(64, (bytes + 63) / 64 * 64);
}

void CpuBackend::free(void* ptr) { std::free(ptr); }

float* CpuBackend::scratch(size_t floats, int slot) {
  auto& buf = scratch_[size_t(slot)];
  if (buf.size() < floats) buf.resize(floats);
  return buf.data();
}

void CpuBackend::compute(Tensor* t) {
  switch (t->op) {
    case Op::Add: case Op::Mul: case Op::Scale: case Op::Silu: case Op::Gelu: case Op::GeluTanh:
    case Op::QuickGelu: case Op::Geglu: case Op::Relu: case Op::TanhClamp: case Op::TimestepEmbedding:
      return elementwise(t);
    case Op::Contiguous: case Op::Concat: case Op::Upsample2x: case Op::GetRows:
      return movement(t);
    case Op::Softmax: case Op::GroupNorm: case Op::LayerNorm:
      return norm(t);
    case Op::Linear: case Op::Matmul: case Op::Conv2d: case Op::Attention:
      return products(t);
    case Op::None: case Op::View: case Op::Permute: case Op::Count:
      return;
  }
}

}  // namespace sd::cpu
