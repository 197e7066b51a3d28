// The end-to-end timings of bench/gpu/run.sh, through the public C++ API (sd.h): the machine it
// runs on has no Node. One JSON object a line on stdout per generation.
//   gpu_bench run --model FILE [--device cuda|cpu|emulated] [--threads N] [--compute f32|bf16]
//                 [--size N] [--steps N] [--batches 1,4,8] [--cfg X] [--seed N] [--warmup STEPS]
//                 [--out FILE.rgba]
//   gpu_bench psnr A.rgba B.rgba [--min DB]
// run: loads once, makes one untimed image of --warmup steps at the same size (weights reach the
// device on first use), then one generation per batch size: euler, fixed prompt token ids (random
// weights do not care which), image i seeded seed + i. --out keeps the first image (raw RGBA).
// psnr: over the RGB bytes of two raw RGBA images; with --min, exit 1 below it.
#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "device_memory.h"
#include "sd.h"

namespace {

using Args = std::map<std::string, std::string>;

Args parse(int argc, char** argv, int first) {
  Args a;
  for (int i = first; i + 1 < argc; i += 2) {
    if (std::string(argv[i]).rfind("--", 0) != 0) throw std::runtime_error(std::string("expected an option, got ") + argv[i]);
    a[argv[i] + 2] = argv[i + 1];
  }
  if ((argc - first) % 2) throw std::runtime_error(std::string(argv[argc - 1]) + " needs a value");
  return a;
}

std::string get(const Args& a, const char* key, const char* fallback) {
  auto it = a.find(key);
  return it == a.end() ? fallback : it->second;
}

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

size_t peak_rss_bytes() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return size_t(u.ru_maxrss) * 1024;
}

std::string quoted(const std::string& s) {
  std::string out = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') out += '\\';
    if (static_cast<unsigned char>(c) >= 0x20) out += c;
  }
  return out + "\"";
}

struct Run {
  int size, steps, batch;
  float cfg;
  uint64_t seed;
};

sd::GenerateParams params(const Run& r, std::vector<double>* step_ms) {
  sd::GenerateParams p;
  p.cond = sd::PromptTokens::one_chunk({320, 1125, 539, 320, 2368, 530, 320, 3720, 267, 1215, 3694});
  p.uncond = sd::PromptTokens::one_chunk({});
  p.width = p.height = r.size;
  p.steps = r.steps;
  p.batch = r.batch;
  p.cfg_scale = r.cfg;
  p.seed = r.seed;
  p.sampler = &sd::sample::sampler("euler");
  p.scheduler = sd::sample::scheduler_from_name(p.sampler->default_scheduler);
  p.preview = sd::Preview::Off;
  if (step_ms) p.on_step = [step_ms](const sd::StepEvent& e) { return step_ms->push_back(e.elapsed_ms), true; };
  return p;
}

// Median time between step events: the first step's delta starts at sampling's start.
double median_step_ms(const std::vector<double>& elapsed) {
  std::vector<double> d;
  for (size_t i = 1; i < elapsed.size(); ++i) d.push_back(elapsed[i] - elapsed[i - 1]);
  if (d.empty()) return elapsed.empty() ? 0 : elapsed[0];
  std::sort(d.begin(), d.end());
  return d[d.size() / 2];
}

