#include "emulated_backend.h"

#include <sys/mman.h>
#include <unistd.h>

#include <cstring>

#include "../device_weights.h"
#include "../error.h"

namespace sd::emulated {
namespace {

constexpr size_t kWeightChunk = size_t(64) << 20;
constexpr size_t kWeightAlign = 64;

size_t page_round(size_t bytes) {
  const size_t page = size_t(sysconf(_SC_PAGESIZE));
  return (std::max<size_t>(bytes, 1) + page - 1) / page * page;
}

std::string label(const Tensor* t) { return tensor_label(t); }

}  // namespace

EmulatedBackend::EmulatedBackend(const cpu::CpuOptions& options)
    : cpu_(options), weight_pool_(kWeightChunk, kWeightAlign), weights_([this](const void*, void* dev, size_t bytes) {
        // The kernels saw the copy at its device address: what they derived from it (Winograd
        // filters) must not outlive it, as the next copy placed there is another weight.
        cpu_.forget_weights(dev, bytes);
        weight_pool_.release(dev);
      }) {}

EmulatedBackend::~EmulatedBackend() {
  for (auto& [base, r] : regions_) munmap(r.base, r.size);
}

EmulatedBackend::Region EmulatedBackend::map_region(size_t bytes) {
  const size_t size = page_round(bytes);
  void* p = mmap(nullptr, size, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED) throw Error("emulated device: out of memory mapping " + std::to_string(size >> 20) + " MiB");
  Region r{static_cast<char*>(p), size};
  regions_[reinterpret_cast<uintptr_t>(p)] = r;
  return r;
}

const EmulatedBackend::Region* EmulatedBackend::region_of(const void* p) const {
  const uintptr_t u = reinterpret_cast<uintptr_t>(p);
  auto it = regions_.upper_bound(u);
  if (it == regions_.begin()) return nullptr;
  --it;
  return u < it->first + it->second.size ? &it->second : nullptr;
}

void EmulatedBackend::open(const Region& r) const {
  if (mprotect(r.base, r.size, PROT_READ | PROT_WRITE) != 0) throw Error("emulated device: mprotect failed");
}
void EmulatedBackend::close(const Region& r) const { mprotect(r.base, r.size, PROT_NONE); }

void* EmulatedBackend::alloc(size_t bytes) { return map_region(bytes).base; }

size_t EmulatedBackend::device_bytes() const {
  size_t n = 0;
  for (const auto& [base, r] : regions_) n += r.size;
  return n;
}

void EmulatedBackend::free(void* ptr) {
  auto it = regions_.find(reinterpret_cast<uintptr_t>(ptr));
  if (it == regions_.end()) return;
  munmap(it->second.base, it->second.size);
  regions_.erase(it);
}

void EmulatedBackend::upload(Tensor* t, const void* host, size_t bytes) {
  if (bytes == 0) return;  // as the CUDA backend: nothing moves, nothing is counted
  const Region* r = region_of(t->data);
  if (!r || static_cast<char*>(t->data) + bytes > r->base + r->size)
    throw Error("emulated device: upload to " + label(t) + ", which is not in device memory (plan its graph on this backend first)");
  open(*r);
  std::memcpy(t->data, host, bytes);
  close(*r);
  stats_.upload(bytes);
}

void EmulatedBackend::download(const Tensor* t, void* host, size_t bytes) {
  if (bytes == 0) return;
  const Region* r = region_of(t->data);
  if (!r || static_cast<const char*>(t->data) + bytes > r->base + r->size)
    throw Error("emulated device: download from " + label(t) + ", which is not in device memory");
  open(*r);
  std::memcpy(host, t->data, bytes);
  close(*r);
  stats_.download(bytes);
}

void EmulatedBackend::fill_device(void* dst, int byte, size_t bytes) {
  const Region* r = region_of(dst);
  if (!r) throw Error("emulated device: fill_device outside device memory");
  open(*r);
  std::memset(dst, byte, bytes);
  close(*r);
}

void EmulatedBackend::copy_from_device(void* host, const void* src, size_t bytes) {
  const Region* r = region_of(src);
  if (!r) throw Error("emulated device: copy_from_device outside device memory");
  open(*r);
  std::memcpy(host, src, bytes);
  close(*r);
}

void* EmulatedBackend::device_data(const Tensor* t) {
  if (!t->data || region_of(t->data)) return t->data;
  return weights_.device_address(t, "emulated device", stats_, [&](const char* host, size_t bytes) {
    void* dev = weight_pool_.alloc(bytes, [&](size_t size) { return static_cast<void*>(map_region(size).base); });
    const Region& c = *region_of(dev);
    open(c);
    std::memcpy(dev, host, bytes);
    close(c);
    return dev;
  });
}

void EmulatedBackend::compute(Tensor* node) {
  if (!region_of(node->data) && node->numel() > 0)
    throw Error("emulated device: " + label(node) + " has no device memory; plan the graph on this backend first");
  // The kernels read src[i]->data: point host weights at their device copies for this node only.
  void* saved[4] = {};
  std::vector<const Region*> opened;
  auto open_once = [&](const void* p) {
    const Region* r = region_of(p);
    if (!r) return;
    for (const Region* o : opened)
      if (o == r) return;
    open(*r);
    opened.push_back(r);
  };
  for (int i = 0; i < 4; ++i) {
    Tensor* s = node->src[i];
    if (!s) continue;
    saved[i] = s->data;
    s->data = device_data(s);
  }
  // Several sources may be one tensor: restore only after all swaps (saved[] holds the host address).
  for (int i = 0; i < 4; ++i)
    if (node->src[i]) open_once(node->src[i]->data);
  open_once(node->data);
  try {
    cpu_.compute(node);
  } catch (...) {
    for (const Region* r : opened) close(*r);
    for (int i = 3; i >= 0; --i)
      if (node->src[i]) node->src[i]->data = saved[i];
    throw;
  }
  for (const Region* r : opened) close(*r);
  for (int i = 3; i >= 0; --i)
    if (node->src[i]) node->src[i]->data = saved[i];
}

}  // namespace sd::emulated
