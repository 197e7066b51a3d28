// Safetensors reader/writer and the strict JSON parser.
//
//   test_safetensors [TMPDIR] [-v] [--golden DIR] [--open FILE...]
//
// TMPDIR (default /tmp) receives the generated files. -v prints every rejected file's message.
// --golden DIR also opens every DIR/*.safetensors written by Python and checks it against the
// keys in its .json sidecar. --open FILE only opens FILE(s) and prints a summary (tensor count,
// parameters, dtypes, open time): the check for big checkpoints from bench/make-random-checkpoint.
#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <map>
#include <string>
#include <vector>

#include "../../native/core/error.h"
#include "../../native/io/json.h"
#include "../../native/io/safetensors.h"
#include "harness.h"

using sd::io::SafetensorsFile;
using sd::io::TensorToWrite;

namespace {

std::string g_dir = "/tmp";
bool g_verbose = false;
int g_rejected = 0;

std::string path_of(const std::string& name) { return g_dir + "/st_" + name + ".safetensors"; }

void write_bytes(const std::string& path, const std::string& bytes) {
  std::ofstream f(path, std::ios::binary | std::ios::trunc);
  f.write(bytes.data(), std::streamsize(bytes.size()));
}

// Rewrites `path` in place: truncating files is slow on some filesystems (5 ms on overlayfs),
// and the fuzz loop rewrites one file thousands of times, mostly at the same size.
void overwrite_bytes(const std::string& path, const std::string& bytes) {
  int fd = open(path.c_str(), O_WRONLY | O_CREAT, 0644);
  if (fd < 0) return;
  struct stat st;
  if (fstat(fd, &st) == 0 && uint64_t(st.st_size) != bytes.size()) {
    if (ftruncate(fd, off_t(bytes.size())) != 0) std::perror("ftruncate");
  }
  if (pwrite(fd, bytes.data(), bytes.size(), 0) != ssize_t(bytes.size())) std::perror("pwrite");
  close(fd);
}

std::string read_bytes(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>());
}

std::string le64(uint64_t v) {
  std::string s(8, '\0');
  for (int i = 0; i < 8; ++i) s[i] = char(uint8_t(v >> (8 * i)));
  return s;
}

// length prefix + header + data_size bytes of data.
std::string file_bytes(const std::string& header, size_t data_size) {
  std::string s = le64(header.size()) + header;
  for (size_t i = 0; i < data_size; ++i) s += char(i * 7 + 1);
  return s;
}

bool contains(const std::string& s, const std::string& frag) { return s.find(frag) != std::string::npos; }

// Opening `path` must throw sd::Error whose message names the file and holds every fragment.
void expect_error_path(const std::string& label, const std::string& path, const std::vector<std::string>& frags) {
  std::string msg;
  bool got_sd_error = false;
  try {
    auto f = SafetensorsFile::open(path);
    CHECK_MSG(false, label + ": opened without an error");
    return;
  } catch (const sd::Error& e) {
    got_sd_error = true;
    msg = e.what();
  } catch (const std::exception& e) {
    CHECK_MSG(false, label + ": threw a non-sd::Error exception: " + e.what());
    return;
  } catch (...) {
    CHECK_MSG(false, label + ": threw a non-std exception");
    return;
  }
  ++g_rejected;
  CHECK_MSG(got_sd_error, label);
  CHECK_MSG(contains(msg, "\"" + path + "\""), label + ": message does not name the file: " + msg);
  for (const auto& fr : frags) CHECK_MSG(contains(msg, fr), label + ": message lacks \"" + fr + "\": " + msg);
  if (g_verbose) std::printf("  %-28s %s\n", label.c_str(), msg.c_str());
}

void expect_error(const std::string& label, const std::string& bytes, const std::vector<std::string>& frags) {
  std::string path = path_of(label);
  write_bytes(path, bytes);
  expect_error_path(label, path, frags);
  unlink(path.c_str());
}

// A header with one tensor entry `entry` (the JSON object text) named "t", and `data` data bytes.
std::string one(const std::string& entry, size_t data) { return file_bytes("{\"t\":" + entry + "}", data); }

// ---- round trip -----------------------------------------------------------------------------

