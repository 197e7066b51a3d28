// What a device backend (CUDA, the emulated device) needs to know of a host tensor it meets in a
// graph: the weight leaf whose storage it views, to copy up once and keep by host address.
#pragma once
#include <cstddef>
#include <functional>
#include <string>
#include <unordered_map>
#include <utility>

#include "backend.h"
#include "error.h"
#include "tensor.h"

namespace sd {

inline std::string tensor_label(const Tensor* t) { return (t->name.empty() ? std::string("<unnamed>") : t->name) + " " + t->shape_str(); }

// Anything in host memory other than a weight means the graph was planned on another backend.
inline const Tensor& host_weight_leaf(const Tensor* t, const char* backend) {
  const Tensor* s = t;
  while (s->view_src) s = s->view_src;
  if (s->op != Op::None || !s->data)
    throw Error(std::string(backend) + ": " + tensor_label(t) + " is in host memory but is not a weight; was its graph planned on another backend?");
  return *s;
}

// Device copies of weights, kept by their host storage address: each goes up once, counted in
// `stats`; a view of a weight maps to the same offset in the copy. A copy that is dropped (forgotten,
// or outgrown by new storage at its address) goes back through `release`, so its space is reused.
class WeightCopies {
 public:
  struct Copy {
    void* dev;
    size_t bytes;
  };
  using Release = std::function<void(const void* host, void* dev, size_t bytes)>;
  explicit WeightCopies(Release release) : release_(std::move(release)) {}
  // upload(host, bytes) makes the device copy and returns its address.
  template <typename Upload>
  void* device_address(const Tensor* t, const char* backend, TransferCounter& stats, Upload&& upload) {
    const Tensor& leaf = host_weight_leaf(t, backend);
    const char* host = static_cast<const char*>(leaf.data);
    const size_t bytes = leaf.nbytes();
    auto it = copies_.find(host);
    void* dev;
    if (it != copies_.end() && it->second.bytes >= bytes) {
      dev = it->second.dev;
    } else {
      if (it != copies_.end()) {
        release_(host, it->second.dev, it->second.bytes);
        copies_.erase(it);
      }
      dev = upload(host, bytes);
      copies_[host] = {dev, bytes};
      stats.weight(bytes);
    }
    const ptrdiff_t off = static_cast<const char*>(t->data) - host;
    if (off < 0 || size_t(off) > bytes || (size_t(off) == bytes && t->numel() > 0)) throw Error(std::string(backend) + ": view " + tensor_label(t) + " points outside its storage " + tensor_label(&leaf));
    return static_cast<char*>(dev) + off;
  }
  // Drops the copy made from `host` and releases its space; returns its size (0: there was none).
  size_t forget(const void* host) {
    auto it = copies_.find(host);
    if (it == copies_.end()) return 0;
    const size_t bytes = it->second.bytes;
    release_(host, it->second.dev, bytes);
    copies_.erase(it);
    return bytes;
  }
  // Drops every copy without releasing any (the caller frees the memory they live in wholesale).
  void clear() { copies_.clear(); }

 private:
  Release release_;
  std::unordered_map<const void*, Copy> copies_;
};

}  // namespace sd
