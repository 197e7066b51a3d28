// Safetensors: 8-byte little-endian header length N, N bytes of UTF-8 JSON, then the data section.
//
// open() validates everything before it returns (see safetensors.h); what it accepts, beyond the
// format's own rules:
//   - gaps between tensors and bytes after the last one are allowed (the reference reader demands
//     a gapless data section; we only demand that ranges are inside it and do not overlap);
//   - unknown keys inside a tensor entry are skipped (the reference reader ignores them too);
//   - dtypes: F32, F16, BF16, I32, I64 load. Every other dtype of the format (F64, I8, U8, I16,
//     U16, U32, U64, BOOL, F8_E4M3, F8_E5M2, …) is recognised and rejected with
//     "unsupported dtype X for tensor Y", after the rest of the header has been checked, so a
//     corrupt file is reported as corrupt first. SD 1.x/2.x/XL checkpoints use none of them.
// Structural errors come first in file order: the first bad tensor in the header is the one named.
#include "safetensors.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "../core/error.h"
#include "json.h"
#include "mapped_file.h"

namespace sd::io {

namespace {

constexpr uint64_t kMaxHeader = 100'000'000;  // the format's own limit (100 MB)
constexpr size_t kMaxRank = 8;

struct DTypeName {
  const char* name;
  bool supported;
  DType dtype;    // when supported
  unsigned bits;  // element size in bits (0: sub-byte packing we do not size-check)
};

const DTypeName kDTypes[] = {
    {"F32", true, DType::F32, 32},      {"F16", true, DType::F16, 16},
    {"BF16", true, DType::BF16, 16},    {"I32", true, DType::I32, 32},
    {"I64", true, DType::I64, 64},      {"F64", false, DType::F32, 64},
    {"I8", false, DType::F32, 8},       {"U8", false, DType::F32, 8},
    {"I16", false, DType::F32, 16},     {"U16", false, DType::F32, 16},
    {"U32", false, DType::F32, 32},     {"U64", false, DType::F32, 64},
    {"BOOL", false, DType::F32, 8},     {"F8_E4M3", false, DType::F32, 8},
    {"F8_E5M2", false, DType::F32, 8},  {"F8_E8M0", false, DType::F32, 8},
    {"C64", false, DType::F32, 64},     {"F4", false, DType::F32, 0},
    {"F6_E2M3", false, DType::F32, 0},  {"F6_E3M2", false, DType::F32, 0},
};

const DTypeName* find_dtype(const std::string& s) {
  for (const auto& d : kDTypes)
    if (s == d.name) return &d;
  return nullptr;
}

const char* file_dtype_name(DType t) {
  switch (t) {
    case DType::F32: return "F32";
    case DType::F16: return "F16";
    case DType::BF16: return "BF16";
    case DType::I32: return "I32";
    case DType::I64: return "I64";
  }
  return "?";
}

// A name or value from the header, quoted for a message: JSON escapes, cut at ~120 bytes.
std::string q(const std::string& s) {
  std::string out;
  if (s.size() <= 120) {
    json::append_quoted(out, s);
    return out;
  }
  size_t cut = 120;
  while (cut > 0 && (static_cast<unsigned char>(s[cut]) & 0xC0) == 0x80) --cut;  // UTF-8 boundary
  json::append_quoted(out, s.substr(0, cut));
  out.insert(out.size() - 1, "...");
  return out;
}

std::string range(uint64_t b, uint64_t e) {
  return "[" + std::to_string(b) + ", " + std::to_string(e) + ")";
}

std::string shape_str(const std::vector<int64_t>& shape) {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); ++i) s += (i ? ", " : "") + std::to_string(shape[i]);
  return s + "]";
}