void test_round_trip() {
  std::vector<float> a(2 * 3 * 4);
  for (size_t i = 0; i < a.size(); ++i) a[i] = float(i) * 0.5f - 3.0f;
  std::vector<uint16_t> b(5 * 7);
  for (size_t i = 0; i < b.size(); ++i) b[i] = sd::f32_to_f16(float(i) / 7.0f);
  std::vector<uint16_t> c(3);
  for (size_t i = 0; i < c.size(); ++i) c[i] = sd::f32_to_bf16(float(i) + 0.25f);
  std::vector<int32_t> d = {-1, 2, -3};
  std::vector<int64_t> e(77);
  for (size_t i = 0; i < e.size(); ++i) e[i] = int64_t(i);
  float scalar = 42.0f;

  const std::string name_utf8 = "unicode.\xc3\xa9\xf0\x9f\x98\x80.\"quoted\\\".\n";
  std::vector<TensorToWrite> ts = {
      {"model.a.weight", sd::DType::F32, {2, 3, 4}, a.data()},
      {"model.b.weight", sd::DType::F16, {5, 7}, b.data()},
      {"model.c", sd::DType::BF16, {3}, c.data()},
      {"model.d", sd::DType::I32, {3}, d.data()},
      {"position_ids", sd::DType::I64, {1, 77}, e.data()},
      {"empty", sd::DType::F16, {0, 16}, nullptr},
      {"scalar", sd::DType::F32, {}, &scalar},
      {name_utf8, sd::DType::F16, {1}, b.data()},
  };
  std::map<std::string, std::string> meta = {{"format", "pt"}, {"note", "caf\xc3\xa9 \"x\"\n"}};
  std::string path = path_of("roundtrip");
  sd::io::write_safetensors(path, ts, meta);
  CHECK(access((path + ".tmp").c_str(), F_OK) != 0);  // temp file renamed away

  std::string raw = read_bytes(path);
  uint64_t n = 0;
  for (int i = 7; i >= 0; --i) n = (n << 8) | uint8_t(raw[i]);
  CHECK(n % 8 == 0);
  CHECK(raw[8] == '{');

  auto f = SafetensorsFile::open(path);
  CHECK(f->path() == path);
  CHECK(f->file_size() == raw.size());
  CHECK(f->metadata() == meta);
  CHECK(f->tensors().size() == ts.size());
  for (size_t i = 0; i < ts.size() && i < f->tensors().size(); ++i) {
    const auto& got = f->tensors()[i];
    const auto& want = ts[i];
    CHECK_MSG(got.name == want.name, "name " + want.name);
    CHECK_MSG(got.dtype == want.dtype, "dtype of " + want.name);
    CHECK_MSG(got.shape == want.shape, "shape of " + want.name);
    size_t nb = sd::dtype_size(want.dtype);
    for (int64_t s : want.shape) nb *= size_t(s);
    CHECK_MSG(got.nbytes == nb, "nbytes of " + want.name);
    CHECK_MSG(got.numel() * int64_t(sd::dtype_size(want.dtype)) == int64_t(nb), "numel of " + want.name);
    if (nb) CHECK_MSG(std::memcmp(got.data, want.data, nb) == 0, "bytes of " + want.name);
    // every tensor starts at a multiple of its element size (mapping is page aligned)
    CHECK_MSG(reinterpret_cast<uintptr_t>(got.data) % sd::dtype_size(want.dtype) == 0 || nb == 0,
              "alignment of " + want.name);
    CHECK(f->find(want.name) == &got);
  }
  CHECK(f->find("missing") == nullptr);
  CHECK(f->find("scalar")->numel() == 1);

  // Overwrite in place works (rename over an existing file) and an empty file list is valid.
  sd::io::write_safetensors(path, {});
  auto g = SafetensorsFile::open(path);
  CHECK(g->tensors().empty());
  CHECK(g->metadata().empty());
  unlink(path.c_str());

  // Writer errors are sd::Error naming the file.
  auto expect_write_error = [](const std::string& label, const std::string& p, const std::vector<TensorToWrite>& t,
                               const std::string& frag) {
    try {
      sd::io::write_safetensors(p, t);
      CHECK_MSG(false, label + ": no error");
    } catch (const sd::Error& e) {
      std::string m = e.what();
      CHECK_MSG(contains(m, "\"" + p + "\"") && contains(m, frag), label + ": " + m);
      if (g_verbose) std::printf("  %-28s %s\n", label.c_str(), m.c_str());
    }
  };
  expect_write_error("write: missing directory", g_dir + "/no/such/dir/x.safetensors",
                     {{"a", sd::DType::F32, {1}, a.data()}}, "No such file or directory");
  expect_write_error("write: duplicate name", path_of("w_dup"),
                     {{"a", sd::DType::F32, {1}, a.data()}, {"a", sd::DType::F32, {1}, a.data()}}, "listed twice");
  expect_write_error("write: negative dim", path_of("w_neg"), {{"a", sd::DType::F32, {-1}, a.data()}}, "negative");
  expect_write_error("write: no data", path_of("w_null"), {{"a", sd::DType::F32, {4}, nullptr}}, "no data");
  expect_write_error("write: bad UTF-8 name", path_of("w_utf8"), {{"a\xff", sd::DType::F32, {1}, a.data()}},
                     "not valid UTF-8");
}

