// sd-native's C++ API: load a Stable Diffusion checkpoint, generate images. No Node, no
// globals: every call takes its parameters (callbacks included) and returns its results.
//
//   auto sd = sd::Pipeline::load("model.safetensors", {/*threads*/ 0, sd::Compute::Bf16});
//   sd::GenerateParams p;
//   p.cond = {ids, weights};            // CLIP token ids (77 per chunk) + per-token weights
//   p.width = p.height = 512; p.steps = 20; p.cfg_scale = 7; p.seed = 42;
//   p.on_step = [](const sd::StepEvent& e) { return true; };   // false cancels
//   sd::GenerateResult r = sd->generate(p);                    // r.images[i]: RGBA bytes
#pragma once
#include <cstdint>
#include <functional>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "sd_contract.h"
#include "../adapters/adapter_request.h"
#include "../core/backend.h"
#include "../sample/sampler.h"
#include "../sample/schedule.h"

namespace sd {

enum class Compute { F32, Bf16 };
enum class Family { SD1, SD2, SDXL };
// VAE passes in overlapping tiles (runtime/vae_tiles.h): Auto when the whole-image arena exceeds
// LoadOptions::vae_budget_bytes.
enum class VaeTiling { Auto, On, Off };
const char* family_name(Family f);

struct LoadOptions {
  int threads = 0;                 // 0: all hardware threads
  Compute compute = Compute::F32;  // products in f32, or bf16 with f32 accumulation
  std::string prediction;          // "", "eps" or "v": overrides what the checkpoint implies
  std::string vae;                 // path of a VAE .safetensors used instead of the checkpoint's ("": its own)
  size_t adapter_cache_bytes = size_t(defaults::kAdapterCacheMB) << 20;  // merged LoRA sets kept for reuse
  size_t vae_budget_bytes = size_t(defaults::kVaeMemoryMB) << 20;        // VaeTiling::Auto tiles above this
  // TAESD decoder for previews and the fast decode: a .safetensors file, or a folder holding
  // taesd_decoder.safetensors (SD1/SD2) and taesdxl_decoder.safetensors (SDXL). Read on first use.
  std::string taesd;
  // "auto" (CUDA when this build has it and a device is present, else the CPU), "cpu", "cuda",
  // "cuda:N", or "emulated" (a test device: CPU kernels behind device-only memory, see
  // core/emulated/emulated_backend.h). An unusable choice is a DeviceError at load.
  std::string device = "auto";
};

// Token ids from the tokenizer: chunks of 77 (SOT, 75 tokens, EOT/padding) and their weights.
struct PromptTokens {
  std::vector<int32_t> ids;        // chunks × 77: SOT, tokens, EOT, padded with EOT (each encoder
                                   // re-pads as it was trained: OpenCLIP with 0 after the first EOT)
  std::vector<float> weights;      // same length; 1.0 = unweighted
  std::vector<int32_t> eot_index;  // per chunk: first end token (pooled vector for SDXL)
  // Textual-inversion vectors: the rows of ids at embed_positions take these instead of the token
  // embedding. embed_main: one row per position, the main encoder's width (SD1 CLIP-L, SD2 OpenCLIP,
  // SDXL CLIP-L); embed_second: SDXL's bigG rows (empty otherwise).
  std::vector<int32_t> embed_positions;
  std::vector<float> embed_main, embed_second;
  int chunks() const { return int(ids.size() / kTokensPerChunk); }