// What a file that is not safetensors looks like, to turn "bad header length" into advice.
std::string sniff(const uint8_t* p, size_t n) {
  if (n >= 4 && std::memcmp(p, "PK\x03\x04", 4) == 0)
    return " (it is a zip archive, as PyTorch .ckpt/.pt files are; convert it to .safetensors first)";
  if (n >= 2 && p[0] == 0x80 && p[1] >= 2 && p[1] <= 5)
    return " (it looks like a pickled PyTorch checkpoint; convert it to .safetensors first)";
  if (n >= 4 && std::memcmp(p, "GGUF", 4) == 0) return " (it is a GGUF file, not safetensors)";
  if (n >= 1 && (p[0] == '<' || p[0] == '{'))
    return " (it looks like text, e.g. an HTML error page or a JSON file saved instead of the model)";
  return "";
}

struct Entry {
  TensorInfo info;
  uint64_t begin = 0, end = 0;
  const DTypeName* dt = nullptr;
  std::string dtype_text;
  size_t order = 0;
};

class HeaderParser {
 public:
  HeaderParser(const std::string& path, std::string_view header, uint64_t data_size)
      : path_(path), r_(header, 64), data_size_(data_size) {}

  [[noreturn]] void fail(const std::string& msg) const { throw Error(quote_path(path_) + ": " + msg); }

  // Reads the whole header into entries/metadata. Throws sd::Error.
  void run(std::vector<Entry>& entries, std::map<std::string, std::string>& metadata) {
    try {
      json::Type t = r_.peek();
      if (t != json::Type::Object)
        fail(std::string("header is ") + json::type_name(t) +
             ", not a JSON object; this is not a safetensors file");
      r_.begin_object(/*check_duplicates=*/false);
      std::string key;
      bool have_metadata = false;
      std::map<std::string, size_t> seen;
      while (r_.next_key(key)) {
        if (key == "__metadata__") {
          if (have_metadata) fail("\"__metadata__\" appears twice in the header; the file is corrupt");
          have_metadata = true;
          read_metadata(metadata);
          continue;
        }
        if (!seen.emplace(key, entries.size()).second)
          fail("tensor " + q(key) + " appears twice in the header; the file is corrupt");
        entries.emplace_back();
        Entry& e = entries.back();
        e.info.name = key;
        e.order = entries.size() - 1;
        read_entry(e);
      }
      r_.finish();
    } catch (const json::ParseError& pe) {
      std::string where = current_.empty() ? "" : " (in tensor " + q(current_) + ")";
      fail("header is not valid JSON at byte " + std::to_string(pe.offset()) + where + ": " + pe.reason() +
           "; the file is corrupt or not a safetensors file");
    }
  }

 private:
  void read_metadata(std::map<std::string, std::string>& metadata) {
    json::Type t = r_.peek();
    if (t != json::Type::Object)
      fail(std::string("\"__metadata__\" must be an object of strings, found ") + json::type_name(t) +
           "; the file is corrupt");
    r_.begin_object();
    std::string key;
    while (r_.next_key(key)) {
      json::Type vt = r_.peek();
      if (vt != json::Type::String)
        fail("\"__metadata__\" entry " + q(key) + " must be a string, found " + json::type_name(vt) +
             "; the file is corrupt or was written by a tool that breaks the format");
      metadata[key] = r_.read_string();
    }
  }

  [[noreturn]] void fail_tensor(const Entry& e, const std::string& msg) const {
    fail("tensor " + q(e.info.name) + " " + msg);
  }

  // Reads a non-negative integer that fits in int64, or fails with `what`.
  uint64_t read_count(const Entry& e, const char* field) {
    json::Type t = r_.peek();
    if (t != json::Type::Number)
      fail_tensor(e, std::string("has a \"") + field + "\" holding " + json::type_name(t) +
                         " where a non-negative integer belongs; the file is corrupt");
    json::Number n = r_.read_number();
    uint64_t v;
    std::string tok(n.text.substr(0, 40));
    if (n.text.size() > 40) tok += "...";
    if (!n.is_integer() || (!n.text.empty() && n.text[0] == '-'))
      fail_tensor(e, std::string("has ") + tok + " in \"" + field +
                         "\" where a non-negative integer belongs; the file is corrupt");
    if (!n.to_u64(v) || v > uint64_t(INT64_MAX))
      fail_tensor(e, std::string("has ") + tok + " in \"" + field + "\", which is too large; the file is corrupt");
    return v;
  }

