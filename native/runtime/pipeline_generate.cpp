// txt2img / img2img: noise -> sampler over the CFG UNet -> VAE decode, with step events,
// previews and cancellation between stages.
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <optional>

#include "core/error.h"
#include "core/graph.h"
#include "inpaint.h"
#include "pipeline_impl.h"
#include "sample/brownian_tree.h"
#include "sample/noise.h"
#include "sample/sampler.h"
#include "unet_runner.h"

namespace sd::runtime {
namespace {

using Clock = std::chrono::steady_clock;
double seconds_since(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

// Cheap latent -> RGB: a fixed linear map per family (A1111's "Approx cheap" idea).
void latent_preview(const float* latent, int64_t h, int64_t w, Family family, std::vector<uint8_t>& rgb) {
  static const float sd1[4][3] = {{0.298f, 0.207f, 0.208f}, {0.187f, 0.286f, 0.173f}, {-0.158f, 0.189f, 0.264f}, {-0.184f, -0.271f, -0.473f}};
  static const float sdxl[4][3] = {{0.3651f, 0.4232f, 0.4341f}, {-0.2533f, -0.0042f, 0.1068f}, {0.1076f, 0.1111f, -0.0362f}, {-0.3165f, -0.2492f, -0.2188f}};
  const float(*m)[3] = family == Family::SDXL ? sdxl : sd1;
  rgb.resize(size_t(h * w * 3));
  for (int64_t p = 0; p < h * w; ++p)
    for (int c = 0; c < 3; ++c) {
      float v = 0;
      for (int k = 0; k < 4; ++k) v += latent[k * h * w + p] * m[k][c];
      v = (v + 1.0f) * 127.5f;
      rgb[size_t(p * 3 + c)] = uint8_t(v < 0 ? 0 : v > 255 ? 255 : v + 0.5f);
    }
}

struct StepState {
  const GenerateParams* params;
  Family family;
  int64_t h, w;
  Clock::time_point t0;
  std::vector<uint8_t> preview;
  TaesdImages* taesd = nullptr;  // set for Preview::Taesd
};

bool on_sampler_step(void* user, int step, int steps, const float* x, const float* denoised, float sigma) {
  auto* s = static_cast<StepState*>(user);
  (void)x;
  if (s->params->should_continue && !s->params->should_continue()) return false;
  if (!s->params->on_step) return true;
  StepEvent e;
  e.step = step + 1;
  e.steps = steps;
  e.sigma = sigma;
  e.elapsed_ms = seconds_since(s->t0) * 1000.0;
  if (s->taesd && denoised) {
    s->taesd->decode(denoised, 3, s->preview);
    e.preview = s->preview.data();
    e.preview_width = s->taesd->width();
    e.preview_height = s->taesd->height();
  } else if (s->params->preview == Preview::Cheap && denoised) {
    latent_preview(denoised, s->h, s->w, s->family, s->preview);
    e.preview = s->preview.data();
    e.preview_width = int(s->w);
    e.preview_height = int(s->h);
  }
  return s->params->on_step(e);
}

}  // namespace

std::vector<uint8_t> PipelineImpl::to_rgba(const float* image, int h, int w) const {
  std::vector<uint8_t> rgba(size_t(h) * size_t(w) * 4);
  const int64_t plane = int64_t(h) * w;
  for (int64_t p = 0; p < plane; ++p) {
    for (int c = 0; c < 3; ++c) {
      float v = (image[c * plane + p] + 1.0f) * 0.5f;
      v = v < 0 ? 0 : v > 1 ? 1 : v;
      rgba[size_t(p * 4 + c)] = uint8_t(std::lround(v * 255.0f));
    }
    rgba[size_t(p * 4 + 3)] = 255;
  }
  return rgba;
}

std::vector<float> PipelineImpl::add_noise(const std::vector<float>& latent, int t, const std::vector<float>& noise) const {
  if (t < 0 || t >= int(schedule_.alphas_cumprod().size())) throw Error("timestep must be in 0..999, got " + std::to_string(t));
  if (noise.size() != latent.size()) throw Error("noise and latent differ in size");
  const double a = schedule_.alphas_cumprod()[size_t(t)];
  const float sa = float(std::sqrt(a)), sb = float(std::sqrt(1.0 - a));
  std::vector<float> out(latent.size());
  for (size_t i = 0; i < out.size(); ++i) out[i] = sa * latent[i] + sb * noise[i];
  return out;
}

std::vector<std::vector<uint8_t>> PipelineImpl::decode_latent(const std::vector<float>& latent, int batch, int h, int w, VaePass* pass) {
  const int64_t c = info_.latent_channels, per = c * h * w;
  if (int64_t(latent.size()) != batch * per) throw Error("latent size does not match [batch, 4, h, w]");
  Context ctx;
  Tensor* z = ctx.new_tensor(DType::F32, {1, c, h, w}, "z");
  Tensor* image = vae_->decode(ctx, z);
  Graph g(*backend_, {image});
  VaePass whole;
  VaePass& vp = pass ? *pass : whole;
  vp.tiles = 0;
  if (wants_tiles(vp.tiling, g.measure(), vae_budget_bytes_)) return decode_tiled(latent, batch, h, w, vp);
  g.plan();
  Graph::Profile profile;
  const char* want_profile = std::getenv("SD_NATIVE_PROFILE");
  if (want_profile && *want_profile && *want_profile != '0') g.set_profile(&profile);
  std::vector<std::vector<uint8_t>> out;
  std::vector<float> z_host(static_cast<size_t>(per)), pixels(static_cast<size_t>(image->numel()));
  for (int b = 0; b < batch; ++b) {
    for (int64_t i = 0; i < per; ++i) z_host[size_t(i)] = latent[size_t(b * per + i)] / info_.vae_scale_factor;
    backend_->upload(z, z_host.data(), z->nbytes());
    g.compute();
    backend_->download(image, pixels.data(), image->nbytes());
    out.push_back(to_rgba(pixels.data(), h * info_.vae_downscale, w * info_.vae_downscale));
  }
  if (want_profile && *want_profile && *want_profile != '0')
    std::fprintf(stderr, "VAE decode time by op (%s, arena %zu MiB):\n%s", backend_->name().c_str(), g.arena_bytes() >> 20, profile.report().c_str());
  return out;
}

std::vector<float> PipelineImpl::encode_image(const InitImage& img, const std::vector<float>* noise, VaePass* pass) {
  const int64_t plane = int64_t(img.width) * img.height;
  if (int64_t(img.rgb.size()) != plane * 3) throw Error("init image data does not match its size");
  std::vector<float> chw(size_t(plane * 3));
  for (int64_t p = 0; p < plane; ++p)
    for (int c = 0; c < 3; ++c) chw[size_t(c * plane + p)] = img.rgb[size_t(p * 3 + c)] / 127.5f - 1.0f;
  return encode_pixels(chw, img.width, img.height, noise, pass);
}

std::vector<float> PipelineImpl::encode_pixels(const std::vector<float>& chw, int width, int height, const std::vector<float>* noise,
                                               VaePass* pass) {
  const int f = info_.vae_downscale;
  if (width % f || height % f) throw Error("init image size must be a multiple of " + std::to_string(f));
  Context ctx;
  Tensor* x = ctx.new_tensor(DType::F32, {1, 3, height, width}, "image");
  Tensor* moments = vae_->encode(ctx, x);
  Graph g(*backend_, {moments});
  VaePass whole;
  VaePass& vp = pass ? *pass : whole;
  vp.tiles = 0;
  const bool tiled = wants_tiles(vp.tiling, g.measure(), vae_budget_bytes_);
  std::vector<float> host_moments;
  if (tiled) {
    host_moments = encode_tiled(chw, height / f, width / f, vp);
  } else {
    g.plan();
    backend_->upload(x, chw.data(), x->nbytes());
    g.compute();
    host_moments.resize(size_t(moments->numel()));
    backend_->download(moments, host_moments.data(), moments->nbytes());
  }
  const int64_t zc = moments->shape[1] / 2, n = zc * moments->shape[2] * moments->shape[3];
  const float* m = host_moments.data();
  std::vector<float> z(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) {
    float mean = m[i], logvar = std::min(20.0f, std::max(-30.0f, m[n + i]));
    float v = mean + (noise ? std::exp(0.5f * logvar) * (*noise)[size_t(i)] : 0.0f);
    z[size_t(i)] = v * info_.vae_scale_factor;
  }
  return z;
}

GenerateResult PipelineImpl::generate(const GenerateParams& p) {
  GenerateResult r;
  const int f = info_.vae_downscale;
  if (p.width % f || p.height % f || p.width <= 0 || p.height <= 0) throw Error("width and height must be positive multiples of " + std::to_string(f));
  if (p.steps <= 0 || p.batch <= 0) throw Error("steps and batch must be positive");
  const int64_t h = p.height / f, w = p.width / f, c = info_.latent_channels;
  const int64_t per_image = c * h * w, n = per_image * p.batch;
  r.width = p.width;
  r.height = p.height;
  auto keep_going = [&] { return !p.should_continue || p.should_continue(); };
  r.adapters = adapters_->activate(p.adapters);  // before the text encoder: LoRAs change it too
  set_conv_padding(p.tiling ? Padding::Circular : Padding::Zeros);  // A1111's tiling, for this generation's graphs

  // 1. Text: every prompt padded to the same number of chunks, so CFG and the batch are one UNet call.
  // With prompt editing each segment of steps has its own prompts; a text is encoded once.
  auto t0 = Clock::now();
  const bool xl = info_.family == Family::SDXL;
  const bool prompt_per_image = !p.image_conds.empty();
  if (prompt_per_image && (int(p.image_conds.size()) != p.batch || int(p.image_unconds.size()) != p.batch))
    throw Error("per-image prompts: need one cond and one uncond per image of the batch");
  std::vector<GenerateParams::PromptSegment> segments = p.segments;
  if (segments.empty())
    segments.push_back({p.steps, prompt_per_image ? p.image_conds : std::vector<PromptTokens>{p.cond},
                        prompt_per_image ? p.image_unconds : std::vector<PromptTokens>{p.uncond}});
  int chunks = 1;
  for (const auto& seg : segments) {
    for (const auto* list : {&seg.conds, &seg.unconds}) {
      if (list->size() != 1 && int(list->size()) != p.batch) throw Error("prompt segment: need one prompt, or one per image of the batch");
      for (const auto& t : *list) chunks = std::max(chunks, t.chunks());
    }
  }
  auto pad_to = [&](PromptTokens& t) {
    while (t.chunks() < chunks) {
      std::vector<int32_t> empty(kTokensPerChunk, kEndToken);
      empty[0] = kStartToken;
      t.ids.insert(t.ids.end(), empty.begin(), empty.end());
      t.weights.insert(t.weights.end(), kTokensPerChunk, 1.0f);
      t.eot_index.push_back(1);
    }
  };
  const bool use_cfg = p.cfg_scale != 1.0f;
  // Encoded rows by prompt content: alternation repeats a few texts over many segments.
  std::map<std::string, std::pair<std::vector<float>, std::vector<float>>> encoded;
  auto encode_once = [&](PromptTokens t) -> const std::pair<std::vector<float>, std::vector<float>>& {
    pad_to(t);
    std::string key(reinterpret_cast<const char*>(t.ids.data()), t.ids.size() * 4);
    key.append(reinterpret_cast<const char*>(t.weights.data()), t.weights.size() * 4);
    key.append(reinterpret_cast<const char*>(t.embed_positions.data()), t.embed_positions.size() * 4);
    key.append(reinterpret_cast<const char*>(t.embed_main.data()), t.embed_main.size() * 4);
    key.append(reinterpret_cast<const char*>(t.embed_second.data()), t.embed_second.size() * 4);
    auto it = encoded.find(key);
    if (it != encoded.end()) return it->second;
    std::vector<float> pooled;
    std::vector<float> rows = encode_prompt(t, p.clip_skip, xl ? &pooled : nullptr, p.should_continue);
    return encoded.emplace(std::move(key), std::make_pair(std::move(rows), std::move(pooled))).first->second;
  };
  // Conditioning rows for the batch [uncond × B, cond × B].
  std::vector<UNetRunner::Conditioning> conditioning;
  try {  // a cancel inside the text encoder ends the generation here
    for (const auto& seg : segments) {
      UNetRunner::Conditioning cond{seg.end_at_step, {}, {}};
      auto append = [&](const std::vector<PromptTokens>& prompts) {
        for (int b = 0; b < p.batch; ++b) {
          const auto& [rows, pooled] = encode_once(prompts[prompts.size() == 1 ? 0 : size_t(b)]);
          cond.context.insert(cond.context.end(), rows.begin(), rows.end());
          if (xl) {
            std::vector<float> yy = sdxl_y(pooled, p);
            cond.y.insert(cond.y.end(), yy.begin(), yy.end());
          }
        }
      };
      if (use_cfg) append(seg.unconds);
      append(seg.conds);
      conditioning.push_back(std::move(cond));
    }
  } catch (const TextCancelled&) {
    r.seconds_text = seconds_since(t0);
    r.cancelled = true;
    return r;
  }
  r.seconds_text = seconds_since(t0);
  file_->release_pages("cond_stage_model.");
  file_->release_pages("conditioner.");
  if (!keep_going()) { r.cancelled = true; return r; }

  auto runner_owner = std::make_unique<UNetRunner>(*unet_, *backend_);
  UNetRunner& runner = *runner_owner;
  // SD_PROFILE=1 prints where the UNet's time goes (per op kind) to stderr after sampling.
  Graph::Profile profile;
  const char* want_profile = std::getenv("SD_NATIVE_PROFILE");
  if (want_profile && *want_profile && *want_profile != '0') runner.profile = &profile;
  runner.set_latent_shape(c, h, w);
  runner.set_conditioning_schedule(std::move(conditioning), int64_t(chunks) * 77);

  // 2. Noise, schedule, optional img2img start.
  const sample::SamplerInfo& info = *p.sampler;
  const auto sigmas_for = [&](int steps) {
    return sample::sampler_sigmas(info, steps, [&](int k) { return sample::make_sigmas(schedule_, p.scheduler, k, xl); });
  };
  std::vector<float> sigmas = sigmas_for(p.steps);
  std::vector<float> full_sigmas = sigmas;  // the whole schedule, also when img2img samples only its tail
  if (!p.image_seeds.empty() && int(p.image_seeds.size()) != p.batch) throw Error("per-image seeds: need one seed per image of the batch");
  r.seeds = p.image_seeds.empty() ? sample::consecutive_seeds(p.seed, p.batch) : p.image_seeds;
  sample::ImageNoise noise(sample::rng_kind_from_name(p.rng), r.seeds, per_image);
  std::vector<float> x(static_cast<size_t>(n));
  noise.next(x.data());
  if (p.mask && !p.init_image) throw Error("an inpainting mask needs an init image");
  if (p.mask && (p.mask->pixels.size() != size_t(p.init_image->width) * size_t(p.init_image->height) ||
                 p.mask->latent.size() != size_t(h * w)))
    throw Error("inpainting mask must be " + std::to_string(p.width) + "×" + std::to_string(p.height) + " (latent " + std::to_string(w) + "×" +
                std::to_string(h) + ")");
  std::vector<float> kept;  // inpainting: the clean latent outside the mask, blended back each step
  if (p.init_image && p.init_latent) throw Error("img2img takes an init image or an init latent, not both");
  if (p.init_latent && p.init_latent->size() != size_t(per_image) && p.init_latent->size() != size_t(n))
    throw Error("init latent must be [1 or batch, " + std::to_string(c) + ", " + std::to_string(h) + ", " + std::to_string(w) + "]");
  if (p.init_image || p.init_latent) {
    // Encode the image's latent (or take the given one), noise it to the step that strength selects, denoise the rest.
    std::vector<float> enc_noise(static_cast<size_t>(n));
    noise.next(enc_noise.data());
    std::vector<float> first(enc_noise.begin(), enc_noise.begin() + per_image);
    VaePass enc{p.vae_tiling, p.should_continue};
    std::vector<float> z0 = p.init_latent ? *p.init_latent : encode_image(*p.init_image, &first, &enc);
    r.encode_tiles = enc.tiles;
    if (p.init_image && int64_t(z0.size()) != per_image) throw Error("init image must be " + std::to_string(p.width) + "×" + std::to_string(p.height));
    const int64_t z_images = int64_t(z0.size()) / per_image;
    // Each image's start: the encoded latent, with A1111's "masked content" applied under the mask
    // (latent noise: the image's own sampling noise, as A1111 redraws it from the same seeds).
    std::vector<float> start(static_cast<size_t>(n));
    for (int b = 0; b < p.batch; ++b)
      for (int64_t i = 0; i < per_image; ++i) {
        const size_t k = size_t(b * per_image + i);
        float v = z0[size_t((b % z_images) * per_image + i)];
        if (p.mask && p.mask->fill != InpaintFill::Original) {
          const float m = p.mask->latent[size_t(i % (h * w))];
          v = v * (1.0f - m) + (p.mask->fill == InpaintFill::LatentNoise ? x[k] * m : 0.0f);
        }
        start[k] = v;
      }
    if (p.mask) kept = std::move(z0);
    if (p.strength <= 0) {
      // Nothing to denoise: the result is the (filled) encoded image itself.
      x = std::move(start);
      sigmas.assign(1, 0.0f);
    } else {
      // A1111's setup_img2img_steps and sigma_sched = sigmas[steps − t_enc − 1:]
      const double strength = std::min(p.strength, 0.999);
      const int schedule = p.exact_steps ? int(p.steps / strength) : p.steps;
      const int t_enc = p.exact_steps ? p.steps - 1 : int(strength * p.steps);
      if (schedule != p.steps) sigmas = sigmas_for(schedule);
      full_sigmas = sigmas;
      sigmas.erase(sigmas.begin(), sigmas.begin() + (schedule - t_enc - 1));
      for (size_t k = 0; k < x.size(); ++k) x[k] = start[k] + x[k] * sigmas[0];
    }
  } else {
    const float s0 = sample::init_noise_scale(info, sigmas[0]);
    for (float& v : x) v *= s0;
  }
  if (info_.inpainting_unet()) {
    // [mask, masked-image latent] beside the latent, as the model was trained (A1111's
    // inpainting_image_conditioning; the whole image counts as masked without a mask).
    VaePass cond_enc{p.vae_tiling, p.should_continue};
    std::vector<float> masked = encode_pixels(masked_image_pixels(p.init_image, p.mask, p.width, p.height), p.width, p.height, nullptr, &cond_enc);
    std::vector<float> concat = conditioning_mask(p.mask, p.width, p.height, f);
    concat.insert(concat.end(), masked.begin(), masked.end());
    runner.set_concat(std::move(concat), 1 + c);
  }

  // 3. Sampling.
  auto t1 = Clock::now();
  sample::CfgDenoiser denoiser(runner, schedule_, info_.prediction == "v" ? sample::Prediction::V : sample::Prediction::Eps,
                               p.cfg_scale, n, p.batch);
  denoiser.set_rescale(p.cfg_rescale);
  if (info.cfg_pp) denoiser.set_cfg_pp();
  std::optional<KeepUnmaskedDenoiser> keep;
  if (p.mask) keep.emplace(denoiser, n, kept, p.mask->latent);
  sample::Denoiser& den = keep ? static_cast<sample::Denoiser&>(*keep) : denoiser;
  StepState state{&p, info_.family, h, w, t1, {}};
  std::optional<TaesdImages> taesd_preview;
  if (p.preview == Preview::Taesd && p.on_step) state.taesd = &taesd_preview.emplace(taesd().decoder(), *backend_, h, w);
  sample::SampleParams sp;
  sp.noise = &noise;
  sp.eta = p.eta;
  sp.draw_unused_noise = true;  // A1111: euler/heun/dpm_2 draw noise each step, keeping Philox offsets aligned
  std::optional<sample::BrownianNoise> brownian;
  if (info.brownian_noise) {
    // A1111's create_noise_sampler: one tree per image seed over the schedule's positive sigma range.
    float lo = 0, hi = 0;
    for (float v : full_sigmas)
      if (v > 0) lo = lo > 0 ? std::min(lo, v) : v, hi = std::max(hi, v);
    if (lo > 0) sp.interval_noise = &brownian.emplace(lo, hi, r.seeds, per_image, sample::rng_kind_from_name(p.rng));
  }
  sp.on_step = on_sampler_step;
  sp.user = &state;
  if (info.vp_endpoints) sp.ddim_final_sigma = schedule_.sigma_min();
  if (!p.init_image && !p.init_latent) {  // A1111 txt2img: DPM fast/adaptive span the model's whole range
    sp.dpm_sigma_min = schedule_.sigma_min();
    sp.dpm_sigma_max = schedule_.sigma_max();
  }
  bool finished = sigmas.size() < 2 || info.fn(den, x.data(), n, sigmas, sp);
  if (p.mask) keep_unmasked(x.data(), n, kept, p.mask->latent);
  r.seconds_sampling = seconds_since(t1);
  r.peak_activation_bytes = runner.peak_bytes();
  if (runner.profile) std::fprintf(stderr, "UNet time by op (%s):\n%s", backend_->name().c_str(), profile.report().c_str());
  if (!finished || !keep_going()) { r.cancelled = true; return r; }

  // 4. Decode, with the UNet's activations and weight pages given back first (peak RSS). Without a
  // decode (a first pass), the UNet's pages stay: the next pass needs them.
  runner_owner.reset();
  if (!p.decode) {
    r.latent = std::move(x);
    return r;
  }
  file_->release_pages("model.diffusion_model.");
  auto t2 = Clock::now();
  r.latent = x;
  VaePass dec{p.vae_tiling, p.should_continue};
  r.images = p.decoder == Decoder::Taesd ? decode_latent_taesd(x, p.batch, int(h), int(w)) : decode_latent(x, p.batch, int(h), int(w), &dec);
  r.seconds_decode = seconds_since(t2);
  r.decode_tiles = dec.tiles;
  if (!keep_going()) r.cancelled = true;
  return r;
}

}  // namespace sd::runtime
