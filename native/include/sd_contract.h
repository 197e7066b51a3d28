// The contract between sd-native and its callers, defined once: every load/generate option with
// its type, default, range and meaning; the sampler and scheduler names with their aliases; the
// CLIP token constants. The addon exposes it (contract()), lib/options.ts validates from it, and
// GenerateParams / LoadOptions take their defaults from the same constants.
//
//   for (const sd::OptionSpec& o : sd::generate_option_specs()) printf("%s: %s\n", o.name.c_str(), o.doc.c_str());
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace sd {

// CLIP's vocabulary: start and end tokens, and the 77-token window (75 prompt tokens + SOT + EOT).
constexpr int32_t kStartToken = 49406;
constexpr int32_t kEndToken = 49407;
constexpr int kTokensPerChunk = 77;

namespace defaults {
constexpr int kSteps = 20;
constexpr float kCfgScale = 7.0f;
constexpr int kBatch = 1;
constexpr int kClipSkip = 1;
constexpr float kEta = 1.0f;
constexpr float kStrength = 0.75f;
constexpr const char* kSampler = "euler_ancestral";
constexpr const char* kScheduler = "automatic";  // the sampler's own default schedule
constexpr const char* kRng = "cpu";
constexpr int kAdapterCacheMB = 1024;
// vaeTiling 'auto' tiles a VAE pass whose whole-image activations would exceed this. Planned SD
// VAE decode arenas: 768² 1.6 GiB, 1024² 2.8 GiB, 1536² 6.2 GiB, 2048² 11 GiB. So every family's
// native size runs whole, as the reference does (an SD1 1024² decode at 2.8 GiB stays under what
// sampling held: 3.4 GB of f32 UNet weights, released before the decode), and upscales tile. A
// fixed number, not a share of this machine's RAM: one request gives one image on every machine.
constexpr int kVaeMemoryMB = 3072;
constexpr const char* kVaeTiling = "auto";
constexpr int kMaxLoras = 32;  // per generation: more is a mistake, not a style
}  // namespace defaults

enum class OptionType { String, Integer, Number, Seed, Enum, Boolean, Function, Signal, Image, Loras };
const char* option_type_name(OptionType type);

struct OptionSpec {
  std::string name;
  OptionType type = OptionType::String;
  double min = 0, max = 0;           // Integer, Number, Seed
  int multiple_of = 0;               // Integer: 0 = any
  std::vector<std::string> values;   // Enum
  std::vector<std::string> booleans; // Enum: the values true and false stand for (empty: booleans refused)
  // The default, as JSON text ("20", "\"euler_ancestral\"", "true"); empty: none (optional, or
  // required, or filled from the loaded model, as width and height are).
  std::string default_json;
  bool required = false;
  std::string doc;
};

const std::vector<OptionSpec>& generate_option_specs();
const std::vector<OptionSpec>& load_option_specs();

struct NameSpec {
  std::string name;                  // canonical (k-diffusion / ComfyUI) name
  std::vector<std::string> aliases;  // A1111 label first, then sd.cpp, k-diffusion, diffusers spellings
  std::string default_scheduler;     // samplers: what "automatic" means for it; schedulers: empty
};

std::vector<NameSpec> sampler_specs();
std::vector<NameSpec> scheduler_specs();
// Scheduler spellings that mean "the sampler's default" (A1111 "Automatic", sd.cpp "default").
const std::vector<std::string>& automatic_scheduler_aliases();

}  // namespace sd