  // One unweighted chunk from prompt tokens without SOT/EOT (at most 75), for callers that
  // tokenize elsewhere: SOT, tokens, EOT, then EOT padding.
  static PromptTokens one_chunk(const std::vector<int32_t>& tokens) {
    if (tokens.size() > size_t(kTokensPerChunk - 2)) throw std::invalid_argument("one_chunk: more than 75 tokens");
    PromptTokens t;
    t.ids.push_back(kStartToken);
    t.ids.insert(t.ids.end(), tokens.begin(), tokens.end());
    t.eot_index = {int32_t(t.ids.size())};
    t.ids.resize(kTokensPerChunk, kEndToken);
    t.weights.assign(kTokensPerChunk, 1.0f);
    return t;
  }
};

struct StepEvent {
  int step = 0, steps = 0;          // step counts from 1
  float sigma = 0;
  double elapsed_ms = 0;
  // A preview of the first image's denoised latent, RGB bytes: Preview::Cheap is a linear map at
  // latent size (width/8 × height/8), Preview::Taesd the TAESD decode at full size.
  const uint8_t* preview = nullptr;
  int preview_width = 0, preview_height = 0;
};

struct InitImage {
  std::vector<uint8_t> rgb;        // width × height × 3
  int width = 0, height = 0;
};

// Inpainting (A1111 semantics). The caller has already blurred, cropped and resized the mask to the
// init image's size; the runtime keeps the unmasked latent, feeds 9-channel inpainting UNets their
// mask + masked-image conditioning, and blends the kept latent back after every step.
enum class InpaintFill { Original, LatentNoise, LatentNothing };  // A1111 "masked content" 1, 2, 3 (0 "fill" is pixel-side)
struct InpaintMask {
  std::vector<uint8_t> pixels;     // init width × height, 0..255, 255 = repaint (A1111's image_mask)
  std::vector<float> latent;       // (height/8) × (width/8), 1 = repaint (A1111's rounded nmask)
  InpaintFill fill = InpaintFill::Original;
};

enum class Preview { Off, Cheap, Taesd };
enum class Decoder { Vae, Taesd };  // the final decode: the checkpoint's VAE, or TAESD (fast, approximate)

struct GenerateParams {
  PromptTokens cond, uncond;
  // Optional, one per image (batch entries): different prompts and seeds in ONE UNet batch.
  // Empty: every image uses cond/uncond and seed + i.
  std::vector<PromptTokens> image_conds, image_unconds;
  std::vector<uint64_t> image_seeds;
  // Prompt editing / alternation (A1111's reconstruct_cond_batch): model call k, counted from 0,
  // uses the first segment with k <= end_at_step. Each segment has one cond and uncond per image,
  // or one shared. Empty: cond/uncond (or image_conds) throughout.
  struct PromptSegment {
    int end_at_step = 0;
    std::vector<PromptTokens> conds, unconds;
  };
  std::vector<PromptSegment> segments;
  int width = 512, height = 512, steps = defaults::kSteps, batch = defaults::kBatch, clip_skip = defaults::kClipSkip;
  float cfg_scale = defaults::kCfgScale;
  float cfg_rescale = 0;           // ComfyUI's RescaleCFG φ; 0: plain CFG
  uint64_t seed = 0;               // image i uses seed + i
  // Resolved by whoever reads the request (the addon, from the contract's names): the runtime gets
  // the registry entry and the schedule kind, never a name to look up again.
  const sample::SamplerInfo* sampler = &sample::sampler(defaults::kSampler);
  sample::Scheduler scheduler = sample::scheduler_from_name(sampler->default_scheduler);
  std::string rng = defaults::kRng;  // "cpu" (torch CPU generator) or "cuda"/"nv" (Philox)
  float eta = defaults::kEta;
  const InitImage* init_image = nullptr;  // img2img when set
  const InpaintMask* mask = nullptr;      // inpainting when set (needs init_image)
  // img2img from a latent instead of an image (hires fix's second pass): [batch or 1, 4, h/8, w/8], scaled.
  const std::vector<float>* init_latent = nullptr;
  // Double, as A1111 computes int(strength · steps) in Python floats (0.7f · 20 would give 13, not 14).
  double strength = defaults::kStrength;
  // img2img steps as A1111's setup_img2img_steps: false, int(strength·steps) + 1 steps at the end of a
  // steps-long schedule; true (its hires pass, "img2img_fix_steps"), exactly `steps` steps at the end
  // of a schedule of int(steps / strength). Strength 0 returns the start unchanged either way.
  bool exact_steps = false;
  bool decode = true;              // false: the latent only (a first pass whose image nobody looks at)
  VaeTiling vae_tiling = VaeTiling::Auto;
  bool tiling = false;             // A1111's "Tiling": every UNet/VAE conv pads circularly, the image tiles seamlessly
  Preview preview = Preview::Cheap;
  Decoder decoder = Decoder::Vae;
  // SDXL size conditioning (0 = the generated width/height, crop 0,0), as the reference pipelines default.
  int original_width = 0, original_height = 0, crop_top = 0, crop_left = 0, target_width = 0, target_height = 0;
  // LoRA / LyCORIS files applied to this generation (merged once per distinct set, then reused).
  std::vector<adapters::AdapterRequest> adapters;
  std::function<bool(const StepEvent&)> on_step;   // return false to cancel
  std::function<bool()> should_continue;           // polled between stages (text, each step, VAE)
};

// One VAE pass (decode or img2img encode): how it may tile, and what it did.
struct VaePass {
  VaeTiling tiling = VaeTiling::Auto;
  std::function<bool()> keep_going;  // polled after each tile; false stops the pass early
  int tiles = 0;                     // out: tiles per image; 0: the whole image in one graph
};

struct GenerateResult {
  std::vector<std::vector<uint8_t>> images;  // RGBA, width × height × 4 each
  int width = 0, height = 0;
  std::vector<float> latent;                 // final latent [batch, 4, h/8, w/8] (before scaling back)
  std::vector<uint64_t> seeds;
  bool cancelled = false;
  double seconds_text = 0, seconds_sampling = 0, seconds_decode = 0;
  size_t peak_activation_bytes = 0;
  int decode_tiles = 0, encode_tiles = 0;    // VAE tiles per image; 0: the whole image in one graph
  adapters::AdapterReport adapters;
};

// What a generation would plan, measured on its graphs without allocating them (Graph::measure):
// the server admits a request only if weights + the largest stage fit its memory budget.
struct PlanRequest {
  int width = 512, height = 512, batch = 1, chunks = 1;  // chunks: 77-token chunks of the longest prompt
  bool cfg = true;                 // CFG doubles the UNet batch
  bool img2img = false;            // adds the VAE encoder pass
  VaeTiling vae_tiling = VaeTiling::Auto;
};
struct MemoryPlan {
  size_t weights_bytes = 0;        // the checkpoint file (mapped; its pages stay resident while used)
  size_t text_bytes = 0;           // text encoder activations for `chunks`
  size_t unet_bytes = 0;           // UNet activations for the (CFG) batch
  size_t vae_bytes = 0;            // the VAE pass(es) as vae_tiling would run them
  size_t vae_whole_bytes = 0;      // the same passes on the whole image
  size_t vae_tiled_bytes = 0;      // the same passes in tiles
  int vae_tiles = 0;               // tiles per image as vae_tiling would run it; 0: the whole image
  // weights + the largest stage (stages run one after another, each graph freed before the next)
  size_t total_bytes() const;
};

struct ModelInfo {
  Family family = Family::SD1;
  std::string prediction;          // "eps" or "v"
  int unet_model_channels = 0, unet_context_dim = 0, unet_adm_channels = 0;
  int clip_width = 0, clip_layers = 0, clip_heads = 0;
  int vae_downscale = 8, latent_channels = 4;
  // 9-channel inpainting UNets (SD1.5/SDXL "inpainting" checkpoints) take the latent plus a 1-channel
  // mask and the 4-channel latent of the masked image.
  int unet_in_channels = 4;
  bool inpainting_unet() const { return unet_in_channels == latent_channels + 5; }
  float vae_scale_factor = 0.18215f;
  int default_size = 512;
  // The sampling settings a model was evaluated at, when its file records them ("sd_native.steps",
  // "sd_native.cfg_scale"): a small model can need other settings than SD's usual 20 steps at CFG 7.
  int default_steps = defaults::kSteps;
  float default_cfg_scale = defaults::kCfgScale;
  size_t tensors = 0, file_bytes = 0;
  std::string backend;
  std::string device;              // what runs: "cpu", "cuda:0 (NVIDIA H100 …)", "emulated"
};

class Pipeline {
 public:
  static std::unique_ptr<Pipeline> load(const std::string& path, const LoadOptions& options);
  virtual ~Pipeline() = default;
  virtual const ModelInfo& info() const = 0;
  virtual GenerateResult generate(const GenerateParams& params) = 0;
  // The activation memory generate() would plan for this request, without running or allocating.
  virtual MemoryPlan plan_memory(const PlanRequest& request) const = 0;
  // The context the UNet sees for one prompt: [1, 77·chunks, context_dim].
  virtual std::vector<float> encode_text(const PromptTokens& tokens, int clip_skip) = 0;
  // Forward diffusion q(x_t | x_0) = √ᾱ_t·x0 + √(1−ᾱ_t)·ε, for any latent shape (t integer 0..999).
  virtual std::vector<float> add_noise(const std::vector<float>& latent, int t, const std::vector<float>& noise) const = 0;
  // RGB image (values 0..255) -> scaled latent mean (img2img start, without noise).
  virtual std::vector<float> encode_image(const InitImage& image, const std::vector<float>* noise, VaePass* pass = nullptr) = 0;
  // Scaled latent [B, 4, h, w] -> RGBA images (fewer than B when pass->keep_going stopped it).
  virtual std::vector<std::vector<uint8_t>> decode_latent(const std::vector<float>& latent, int batch, int h, int w, VaePass* pass = nullptr) = 0;
  // Host <-> device traffic of this model's backend since load (zeros on the CPU).
  virtual TransferStats transfers() const = 0;
};

}  // namespace sd
