// A Graph is the ordered list of nodes needed for some outputs. plan() assigns every
// non-leaf node a place in one arena, reusing memory of tensors whose last reader has run
// (liveness-based first fit); compute() runs the nodes on a backend. Plan once, run many times
// (e.g. the UNet for every sampler step with new inputs written into the same input tensors).
#pragma once
#include <functional>
#include <vector>

#include "backend.h"
#include "tensor.h"

namespace sd {

class Graph {
 public:
  Graph(Backend& backend, std::vector<Tensor*> outputs);
  ~Graph();
  Graph(const Graph&) = delete;
  Graph& operator=(const Graph&) = delete;

  // Leaves without data (inputs) get arena memory too; write them after plan().
  void plan();
  void compute();
  // Called after each node; return false to stop early (used by dumps and cancellation).
  void set_observer(std::function<bool(Tensor*)> observer) { observer_ = std::move(observer); }

  // Accumulates seconds and FLOP-free call counts per op kind when set (bench/profiling).
  struct Profile {
    double seconds[size_t(Op::Count)] = {};
    int64_t calls[size_t(Op::Count)] = {};
    std::string report() const;
  };
  void set_profile(Profile* profile) { profile_ = profile; }

  size_t arena_bytes() const { return arena_bytes_; }  // peak activation memory
  // The arena plan() would allocate, without allocating it: lets a caller choose a smaller graph
  // (VAE tiles) before a large one ever touches memory.
  size_t measure() const;
  const std::vector<Tensor*>& nodes() const { return nodes_; }
  Tensor* find(const std::string& name) const;

 private:
  // Liveness-based first-fit placement; returns the arena size and, if asked, each tensor's offset
  // and each node's workspace offset.
  size_t layout(std::vector<std::pair<Tensor*, size_t>>* offsets, std::vector<std::pair<Tensor*, size_t>>* workspaces) const;
  Backend& backend_;
  std::vector<Tensor*> outputs_;
  std::vector<Tensor*> nodes_;   // topological order, leaves included
  void* arena_ = nullptr;
  size_t arena_bytes_ = 0;
  bool planned_ = false;
  std::function<bool(Tensor*)> observer_;
  Profile* profile_ = nullptr;
};

}  // namespace sd
