// Reading and writing .safetensors files. Reading maps the file and validates the whole header
// before any tensor is handed out: header length bounded, JSON well formed, dtypes known,
// byte ranges inside the data section, non-overlapping and equal to dtype size × shape.
// Tensor data is used in place from the mapping (zero copy).
#pragma once
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "../core/dtype.h"

namespace sd::io {

struct TensorInfo {
  std::string name;
  DType dtype = DType::F32;
  std::vector<int64_t> shape;    // outermost first, as PyTorch writes it
  const uint8_t* data = nullptr; // inside the mapping; aligned as the file aligns it
  size_t nbytes = 0;
  int64_t numel() const;
};

class SafetensorsFile {
 public:
  // Throws sd::Error naming the file (and the tensor, where one is at fault) on any defect.
  static std::unique_ptr<SafetensorsFile> open(const std::string& path);
  // The same validation over bytes the caller holds (and keeps alive while the result is used);
  // `name` stands in for the path in messages. For fuzzing and embedded data.
  static std::unique_ptr<SafetensorsFile> from_memory(const std::string& name, const uint8_t* bytes, size_t size);
  ~SafetensorsFile();
  SafetensorsFile(const SafetensorsFile&) = delete;
  SafetensorsFile& operator=(const SafetensorsFile&) = delete;

  const std::string& path() const { return path_; }
  const std::vector<TensorInfo>& tensors() const { return tensors_; }
  const TensorInfo* find(const std::string& name) const;  // nullptr if absent
  const std::map<std::string, std::string>& metadata() const { return metadata_; }
  size_t file_size() const { return size_; }
  // Drops the resident pages of every tensor whose name starts with prefix (they are re-read
  // from the page cache if used again). Keeps peak RSS to the stage that runs: text encoder,
  // then UNet, then VAE.
  void release_pages(const std::string& prefix) const;

 private:
  SafetensorsFile() = default;
  std::string path_;
  void* map_ = nullptr;
  size_t size_ = 0;
  std::vector<TensorInfo> tensors_;
  std::map<std::string, size_t> index_;
  std::map<std::string, std::string> metadata_;
};

struct TensorToWrite {
  std::string name;
  DType dtype = DType::F32;
  std::vector<int64_t> shape;
  const void* data = nullptr;    // dtype_size × numel bytes
};

// Writes atomically (temp file + rename); throws sd::Error on I/O failure.
void write_safetensors(const std::string& path, const std::vector<TensorToWrite>& tensors,
                       const std::map<std::string, std::string>& metadata = {});

}  // namespace sd::io
