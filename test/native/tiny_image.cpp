// Cross-architecture smoke test: one 64x64 image of the small model through the public C++
// API (sd.h), seed 42, 8 euler steps at the model's own CFG, and a fingerprint of its RGBA
// bytes (FNV-1a 64 and mean). test/e2e/arm64.test.ts runs it natively and under qemu-aarch64
// and compares the raw images with --compare.
//   tiny_image <model.safetensors> <tokens.txt> [out.rgba] [f32|bf16]
//   tiny_image --compare <a.rgba> <b.rgba>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "sd.h"

namespace {

std::vector<uint8_t> read_file(const char* path) {
  std::ifstream f(path, std::ios::binary);
  return std::vector<uint8_t>((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
}

int compare(const char* a_path, const char* b_path) {
  const std::vector<uint8_t> a = read_file(a_path), b = read_file(b_path);
  if (a.empty() || a.size() != b.size()) {
    std::fprintf(stderr, "compare: sizes differ or empty (%zu vs %zu bytes)\n", a.size(), b.size());
    return 1;
  }
  int max_diff = 0;
  size_t differing = 0;
  double sum = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    const int d = std::abs(int(a[i]) - int(b[i]));
    max_diff = d > max_diff ? d : max_diff;
    differing += d != 0;
    sum += d;
  }
  std::printf("compare: %zu bytes, max abs diff %d, %zu differ, mean abs diff %.4f\n", a.size(),
              max_diff, differing, sum / double(a.size()));
  return 0;
}

// "cond <ids...>" and "uncond <ids...>" lines (SOT .. EOT), padded here to one 77-token chunk
// with the model's pad token, all weights 1.
bool read_tokens(const char* path, int pad, sd::PromptTokens& cond, sd::PromptTokens& uncond) {
  std::ifstream f(path);
  std::string line;
  int found = 0;
  while (std::getline(f, line)) {
    std::istringstream in(line);
    std::string key;
    in >> key;
    sd::PromptTokens* t = key == "cond" ? &cond : key == "uncond" ? &uncond : nullptr;
    if (!t) continue;
    int32_t id;
    while (in >> id) t->ids.push_back(id);
    if (t->ids.empty() || t->ids.size() > 77) return false;
    t->eot_index = {int32_t(t->ids.size() - 1)};
    t->ids.resize(77, pad);
    t->weights.assign(77, 1.0f);
    ++found;
  }
  return found == 2;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc == 4 && std::string(argv[1]) == "--compare") return compare(argv[2], argv[3]);
  if (argc < 3) {
    std::fprintf(stderr, "usage: tiny_image <model.safetensors> <tokens.txt> [out.rgba] [f32|bf16]\n"
                         "       tiny_image --compare <a.rgba> <b.rgba>\n");
    return 2;
  }
  try {
    sd::LoadOptions lo;
    lo.compute = argc > 4 && std::string(argv[4]) == "bf16" ? sd::Compute::Bf16 : sd::Compute::F32;
    auto pipe = sd::Pipeline::load(argv[1], lo);
    const sd::ModelInfo& info = pipe->info();
    sd::GenerateParams p;
    if (!read_tokens(argv[2], sd::kEndToken, p.cond, p.uncond)) {
      std::fprintf(stderr, "%s: expected one 'cond' and one 'uncond' line of at most 77 ids\n", argv[2]);
      return 2;
    }
    p.width = p.height = 64;
    p.steps = 8;
    p.seed = 42;
    p.sampler = &sd::sample::sampler("euler");
    p.scheduler = sd::sample::Scheduler::Normal;
    p.cfg_scale = info.default_cfg_scale;
    p.preview = sd::Preview::Off;
    const auto t0 = std::chrono::steady_clock::now();
    const sd::GenerateResult r = pipe->generate(p);
    const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    const std::vector<uint8_t>& img = r.images.at(0);
    uint64_t h = 1469598103934665603ull;  // FNV-1a 64
    double sum = 0;
    for (uint8_t b : img) {
      h = (h ^ b) * 1099511628211ull;
      sum += b;
    }
    if (argc > 3) std::ofstream(argv[3], std::ios::binary).write(reinterpret_cast<const char*>(img.data()), std::streamsize(img.size()));
    std::printf("backend %s, %dx%d, 8 euler steps, cfg %.2f, seed 42, %.1f s\n", info.backend.c_str(),
                r.width, r.height, double(p.cfg_scale), secs);
    std::printf("rgba fnv1a64 %016llx mean %.4f\n", (unsigned long long)h, sum / double(img.size()));
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "tiny_image: %s\n", e.what());
    return 1;
  }
}
