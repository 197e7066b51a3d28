// A read-only memory mapping of a whole file (POSIX mmap, MAP_PRIVATE). The descriptor is closed
// as soon as the mapping exists; the mapping lives until the object is destroyed or release()d.
//
//   auto m = sd::io::MappedFile::open(path);   // throws sd::Error: missing, directory, unreadable…
//   const uint8_t* p = m.data(); size_t n = m.size();
//
// An empty file gives data() == nullptr, size() == 0 (mmap cannot map zero bytes).
// If another process truncates the file while it is mapped, reads past the new end raise SIGBUS:
// callers map files they own (model files), the same trade-off every mmap loader makes.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>

namespace sd::io {

class MappedFile {
 public:
  static MappedFile open(const std::string& path);
  static void unmap(void* addr, size_t size);  // for owners that took the mapping with release()

  MappedFile() = default;
  MappedFile(MappedFile&& o) noexcept;
  MappedFile& operator=(MappedFile&& o) noexcept;
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;
  ~MappedFile();

  const uint8_t* data() const { return static_cast<const uint8_t*>(addr_); }
  size_t size() const { return size_; }
  // Gives up ownership: the caller must later call MappedFile::unmap(addr, size).
  void* release();

 private:
  void* addr_ = nullptr;
  size_t size_ = 0;
};

// `"path"` for messages (the path in double quotes, as every io error starts).
std::string quote_path(const std::string& path);

}  // namespace sd::io