  void read_entry(Entry& e) {
    current_ = e.info.name;
    json::Type t = r_.peek();
    if (t != json::Type::Object)
      fail_tensor(e, std::string("must be an object with \"dtype\", \"shape\" and \"data_offsets\", found ") +
                         json::type_name(t) + "; the file is corrupt");
    r_.begin_object();
    bool has_dtype = false, has_shape = false, has_offsets = false;
    std::string key;
    while (r_.next_key(key)) {
      if (key == "dtype") {
        has_dtype = true;
        json::Type vt = r_.peek();
        if (vt != json::Type::String)
          fail_tensor(e, std::string("has a \"dtype\" that is ") + json::type_name(vt) +
                             ", not a string such as \"F16\"; the file is corrupt");
        e.dtype_text = r_.read_string();
      } else if (key == "shape") {
        has_shape = true;
        json::Type vt = r_.peek();
        if (vt != json::Type::Array)
          fail_tensor(e, std::string("has a \"shape\" that is ") + json::type_name(vt) +
                             ", not an array of non-negative integers; the file is corrupt");
        r_.begin_array();
        while (r_.next_element()) {
          if (e.info.shape.size() == kMaxRank)
            fail_tensor(e, "has more than " + std::to_string(kMaxRank) +
                               " dimensions, which is not supported; the file is corrupt");
          e.info.shape.push_back(int64_t(read_count(e, "shape")));
        }
      } else if (key == "data_offsets") {
        has_offsets = true;
        json::Type vt = r_.peek();
        const char* want = "; it must be [begin, end] with two non-negative integers; the file is corrupt";
        if (vt != json::Type::Array)
          fail_tensor(e, std::string("has \"data_offsets\" that is ") + json::type_name(vt) + want);
        r_.begin_array();
        int n = 0;
        while (r_.next_element()) {
          if (n == 2) fail_tensor(e, std::string("has more than two \"data_offsets\"") + want);
          (n == 0 ? e.begin : e.end) = read_count(e, "data_offsets");
          ++n;
        }
        if (n != 2) fail_tensor(e, "has " + std::to_string(n) + " \"data_offsets\"" + want);
      } else {
        r_.skip_value();  // unknown keys are ignored, as the reference reader does
      }
    }
    const char* missing = !has_dtype ? "dtype" : !has_shape ? "shape" : !has_offsets ? "data_offsets" : nullptr;
    if (missing)
      fail_tensor(e, std::string("has no \"") + missing + "\"; the file is corrupt or was written by a broken tool");
    check_entry(e);
    current_.clear();
  }

  void check_entry(Entry& e) {
    e.dt = find_dtype(e.dtype_text);
    if (!e.dt)
      fail_tensor(e, "has unknown dtype " + q(e.dtype_text) +
                         "; the file is corrupt or uses a dtype newer than this reader");
    // numel, overflow-checked
    uint64_t numel = 1;
    bool overflow = false;
    for (int64_t d : e.info.shape) overflow |= __builtin_mul_overflow(numel, uint64_t(d), &numel);
    uint64_t need_bits = 0;
    overflow |= __builtin_mul_overflow(numel, uint64_t(e.dt->bits), &need_bits);
    if (overflow || numel > uint64_t(INT64_MAX))
      fail_tensor(e, "has shape " + shape_str(e.info.shape) +
                         " whose size overflows 64 bits; the file is corrupt");
    if (e.end < e.begin)
      fail_tensor(e, "has data_offsets " + range(e.begin, e.end) +
                         " with end before begin; the file is corrupt — re-download it");
    if (e.end > data_size_)
      fail_tensor(e, "has data_offsets " + range(e.begin, e.end) + " outside the data section (" +
                         std::to_string(data_size_) + " bytes); the file is truncated or corrupt — re-download it");
    uint64_t have = e.end - e.begin;
    if (e.dt->bits != 0 && need_bits / 8 != have)
      fail_tensor(e, "has data_offsets " + range(e.begin, e.end) + " (" + std::to_string(have) +
                         " bytes) but dtype " + e.dt->name + " with shape " + shape_str(e.info.shape) +
                         " needs " + std::to_string(need_bits / 8) + " bytes; the file is corrupt");
    e.info.nbytes = size_t(have);
    if (e.dt->supported) e.info.dtype = e.dt->dtype;
  }