// ---- files written by other tools, and odd-but-valid files ----------------------------------

void test_accepts() {
  // Trailing spaces after the JSON, gaps between tensors, unknown keys, escapes, zero-size
  // tensors anywhere, data after the last tensor.
  std::string h =
      "{\"__metadata__\":{\"k\\u00e9\":\"v\\ud83d\\ude00\"},"
      "\"a\\/b\":{\"dtype\":\"F16\",\"shape\":[2],\"data_offsets\":[8,12],\"extra\":{\"x\":[1,2.5e3,null,true]}},"
      "\"z\":{\"shape\":[0],\"data_offsets\":[10,10],\"dtype\":\"F32\"},"
      "\"s\":{\"dtype\":\"I64\",\"shape\":[],\"data_offsets\":[0,8]}}   \t\n";
  std::string path = path_of("accepts");
  write_bytes(path, file_bytes(h, 20));
  try {
    auto f = SafetensorsFile::open(path);
    CHECK(f->tensors().size() == 3);
    CHECK(f->metadata().at("k\xc3\xa9") == "v\xf0\x9f\x98\x80");
    const auto* ab = f->find("a/b");
    CHECK(ab && ab->nbytes == 4 && ab->dtype == sd::DType::F16 && ab->shape == std::vector<int64_t>{2});
    const auto* z = f->find("z");
    CHECK(z && z->nbytes == 0 && z->numel() == 0);
    const auto* s = f->find("s");
    CHECK(s && s->shape.empty() && s->numel() == 1);
  } catch (const std::exception& e) {
    CHECK_MSG(false, std::string("valid odd file rejected: ") + e.what());
  }
  unlink(path.c_str());
}

void test_golden(const std::string& dir) {
  DIR* d = opendir(dir.c_str());
  CHECK_MSG(d != nullptr, "cannot open golden dir " + dir);
  if (!d) return;
  int files = 0;
  while (dirent* ent = readdir(d)) {
    std::string name = ent->d_name;
    if (name.size() < 12 || name.substr(name.size() - 12) != ".safetensors") continue;
    std::string stem = name.substr(0, name.size() - 12);
    std::string st_path = dir + "/" + name, sidecar = dir + "/" + stem + ".json";
    try {
      auto f = SafetensorsFile::open(st_path);
      ++files;
      std::string js = read_bytes(sidecar);
      if (js.empty()) continue;
      sd::json::Value v = sd::json::parse(js);
      const sd::json::Value* keys = v.get("keys");
      if (!keys || keys->type != sd::json::Type::Object) continue;
      CHECK_MSG(keys->members.size() == f->tensors().size(), stem + ": tensor count differs from sidecar");
      for (const auto& m : keys->members) {
        const auto* t = f->find(m.first);
        CHECK_MSG(t != nullptr, stem + ": missing " + m.first);
        if (!t) continue;
        const auto* shape = m.second.get("shape");
        std::vector<int64_t> want;
        if (shape)
          for (const auto& x : shape->items) {
            uint64_t u = 0;
            x.number().to_u64(u);
            want.push_back(int64_t(u));
          }
        CHECK_MSG(t->shape == want, stem + ": shape of " + m.first);
        const auto* dt = m.second.get("dtype");
        std::string ds = dt ? dt->text : "";
        bool ok = (ds == "F32" && t->dtype == sd::DType::F32) || (ds == "int64" && t->dtype == sd::DType::I64) ||
                  (ds == "I64" && t->dtype == sd::DType::I64) || (ds == "F16" && t->dtype == sd::DType::F16);
        CHECK_MSG(ok, stem + ": dtype of " + m.first + " (" + ds + ")");
      }
    } catch (const std::exception& e) {
      CHECK_MSG(false, stem + ": " + e.what());
    }
  }
  closedir(d);
  std::printf("golden: %d python-written files opened and matched against their sidecars\n", files);
}

