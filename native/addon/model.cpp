// ModelHandle: one loaded pipeline. Heavy calls run as async workers on libuv threads; step
// events cross back through a non-blocking thread-safe function; cancellation is a flag in a
// JS Int32Array the worker polls. The pipeline lives while any job holds it, so dispose()
// during a generation cancels that generation and frees the model when it ends.
#include <atomic>
#include <chrono>
#include <memory>
#include <mutex>
#include <initializer_list>
#include <stdexcept>
#include <utility>

#include "addon_common.h"
#include "strict_object.h"
#include "sample/rng_torch_cpu.h"
#include "runtime/device.h"
#include "sd.h"

namespace sd::addon {
namespace {

struct Shared {
  std::unique_ptr<Pipeline> pipeline;
  std::mutex busy;                 // the pipeline runs one call at a time
  std::atomic<bool> disposed{false};
};

PromptTokens read_prompt(const Napi::Object& object) {
  StrictObject o(object, "prompt tokens");
  PromptTokens t;
  auto ids = o.object("ids").As<Napi::Int32Array>();
  auto weights = o.object("weights").As<Napi::Float32Array>();
  auto eot = o.object("eot").As<Napi::Int32Array>();
  auto positions = o.object("embedPositions").As<Napi::Int32Array>();
  auto main = o.object("embedMain").As<Napi::Float32Array>();
  auto second = o.object("embedSecond").As<Napi::Float32Array>();
  o.finish();
  t.ids.assign(ids.Data(), ids.Data() + ids.ElementLength());
  t.weights.assign(weights.Data(), weights.Data() + weights.ElementLength());
  t.eot_index.assign(eot.Data(), eot.Data() + eot.ElementLength());
  t.embed_positions.assign(positions.Data(), positions.Data() + positions.ElementLength());
  t.embed_main.assign(main.Data(), main.Data() + main.ElementLength());
  t.embed_second.assign(second.Data(), second.Data() + second.ElementLength());
  return t;
}

std::vector<PromptTokens> read_prompts(const Napi::Array& list) {
  std::vector<PromptTokens> out;
  for (uint32_t i = 0; i < list.Length(); ++i) out.push_back(read_prompt(list.Get(i).As<Napi::Object>()));
  return out;
}

VaeTiling vae_tiling_from(const std::string& v) {
  if (v == "auto") return VaeTiling::Auto;
  if (v == "true" || v == "false") return v == "true" ? VaeTiling::On : VaeTiling::Off;
  throw std::invalid_argument("must be \"auto\", \"true\" or \"false\", got \"" + v + "\"");
}

// A plain object of number fields, in the order given (byte counts pass as doubles: exact below 2^53).
Napi::Object number_fields(Napi::Env env, std::initializer_list<std::pair<const char*, double>> fields) {
  Napi::Object o = Napi::Object::New(env);
  for (const auto& [key, value] : fields) o.Set(key, value);
  return o;
}

Napi::Object info_object(Napi::Env env, const ModelInfo& i) {
  Napi::Object o = Napi::Object::New(env);
  o.Set("family", family_name(i.family));
  o.Set("prediction", i.prediction);
  o.Set("unetModelChannels", i.unet_model_channels);
  o.Set("unetContextDim", i.unet_context_dim);
  o.Set("unetAdmChannels", i.unet_adm_channels);
  o.Set("clipWidth", i.clip_width);
  o.Set("clipLayers", i.clip_layers);
  o.Set("clipHeads", i.clip_heads);
  o.Set("vaeDownscale", i.vae_downscale);
  o.Set("latentChannels", i.latent_channels);
  o.Set("inpainting", i.inpainting_unet());
  o.Set("vaeScaleFactor", i.vae_scale_factor);
  o.Set("defaultSize", i.default_size);
  o.Set("defaultSteps", i.default_steps);
  o.Set("defaultCfgScale", i.default_cfg_scale);
  o.Set("tensors", double(i.tensors));
  o.Set("fileBytes", double(i.file_bytes));
  o.Set("backend", i.backend);
  o.Set("device", i.device);
  return o;
}

// Runs fn on a worker thread and settles a promise with make_result(env) or the error.
class Job : public Napi::AsyncWorker {
 public:
  Job(Napi::Env env, std::function<void()> work, std::function<Napi::Value(Napi::Env)> result)
      : Napi::AsyncWorker(env), deferred_(Napi::Promise::Deferred::New(env)), work_(std::move(work)), result_(std::move(result)) {}
  Napi::Promise promise() { return deferred_.Promise(); }
  void Execute() override {
    try {
      work_();
    } catch (const std::bad_alloc&) {
      SetError("sd-native: out of memory; try a smaller size or batch");
    } catch (const std::exception& e) {
      SetError(e.what());
    }
  }
  void OnOK() override {
    try {
      deferred_.Resolve(result_(Env()));
    } catch (const Napi::Error& e) {
      deferred_.Reject(e.Value());
    }
  }
  void OnError(const Napi::Error& e) override { deferred_.Reject(e.Value()); }