  const std::string& path_;
  json::Reader r_;
  uint64_t data_size_;
  std::string current_;  // tensor being read, for JSON error context
};

}  // namespace

int64_t TensorInfo::numel() const {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return n;
}

std::unique_ptr<SafetensorsFile> SafetensorsFile::open(const std::string& path) {
  MappedFile m = MappedFile::open(path);
  std::unique_ptr<SafetensorsFile> f = from_memory(path, m.data(), m.size());
  f->map_ = m.release();
  return f;
}

std::unique_ptr<SafetensorsFile> SafetensorsFile::from_memory(const std::string& path, const uint8_t* p, size_t size) {
  auto fail = [&](const std::string& msg) { throw Error(quote_path(path) + ": " + msg); };

  if (size < 8)
    fail("the file is " + std::to_string(size) + (size == 1 ? " byte" : " bytes") +
         " long, too short for a safetensors file (which starts with an 8-byte header length); "
         "the download is incomplete or this is not a safetensors file");
  uint64_t n = 0;
  for (int i = 7; i >= 0; --i) n = (n << 8) | p[i];  // little endian
  if (n > size - 8)
    fail("header length " + std::to_string(n) + " is larger than the file (" + std::to_string(size) +
         " bytes); this is not a safetensors file or it is truncated" + sniff(p, size));
  if (n > kMaxHeader)
    fail("header length " + std::to_string(n) + " is over the format's 100 MB limit; this is not a safetensors file" +
         sniff(p, size));
  if (n < 2)
    fail("header length " + std::to_string(n) + " is too small to hold a JSON object; this is not a safetensors file" +
         sniff(p, size));

  std::string_view header(reinterpret_cast<const char*>(p + 8), size_t(n));
  size_t bad = 0;
  if (!json::valid_utf8(header, &bad))
    fail("header is not valid UTF-8 at byte " + std::to_string(bad) +
         "; the file is corrupt or not a safetensors file" + (bad == 0 ? sniff(p, size) : std::string()));

  const uint64_t data_size = size - 8 - n;
  std::vector<Entry> entries;
  std::map<std::string, std::string> metadata;
  HeaderParser(path, header, data_size).run(entries, metadata);

  // Ranges must not overlap (empty ranges overlap nothing).
  std::vector<const Entry*> by_begin;
  by_begin.reserve(entries.size());
  for (const auto& e : entries)
    if (e.end > e.begin) by_begin.push_back(&e);
  std::sort(by_begin.begin(), by_begin.end(), [](const Entry* a, const Entry* b) {
    return a->begin != b->begin ? a->begin < b->begin : a->order < b->order;
  });
  for (size_t i = 1; i < by_begin.size(); ++i) {
    const Entry& a = *by_begin[i - 1];
    const Entry& b = *by_begin[i];
    if (b.begin < a.end)
      fail("tensors " + q(a.info.name) + " " + range(a.begin, a.end) + " and " + q(b.info.name) + " " +
           range(b.begin, b.end) + " overlap in the data section; the file is corrupt");
  }
  // Only now, with the file known to be sound, complain about dtypes we cannot use.
  for (const auto& e : entries)
    if (!e.dt->supported)
      fail(std::string("unsupported dtype ") + e.dt->name + " for tensor " + q(e.info.name) +
           "; sd-native loads F32, F16, BF16, I32 and I64 tensors — convert the checkpoint (e.g. to F16) first");

  std::unique_ptr<SafetensorsFile> f(new SafetensorsFile());
  f->path_ = path;
  f->metadata_ = std::move(metadata);
  f->tensors_.reserve(entries.size());
  const uint8_t* data = p + 8 + n;
  for (auto& e : entries) {
    e.info.data = data + e.begin;
    f->index_.emplace(e.info.name, f->tensors_.size());
    f->tensors_.push_back(std::move(e.info));
  }
  f->size_ = size;
  return f;
}

