// Device memory for weight copies: aligned blocks carved from large chunks that the backend maps
// (cudaMalloc, mmap). A block given back joins a free list (merged with free neighbours in its
// chunk) that later blocks are carved from first, so evicted LoRA sets make room for the next set
// instead of growing device memory by a set per switch.
//
//   BlockPool pool(256 << 20, 256);
//   void* p = pool.alloc(bytes, [&](size_t size) { return map_chunk(size); });  // a chunk only when nothing free fits
//   pool.release(p);                                                            // p's space is reusable
#pragma once
#include <cstddef>
#include <cstdint>
#include <iterator>
#include <map>
#include <unordered_map>
#include <vector>

namespace sd {

class BlockPool {
 public:
  struct Chunk {
    char* base;
    size_t size;
  };

  BlockPool(size_t chunk_bytes, size_t align) : chunk_bytes_(chunk_bytes), align_(align) {}

  // A block of at least `bytes`; new_chunk(size) maps a chunk of `size` bytes when no free range fits.
  template <typename NewChunk>
  void* alloc(size_t bytes, NewChunk&& new_chunk) {
    const size_t need = round(bytes);
    auto fit = free_.begin();
    while (fit != free_.end() && fit->second.size < need) ++fit;
    if (fit == free_.end()) {
      const size_t size = need > chunk_bytes_ ? need : chunk_bytes_;
      char* base = static_cast<char*>(new_chunk(size));
      chunks_.push_back({base, size});
      fit = free_.emplace(reinterpret_cast<uintptr_t>(base), Range{size, chunks_.size() - 1}).first;
    }
    const uintptr_t at = fit->first;
    const Range r = fit->second;
    free_.erase(fit);
    if (r.size > need) free_.emplace(at + need, Range{r.size - need, r.chunk});
    used_[at] = Range{need, r.chunk};
    in_use_ += need;
    return reinterpret_cast<void*>(at);
  }

  // Gives back a block from alloc(); returns its (aligned) size, 0 for an address that is no block.
  // The caller makes sure nothing still reads it (CUDA: work queued on the one stream is ordered
  // before any later copy into the same space).
  size_t release(const void* p) {
    auto it = used_.find(reinterpret_cast<uintptr_t>(p));
    if (it == used_.end()) return 0;
    uintptr_t at = it->first;
    Range r = it->second;
    const size_t bytes = r.size;
    used_.erase(it);
    in_use_ -= bytes;
    // Merge with the free neighbours of the same chunk (chunks may sit back to back in memory,
    // but a block must never span two).
    auto next = free_.lower_bound(at);
    if (next != free_.end() && next->first == at + r.size && next->second.chunk == r.chunk) {
      r.size += next->second.size;
      next = free_.erase(next);
    }
    if (next != free_.begin()) {
      auto prev = std::prev(next);
      if (prev->first + prev->second.size == at && prev->second.chunk == r.chunk) {
        at = prev->first;
        r.size += prev->second.size;
        free_.erase(prev);
      }
    }
    free_.emplace(at, r);
    return bytes;
  }

  size_t used_bytes() const { return in_use_; }  // in live blocks
  size_t mapped_bytes() const {                  // in chunks, free or not
    size_t n = 0;
    for (const Chunk& c : chunks_) n += c.size;
    return n;
  }
  const std::vector<Chunk>& chunks() const { return chunks_; }
  // Forgets every chunk and block; the caller unmaps the chunks (chunks()) first.
  void clear() {
    chunks_.clear();
    free_.clear();
    used_.clear();
    in_use_ = 0;
  }

 private:
  struct Range {
    size_t size;
    size_t chunk;  // index in chunks_
  };
  size_t round(size_t bytes) const { return ((bytes > 0 ? bytes : 1) + align_ - 1) / align_ * align_; }

  size_t chunk_bytes_, align_;
  std::vector<Chunk> chunks_;
  std::map<uintptr_t, Range> free_;             // free ranges by address, first fit
  std::unordered_map<uintptr_t, Range> used_;  // live blocks by address
  size_t in_use_ = 0;
};

}  // namespace sd