 private:
  Napi::Promise::Deferred deferred_;
  std::function<void()> work_;
  std::function<Napi::Value(Napi::Env)> result_;
};

// Queues work on a worker thread; the promise settles with make_result(env) or the error.
Napi::Value run_job(Napi::Env env, std::function<void()> work, std::function<Napi::Value(Napi::Env)> make_result) {
  auto* job = new Job(env, std::move(work), std::move(make_result));
  job->Queue();
  return job->promise();
}

Napi::Float32Array to_float32(Napi::Env env, const std::vector<float>& values) {
  auto arr = Napi::Float32Array::New(env, values.size());
  std::copy(values.begin(), values.end(), arr.Data());
  return arr;
}

class ModelHandle : public Napi::ObjectWrap<ModelHandle> {
 public:
  static Napi::FunctionReference* constructor;
  static void Register(Napi::Env env, Napi::Object exports) {
    Napi::Function cls = DefineClass(env, "ModelHandle", {
        InstanceMethod<&ModelHandle::Info>("info"),
        InstanceMethod<&ModelHandle::Transfers>("transfers"),
        InstanceMethod<&ModelHandle::Generate>("generate"),
        InstanceMethod<&ModelHandle::EncodeText>("encodeText"),
        InstanceMethod<&ModelHandle::Dispose>("dispose"),
        InstanceMethod<&ModelHandle::AddNoise>("addNoise"),
        InstanceMethod<&ModelHandle::NoiseStrip>("noiseStrip"),
        InstanceMethod<&ModelHandle::DecodeLatent>("decodeLatent"),
        InstanceMethod<&ModelHandle::PlanMemory>("planMemory"),
    });
    constructor = new Napi::FunctionReference(Napi::Persistent(cls));
    exports.Set("ModelHandle", cls);
  }
  explicit ModelHandle(const Napi::CallbackInfo& info) : Napi::ObjectWrap<ModelHandle>(info) {}
  std::shared_ptr<Shared> shared;

 private:
  std::shared_ptr<Shared> live(Napi::Env env) {
    if (!shared || shared->disposed) throw Napi::Error::New(env, "this model has been disposed; load it again with StableDiffusion.load()");
    return shared;
  }

  Napi::Value Info(const Napi::CallbackInfo& info) { return info_object(info.Env(), live(info.Env())->pipeline->info()); }

  // Counts since load; safe to read while a job runs (the backend counts under a lock).
  Napi::Value Transfers(const Napi::CallbackInfo& info) {
    const TransferStats t = live(info.Env())->pipeline->transfers();
    return number_fields(info.Env(), {{"uploads", double(t.uploads)}, {"uploadBytes", double(t.upload_bytes)}, {"downloads", double(t.downloads)},
                                      {"downloadBytes", double(t.download_bytes)}, {"weightUploads", double(t.weight_uploads)},
                                      {"weightBytes", double(t.weight_bytes)}});
  }

