// Cross-architecture smoke test: one 64x64 image of the small model through the public C++
// API (sd.h), seed 42, 8 euler steps at the model's own CFG, and a fingerprint of its RGBA
// bytes (FNV-1a 64 and mean). test/e2e/arm64.test.ts runs it natively and under qemu-aarch64
// and compares the raw images.
//   tiny_image <model.safetensors> <tokens.txt> [out.rgba] [f32|bf16]
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "sd.h"

namespace {

// "cond <ids...>" and "uncond <ids...>" lines (SOT .. EOT), made one 77-token chunk each.
bool read_tokens(const char* path, sd::PromptTokens& cond, sd::PromptTokens& uncond) {
  std::ifstream f(path);
  std::string line;
  int found = 0;
  while (std::getline(f, line)) {
    std::istringstream in(line);
    std::string key;
    in >> key;
    sd::PromptTokens* t = key == "cond" ? &cond : key == "uncond" ? &uncond : nullptr;
    if (!t) continue;
    std::vector<int32_t> ids;
    int32_t id;
    while (in >> id) ids.push_back(id);
    if (ids.size() < 2 || ids.size() > size_t(sd::kTokensPerChunk) || ids.front() != sd::kStartToken || ids.back() != sd::kEndToken)
      return false;
    *t = sd::PromptTokens::one_chunk({ids.begin() + 1, ids.end() - 1});
    ++found;
  }
  return found == 2;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 3) {
    std::fprintf(stderr, "usage: tiny_image <model.safetensors> <tokens.txt> [out.rgba] [f32|bf16]\n");
    return 2;
  }
  try {
    sd::LoadOptions lo;
    lo.compute = argc > 4 && std::string(argv[4]) == "bf16" ? sd::Compute::Bf16 : sd::Compute::F32;
    auto pipe = sd::Pipeline::load(argv[1], lo);
    const sd::ModelInfo& info = pipe->info();
    sd::GenerateParams p;
    if (!read_tokens(argv[2], p.cond, p.uncond)) {
      std::fprintf(stderr, "%s: expected one 'cond' and one 'uncond' line of at most 77 ids, SOT first and EOT last\n", argv[2]);
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