SafetensorsFile::~SafetensorsFile() { MappedFile::unmap(map_, size_); }

const TensorInfo* SafetensorsFile::find(const std::string& name) const {
  auto it = index_.find(name);
  return it == index_.end() ? nullptr : &tensors_[it->second];
}

// ---- writing --------------------------------------------------------------------------------

namespace {

class OutFile {
 public:
  OutFile(const std::string& final_path) : final_(final_path), tmp_(final_path + ".tmp") {
    do {
      fd_ = ::open(tmp_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    } while (fd_ < 0 && errno == EINTR);
    if (fd_ < 0) fail("cannot create " + quote_path(tmp_), errno);
  }
  ~OutFile() {
    if (fd_ >= 0) {
      ::close(fd_);
      ::unlink(tmp_.c_str());
    }
  }
  void write(const void* data, size_t n) {
    const char* p = static_cast<const char*>(data);
    while (n > 0) {
      ssize_t w = ::write(fd_, p, n > (1u << 30) ? (1u << 30) : n);
      if (w < 0) {
        if (errno == EINTR) continue;
        fail("cannot write " + quote_path(tmp_), errno);
      }
      p += w;
      n -= size_t(w);
    }
  }
  void commit() {
    if (::fsync(fd_) != 0) fail("cannot flush " + quote_path(tmp_), errno);
    int fd = fd_;
    fd_ = -1;
    if (::close(fd) != 0) {
      int err = errno;
      ::unlink(tmp_.c_str());
      fail("cannot close " + quote_path(tmp_), err);
    }
    if (::rename(tmp_.c_str(), final_.c_str()) != 0) {
      int err = errno;
      ::unlink(tmp_.c_str());
      fail("cannot rename " + quote_path(tmp_) + " to the final name", err);
    }
  }

 private:
  [[noreturn]] void fail(const std::string& what, int err) {
    throw Error(quote_path(final_) + ": " + what + ": " + std::strerror(err) +
                (err == ENOSPC ? "; free some disk space" : err == ENOENT ? "; check that the directory exists" : ""));
  }
  std::string final_, tmp_;
  int fd_ = -1;
};

}  // namespace

void write_safetensors(const std::string& path, const std::vector<TensorToWrite>& tensors,
                       const std::map<std::string, std::string>& metadata) {
  auto fail = [&](const std::string& msg) { throw Error(quote_path(path) + ": cannot write: " + msg); };

  // Check everything and lay the data out before touching the disk. Tensors are stored in order of
  // decreasing element size without gaps, as the reference writer does: every tensor then starts
  // at a multiple of its element size (the data section starts 8-byte aligned), and the reference
  // reader, which rejects gaps, accepts our files.
  std::vector<uint64_t> nbytes(tensors.size()), begin(tensors.size());
  std::map<std::string, size_t> names;
  for (size_t i = 0; i < tensors.size(); ++i) {
    const auto& t = tensors[i];
    if (t.name == "__metadata__") fail("a tensor cannot be named \"__metadata__\"");
    if (!json::valid_utf8(t.name)) fail("tensor name " + q(t.name) + " is not valid UTF-8");
    if (!names.emplace(t.name, i).second) fail("tensor " + q(t.name) + " is listed twice");
    if (t.shape.size() > kMaxRank) fail("tensor " + q(t.name) + " has more than 8 dimensions");
    uint64_t n = dtype_size(t.dtype);
    for (int64_t d : t.shape) {
      if (d < 0) fail("tensor " + q(t.name) + " has a negative dimension in shape " + shape_str(t.shape));
      if (__builtin_mul_overflow(n, uint64_t(d), &n))
        fail("tensor " + q(t.name) + " has shape " + shape_str(t.shape) + " that overflows 64 bits");
    }
    if (n > 0 && !t.data) fail("tensor " + q(t.name) + " has no data");
    nbytes[i] = n;
  }
  for (const auto& kv : metadata)
    if (!json::valid_utf8(kv.first) || !json::valid_utf8(kv.second))
      fail("metadata entry " + q(kv.first) + " is not valid UTF-8");

  std::vector<size_t> layout(tensors.size());
  for (size_t i = 0; i < layout.size(); ++i) layout[i] = i;
  std::stable_sort(layout.begin(), layout.end(), [&](size_t a, size_t b) {
    return dtype_size(tensors[a].dtype) > dtype_size(tensors[b].dtype);
  });
  uint64_t off = 0;
  for (size_t i : layout) {
    begin[i] = off;
    off += nbytes[i];
  }

  std::string h = "{";
  if (!metadata.empty()) {
    h += "\"__metadata__\":{";
    bool first = true;
    for (const auto& kv : metadata) {
      if (!first) h += ',';
      first = false;
      json::append_quoted(h, kv.first);
      h += ':';
      json::append_quoted(h, kv.second);
    }
    h += '}';
  }
  for (size_t i = 0; i < tensors.size(); ++i) {
    const auto& t = tensors[i];
    if (h.size() > 1) h += ',';
    json::append_quoted(h, t.name);
    h += ":{\"dtype\":\"";
    h += file_dtype_name(t.dtype);
    h += "\",\"shape\":[";
    for (size_t k = 0; k < t.shape.size(); ++k) h += (k ? "," : "") + std::to_string(t.shape[k]);
    h += "],\"data_offsets\":[" + std::to_string(begin[i]) + "," + std::to_string(begin[i] + nbytes[i]) + "]}";
  }
  h += '}';
  while (h.size() % 8 != 0) h += ' ';  // data section starts 8-byte aligned
  if (h.size() > kMaxHeader) fail("the header would be larger than the format's 100 MB limit");

  uint8_t len[8];
  for (int i = 0; i < 8; ++i) len[i] = uint8_t(uint64_t(h.size()) >> (8 * i));
  OutFile out(path);
  out.write(len, 8);
  out.write(h.data(), h.size());
  for (size_t i : layout)
    if (nbytes[i]) out.write(tensors[i].data, size_t(nbytes[i]));
  out.commit();
}

}  // namespace sd::io

#include <sys/mman.h>
#include <unistd.h>

namespace sd::io {

void SafetensorsFile::release_pages(const std::string& prefix) const {
  if (!map_) return;  // from_memory: the caller's bytes are not ours to drop
  const uintptr_t page = uintptr_t(sysconf(_SC_PAGESIZE));
  const uintptr_t base = reinterpret_cast<uintptr_t>(map_);
  for (const TensorInfo& t : tensors_) {
    if (t.name.compare(0, prefix.size(), prefix) != 0 || t.nbytes == 0) continue;
    // Only whole pages inside the tensor, so neighbours that stay in use are untouched.
    uintptr_t begin = (reinterpret_cast<uintptr_t>(t.data) + page - 1) / page * page;
    uintptr_t end = (reinterpret_cast<uintptr_t>(t.data) + t.nbytes) / page * page;
    if (end > begin && begin >= base) madvise(reinterpret_cast<void*>(begin), end - begin, MADV_DONTNEED);
  }
}

}  // namespace sd::io