  Napi::Value Dispose(const Napi::CallbackInfo& info) {
    if (shared) {
      shared->disposed = true;  // running jobs see this and cancel; the last holder frees the model
      shared.reset();
    }
    return info.Env().Undefined();
  }

  // addNoise(latent, t, noise): the forward process q(x_t | x_0), cheap enough to run inline.
  Napi::Value AddNoise(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    auto s = live(env);
    auto latent = info[0].As<Napi::Float32Array>();
    auto noise = info[2].As<Napi::Float32Array>();
    const int t = info[1].As<Napi::Number>().Int32Value();
    return guarded(env, [&]() -> Napi::Value {
      std::vector<float> l(latent.Data(), latent.Data() + latent.ElementLength());
      std::vector<float> n(noise.Data(), noise.Data() + noise.ElementLength());
      return to_float32(env, s->pipeline->add_noise(l, t, n));
    });
  }

  // noiseStrip(rgb, width, height, timesteps, seed): the image's latent noised to each timestep
  // (one fixed noise draw, torch CPU generator) and decoded back: forward diffusion made visible.
  Napi::Value NoiseStrip(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    auto s = live(env);
    auto rgb = info[0].As<Napi::Uint8Array>();
    auto image = std::make_shared<InitImage>();
    image->rgb.assign(rgb.Data(), rgb.Data() + rgb.ElementLength());
    image->width = info[1].As<Napi::Number>().Int32Value();
    image->height = info[2].As<Napi::Number>().Int32Value();
    Napi::Array ts = info[3].As<Napi::Array>();
    auto timesteps = std::make_shared<std::vector<int>>();
    for (uint32_t i = 0; i < ts.Length(); ++i) timesteps->push_back(ts.Get(i).As<Napi::Number>().Int32Value());
    const uint64_t seed = uint64_t(info[4].As<Napi::Number>().DoubleValue());
    if (image->rgb.size() != size_t(image->width) * size_t(image->height) * 3) throw Napi::Error::New(env, "noiseStrip: rgb must hold width × height × 3 bytes");
    auto out = std::make_shared<std::vector<std::vector<uint8_t>>>();
    return run_job(env, [s, image, timesteps, seed, out] {
      std::lock_guard<std::mutex> lock(s->busy);
      std::vector<float> z0 = s->pipeline->encode_image(*image, nullptr);
      std::vector<float> noise(z0.size());
      sample::TorchCpuGenerator gen(seed);
      gen.randn(noise.data(), int64_t(noise.size()));
      const int f = s->pipeline->info().vae_downscale;
      for (int t : *timesteps) {
        std::vector<float> zt = s->pipeline->add_noise(z0, t, noise);
        auto imgs = s->pipeline->decode_latent(zt, 1, image->height / f, image->width / f);
        out->push_back(std::move(imgs[0]));
      }
    }, [out](Napi::Env e) -> Napi::Value {
      Napi::Array arr = Napi::Array::New(e, out->size());
      for (uint32_t i = 0; i < out->size(); ++i) arr.Set(i, Napi::Buffer<uint8_t>::Copy(e, (*out)[i].data(), (*out)[i].size()));
      return arr;
    });
  }

