#include "graph.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <map>
#include <optional>
#include <unordered_map>
#include <unordered_set>

#include "error.h"

namespace sd {

void Backend::upload(Tensor* t, const void* host, size_t bytes) { std::memcpy(t->data, host, bytes); }
void Backend::download(const Tensor* t, void* host, size_t bytes) { std::memcpy(host, t->data, bytes); }

Graph::Graph(Backend& backend, std::vector<Tensor*> outputs) : backend_(backend), outputs_(std::move(outputs)) {
  // Iterative DFS so deep graphs (SDXL has thousands of nodes) cannot overflow the stack.
  std::unordered_set<Tensor*> visited;
  std::vector<std::pair<Tensor*, int>> stack;
  for (Tensor* out : outputs_) {
    out->is_output = true;
    if (visited.count(out)) continue;
    stack.push_back({out, 0});
    visited.insert(out);
    while (!stack.empty()) {
      auto& [t, next] = stack.back();
      if (next < 4) {
        Tensor* s = t->src[next++];
        if (s && !visited.count(s)) {
          visited.insert(s);
          stack.push_back({s, 0});
        }
        continue;
      }
      nodes_.push_back(t);
      stack.pop_back();
    }
  }
}

Graph::~Graph() {
  if (arena_) backend_.free(arena_);
}

Tensor* Graph::find(const std::string& name) const {
  for (Tensor* t : nodes_)
    if (t->name == name) return t;
  return nullptr;
}

size_t Graph::layout(std::vector<std::pair<Tensor*, size_t>>* offsets, std::vector<std::pair<Tensor*, size_t>>* workspaces) const {
  constexpr size_t kAlign = 64;
  // Which tensors need arena memory: computed nodes that are not views, and data-less leaves.
  auto needs_memory = [](Tensor* t) { return !t->is_view() && (t->op != Op::None || t->data == nullptr); };
  std::unordered_map<Tensor*, size_t> index;
  for (size_t i = 0; i < nodes_.size(); ++i) index[nodes_[i]] = i;
  // Last step at which each storage is read: a read through a view is a read of its storage.
  std::unordered_map<Tensor*, size_t> last_use;
  for (size_t i = 0; i < nodes_.size(); ++i) {
    Tensor* t = nodes_[i];
    for (Tensor* s : t->src)
      if (s) last_use[s->storage()] = std::max(last_use[s->storage()], i);
    if (t->is_output) last_use[t->storage()] = nodes_.size();
  }
  struct Block { size_t offset, size; };
  std::vector<Block> free_list;  // sorted by offset
  std::unordered_map<Tensor*, Block> placed;
  size_t top = 0;
  auto allocate = [&](size_t size) -> size_t {
    size = (size + kAlign - 1) / kAlign * kAlign;
    size_t best = SIZE_MAX, best_i = 0;
    for (size_t i = 0; i < free_list.size(); ++i)
      if (free_list[i].size >= size && free_list[i].size < best) { best = free_list[i].size; best_i = i; }
    if (best != SIZE_MAX) {
      Block& b = free_list[best_i];
      size_t off = b.offset;
      b.offset += size;
      b.size -= size;
      if (b.size == 0) free_list.erase(free_list.begin() + long(best_i));
      return off;
    }
    // Grow: if the last free block ends at top, extend it.
    if (!free_list.empty() && free_list.back().offset + free_list.back().size == top) {
      size_t off = free_list.back().offset;
      top = off + size;
      free_list.pop_back();
      return off;
    }
    size_t off = top;
    top += size;
    return off;
  };
  auto release = [&](Block b) {
    b.size = (b.size + kAlign - 1) / kAlign * kAlign;
    auto it = std::lower_bound(free_list.begin(), free_list.end(), b.offset, [](const Block& x, size_t off) { return x.offset < off; });
    it = free_list.insert(it, b);
    // merge with neighbours
    if (it + 1 != free_list.end() && it->offset + it->size == (it + 1)->offset) {
      it->size += (it + 1)->size;
      free_list.erase(it + 1);
    }
    if (it != free_list.begin() && (it - 1)->offset + (it - 1)->size == it->offset) {
      (it - 1)->size += it->size;
      free_list.erase(it);
    }
  };
  std::map<size_t, std::vector<Tensor*>> expiring;  // step -> storages whose last reader is that step
  for (auto& [t, step] : last_use) expiring[step].push_back(t);
  // Inputs are written before compute() starts and may be reused by later computes (a
  // timestep written once), so they get memory of their own for the graph's lifetime.
  for (Tensor* t : nodes_)
    if (t->op == Op::None && needs_memory(t)) placed[t] = Block{allocate(t->nbytes()), t->nbytes()};
  for (size_t i = 0; i < nodes_.size(); ++i) {
    Tensor* t = nodes_[i];
    if (needs_memory(t) && t->op != Op::None) {
      Block b{allocate(t->nbytes()), t->nbytes()};
      placed[t] = b;
    }
    // The node's scratch, beside its inputs and output, free again once it has run.
    const size_t ws = t->op != Op::None && !t->is_view() ? backend_.workspace_bytes(t) : 0;
    std::optional<Block> scratch;
    if (ws) {
      scratch = Block{allocate(ws), ws};
      if (workspaces) workspaces->push_back({t, scratch->offset});
    }
    // Free storages whose last reader was this node (not before: an op may not write over its input).
    auto it = expiring.find(i);
    if (it != expiring.end())
      for (Tensor* s : it->second) {
        auto p = placed.find(s);
        if (p != placed.end() && !s->is_output && s->op != Op::None) release(p->second);
      }
    if (scratch) release(*scratch);
    // A node nobody reads is dead after it runs (unless it is an output).
    if (needs_memory(t) && t->op != Op::None && !last_use.count(t) && !t->is_output) release(placed[t]);
  }
  if (offsets)
    for (auto& [t, b] : placed) offsets->push_back({t, b.offset});
  return top;
}

size_t Graph::measure() const { return layout(nullptr, nullptr); }

void Graph::plan() {
  std::vector<std::pair<Tensor*, size_t>> offsets, workspaces;
  const size_t top = layout(&offsets, &workspaces);
  if (arena_) backend_.free(arena_);
  arena_bytes_ = top;
  arena_ = top ? backend_.alloc(top) : nullptr;
  if (top && !arena_) throw Error("out of memory: the graph needs " + std::to_string(top >> 20) + " MiB of activations");
  for (auto& [t, off] : offsets) t->data = static_cast<char*>(arena_) + off;
  for (Tensor* t : nodes_) t->workspace = nullptr;
  for (auto& [t, off] : workspaces) t->workspace = static_cast<char*>(arena_) + off;
  for (Tensor* t : nodes_)
    if (t->is_view()) {
      Tensor* s = t->view_src;
      t->data = static_cast<char*>(s->data) + t->view_offset * int64_t(dtype_size(s->dtype));
    }
  planned_ = true;
}

void Graph::compute() {
  if (!planned_) plan();
  for (Tensor* t : nodes_) {
    if (t->op == Op::None || t->is_view()) continue;
    if (profile_) {
      auto t0 = std::chrono::steady_clock::now();
      backend_.compute(t);
      profile_->seconds[size_t(t->op)] += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      profile_->calls[size_t(t->op)] += 1;
    } else {
      backend_.compute(t);
    }
    if (observer_ && !observer_(t)) return;
  }
}

}  // namespace sd

namespace sd {

std::string Graph::Profile::report() const {
  double total = 0;
  for (double s : seconds) total += s;
  std::string out;
  char line[160];
  for (size_t i = 0; i < size_t(Op::Count); ++i) {
    if (!calls[i]) continue;
    std::snprintf(line, sizeof line, "  %-20s %8.3f s %5.1f%% %6lld calls\n", op_name(Op(i)), seconds[i], total > 0 ? 100 * seconds[i] / total : 0.0, (long long)calls[i]);
    out += line;
  }
  std::snprintf(line, sizeof line, "  %-20s %8.3f s\n", "total", total);
  return out + line;
}

}  // namespace sd
