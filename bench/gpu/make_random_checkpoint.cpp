// A full-size random checkpoint from a tensor list, without Node: the device machine that runs
// bench/gpu/run.sh has a compiler but no Node, so bench/make-random-checkpoint cannot run there.
//   make_random_checkpoint <list.tensors> <out.safetensors> [seed] [threads]
// The list is `bench/make-random-checkpoint --arch A --list --with-init` (bench/gpu/*.tensors;
// test/native/gpu-bench.test.ts keeps them equal). Values match that tool's per-tensor mean and std,
// not its bytes: they are uniform, not normal (bounded, so no f16 overflow, and one multiply per
// element), which is all a speed run needs. Each tensor's stream is seeded by its name, so a
// tensor's values do not depend on the others or on the thread count.
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "core/dtype.h"
#include "io/safetensors.h"

namespace {

struct Spec {
  std::string name;
  sd::DType dtype = sd::DType::F16;
  std::vector<int64_t> shape;
  std::string init;  // normal:STD[:MEAN], const:VALUE or arange
};

bool parse_dtype(const std::string& s, sd::DType& out) {
  const std::pair<const char*, sd::DType> names[] = {
      {"F32", sd::DType::F32}, {"F16", sd::DType::F16}, {"BF16", sd::DType::BF16}, {"I64", sd::DType::I64}};
  for (const auto& n : names)
    if (s == n.first) return out = n.second, true;
  return false;
}

// "name DTYPE [d0, d1, ...] init", one tensor a line.
std::vector<Spec> read_specs(const char* path) {
  std::ifstream f(path);
  if (!f) throw std::runtime_error(std::string("cannot read ") + path);
  std::vector<Spec> specs;
  std::string line;
  for (int n = 1; std::getline(f, line); ++n) {
    const std::string where = std::string(path) + ":" + std::to_string(n) + ": expected 'name DTYPE [shape] init'";
    const size_t open = line.find('['), close = line.find(']');
    if (open == std::string::npos || close == std::string::npos || close < open) throw std::runtime_error(where);
    std::istringstream head(line.substr(0, open)), dims(line.substr(open + 1, close - open - 1)), tail(line.substr(close + 1));
    Spec s;
    std::string dtype;
    head >> s.name >> dtype;
    for (std::string d; std::getline(dims, d, ',');) s.shape.push_back(std::atoll(d.c_str()));
    tail >> s.init;
    if (s.name.empty() || !parse_dtype(dtype, s.dtype) || s.init.empty()) throw std::runtime_error(where);
    specs.push_back(std::move(s));
  }
  return specs;
}

uint64_t splitmix(uint64_t& state) {
  uint64_t z = (state += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

uint64_t name_seed(uint64_t seed, const std::string& name) {
  uint64_t h = 1469598103934665603ull ^ seed;  // FNV-1a 64
  for (unsigned char c : name) h = (h ^ c) * 1099511628211ull;
  return h;
}

void store(const Spec& s, std::vector<uint8_t>& bytes, size_t i, float v) {
  if (s.dtype == sd::DType::F32) {
    std::memcpy(bytes.data() + 4 * i, &v, 4);
  } else {
    const uint16_t h = s.dtype == sd::DType::F16 ? sd::f32_to_f16(v) : sd::f32_to_bf16(v);
    std::memcpy(bytes.data() + 2 * i, &h, 2);
  }
}

void fill(const Spec& s, uint64_t seed, std::vector<uint8_t>& bytes) {
  size_t numel = 1;
  for (int64_t d : s.shape) numel *= size_t(d);
  bytes.resize(numel * sd::dtype_size(s.dtype));
  const char* init = s.init.c_str();
  if (s.init == "arange") {
    for (size_t i = 0; i < numel; ++i) {
      const int64_t v = int64_t(i);
      std::memcpy(bytes.data() + 8 * i, &v, 8);
    }
  } else if (s.init.rfind("const:", 0) == 0) {
    const float v = std::strtof(init + 6, nullptr);
    for (size_t i = 0; i < numel; ++i) store(s, bytes, i, v);
  } else if (s.init.rfind("normal:", 0) == 0) {
    char* end = nullptr;
    const double std_dev = std::strtod(init + 7, &end);
    const double mean = *end == ':' ? std::strtod(end + 1, nullptr) : 0.0;
    // Uniform on mean ± √3·std has that std.
    const float scale = float(2 * std::sqrt(3.0) * std_dev / 4294967296.0), base = float(mean - std::sqrt(3.0) * std_dev);
    uint64_t state = name_seed(seed, s.name);
    for (size_t i = 0; i < numel; i += 2) {
      const uint64_t r = splitmix(state);
      store(s, bytes, i, base + scale * float(uint32_t(r)));
      if (i + 1 < numel) store(s, bytes, i + 1, base + scale * float(uint32_t(r >> 32)));
    }
  } else {
    throw std::runtime_error(s.name + ": unknown init " + s.init);
  }
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 3 || argc > 5) {
    std::fprintf(stderr, "usage: make_random_checkpoint <list.tensors> <out.safetensors> [seed] [threads]\n");
    return 2;
  }
  try {
    const auto t0 = std::chrono::steady_clock::now();
    const std::vector<Spec> specs = read_specs(argv[1]);
    const uint64_t seed = argc > 3 ? std::strtoull(argv[3], nullptr, 10) : 1;
    const unsigned threads = argc > 4 ? unsigned(std::atoi(argv[4])) : std::max(1u, std::thread::hardware_concurrency());
    std::vector<std::vector<uint8_t>> data(specs.size());
    std::atomic<size_t> next{0};
    std::vector<std::thread> pool;
    for (unsigned t = 0; t < threads; ++t)
      pool.emplace_back([&] {
        for (size_t i; (i = next++) < specs.size();) fill(specs[i], seed, data[i]);
      });
    for (auto& t : pool) t.join();
    std::vector<sd::io::TensorToWrite> out;
    size_t bytes = 0;
    for (size_t i = 0; i < specs.size(); ++i) {
      out.push_back({specs[i].name, specs[i].dtype, specs[i].shape, data[i].data()});
      bytes += data[i].size();
    }
    sd::io::write_safetensors(argv[2], out, {{"format", "pt"},
                                             {"sd_native.generator", "bench/gpu/make_random_checkpoint"},
                                             {"sd_native.list", argv[1]},
                                             {"sd_native.seed", std::to_string(seed)},
                                             {"sd_native.note", "random weights for benchmarks; not a usable model"}});
    const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    std::printf("{\"checkpoint\":\"%s\",\"tensors\":%zu,\"data_bytes\":%zu,\"seconds\":%.2f}\n", argv[2], specs.size(), bytes, secs);
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "make_random_checkpoint: %s\n", e.what());
    return 1;
  }
}