  // decodeLatent(latent, batch, h, w, tiling): the VAE alone on a scaled latent [batch, 4, h, w]
  // (a GeneratedImage's latent), with vaeTiling "auto" | "true" | "false" ({ images, tiles, seconds }).
  Napi::Value DecodeLatent(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    auto s = live(env);
    auto arr = info[0].As<Napi::Float32Array>();
    auto latent = std::make_shared<std::vector<float>>(arr.Data(), arr.Data() + arr.ElementLength());
    const int batch = info[1].As<Napi::Number>().Int32Value(), h = info[2].As<Napi::Number>().Int32Value(), w = info[3].As<Napi::Number>().Int32Value();
    const std::string tiling = info[4].As<Napi::String>();
    if (batch < 1 || h < 1 || w < 1) throw Napi::RangeError::New(env, "decodeLatent: batch, h and w must be positive");
    if (tiling != "auto" && tiling != "true" && tiling != "false") throw Napi::TypeError::New(env, "decodeLatent: tiling must be \"auto\", \"true\" or \"false\"");
    auto pass = std::make_shared<VaePass>();
    pass->tiling = tiling == "auto" ? VaeTiling::Auto : tiling == "true" ? VaeTiling::On : VaeTiling::Off;
    auto out = std::make_shared<std::vector<std::vector<uint8_t>>>();
    auto seconds = std::make_shared<double>(0);
    return run_job(env, [s, latent, batch, h, w, pass, out, seconds] {
      std::lock_guard<std::mutex> lock(s->busy);
      auto t0 = std::chrono::steady_clock::now();
      *out = s->pipeline->decode_latent(*latent, batch, h, w, pass.get());
      *seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    }, [out, pass, seconds](Napi::Env e) -> Napi::Value {
      Napi::Object o = Napi::Object::New(e);
      Napi::Array images = Napi::Array::New(e, out->size());
      for (uint32_t i = 0; i < out->size(); ++i) images.Set(i, Napi::Buffer<uint8_t>::Copy(e, (*out)[i].data(), (*out)[i].size()));
      o.Set("images", images);
      o.Set("tiles", pass->tiles);
      o.Set("seconds", *seconds);
      return o;
    });
  }

  // planMemory({ width, height, batch, chunks, cfg, img2img, vaeTiling }): the bytes each stage of
  // that generation would plan. Inline: it builds and measures graphs, allocating no activations,
  // and reads nothing a running generation changes (shapes and config only), so it needs no lock.
  Napi::Value PlanMemory(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    auto s = live(env);
    if (info.Length() < 1 || !info[0].IsObject()) throw Napi::TypeError::New(env, "planMemory(request): request must be an object");
    StrictObject o(info[0].As<Napi::Object>(), "planMemory()");
    PlanRequest r;
    r.width = o.integer("width");
    r.height = o.integer("height");
    r.batch = o.integer("batch");
    r.chunks = o.integer("chunks");
    r.cfg = o.boolean("cfg");
    r.img2img = o.boolean("img2img");
    r.vae_tiling = o.resolved("vaeTiling", vae_tiling_from);
    o.finish();
    return guarded(env, [&]() -> Napi::Value {
      const MemoryPlan p = s->pipeline->plan_memory(r);
      return number_fields(env, {{"weightsBytes", double(p.weights_bytes)}, {"textBytes", double(p.text_bytes)}, {"unetBytes", double(p.unet_bytes)},
                                 {"vaeBytes", double(p.vae_bytes)}, {"vaeWholeBytes", double(p.vae_whole_bytes)},
                                 {"vaeTiledBytes", double(p.vae_tiled_bytes)}, {"vaeTiles", double(p.vae_tiles)}, {"totalBytes", double(p.total_bytes())}});
    });
  }

  Napi::Value EncodeText(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    auto s = live(env);
    auto tokens = std::make_shared<PromptTokens>(read_prompt(info[0].As<Napi::Object>()));
    const int clip_skip = info[1].As<Napi::Number>().Int32Value();
    auto out = std::make_shared<std::vector<float>>();
    return run_job(env, [s, tokens, clip_skip, out] {
      std::lock_guard<std::mutex> lock(s->busy);
      *out = s->pipeline->encode_text(*tokens, clip_skip);
    }, [out](Napi::Env e) -> Napi::Value { return to_float32(e, *out); });
  }

