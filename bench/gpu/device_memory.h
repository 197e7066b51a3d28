// Peak device memory of a run, for bench/gpu/gpu_bench.cpp. The pipeline does not expose its
// backend, and the CUDA backend frees each graph's arena after the graph, so the peak is sampled:
// a thread reads the device's used bytes (cudaMemGetInfo through cuda_device_info) every 25 ms
// (the UNet's arena lives for the whole sampling loop, the VAE's for the decode: far longer).
// It is device-wide (the CUDA context included), which on a machine lent to one run is this
// process. Without CUDA there is no device to sample: available() is false.
#pragma once
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <thread>

#ifdef SD_WITH_CUDA
#include "core/cuda/cuda_backend.h"
#endif

namespace gpu_bench {

class DeviceMemoryPeak {
 public:
  explicit DeviceMemoryPeak(bool cuda) {
#ifdef SD_WITH_CUDA
    if (!cuda) return;
    at_start_ = used();
    peak_ = at_start_;
    thread_ = std::thread([this] {
      while (!stop_) {
        const size_t u = used();
        size_t p = peak_;
        while (u > p && !peak_.compare_exchange_weak(p, u)) {}
        std::this_thread::sleep_for(std::chrono::milliseconds(25));
      }
    });
#else
    (void)cuda;
#endif
  }
  ~DeviceMemoryPeak() {
    stop_ = true;
    if (thread_.joinable()) thread_.join();
  }
  DeviceMemoryPeak(const DeviceMemoryPeak&) = delete;
  DeviceMemoryPeak& operator=(const DeviceMemoryPeak&) = delete;

  bool available() const { return thread_.joinable(); }
  size_t at_start_bytes() const { return at_start_; }  // used when made (the CUDA context, other processes)
  size_t peak_bytes() const { return peak_; }           // largest used since the last reset
  void reset() { peak_ = at_start_; }

 private:
#ifdef SD_WITH_CUDA
  // 0 when the query fails: an exception would end the process from this thread, and a run
  // whose device fails says so itself.
  static size_t used() {
    try {
      const sd::cuda::DeviceInfo d = sd::cuda::cuda_device_info(0);
      return d.total_bytes - std::min(d.free_bytes, d.total_bytes);
    } catch (...) {
      return 0;
    }
  }
#endif
  size_t at_start_ = 0;
  std::atomic<size_t> peak_{0};
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

}  // namespace gpu_bench
