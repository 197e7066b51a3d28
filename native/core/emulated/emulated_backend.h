// A device backend for tests on machines without a GPU: the CPU kernels compute, but every
// graph arena and every weight copy lives in "device" memory that the host cannot touch. The
// pages are mapped PROT_NONE and opened only while a node computes, so runtime code that reads
// or writes tensor data through host pointers instead of upload()/download() faults at once,
// just as it would read garbage on a GPU. Weights are copied up on first use (kept in their
// stored dtype) and cached by host address, as the CUDA backend does, and every transfer is
// counted (transfers()).
//
//   sd::emulated::EmulatedBackend dev;      // reachable from JS as loadModel's device 'emulated'
//   sd::Graph g(dev, {out});
//   g.plan();                               // the arena is device memory
//   dev.upload(input, host, bytes);         // the only way in
//   g.compute();
//   dev.download(out, host, bytes);         // the only way out
#pragma once
#include <map>
#include <unordered_map>
#include <vector>

#include "../backend.h"
#include "../block_pool.h"
#include "../device_weights.h"
#include "../cpu/cpu_backend.h"

namespace sd::emulated {

class EmulatedBackend : public Backend {
 public:
  explicit EmulatedBackend(const cpu::CpuOptions& options = {});
  ~EmulatedBackend() override;
  EmulatedBackend(const EmulatedBackend&) = delete;
  EmulatedBackend& operator=(const EmulatedBackend&) = delete;

  std::string name() const override { return "emulated/" + cpu_.name(); }
  void* alloc(size_t bytes) override;
  void free(void* ptr) override;
  void compute(Tensor* node) override;
  void upload(Tensor* t, const void* host, size_t bytes) override;
  void download(const Tensor* t, void* host, size_t bytes) override;
  TransferStats transfers() const override { return stats_.snapshot(); }
  void forget_weights(const void* data, size_t) override { weights_.forget(data); }  // its space is reused

  bool is_device_pointer(const void* p) const { return region_of(p) != nullptr; }
  size_t weight_bytes() const { return weight_pool_.used_bytes(); }  // held by weight copies (aligned blocks)
  size_t device_bytes() const;                                        // mapped: arenas and weight chunks
  // Raw device memory access for tests (guard bytes around arenas), as CudaBackend has; uncounted.
  void fill_device(void* dst, int byte, size_t bytes);
  void copy_from_device(void* host, const void* src, size_t bytes);

 private:
  struct Region {
    char* base;
    size_t size;
  };
  const Region* region_of(const void* p) const;
  Region map_region(size_t bytes);
  // Device address of a source: device data as is, host weights (and views of them) uploaded once.
  void* device_data(const Tensor* t);
  void open(const Region& r) const;   // readable and writable while a node computes
  void close(const Region& r) const;  // no access again

  cpu::CpuBackend cpu_;
  std::map<uintptr_t, Region> regions_;  // arenas and weight chunks, by base address
  BlockPool weight_pool_;                // carved from chunks that regions_ holds too
  WeightCopies weights_;
  TransferCounter stats_;  // written by a generate()'s thread, read by the addon's
};

}  // namespace sd::emulated