  Napi::Value Generate(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    auto s = live(env);
    StrictObject o(info[0].As<Napi::Object>(), "generate()");
    auto params = std::make_shared<GenerateParams>();
    params->cond = read_prompt(o.object("cond"));
    params->uncond = read_prompt(o.object("uncond"));
    if (o.has("conds")) {
      params->image_conds = read_prompts(o.object("conds").As<Napi::Array>());
      params->image_unconds = read_prompts(o.object("unconds").As<Napi::Array>());
      Napi::Array seeds = o.object("seeds").As<Napi::Array>();
      for (uint32_t i = 0; i < seeds.Length(); ++i) params->image_seeds.push_back(uint64_t(seeds.Get(i).As<Napi::Number>().DoubleValue()));
    }
    if (o.has("segments")) {
      Napi::Array segments = o.array("segments");
      for (uint32_t i = 0; i < segments.Length(); ++i) {
        StrictObject seg(segments.Get(i).As<Napi::Object>(), "generate() segments[" + std::to_string(i) + "]");
        params->segments.push_back({seg.integer("endAtStep"), read_prompts(seg.object("conds").As<Napi::Array>()),
                                    read_prompts(seg.object("unconds").As<Napi::Array>())});
        seg.finish();
      }
    }
    params->width = o.integer("width");
    params->height = o.integer("height");
    params->steps = o.integer("steps");
    params->batch = o.integer("batch");
    params->clip_skip = o.integer("clipSkip");
    params->cfg_scale = float(o.number("cfgScale"));
    params->cfg_rescale = float(o.number("cfgRescale"));
    params->seed = uint64_t(o.number("seed"));
    // lib/options.ts sends canonical names (aliases and "automatic" resolved from the contract).
    params->sampler = o.resolved("sampler", [](const std::string& name) { return &sd::sample::sampler(name); });
    params->scheduler = o.resolved("scheduler", sd::sample::scheduler_from_name);
    params->rng = o.string("rng");
    params->eta = float(o.number("eta"));
    params->strength = o.number("strength");
    params->exact_steps = o.boolean("exactSteps");
    params->decode = o.boolean("decode");
    params->vae_tiling = o.resolved("vaeTiling", vae_tiling_from);
    params->tiling = o.boolean("tiling");
    params->preview = o.resolved("preview", [](const std::string& v) {
      if (v == "cheap" || v == "taesd" || v == "off") return v == "cheap" ? Preview::Cheap : v == "taesd" ? Preview::Taesd : Preview::Off;
      throw std::invalid_argument("must be \"cheap\", \"taesd\" or \"off\", got \"" + v + "\"");
    });
    params->decoder = o.resolved("decoder", [](const std::string& v) {
      if (v == "vae" || v == "taesd") return v == "vae" ? Decoder::Vae : Decoder::Taesd;
      throw std::invalid_argument("must be \"vae\" or \"taesd\", got \"" + v + "\"");
    });
    params->original_width = o.integer("originalWidth");
    params->original_height = o.integer("originalHeight");
    params->crop_top = o.integer("cropTop");
    params->crop_left = o.integer("cropLeft");
    params->target_width = o.integer("targetWidth");
    params->target_height = o.integer("targetHeight");
    auto init = std::make_shared<InitImage>();
    if (o.has("initImage")) {
      StrictObject im(o.object("initImage"), "generate() initImage");
      auto data = im.object("data").As<Napi::Uint8Array>();
      init->rgb.assign(data.Data(), data.Data() + data.ElementLength());
      init->width = im.integer("width");
      init->height = im.integer("height");
      im.finish();
      params->init_image = init.get();
    }
    auto init_latent = std::make_shared<std::vector<float>>();
    if (o.has("initLatent")) {
      auto latent = o.object("initLatent").As<Napi::Float32Array>();
      init_latent->assign(latent.Data(), latent.Data() + latent.ElementLength());
      params->init_latent = init_latent.get();
    }
    auto mask = std::make_shared<InpaintMask>();
    if (o.has("inpaint")) {
      // lib/inpaint.ts has applied A1111's mask steps (binarize, invert, blur, crop, resize).
      StrictObject m(o.object("inpaint"), "generate() inpaint");
      auto pixels = m.object("pixels").As<Napi::Uint8Array>();
      mask->pixels.assign(pixels.Data(), pixels.Data() + pixels.ElementLength());
      auto latent = m.object("latent").As<Napi::Float32Array>();
      mask->latent.assign(latent.Data(), latent.Data() + latent.ElementLength());
      const std::string fill = m.string("fill");
      mask->fill = fill == "latent_noise" ? InpaintFill::LatentNoise : fill == "latent_nothing" ? InpaintFill::LatentNothing : InpaintFill::Original;
      if (fill != "original" && fill != "latent_noise" && fill != "latent_nothing")
        throw Napi::TypeError::New(env, "generate() inpaint.fill must be 'original', 'latent_noise' or 'latent_nothing'");
      m.finish();
      params->mask = mask.get();
    }
    Napi::Array adapters = o.array("adapters");
    for (uint32_t i = 0; i < adapters.Length(); ++i) {
      StrictObject a(adapters.Get(i).As<Napi::Object>(), "generate() adapters[" + std::to_string(i) + "]");
      params->adapters.push_back({a.string("path"), float(a.number("textWeight")), float(a.number("unetWeight"))});
      a.finish();
    }
    o.finish();
    // Cancellation flag: element 0 of an Int32Array that JS sets to 1.
    std::shared_ptr<Napi::ObjectReference> flag_ref;
    int32_t* flag = nullptr;
    if (info.Length() > 2 && info[2].IsTypedArray()) {
      auto arr = info[2].As<Napi::Int32Array>();
      flag = arr.Data();
      flag_ref = std::make_shared<Napi::ObjectReference>(Napi::Persistent(arr.As<Napi::Object>()));
    }
    params->should_continue = [s, flag] {
      return !s->disposed && !(flag && __atomic_load_n(flag, __ATOMIC_RELAXED));
    };
    Napi::ThreadSafeFunction tsfn;
    const bool has_cb = info.Length() > 1 && info[1].IsFunction();
    if (has_cb) {
      tsfn = Napi::ThreadSafeFunction::New(env, info[1].As<Napi::Function>(), "sd-native step", 0, 1);
      params->on_step = [tsfn, should = params->should_continue](const StepEvent& e) mutable {
        struct Event { StepEvent e; std::vector<uint8_t> preview; };
        auto* ev = new Event{e, {}};
        if (e.preview) ev->preview.assign(e.preview, e.preview + size_t(e.preview_width) * e.preview_height * 3);
        napi_status st = tsfn.NonBlockingCall(ev, [](Napi::Env env, Napi::Function cb, Event* ev) {
          Napi::Object o = Napi::Object::New(env);
          o.Set("step", ev->e.step);
          o.Set("steps", ev->e.steps);
          o.Set("sigma", ev->e.sigma);
          o.Set("elapsedMs", ev->e.elapsed_ms);
          if (!ev->preview.empty()) {
            Napi::Object p = Napi::Object::New(env);
            p.Set("data", Napi::Buffer<uint8_t>::Copy(env, ev->preview.data(), ev->preview.size()));
            p.Set("width", ev->e.preview_width);
            p.Set("height", ev->e.preview_height);
            p.Set("channels", 3);
            o.Set("preview", p);
          }
          delete ev;
          cb.Call({o});
        });
        if (st != napi_ok) delete ev;
        return should();
      };
    }
    auto result = std::make_shared<GenerateResult>();
    return run_job(env, [s, params, init, init_latent, mask, result, tsfn, has_cb]() mutable {
      // Released on every path: a generate() that throws must not keep the event loop alive.
      struct Release {
        Napi::ThreadSafeFunction& fn;
        bool held;
        ~Release() { if (held) fn.Release(); }
      } release{tsfn, has_cb};
      std::lock_guard<std::mutex> lock(s->busy);
      if (!params->should_continue()) result->cancelled = true;
      else *result = s->pipeline->generate(*params);
    }, [result, flag_ref](Napi::Env e) -> Napi::Value {
      Napi::Object o = Napi::Object::New(e);
      Napi::Array images = Napi::Array::New(e, result->images.size());
      for (uint32_t i = 0; i < result->images.size(); ++i)
        images.Set(i, Napi::Buffer<uint8_t>::Copy(e, result->images[i].data(), result->images[i].size()));
      o.Set("images", images);
      o.Set("width", result->width);
      o.Set("height", result->height);
      o.Set("latent", to_float32(e, result->latent));
      Napi::Array seeds = Napi::Array::New(e, result->seeds.size());
      for (uint32_t i = 0; i < result->seeds.size(); ++i) seeds.Set(i, double(result->seeds[i]));
      o.Set("seeds", seeds);
      o.Set("cancelled", result->cancelled);
      o.Set("secondsText", result->seconds_text);
      o.Set("secondsSampling", result->seconds_sampling);
      o.Set("secondsDecode", result->seconds_decode);
      o.Set("peakActivationBytes", double(result->peak_activation_bytes));
      o.Set("decodeTiles", result->decode_tiles);
      o.Set("encodeTiles", result->encode_tiles);
      const adapters::AdapterReport& a = result->adapters;
      Napi::Object report = Napi::Object::New(e);
      report.Set("modulesApplied", a.modules_applied);
      report.Set("modulesUnmatched", a.modules_unmatched);
      report.Set("tensorsChanged", a.tensors_changed);
      report.Set("mergedBytes", double(a.merged_bytes));
      report.Set("mergeSeconds", a.merge_seconds);
      report.Set("cached", a.cached);
      o.Set("adapters", report);
      return o;
    });
  }
};

Napi::FunctionReference* ModelHandle::constructor = nullptr;

Napi::Value load_model(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsString()) throw Napi::TypeError::New(env, "loadModel(path, options): path must be a string");
  std::string path = info[0].As<Napi::String>();
  LoadOptions opt;
  if (info.Length() < 2 || !info[1].IsObject()) throw Napi::TypeError::New(env, "loadModel(path, options): options must be an object");
  StrictObject o(info[1].As<Napi::Object>(), "loadModel()");
  opt.threads = o.integer("threads");
  const std::string compute = o.string("compute");
  if (compute != "f32" && compute != "bf16") throw Napi::TypeError::New(env, "loadModel(): compute must be \"f32\" or \"bf16\", got \"" + compute + "\"");
  opt.compute = compute == "bf16" ? Compute::Bf16 : Compute::F32;
  opt.prediction = o.string("prediction");
  opt.vae = o.string("vae");
  opt.adapter_cache_bytes = size_t(o.integer("loraCacheMB")) << 20;
  opt.vae_budget_bytes = size_t(o.integer("vaeMemoryMB")) << 20;
  opt.taesd = o.string("taesd");
  opt.device = o.string("device");
  o.finish();
  try {
    runtime::resolve_device(opt.device);  // here, not in the job: the error carries its own code
  } catch (const runtime::DeviceError& e) {
    Napi::Error err = Napi::Error::New(env, e.what());
    err.Set("code", "ERR_SD_DEVICE");
    throw err;
  }
  auto shared = std::make_shared<Shared>();
  return run_job(env, [shared, path, opt] { shared->pipeline = Pipeline::load(path, opt); }, [shared](Napi::Env e) -> Napi::Value {
    Napi::Object handle = ModelHandle::constructor->New({});
    ModelHandle::Unwrap(handle)->shared = shared;
    return handle;
  });
}

}  // namespace

void register_model(Napi::Env env, Napi::Object exports) {
  ModelHandle::Register(env, exports);
  exports.Set("loadModel", Napi::Function::New(env, load_model, "loadModel"));
}

}  // namespace sd::addon
