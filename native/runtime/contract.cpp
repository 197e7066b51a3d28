// The option tables of sd_contract.h. Docs are what users read (the addon hands them to JS, which
// prints them in errors and --help), so they say what a value does, in the caller's terms.
#include <cmath>

#include "sample/sampler.h"
#include "sample/schedule.h"
#include "sd_contract.h"

namespace sd {
namespace {

std::string number_json(double v) {
  if (v == std::floor(v) && std::fabs(v) < 1e15) return std::to_string(int64_t(v));
  std::string s = std::to_string(v);
  while (!s.empty() && s.back() == '0') s.pop_back();
  return s;
}
std::string string_json(const char* s) { return std::string("\"") + s + "\""; }

OptionSpec integer(const char* name, double min, double max, std::string def, const char* doc, int multiple_of = 0) {
  OptionSpec o;
  o.name = name, o.type = OptionType::Integer, o.min = min, o.max = max, o.multiple_of = multiple_of, o.default_json = std::move(def), o.doc = doc;
  return o;
}
OptionSpec number(const char* name, double min, double max, double def, const char* doc) {
  OptionSpec o;
  o.name = name, o.type = OptionType::Number, o.min = min, o.max = max, o.default_json = number_json(def), o.doc = doc;
  return o;
}
OptionSpec of_type(const char* name, OptionType type, std::string def, const char* doc) {
  OptionSpec o;
  o.name = name, o.type = type, o.default_json = std::move(def), o.doc = doc;
  return o;
}
OptionSpec enumeration(const char* name, std::vector<std::string> values, const char* def, const char* doc) {
  OptionSpec o = of_type(name, OptionType::Enum, string_json(def), doc);
  o.values = std::move(values);
  return o;
}

// Largest safe integer of a double: seeds pass through JavaScript numbers.
constexpr double kMaxSeed = 9007199254740991.0;

}  // namespace

const char* option_type_name(OptionType type) {
  switch (type) {
    case OptionType::String: return "string";
    case OptionType::Integer: return "integer";
    case OptionType::Number: return "number";
    case OptionType::Seed: return "seed";
    case OptionType::Enum: return "enum";
    case OptionType::Boolean: return "boolean";
    case OptionType::Function: return "function";
    case OptionType::Signal: return "signal";
    case OptionType::Image: return "image";
    case OptionType::Loras: return "loras";
  }
  return "?";
}

const std::vector<OptionSpec>& generate_option_specs() {
  static const std::vector<OptionSpec> table = [] {
    std::vector<OptionSpec> t;
    OptionSpec prompt = of_type("prompt", OptionType::String, "", "A1111 prompt syntax: (word:1.2), [word], BREAK");
    prompt.required = true;
    t.push_back(prompt);
    t.push_back(of_type("negativePrompt", OptionType::String, "\"\"", "what to steer away from"));
    t.push_back(integer("width", 64, 4096, "", "pixels; default: the family's size (SD1 512, SD2 768, SDXL 1024)", 8));
    t.push_back(integer("height", 64, 4096, "", "pixels; default as width", 8));
    t.push_back(integer("steps", 1, 1000, number_json(defaults::kSteps), "sampling steps (the model's recorded default if its file has one)"));
    t.push_back(number("cfgScale", 0, 100, defaults::kCfgScale,
                       "classifier-free guidance scale (the model's recorded default if its file has one); 1 skips the negative pass"));
    t.push_back(number("cfgRescale", 0, 1, 0,
                       "rescale φ of the CFG result toward the conditional prediction's spread (ComfyUI's RescaleCFG); 0: off, 0.7 for v-prediction / zero-SNR models"));
    OptionSpec seed = of_type("seed", OptionType::Seed, "-1", "-1: random; image i of a batch uses seed + i");
    seed.min = -1, seed.max = kMaxSeed;
    t.push_back(seed);
    t.push_back(of_type("sampler", OptionType::String, string_json(defaults::kSampler), "any name samplers() lists (\"Euler a\", \"DPM++ 2M Karras\", \"dpmpp_2m\")"));
    t.push_back(of_type("scheduler", OptionType::String, string_json(defaults::kScheduler), "any name schedulers() lists; 'automatic': the sampler's default"));
    t.push_back(enumeration("rng", {"cpu", "cuda", "nv"}, defaults::kRng,
                            "'cpu': torch CPU generator; 'cuda' (= A1111 'NV'): Philox, as on NVIDIA GPUs"));
    t.push_back(number("eta", 0, 10, defaults::kEta, "noise multiplier of ancestral samplers"));
    t.push_back(integer("clipSkip", 1, 12, number_json(defaults::kClipSkip), "1: last CLIP layer; 2: penultimate (A1111 'Clip skip')"));
    t.push_back(integer("batchSize", 1, 16, number_json(defaults::kBatch), "images per call"));
    t.push_back(of_type("initImage", OptionType::Image, "",
                        "img2img input: PNG bytes or { data, width, height, channels }, any size (fitted to the output by resizeMode)"));
    t.push_back(number("strength", 0, 1, defaults::kStrength, "img2img denoising strength"));
    t.push_back(enumeration("resizeMode", {"just_resize", "crop_and_resize", "resize_and_fill", "latent_upscale"}, "just_resize",
                            "how an init image of another size is fitted (A1111's resize modes: stretch, crop to fill, fit and extend the "
                            "edges, or encode at its own size and resize the latent)"));
    t.push_back(of_type("mask", OptionType::Image, "",
                        "inpainting: same size as initImage; white (or opaque, for a mask with transparency) is repainted"));
    t.push_back(integer("maskBlur", 0, 64, "4", "mask edge softening in pixels (A1111 'Mask blur': a Gaussian of this sigma)"));
    t.push_back(of_type("maskInvert", OptionType::Boolean, "false", "repaint what the mask leaves black instead"));
    t.push_back(enumeration("inpaintingFill", {"fill", "original", "latent_noise", "latent_nothing"}, "original",
                            "what the masked area starts from (A1111 'Masked content'): blurred surrounding colours, the original, noise, or zeros"));
    t.push_back(enumeration("inpaintArea", {"whole", "masked"}, "whole",
                            "'masked': generate only a box around the mask at the output size, then paste it back (A1111 'Only masked')"));
    t.push_back(integer("inpaintPadding", 0, 1024, "32", "pixels of context around the mask for inpaintArea 'masked'"));
    for (const char* side : {"outpaintLeft", "outpaintRight", "outpaintTop", "outpaintBottom"})
      t.push_back(integer(side, 0, 4096, "0",
                          "outpainting: pixels to add on this side of initImage; the new border (and 2·maskBlur into the original) is "
                          "inpainted, the canvas rounded up to the VAE's multiple"));
    t.push_back(of_type("hires", OptionType::Boolean, "false",
                        "hires fix (A1111): generate at width × height, upscale, then refine at the larger size with a second img2img pass"));
    t.push_back(number("hiresScale", 1, 8, 2, "hires fix: upscale factor (ignored when hiresWidth or hiresHeight is set)"));
    t.push_back(integer("hiresWidth", 0, 16384, "0", "hires fix: target width (0: from hiresScale, or from hiresHeight keeping the aspect)"));
    t.push_back(integer("hiresHeight", 0, 16384, "0", "hires fix: target height (0: from hiresScale, or from hiresWidth keeping the aspect)"));
    t.push_back(enumeration("hiresUpscaler",
                            {"latent", "latent_antialiased", "latent_bicubic", "latent_bicubic_antialiased", "latent_nearest",
                             "latent_nearest_exact", "lanczos", "nearest"},
                            "latent", "hires fix: how the first pass is enlarged (A1111's Latent modes on the latent, or Lanczos/Nearest on the image)"));
    t.push_back(integer("hiresSteps", 0, 1000, "0", "hires fix: steps of the second pass (0: the same as steps)"));
    t.push_back(number("hiresStrength", 0, 1, 0.7, "hires fix: denoising strength of the second pass"));
    t.push_back(of_type("hiresSampler", OptionType::String, "\"\"", "hires fix: the second pass's sampler ('': the same)"));
    t.push_back(of_type("hiresScheduler", OptionType::String, "\"\"", "hires fix: the second pass's scheduler ('': the same)"));
    t.push_back(of_type("hiresPrompt", OptionType::String, "\"\"",
                        "hires fix: the second pass's prompt, its <lora:…> tags the second pass's LoRA set ('': the same prompt)"));
    t.push_back(of_type("hiresNegativePrompt", OptionType::String, "\"\"", "hires fix: the second pass's negative prompt ('': the same)"));
    OptionSpec tiling = enumeration("vaeTiling", {"auto", "true", "false"}, defaults::kVaeTiling,
                                    "VAE decode and img2img encode in overlapping tiles (512² pixels for SD): true, false, or 'auto' "
                                    "(tiles when the whole image would need more activation memory than the load option vaeMemoryMB)");
    tiling.booleans = {"true", "false"};
    t.push_back(tiling);
    t.push_back(of_type("tiling", OptionType::Boolean, "false",
                        "seamless tiling (A1111 'Tiling'): every UNet and VAE convolution pads circularly, so the image "
                        "repeats without a visible seam left to right and top to bottom"));
    OptionSpec preview = enumeration("preview", {"cheap", "taesd", "off"}, "cheap",
                                     "RGB preview with each onStep event: 'cheap' (true) a linear map at latent size, "
                                     "'taesd' the TAESD decoder at full size, 'off' (false) none");
    preview.booleans = {"cheap", "off"};
    t.push_back(preview);
    t.push_back(enumeration("decoder", {"vae", "taesd"}, "vae",
                            "final decode: the checkpoint's VAE, or TAESD (about 10x faster, approximate; load option taesd)"));
    t.push_back(integer("originalWidth", 0, 16384, "0", "SDXL size conditioning: the original image width it was 'taken from' (0: the output width)"));
    t.push_back(integer("originalHeight", 0, 16384, "0", "SDXL size conditioning: original height (0: the output height)"));
    t.push_back(integer("cropTop", 0, 16384, "0", "SDXL crop conditioning: top offset of the crop (0: uncropped)"));
    t.push_back(integer("cropLeft", 0, 16384, "0", "SDXL crop conditioning: left offset of the crop (0: uncropped)"));
    t.push_back(integer("targetWidth", 0, 16384, "0", "SDXL size conditioning: target width (0: the output width)"));
    t.push_back(integer("targetHeight", 0, 16384, "0", "SDXL size conditioning: target height (0: the output height)"));
    OptionSpec loras = of_type("loras", OptionType::Loras, "[]",
                               "LoRA / LyCORIS files: [{ path, weight }] or [{ path, textWeight, unetWeight }]; <lora:name:weight> in the "
                               "prompt adds the file name.safetensors from loraDir, as A1111 does");
    loras.max = defaults::kMaxLoras;
    t.push_back(loras);
    t.push_back(of_type("signal", OptionType::Signal, "", "AbortSignal: aborting stops within one step and rejects with signal.reason"));
    t.push_back(of_type("onStep", OptionType::Function, "", "({ step, steps, sigma, elapsedMs, preview }) => void"));
    return t;
  }();
  return table;
}

const std::vector<OptionSpec>& load_option_specs() {
  static const std::vector<OptionSpec> table = [] {
    std::vector<OptionSpec> t;
    t.push_back(integer("threads", 0, 1024, "0", "worker threads; 0: all hardware threads"));
    t.push_back(enumeration("dtype", {"f32", "bf16"}, "f32", "compute precision of products; 'bf16' needs AVX512-BF16 or ARM BF16 to be fast"));
    t.push_back(enumeration("prediction", {"auto", "eps", "v"}, "auto",
                            "what the UNet predicts; 'auto': a v_pred key or modelspec.prediction_type in the file, else for SD2 "
                            "A1111's test run of the UNet (768-v gives 'v'), else eps"));
    t.push_back(of_type("vae", OptionType::String, "\"\"",
                        "a VAE .safetensors (e.g. vae-ft-mse-840000-ema-pruned) used instead of the checkpoint's own; \"\": the checkpoint's"));
    t.push_back(of_type("loraDir", OptionType::String, "\"\"", "folder where <lora:name:weight> prompt tags find name.safetensors (searched with its subfolders)"));
    t.push_back(integer("loraCacheMB", 0, 1 << 20, number_json(defaults::kAdapterCacheMB),
                        "memory for merged LoRA sets kept for the next request (least recently used dropped first)"));
    t.push_back(integer("vaeMemoryMB", 0, 1 << 20, number_json(defaults::kVaeMemoryMB),
                        "activation memory a whole-image VAE pass may plan; above it generate()'s vaeTiling 'auto' decodes in tiles"));
    t.push_back(integer("maxPromptChunks", 1, 1000, "16",
                        "75-token chunks a prompt may use (BREAK starts one); longer prompts are refused, not truncated, "
                        "since every chunk costs a text-encoder pass"));
    t.push_back(of_type("embeddingsDir", OptionType::String, "\"\"",
                        "folder of textual-inversion .safetensors files; a prompt that names one (its file name) uses its vectors"));
    t.push_back(of_type("taesd", OptionType::String, "\"\"",
                        "TAESD decoder for preview 'taesd' and decoder 'taesd': a .safetensors file, or a folder with taesd_decoder / "
                        "taesdxl_decoder.safetensors picked by the model's family; default: the package's models/taesd"));
    t.push_back(of_type("device", OptionType::String, string_json("auto"),
                        "where the model runs: 'auto' (CUDA when this build has it and a GPU is present, else the CPU), 'cpu', "
                        "'cuda', 'cuda:N', or 'emulated' (a test device: CPU kernels behind memory the host cannot touch)"));
    t.push_back(of_type("signal", OptionType::Signal, "", "AbortSignal: rejects with signal.reason (the file is released once the load ends)"));
    t.push_back(of_type("onProgress", OptionType::Function, "", "({ phase: 'loading' | 'ready', fraction }) => void"));
    return t;
  }();
  return table;
}

std::vector<NameSpec> sampler_specs() {
  std::vector<NameSpec> out;
  for (const auto& s : sample::samplers()) out.push_back({s.name, {s.aliases.begin(), s.aliases.end()}, s.default_scheduler});
  return out;
}

std::vector<NameSpec> scheduler_specs() {
  std::vector<NameSpec> out;
  for (const std::string& name : sample::scheduler_names()) {
    const std::vector<const char*> aliases = sample::scheduler_aliases(name);
    out.push_back({name, {aliases.begin(), aliases.end()}, ""});
  }
  return out;
}

const std::vector<std::string>& automatic_scheduler_aliases() {
  static const std::vector<std::string> names = {"automatic", "auto", "default"};
  return names;
}

}  // namespace sd