// ---- malformed files ------------------------------------------------------------------------

void test_malformed() {
  const std::string ok_t = "{\"dtype\":\"F32\",\"shape\":[2,2],\"data_offsets\":[0,16]}";

  // Sizes and the length prefix.
  expect_error("empty file", "", {"0 bytes long", "too short"});
  expect_error("5-byte file", std::string("\x10\0\0\0\0", 5), {"5 bytes long"});
  expect_error("header length 0", le64(0) + "{}", {"header length 0 is too small"});
  expect_error("header length 1", le64(1) + "{}", {"header length 1 is too small"});
  expect_error("header length INT64_MAX", le64(INT64_MAX) + "{}",
               {"header length 9223372036854775807 is larger than the file (10 bytes)", "truncated"});
  expect_error("header length UINT64_MAX", le64(UINT64_MAX) + std::string(100, ' '),
               {"header length 18446744073709551615 is larger than the file"});
  {
    // 100 MB + 1 header in a sparse file: over the limit although the file is big enough.
    std::string path = path_of("header_over_100mb");
    write_bytes(path, le64(100'000'001));
    CHECK(truncate(path.c_str(), 100'000'100) == 0);
    expect_error_path("header over 100 MB", path, {"header length 100000001 is over the format's 100 MB limit"});
    unlink(path.c_str());
  }
  std::string good = one(ok_t, 16);
  expect_error("truncated to 8 bytes", good.substr(0, 8), {"is larger than the file (8 bytes)"});
  expect_error("truncated in header", good.substr(0, 30), {"is larger than the file (30 bytes)"});
  expect_error("truncated in data", good.substr(0, good.size() - 3),
               {"tensor \"t\" has data_offsets [0, 16) outside the data section (13 bytes)", "re-download"});
  expect_error("zip (a .ckpt)", std::string("PK\x03\x04\x14\0\0\0\0\0", 10) + std::string(100, 'x'),
               {"zip archive", "convert it to .safetensors"});
  expect_error("HTML error page", "<!DOCTYPE html><html>404</html>", {"HTML error page"});

  // JSON syntax.
  expect_error("not JSON", file_bytes("hello world!", 0), {"header is not valid JSON at byte 0", "expected a value"});
  expect_error("JSON array", file_bytes("[1,2,3]", 0), {"header is an array, not a JSON object"});
  expect_error("JSON string", file_bytes("\"abc\"", 0), {"header is a string, not a JSON object"});
  expect_error("unterminated string", file_bytes("{\"t\":{\"dtype", 0), {"at byte 6", "unterminated string"});
  expect_error("unterminated object", file_bytes("{\"t\":" + ok_t, 16), {"unexpected end of input, expected ',' or '}'"});
  expect_error("missing colon", file_bytes("{\"t\" {}}", 0), {"at byte 5", "expected ':'"});
  expect_error("missing comma", file_bytes("{\"a\":" + ok_t + " \"b\":" + ok_t + "}", 16), {"at byte 57: expected ',' or '}'"});
  expect_error("trailing comma", file_bytes("{\"t\":" + ok_t + ",}", 16), {"expected a string key"});
  expect_error("trailing garbage", file_bytes("{} x", 0), {"at byte 3", "after the end of the JSON document"});
  expect_error("NUL padding", file_bytes(std::string("{}\0\0\0\0\0\0", 8), 0), {"byte 0x00 after the end"});
  expect_error("invalid UTF-8", file_bytes("{\"t\xc3\x28\":" + ok_t + "}", 16), {"not valid UTF-8 at byte 3"});
  expect_error("overlong UTF-8", file_bytes("{\"\xc0\xaf\":1}", 0), {"not valid UTF-8 at byte 2"});
  expect_error("UTF-8 surrogate", file_bytes("{\"\xed\xa0\x80\":1}", 0), {"not valid UTF-8 at byte 2"});
  expect_error("invalid escape", file_bytes("{\"a\\x\":1}", 0), {"at byte 3", "invalid escape \\x"});
  expect_error("bad \\u hex", file_bytes("{\"\\u12G4\":1}", 0), {"4 hex digits"});
  expect_error("lone high surrogate", file_bytes("{\"\\ud800\":1}", 0), {"unpaired surrogate"});
  expect_error("lone low surrogate", file_bytes("{\"\\udc00x\":1}", 0), {"unpaired surrogate"});
  expect_error("raw control char", file_bytes("{\"a\tb\":1}", 0), {"control character", "must be escaped"});
  expect_error("leading zero", one("{\"dtype\":\"F32\",\"shape\":[02],\"data_offsets\":[0,8]}", 8),
               {"in tensor \"t\"", "leading zeros"});
  expect_error("NaN literal", one("{\"dtype\":\"F32\",\"shape\":[NaN],\"data_offsets\":[0,8]}", 8),
               {"expected a value, found 'N'"});
  std::string bomb = "{\"t\":{\"dtype\":\"F32\",\"shape\":[],\"data_offsets\":[0,4],\"x\":";
  bomb += std::string(100000, '[');
  expect_error("nesting bomb", file_bytes(bomb, 0), {"in tensor \"t\"", "nested deeper than 64 levels"});
  std::string mbomb = "{\"__metadata__\":" + std::string(100000, '{');
  expect_error("metadata nesting bomb", file_bytes(mbomb, 0), {"at byte 17: expected a string key"});

  // Header schema, one tensor entry "t" at a time: {case, entry JSON, data bytes, message fragments}.
  struct EntryCase {
    const char* name;
    std::string entry;
    size_t data;
    std::vector<std::string> frags;
  };
  const EntryCase entry_cases[] = {
      {"missing dtype", R"({"shape":[2,2],"data_offsets":[0,16]})", 16, {"tensor \"t\" has no \"dtype\""}},
      {"missing shape", R"({"dtype":"F32","data_offsets":[0,16]})", 16, {"tensor \"t\" has no \"shape\""}},
      {"missing data_offsets", R"({"dtype":"F32","shape":[2,2]})", 16, {"tensor \"t\" has no \"data_offsets\""}},
      {"dtype not a string", R"({"dtype":5,"shape":[2,2],"data_offsets":[0,16]})", 16, {"tensor \"t\" has a \"dtype\" that is a number"}},
      {"unknown dtype", R"({"dtype":"F17","shape":[2,2],"data_offsets":[0,16]})", 16, {"tensor \"t\" has unknown dtype \"F17\""}},
      {"unsupported dtype F64", R"({"dtype":"F64","shape":[2],"data_offsets":[0,16]})", 16, {"unsupported dtype F64 for tensor \"t\"", "convert"}},
      {"unsupported dtype F8_E4M3", R"({"dtype":"F8_E4M3","shape":[16],"data_offsets":[0,16]})", 16, {"unsupported dtype F8_E4M3 for tensor \"t\""}},
      {"shape not an array", R"({"dtype":"F32","shape":4,"data_offsets":[0,16]})", 16, {"tensor \"t\" has a \"shape\" that is a number"}},
      {"negative dim", R"({"dtype":"F32","shape":[-1,4],"data_offsets":[0,16]})", 16, {"tensor \"t\" has -1 in \"shape\" where a non-negative integer belongs"}},
      {"float dim", R"({"dtype":"F32","shape":[2.5],"data_offsets":[0,16]})", 16, {"tensor \"t\" has 2.5 in \"shape\""}},
      {"exponent dim", R"({"dtype":"F32","shape":[4e0],"data_offsets":[0,16]})", 16, {"tensor \"t\" has 4e0 in \"shape\""}},
      {"string dim", R"({"dtype":"F32","shape":["4"],"data_offsets":[0,16]})", 16, {"tensor \"t\" has a \"shape\" holding a string"}},
      {"huge dim", R"({"dtype":"F32","shape":[99999999999999999999999],"data_offsets":[0,16]})", 16, {"tensor \"t\" has 99999999999999999999999 in \"shape\", which is too large"}},
      {"dim above INT64_MAX", R"({"dtype":"F32","shape":[9223372036854775808],"data_offsets":[0,16]})", 16, {"which is too large"}},
      {"shape product overflow", R"({"dtype":"F32","shape":[4294967296,4294967296,16],"data_offsets":[0,16]})", 16, {"tensor \"t\" has shape [4294967296, 4294967296, 16] whose size overflows 64 bits"}},
      {"bytes overflow (numel ok)", R"({"dtype":"I64","shape":[4611686018427387904],"data_offsets":[0,16]})", 16, {"overflows 64 bits"}},
      {"rank 9", R"({"dtype":"F32","shape":[1,1,1,1,1,1,1,1,4],"data_offsets":[0,16]})", 16, {"tensor \"t\" has more than 8 dimensions"}},
      {"offsets not an array", R"({"dtype":"F32","shape":[2,2],"data_offsets":16})", 16, {"tensor \"t\" has \"data_offsets\" that is a number"}},
      {"one offset", R"({"dtype":"F32","shape":[2,2],"data_offsets":[16]})", 16, {"tensor \"t\" has 1 \"data_offsets\"", "[begin, end]"}},
      {"three offsets", R"({"dtype":"F32","shape":[2,2],"data_offsets":[0,16,32]})", 32, {"more than two \"data_offsets\""}},
      {"negative offset", R"({"dtype":"F32","shape":[2,2],"data_offsets":[-16,0]})", 16, {"tensor \"t\" has -16 in \"data_offsets\""}},
      {"offsets out of range", R"({"dtype":"F32","shape":[25],"data_offsets":[100,200]})", 150, {"tensor \"t\" has data_offsets [100, 200) outside the data section (150 bytes)", "the file is truncated or corrupt"}},
      {"huge offsets", R"({"dtype":"F32","shape":[0],"data_offsets":[9223372036854775807,9223372036854775807]})", 16, {"outside the data section (16 bytes)"}},
      {"end < begin", R"({"dtype":"F32","shape":[2,2],"data_offsets":[16,0]})", 16, {"tensor \"t\" has data_offsets [16, 0) with end before begin"}},
      {"size != dtype*shape", R"({"dtype":"F16","shape":[2,2],"data_offsets":[0,16]})", 16, {"tensor \"t\" has data_offsets [0, 16) (16 bytes) but dtype F16 with shape [2, 2] needs 8 bytes"}},
      {"duplicate key in entry", R"({"dtype":"F32","dtype":"F16","shape":[2,2],"data_offsets":[0,16]})", 16, {"in tensor \"t\"", "duplicate key \"dtype\""}},
      {"duplicate key in unknown", R"({"dtype":"F32","shape":[4],"data_offsets":[0,16],"x":{"a":1,"a":2}})", 16, {"duplicate key \"a\""}},
  };
  for (const EntryCase& c : entry_cases) expect_error(c.name, one(c.entry, c.data), c.frags);
  // Header schema: whole headers.
  expect_error("entry not an object", file_bytes("{\"t\":[1]}", 0), {"tensor \"t\" must be an object"});
  std::string long_shape = "{\"dtype\":\"F32\",\"shape\":[";
  for (int i = 0; i < 200000; ++i) long_shape += "1,";
  long_shape += "1],\"data_offsets\":[0,4]}";
  expect_error("200k-dim shape", one(long_shape, 4), {"more than 8 dimensions"});
  expect_error("overlapping ranges",
               file_bytes("{\"a\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]},"
                          "\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[24,32]},"
                          "\"c\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[8,24]}}",
                          32),
               {"tensors \"a\" [0, 16) and \"c\" [8, 24) overlap"});
  expect_error("identical ranges",
               file_bytes("{\"a\":" + ok_t + ",\"b\":" + ok_t + "}", 16), {"tensors \"a\" [0, 16) and \"b\" [0, 16) overlap"});
  expect_error("duplicate tensor", file_bytes("{\"t\":" + ok_t + ",\"t\":" + ok_t + "}", 16),
               {"tensor \"t\" appears twice in the header"});
  expect_error("metadata is an array", file_bytes("{\"__metadata__\":[]}", 0),
               {"\"__metadata__\" must be an object of strings, found an array"});
  expect_error("metadata value not string", file_bytes("{\"__metadata__\":{\"epoch\":3}}", 0),
               {"\"__metadata__\" entry \"epoch\" must be a string, found a number"});
  expect_error("metadata nested object", file_bytes("{\"__metadata__\":{\"cfg\":{}}}", 0),
               {"\"__metadata__\" entry \"cfg\" must be a string, found an object"});
  expect_error("metadata twice", file_bytes("{\"__metadata__\":{},\"__metadata__\":{}}", 0),
               {"\"__metadata__\" appears twice"});
  expect_error("metadata duplicate key", file_bytes("{\"__metadata__\":{\"a\":\"1\",\"a\":\"2\"}}", 0),
               {"duplicate key \"a\""});
  expect_error("long tensor name is cut",
               file_bytes("{\"" + std::string(500, 'n') + "\":{\"dtype\":\"F17\",\"shape\":[],\"data_offsets\":[0,4]}}", 4),
               {"nnn...\" has unknown dtype"});
  // A corrupt file is reported as corrupt before an unsupported dtype elsewhere in it.
  expect_error("corrupt beats unsupported",
               file_bytes("{\"a\":{\"dtype\":\"F64\",\"shape\":[1],\"data_offsets\":[0,8]},"
                          "\"b\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[8,40]}}",
                          16),
               {"tensor \"b\" has data_offsets [8, 40) outside the data section (16 bytes)"});

  // Paths that are not files.
  expect_error_path("missing path", g_dir + "/st_does_not_exist.safetensors", {"No such file or directory", "check the path"});
  expect_error_path("missing directory", g_dir + "/st_no_dir/x.safetensors", {"No such file or directory"});
  expect_error_path("a directory", g_dir, {"is a directory"});
  {
    std::string fifo = g_dir + "/st_fifo.safetensors";
    unlink(fifo.c_str());
    if (mkfifo(fifo.c_str(), 0600) == 0) {
      expect_error_path("a FIFO", fifo, {"not a regular file"});
      unlink(fifo.c_str());
    }
  }
  if (geteuid() != 0) {  // root reads anything
    std::string path = path_of("unreadable");
    write_bytes(path, good);
    chmod(path.c_str(), 0);
    expect_error_path("unreadable file", path, {"Permission denied"});
    unlink(path.c_str());
  }
}

