#include "mapped_file.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "../core/error.h"

namespace sd::io {

std::string quote_path(const std::string& path) { return "\"" + path + "\""; }

namespace {

[[noreturn]] void fail_open(const std::string& path, int err) {
  std::string msg = quote_path(path) + ": cannot open the file: " + std::strerror(err);
  if (err == ENOENT || err == ENOTDIR)
    msg += "; check the path";
  else if (err == EACCES || err == EPERM)
    msg += "; check the file's permissions";
  throw Error(msg);
}

}  // namespace

MappedFile MappedFile::open(const std::string& path) {
  if (path.empty()) throw Error("\"\": cannot open the file: the path is empty; pass the path of a model file");
  // O_NONBLOCK: opening a FIFO must not hang; it has no effect on regular files.
  int fd;
  do {
    fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK);
  } while (fd < 0 && errno == EINTR);
  if (fd < 0) fail_open(path, errno);

  struct stat st;
  if (::fstat(fd, &st) != 0) {
    int err = errno;
    ::close(fd);
    throw Error(quote_path(path) + ": cannot read the file's size: " + std::strerror(err));
  }
  if (S_ISDIR(st.st_mode)) {
    ::close(fd);
    throw Error(quote_path(path) + ": is a directory, not a file; pass the path of the model file itself");
  }
  if (!S_ISREG(st.st_mode)) {
    ::close(fd);
    throw Error(quote_path(path) + ": is not a regular file (a device, pipe or socket); pass the path of a model file");
  }

  MappedFile m;
  if (st.st_size > 0) {
    if (uint64_t(st.st_size) > uint64_t(SIZE_MAX)) {
      ::close(fd);
      throw Error(quote_path(path) + ": the file is too large to map on this system (" +
                  std::to_string(st.st_size) + " bytes)");
    }
    size_t size = size_t(st.st_size);
    void* addr = ::mmap(nullptr, size, PROT_READ, MAP_PRIVATE, fd, 0);
    if (addr == MAP_FAILED) {
      int err = errno;
      ::close(fd);
      throw Error(quote_path(path) + ": cannot map the file into memory: " + std::strerror(err));
    }
    m.addr_ = addr;
    m.size_ = size;
  }
  ::close(fd);  // the mapping keeps the file alive
  return m;
}

void MappedFile::unmap(void* addr, size_t size) {
  if (addr && size) ::munmap(addr, size);
}

MappedFile::MappedFile(MappedFile&& o) noexcept : addr_(o.addr_), size_(o.size_) {
  o.addr_ = nullptr;
  o.size_ = 0;
}

MappedFile& MappedFile::operator=(MappedFile&& o) noexcept {
  if (this != &o) {
    unmap(addr_, size_);
    addr_ = o.addr_;
    size_ = o.size_;
    o.addr_ = nullptr;
    o.size_ = 0;
  }
  return *this;
}

MappedFile::~MappedFile() { unmap(addr_, size_); }

void* MappedFile::release() {
  void* a = addr_;
  addr_ = nullptr;
  size_ = 0;
  return a;
}

}  // namespace sd::io