int run(const Args& a) {
  for (const auto& kv : a)
    if (std::string(" model device threads compute size steps batches cfg seed warmup out ").find(" " + kv.first + " ") == std::string::npos)
      throw std::runtime_error("unknown option --" + kv.first);
  const std::string device = get(a, "device", "cuda"), compute = get(a, "compute", "f32");
  sd::LoadOptions lo;
  lo.device = device;
  lo.threads = std::atoi(get(a, "threads", "0").c_str());
  lo.compute = compute == "bf16" ? sd::Compute::Bf16 : sd::Compute::F32;
  auto t0 = std::chrono::steady_clock::now();
  auto pipe = sd::Pipeline::load(get(a, "model", ""), lo);
  const double load_s = seconds_since(t0);
  // After the load, which says best why a device cannot be used; weights go up on first use.
  gpu_bench::DeviceMemoryPeak memory(device.rfind("cuda", 0) == 0);
  const sd::ModelInfo& info = pipe->info();

  Run base{std::atoi(get(a, "size", "512").c_str()), std::atoi(get(a, "steps", "20").c_str()), 1,
           std::strtof(get(a, "cfg", "7").c_str(), nullptr), std::strtoull(get(a, "seed", "42").c_str(), nullptr, 10)};
  double warmup_s = 0;
  if (const int warm = std::atoi(get(a, "warmup", "1").c_str()); warm > 0) {
    Run w = base;
    w.steps = warm;
    t0 = std::chrono::steady_clock::now();
    pipe->generate(params(w, nullptr));
    warmup_s = seconds_since(t0);
  }

  std::istringstream batches(get(a, "batches", "1"));
  const std::string out = get(a, "out", "");
  bool first = true;
  for (std::string b; std::getline(batches, b, ',');) {
    Run r = base;
    r.batch = std::atoi(b.c_str());
    std::vector<double> step_ms;
    memory.reset();
    t0 = std::chrono::steady_clock::now();
    const sd::GenerateResult g = pipe->generate(params(r, &step_ms));
    const double total_s = seconds_since(t0);
    const sd::MemoryPlan plan = pipe->plan_memory({r.size, r.size, r.batch, 1, r.cfg > 1});
    bool finite = true;
    for (float v : g.latent) finite = finite && std::isfinite(v);
    double mean = 0;
    for (const auto& img : g.images)
      for (size_t i = 0; i < img.size(); ++i) mean += i % 4 == 3 ? 0 : img[i];
    mean /= double(g.images.size()) * r.size * r.size * 3;
    if (!out.empty() && first) {
      const auto& img = g.images.at(0);
      std::ofstream(out, std::ios::binary).write(reinterpret_cast<const char*>(img.data()), std::streamsize(img.size()));
    }
    std::printf("{\"device\":%s,\"family\":%s,\"compute\":%s,\"threads\":%d,\"size\":%d,\"steps\":%d,\"batch\":%d,"
                "\"cfg\":%g,\"seed\":%llu,\"load_s\":%.3f,\"warmup_s\":%.3f,\"text_s\":%.4f,\"sampling_s\":%.4f,"
                "\"decode_ms\":%.2f,\"decode_tiles\":%d,\"total_s\":%.4f,\"it_per_s\":%.4f,\"step_ms_median\":%.3f,\"images_per_s\":%.4f,"
                "\"peak_activation_bytes\":%zu,\"plan_total_bytes\":%zu,\"device_used_peak_bytes\":%s,"
                "\"device_used_at_load_bytes\":%s,\"peak_rss_bytes\":%zu,\"latent_finite\":%s,\"rgb_mean\":%.3f}\n",
                quoted(info.device).c_str(), quoted(sd::family_name(info.family)).c_str(), quoted(compute).c_str(),
                lo.threads, r.size, r.steps, r.batch, double(r.cfg), (unsigned long long)r.seed, load_s, warmup_s,
                g.seconds_text, g.seconds_sampling, g.seconds_decode * 1e3, g.decode_tiles, total_s,
                g.seconds_sampling > 0 ? r.steps / g.seconds_sampling : 0.0, median_step_ms(step_ms),
                r.batch / total_s, g.peak_activation_bytes, plan.total_bytes(),
                memory.available() ? std::to_string(memory.peak_bytes()).c_str() : "null",
                memory.available() ? std::to_string(memory.at_start_bytes()).c_str() : "null", peak_rss_bytes(),
                finite ? "true" : "false", mean);
    std::fflush(stdout);  // each line survives a later run that times out
    first = false;
  }
  return 0;
}

std::vector<uint8_t> read_file(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  if (!f) throw std::runtime_error("cannot read " + path);
  return std::vector<uint8_t>((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
}

int psnr(const std::string& a_path, const std::string& b_path, const Args& a) {
  const std::vector<uint8_t> x = read_file(a_path), y = read_file(b_path);
  if (x.empty() || x.size() != y.size() || x.size() % 4)
    throw std::runtime_error("images differ in size or are not RGBA (" + std::to_string(x.size()) + " vs " +
                             std::to_string(y.size()) + " bytes)");
  double se = 0;
  int max_diff = 0;
  for (size_t i = 0; i < x.size(); ++i) {
    if (i % 4 == 3) continue;  // alpha is always 255: counting it would flatter the score
    const int d = std::abs(int(x[i]) - int(y[i]));
    se += double(d) * d;
    max_diff = std::max(max_diff, d);
  }
  const double mse = se / double(x.size() / 4 * 3);
  // Identical images have no finite PSNR; 100 dB stands for "equal" (one differing byte in 512² scores ~110).
  const double db = mse > 0 ? std::min(100.0, 10 * std::log10(255.0 * 255.0 / mse)) : 100.0;
  const std::string min = get(a, "min", "");
  const double min_db = std::strtod(min.c_str(), nullptr);
  const bool pass = min.empty() || db >= min_db;
  std::printf("{\"psnr_db\":%.3f,\"mse\":%.6f,\"max_abs_diff\":%d,\"min_db\":%s,\"pass\":%s}\n", db, mse, max_diff,
              min.empty() ? "null" : std::to_string(min_db).c_str(), pass ? "true" : "false");
  return pass ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  const std::string cmd = argc > 1 ? argv[1] : "";
  try {
    if (cmd == "run") return run(parse(argc, argv, 2));
    if (cmd == "psnr" && argc >= 4) return psnr(argv[2], argv[3], parse(argc, argv, 4));
  } catch (const std::exception& e) {
    std::fprintf(stderr, "gpu_bench: %s\n", e.what());
    return 1;
  }
  std::fprintf(stderr,
               "usage: gpu_bench run --model FILE [--device cuda|cpu|emulated] [--threads N] [--compute f32|bf16]\n"
               "                     [--size N] [--steps N] [--batches 1,4,8] [--cfg X] [--seed N] [--warmup STEPS]\n"
               "                     [--out FILE.rgba]\n"
               "       gpu_bench psnr A.rgba B.rgba [--min DB]\n");
  return 2;
}