// ---- every truncation and random corruption: sd::Error or success, never anything else -------

uint64_t xorshift(uint64_t& s) {
  s ^= s << 13;
  s ^= s >> 7;
  s ^= s << 17;
  return s;
}

void test_fuzz(int iterations) {
  std::vector<float> a(6, 1.0f);
  std::vector<uint16_t> b(10, 0x3c00);
  std::string path = path_of("fuzz_base");
  sd::io::write_safetensors(path,
                            {{"w.a", sd::DType::F32, {2, 3}, a.data()}, {"w.b", sd::DType::F16, {10}, b.data()}},
                            {{"k", "v"}});
  std::string base = read_bytes(path);
  int opened = 0, rejected = 0, wrong = 0;
  auto attempt = [&](const std::string& bytes) {
    overwrite_bytes(path, bytes);
    try {
      auto f = SafetensorsFile::open(path);
      ++opened;
      for (const auto& t : f->tensors()) {  // touch every byte handed out
        volatile uint8_t sum = 0;
        for (size_t i = 0; i < t.nbytes; ++i) sum = uint8_t(sum + t.data[i]);
      }
    } catch (const sd::Error& e) {
      ++rejected;
      if (!contains(e.what(), "\"" + path + "\"")) ++wrong;
    } catch (...) {
      ++wrong;
    }
  };
  for (size_t cut = 0; cut < base.size(); ++cut) attempt(base.substr(0, cut));
  uint64_t s = 0x9E3779B97F4A7C15ull;
  const size_t header_end = 8 + size_t(uint8_t(base[0]));
  for (int it = 0; it < iterations; ++it) {
    std::string m = base;
    int flips = 1 + int(xorshift(s) % 4);
    for (int k = 0; k < flips; ++k) {
      size_t pos = size_t(xorshift(s) % header_end);  // mostly the header: that is where parsing is
      static const char pool[] = "{}[]\",:0123456789-.eE\\u \xff\xc3";
      m[pos] = (xorshift(s) & 1) ? char(xorshift(s)) : pool[xorshift(s) % (sizeof pool - 1)];
    }
    attempt(m);
  }
  unlink(path.c_str());
  CHECK_MSG(wrong == 0, "fuzz: " + std::to_string(wrong) + " results were neither success nor sd::Error naming the file");
  std::printf("fuzz: %zu truncations + %d corruptions: %d opened, %d rejected with sd::Error, %d wrong\n", base.size(),
              iterations, opened, rejected, wrong);
}

