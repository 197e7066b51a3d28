// The interface a compute device implements. Model code never sees it: a Graph hands each
// node to its backend in order. The CPU backend is in cpu/, CUDA slots in the same way.
#pragma once
#include <cstddef>
#include <cstdint>
#include <mutex>
#include <string>

#include "tensor.h"

namespace sd {

// Host <-> device traffic since the backend was made: what a test checks to prove that weights
// go up once and that only previews and results come down.
struct TransferStats {
  int64_t uploads = 0, upload_bytes = 0;      // upload() calls (inputs)
  int64_t downloads = 0, download_bytes = 0;  // download() calls (results, previews)
  int64_t weight_uploads = 0, weight_bytes = 0;  // weights copied to the device on first use
};

// A device backend's TransferStats: a generate() counts on its worker thread while the addon's
// transfers() reads on the JS thread, so both take the lock (a read never sees a count without
// its bytes, and no increment is lost).
class TransferCounter {
 public:
  void upload(size_t bytes) { add(&TransferStats::uploads, &TransferStats::upload_bytes, bytes); }
  void download(size_t bytes) { add(&TransferStats::downloads, &TransferStats::download_bytes, bytes); }
  void weight(size_t bytes) { add(&TransferStats::weight_uploads, &TransferStats::weight_bytes, bytes); }
  TransferStats snapshot() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return stats_;
  }

 private:
  void add(int64_t TransferStats::*count, int64_t TransferStats::*total, size_t bytes) {
    std::lock_guard<std::mutex> lock(mutex_);
    stats_.*count += 1;
    stats_.*total += int64_t(bytes);
  }
  mutable std::mutex mutex_;
  TransferStats stats_;
};

class Backend {
 public:
  virtual ~Backend() = default;
  virtual std::string name() const = 0;
  // Memory the graph's activations live in. Host-visible for the CPU backend.
  virtual void* alloc(size_t bytes) = 0;
  virtual void free(void* ptr) = 0;
  // Scratch bytes compute(node) wants (0: none): the graph places it in its arena, live only
  // while the node runs (node->workspace), so it reuses memory that other activations free.
  virtual size_t workspace_bytes(const Tensor* node) const { (void)node; return 0; }
  // Computes one node; sources are already computed, node->data is planned.
  virtual void compute(Tensor* node) = 0;
  // Copies between host memory and a tensor's storage (plain memcpy on the CPU).
  virtual void upload(Tensor* t, const void* host, size_t bytes);
  virtual void download(const Tensor* t, void* host, size_t bytes);
  // Weight memory [data, data + bytes) was freed or rewritten (an adapter set dropped, a weight
  // patched in place): anything derived from it and kept across calls must go (the CPU's
  // Winograd filters; a device's copies, kept by host address, so that a later allocation at
  // that address is not mistaken for the old weight).
  virtual void forget_weights(const void* data, size_t bytes) { (void)data, (void)bytes; }
  // Zero for backends that do not count (the CPU's copies are the memcpy the caller would do).
  virtual TransferStats transfers() const { return {}; }
};

}  // namespace sd
