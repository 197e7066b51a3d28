// LoRA / LyCORIS sets applied per request. The checkpoint's weights stay as mapped: a set is merged
// into copies of only the tensors it changes (in their own dtype), the leaves are pointed at the
// copies, and pointed back to restore the base. Merged sets are kept (least recently used first
// out, within a byte budget), so a request with the set of the one before costs nothing.
//
//   AdapterSets sets(checkpoint, [&](const std::string& key) { return weights.get(key); }, 1 << 30);
//   sets.activate({{"/loras/ink.safetensors", 0.8f, 0.8f}});   // merge (or reuse) and point the leaves
//   sets.activate({});                                            // the base weights again
#pragma once
#include <cstdint>
#include <functional>
#include <list>
#include <map>
#include <string>
#include <vector>

#include "adapter_keys.h"
#include "adapter_math.h"
#include "adapter_request.h"
#include "core/tensor.h"

namespace sd::adapters {

// One file's modules, resolved against the checkpoint (f32 copies of the adapter's tensors).
struct AdapterFile {
  std::vector<std::pair<Target, AdapterModule>> modules;
  std::vector<std::string> names;               // each module's stem, for errors
  int unmatched = 0;
  std::vector<std::string> unmatched_examples;  // a few stems, for the error when nothing matched
};
// Throws sd::Error for a file that is not a safetensors adapter, is damaged, or matches nothing.
AdapterFile read_adapter_file(const std::string& path, const CheckpointIndex& index);

class AdapterSets {
 public:
  using LeafOf = std::function<Tensor*(const std::string& key)>;
  // Called with each merged copy's bytes just before they are freed (a set evicted), so a backend
  // can drop what it derived from them (Backend::forget_weights): the allocator may hand the
  // same addresses to the next set's copies.
  using OnFree = std::function<void(const void* data, size_t bytes)>;
  // threads: for merging (0: all hardware threads).
  AdapterSets(const io::SafetensorsFile& checkpoint, LeafOf leaf_of, size_t cache_bytes, unsigned threads = 0, OnFree on_free = {});
  ~AdapterSets();
  AdapterSets(const AdapterSets&) = delete;
  AdapterSets& operator=(const AdapterSets&) = delete;

  // Makes `set` the active one; an empty set restores the base weights. On error the base is active.
  AdapterReport activate(const std::vector<AdapterRequest>& set);
  size_t cached_bytes() const;

 private:
  struct Merged {
    std::string key;
    std::vector<std::pair<Tensor*, std::vector<uint8_t>>> tensors;
    AdapterReport report;
  };
  Merged merge(const std::vector<AdapterRequest>& set, const std::string& key) const;
  void restore_base();
  void evict_beyond_budget();

  CheckpointIndex index_;
  LeafOf leaf_of_;
  OnFree on_free_;
  size_t budget_;
  unsigned threads_;
  std::list<Merged> cache_;              // most recently used first
  std::map<Tensor*, void*> base_data_;   // leaves pointed at a copy -> their mapped data
  std::string active_;                   // key of the active set ("" = base)
};

}  // namespace sd::adapters