// ---- JSON parser on its own ----------------------------------------------------------------

void test_json() {
  using namespace sd::json;
  Value v = parse(" {\"a\":[1,-2.5e+3,true,false,null,\"x\\u00e9\\ud83d\\ude00\"],\"b\":{}} ");
  CHECK(v.type == Type::Object && v.members.size() == 2);
  const Value* a = v.get("a");
  CHECK(a && a->items.size() == 6);
  if (a && a->items.size() == 6) {
    CHECK(a->items[0].number().is_integer());
    CHECK(a->items[1].number().to_double() == -2500.0);
    CHECK(a->items[2].boolean && !a->items[3].boolean && a->items[4].type == Type::Null);
    CHECK(a->items[5].text == "x\xc3\xa9\xf0\x9f\x98\x80");
  }
  auto rejects = [](const std::string& text, const std::string& frag) {
    try {
      parse(text);
      CHECK_MSG(false, "json accepted: " + text);
    } catch (const ParseError& e) {
      CHECK_MSG(contains(e.what(), frag), "json \"" + text + "\": " + e.what());
    }
  };
  rejects("", "unexpected end of input");
  rejects("[1,]", "expected a value");
  rejects("{\"a\":1,\"a\":2}", "duplicate key");
  rejects("[1 2]", "expected ',' or ']'");
  rejects("01", "leading zeros");
  rejects("1.", "'.' must be followed");
  rejects("1e", "exponent");
  rejects("-", "'-' must be followed");
  rejects("tru", "invalid literal");
  rejects("\"\\ud83dx\"", "unpaired surrogate");
  rejects(std::string(65, '[') + std::string(65, ']'), "nested deeper than 64");
  CHECK(parse(std::string(64, '[') + std::string(64, ']')).type == Type::Array);
  std::string q;
  append_quoted(q, std::string("a\"b\\c\n\x01", 7));
  CHECK(q == "\"a\\\"b\\\\c\\n\\u0001\"");
  size_t bad = 0;
  CHECK(valid_utf8("caf\xc3\xa9"));
  CHECK(!valid_utf8("ab\xf4\x90\x80\x80", &bad) && bad == 2);  // > U+10FFFF
}

