// Checkpoint tensors as graph leaves, looked up by their checkpoint key. Data stays in the
// mapped file (zero copy); a missing or mis-shaped tensor is a clear error naming the key.
#pragma once
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "core/context.h"
#include "io/safetensors.h"

namespace sd::model {

class Weights {
 public:
  Weights(std::shared_ptr<const io::SafetensorsFile> file, std::shared_ptr<Context> ctx, std::string prefix = "");

  // The weights under prefix + sub_prefix (e.g. "input_blocks.1.0.").
  Weights sub(const std::string& sub_prefix) const;
  bool has(const std::string& key) const;
  Tensor* get(const std::string& key) const;          // throws if absent
  Tensor* opt(const std::string& key) const;          // nullptr if absent
  // Throws unless the tensor's shape is exactly `shape`.
  Tensor* get(const std::string& key, std::initializer_list<int64_t> shape) const;
  const std::string& prefix() const { return prefix_; }
  const io::SafetensorsFile& file() const { return *file_; }
  // Largest N for which prefix + before + N + after exists, or -1 (counts layers, blocks).
  int max_index(const std::string& before, const std::string& after) const;

 private:
  struct Shared {
    std::map<std::string, Tensor*> leaves;
  };
  std::shared_ptr<const io::SafetensorsFile> file_;
  std::shared_ptr<Context> ctx_;
  std::shared_ptr<Shared> shared_;
  std::string prefix_;
};

}  // namespace sd::model