int open_and_report(const std::vector<std::string>& files) {
  int rc = 0;
  for (const auto& p : files) {
    auto t0 = std::chrono::steady_clock::now();
    try {
      auto f = SafetensorsFile::open(p);
      double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
      std::map<std::string, int> dtypes;
      std::map<std::string, std::pair<int, int64_t>> prefixes;  // first path component(s) → count, params
      int64_t params = 0;
      for (const auto& t : f->tensors()) {
        dtypes[sd::dtype_name(t.dtype)]++;
        params += t.numel();
        std::string pre = t.name.substr(0, t.name.find('.'));
        if (pre == "cond_stage_model" || pre == "conditioner" || pre == "first_stage_model" || pre == "model") {
          size_t dot = t.name.find('.', pre.size() + 1);
          if (pre == "conditioner") dot = t.name.find('.', t.name.find('.', dot + 1) + 1);
          pre = t.name.substr(0, dot);
        }
        prefixes[pre].first++;
        prefixes[pre].second += t.numel();
      }
      std::printf("%s: %zu tensors, %lld parameters, %zu bytes, opened and validated in %.1f ms\n", p.c_str(),
                  f->tensors().size(), (long long)params, f->file_size(), ms);
      for (const auto& kv : prefixes)
        std::printf("  %-40s %5d tensors %14lld parameters\n", kv.first.c_str(), kv.second.first,
                    (long long)kv.second.second);
      for (const auto& kv : dtypes) std::printf("  dtype %-5s %d tensors\n", kv.first.c_str(), kv.second);
      for (const auto& kv : f->metadata()) std::printf("  metadata %s = %s\n", kv.first.c_str(), kv.second.c_str());
    } catch (const sd::Error& e) {
      std::printf("error: %s\n", e.what());
      rc = 1;
    }
  }
  return rc;
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::string> open_files;
  std::string golden;
  bool positional_done = false;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "-v") g_verbose = true;
    else if (a == "--golden" && i + 1 < argc) golden = argv[++i];
    else if (a == "--open") {
      while (i + 1 < argc) open_files.push_back(argv[++i]);
    } else if (!positional_done) {
      g_dir = a;
      positional_done = true;
    }
  }
  if (!open_files.empty()) return open_and_report(open_files);

  test_json();
  test_round_trip();
  test_accepts();
  test_malformed();
  std::printf("malformed: %d files rejected with sd::Error\n", g_rejected);
  test_fuzz(3000);
  if (!golden.empty()) test_golden(golden);
  return harness::finish("test_safetensors");
}
