// Parity with the reference implementations: the tiny golden models (run by the original SD,
// CLIP and OpenCLIP code) loaded as checkpoints through the same code as real ones, every output
// and named intermediate compared by rel-L2 (limit 1e-4 in f32; we reach ~1e-6).
// Every case runs with the direct convs (the goldens' baseline); the UNets and the VAE then run
// again with every 3x3 stride-1 conv through Winograd F(4,3), against the same goldens and limit
// (its error budget, test_winograd: <= 2e-5 per conv, adds ~1e-6 here).
#include <cmath>
#include <map>
#include <memory>

#include "core/cpu/cpu_backend.h"
#include "golden.h"
#include "model/clip.h"
#include "model/unet.h"
#include "model/vae.h"
#include "runtime/inpaint.h"
#include "runtime/unet_runner.h"

using namespace sd;

namespace {

constexpr double kTol = 1e-4;
std::string dir;
cpu::WinogradMode g_winograd = cpu::WinogradMode::Off;

cpu::CpuOptions cpu_options() {
  cpu::CpuOptions o;
  o.winograd = g_winograd;
  return o;
}

std::shared_ptr<io::SafetensorsFile> open(const std::string& name) { return io::SafetensorsFile::open(dir + "/" + name); }

void write(Tensor* t, const std::vector<float>& v) { std::memcpy(t->data, v.data(), v.size() * 4); }

void unet_case(const char* file, int heads, int head_dim) {
  auto f = open(file);
  auto wctx = std::make_shared<Context>();
  model::Weights w(f, wctx, "model.diffusion_model.");
  model::UNet unet(w, heads, head_dim);
  Context ctx;
  Tensor* x = ctx.new_tensor(DType::F32, {2, 4, 16, 16}, "x");
  Tensor* t = ctx.new_tensor(DType::F32, {2}, "t");
  Tensor* c = ctx.new_tensor(DType::F32, {2, 77, 64}, "context");
  Tensor* y = unet.config().adm_channels ? ctx.new_tensor(DType::F32, {2, unet.config().adm_channels}, "y") : nullptr;
  Tensor* out = unet.forward(ctx, x, t, c, y);
  cpu::CpuBackend backend(cpu_options());
  Graph g(backend, {out});
  g.plan();
  write(x, golden::floats(*f, "golden.input.x"));
  write(t, golden::floats(*f, "golden.input.timesteps"));
  write(c, golden::floats(*f, "golden.input.context"));
  if (y) write(y, golden::floats(*f, "golden.input.y"));
  golden::Watch watch{*f, {}, kTol, file, {}};
  watch.node_to_key.emplace("unet.time_embed.in0", "golden.intermediate.time_embed.in0");
  watch.node_to_key.emplace("unet.time_embed.out", "golden.intermediate.time_embed.out");
  if (y) watch.node_to_key.emplace("unet.label_emb.out", "golden.intermediate.label_emb.out");
  watch.node_to_key.emplace("unet.input_blocks.1.0", "golden.intermediate.first_resblock.out");
  // input_blocks.1 ends with the transformer, so its output is the transformer's output
  watch.node_to_key.emplace("unet.input_blocks.1", "golden.intermediate.first_spatial_transformer.out");
  for (int i = 0; i < unet.config().input_blocks; ++i) watch.node_to_key.emplace("unet.input_blocks." + std::to_string(i), "golden.intermediate.input_blocks." + std::to_string(i) + ".out");
  watch.node_to_key.emplace("unet.middle_block", "golden.intermediate.middle_block.out");
  for (int i = 0; i < unet.config().output_blocks; ++i) watch.node_to_key.emplace("unet.output_blocks." + std::to_string(i), "golden.intermediate.output_blocks." + std::to_string(i) + ".out");
  watch.node_to_key.emplace("unet.out", "golden.output.eps");
  watch.attach(g);
  g.compute();
  watch.require_all_seen();
  std::printf("%s: %zu tensors compared, worst rel L2 %.2e (eps %.2e)\n", file, watch.errors.size(), watch.worst(), watch.errors["golden.output.eps"]);
}

// A 9-channel inpainting UNet (ldm's DiffusionWrapper 'hybrid', sgm's OpenAIWrapper concat): our
// conditioning mask (nearest pixel of the rounded mask) must equal the reference's interpolate, and
// the runner must append [mask, masked-image latent] after the latent exactly as the reference
// concatenates them; SDXL's y rides along through the same conditioning call.
void inpaint_unet_case(const char* file, int heads, int head_dim) {
  auto f = open(file);
  auto wctx = std::make_shared<Context>();
  model::Weights w(f, wctx, "model.diffusion_model.");
  model::UNet unet(w, heads, head_dim);
  CHECK(unet.config().in_channels == 9);
  const int64_t adm = unet.config().adm_channels;
  const auto x = golden::floats(*f, "golden.input.x"), t = golden::floats(*f, "golden.input.timesteps");
  const auto context = golden::floats(*f, "golden.input.context"), mask = golden::floats(*f, "golden.input.mask");
  const auto concat = golden::floats(*f, "golden.cond.c_concat"), want = golden::floats(*f, "golden.output.eps");
  const auto mask_lat = golden::floats(*f, "golden.cond.mask_lat");
  const auto y = adm ? golden::floats(*f, "golden.input.y") : std::vector<float>{};
  CHECK(y.size() == size_t(2 * adm));
  cpu::CpuBackend backend(cpu_options());
  double worst = 0;
  for (int b = 0; b < 2; ++b) {
    InpaintMask m;
    for (int i = 0; i < 32 * 32; ++i) m.pixels.push_back(mask[size_t(b * 1024 + i)] > 0.5f ? 255 : 0);
    const std::vector<float> lat = runtime::conditioning_mask(&m, 32, 32, 2);
    CHECK(std::equal(lat.begin(), lat.end(), mask_lat.begin() + b * 256));
    runtime::UNetRunner runner(unet, backend);
    runner.set_latent_shape(4, 16, 16);
    runner.set_conditioning({context.begin() + b * 77 * 64, context.begin() + (b + 1) * 77 * 64}, 77,
                            adm ? std::vector<float>(y.begin() + b * adm, y.begin() + (b + 1) * adm) : std::vector<float>{});
    runner.set_concat({concat.begin() + b * 5 * 256, concat.begin() + (b + 1) * 5 * 256}, 5);
    std::vector<float> out(4 * 256);
    runner.forward(x.data() + b * 4 * 256, 1, t[size_t(b)], out.data());
    worst = std::max(worst, harness::rel_l2(out.data(), want.data() + b * 4 * 256, out.size()));
  }
  CHECK_MSG(worst < kTol, std::string(file) + ": eps rel L2 " + std::to_string(worst));
  std::printf("%s: conditioning mask exact, eps worst rel L2 %.2e\n", file, worst);
}

void vae_case() {
  const char* file = "vae_tiny.safetensors";
  auto f = open(file);
  auto wctx = std::make_shared<Context>();
  model::Weights w(f, wctx, "first_stage_model.");
  model::Vae vae(w);
  golden::Watch watch{*f, {}, kTol, file, {}};
  // Plans out's graph, writes data into in, runs it and compares the named nodes with goldens.
  auto compare = [&](Tensor* in, Tensor* out, const std::vector<float>& data,
                     std::multimap<std::string, std::string> node_to_key) {
    cpu::CpuBackend backend(cpu_options());
    Graph g(backend, {out});
    g.plan();
    write(in, data);
    watch.node_to_key = std::move(node_to_key);
    watch.attach(g);
    g.compute();
    watch.require_all_seen();
  };
  {
    Context ctx;
    Tensor* img = ctx.new_tensor(DType::F32, {1, 3, 32, 32}, "image");
    compare(img, vae.encode(ctx, img), golden::floats(*f, "golden.input.image"),
            {{"vae.encoder.conv_in", "golden.intermediate.encoder.conv_in.out"},
             {"vae.encoder.down.0.downsample", "golden.intermediate.encoder.first_downsample.out"},
             {"vae.encoder.mid.attn_1", "golden.intermediate.encoder.mid.attn_1.out"},
             {"vae.encoder.out", "golden.intermediate.encoder.out"},
             {"vae.moments", "golden.output.moments"}});
  }
  const std::vector<float> z_in = golden::floats(*f, "golden.input.z");
  std::vector<float> z_scaled = z_in;
  for (float& v : z_scaled) v /= 0.18215f;
  const std::multimap<std::string, std::string> decode_keys = {
      {"vae.post_quant_conv", "golden.intermediate.post_quant_conv.out"},
      {"vae.decoder.conv_in", "golden.intermediate.decoder.conv_in.out"},
      {"vae.decoder.mid.attn_1", "golden.intermediate.decoder.mid.attn_1.out"},
      {"vae.decoder.up.1.upsample", "golden.intermediate.decoder.first_upsample.out"},
      {"vae.decoded", "golden.output.decoded"}};
  for (const bool scaled : {false, true}) {
    Context ctx;
    Tensor* z = ctx.new_tensor(DType::F32, {1, 4, 16, 16}, "z");
    compare(z, vae.decode(ctx, z), scaled ? z_scaled : z_in,
            scaled ? std::multimap<std::string, std::string>{{"vae.decoded", "golden.output.decoded_from_scaled"}}
                   : decode_keys);
  }
  std::printf("%s: %zu tensors compared, worst rel L2 %.2e\n", file, watch.errors.size(), watch.worst());
}

void clip_case(const char* file, const char* prefix, model::ClipLayout layout, bool openclip) {
  auto f = open(file);
  auto wctx = std::make_shared<Context>();
  model::Weights w(f, wctx, prefix);
  model::ClipTextEncoder clip(w, layout, 2);
  golden::Watch watch{*f, {}, kTol, file, {}};
  std::vector<int32_t> ids = golden::ids(*f, "golden.input.token_ids");
  for (int skip = 0; skip <= 1; ++skip) {
    Context ctx;
    Tensor* tid = ctx.new_tensor(DType::I32, {2 * 77}, "ids");
    model::ClipOutputs out = clip.forward(ctx, tid, 2, skip, true, skip == 0);
    std::vector<Tensor*> outs = {out.hidden};
    if (out.last_normed) outs.push_back(out.last_normed);
    cpu::CpuBackend backend(cpu_options());
    Graph g(backend, outs);
    g.plan();
    std::memcpy(tid->data, ids.data(), ids.size() * 4);
    if (skip == 0) {
      watch.node_to_key = {{"clip.embeddings", "golden.output.hidden_states.0"},
                           {"clip.layers.0", "golden.output.hidden_states.1"},
                           {"clip.layers.1", "golden.output.hidden_states.2"},
                           {"clip.hidden_normed", "golden.output.last_hidden_state"}};
      // SDXL's bigG context is the penultimate layer's raw output (here layer 0 of 2)
      if (f->find("golden.output.sdxl_crossattn")) watch.node_to_key.emplace("clip.layers.0", "golden.output.sdxl_crossattn");
      if (!openclip) watch.node_to_key.emplace("clip.layers.0", "golden.output.penultimate_hidden_state");
    } else {
      watch.node_to_key = {{"clip.hidden_normed", openclip ? "golden.output.sd2_context" : "golden.output.penultimate_hidden_state_ln"}};
      if (!f->find("golden.output.sd2_context") && openclip) watch.node_to_key.clear();
    }
    watch.attach(g);
    g.compute();
    watch.require_all_seen();
    if (skip == 0) {
      // pooled: final-normed state at the first end token (argmax of ids), then the projection
      const int W = clip.config().width;
      const float* ln = out.last_normed->ptr<float>();
      std::vector<float> pooled, projected;
      Tensor* proj = clip.text_projection();
      for (int b = 0; b < 2; ++b) {
        int eot = 0;
        for (int i = 0; i < 77; ++i) if (ids[size_t(b * 77 + i)] > ids[size_t(b * 77 + eot)]) eot = i;
        for (int c = 0; c < W; ++c) pooled.push_back(ln[(b * 77 + eot) * W + c]);
        if (proj) {
          const int P = clip.config().projection_dim;
          for (int o = 0; o < P; ++o) {
            double s = 0;
            for (int c = 0; c < W; ++c) {
              // OpenCLIP stores P as [W, E] used as x @ P
              float pv = proj->dtype == DType::F32 ? proj->ptr<float>()[c * P + o] : 0.0f;
              s += double(ln[(b * 77 + eot) * W + c]) * pv;
            }
            projected.push_back(float(s));
          }
        }
      }
      const char* pooled_key = openclip ? "golden.output.pooled_unprojected" : "golden.output.pooled";
      watch.compare(pooled_key, pooled.data(), int64_t(pooled.size()));
      if (proj && openclip) watch.compare("golden.output.pooled", projected.data(), int64_t(projected.size()));
      if (proj && f->find("golden.output.sdxl_pooled")) watch.compare("golden.output.sdxl_pooled", projected.data(), int64_t(projected.size()));
    }
  }
  std::printf("%s: %zu tensors compared, worst rel L2 %.2e\n", file, watch.errors.size(), watch.worst());
}

}  // namespace

int main(int argc, char** argv) {
  dir = argc > 1 ? argv[1] : "test/fixtures";
  try {
    for (cpu::WinogradMode mode : {cpu::WinogradMode::Off, cpu::WinogradMode::Always}) {
      g_winograd = mode;
      std::printf("-- 3x3 convs %s\n", mode == cpu::WinogradMode::Off ? "direct" : "through Winograd F(4,3)");
      unet_case("unet_sd1_tiny.safetensors", 2, 0);
      unet_case("unet_sd2_tiny.safetensors", 0, 16);
      unet_case("unet_sdxl_tiny.safetensors", 0, 16);
      inpaint_unet_case("unet_sd1_inpaint_tiny.safetensors", 2, 0);
      inpaint_unet_case("unet_sdxl_inpaint_tiny.safetensors", 0, 16);
      vae_case();
    }
    g_winograd = cpu::WinogradMode::Off;
    clip_case("clip_text_tiny.safetensors", "cond_stage_model.transformer.text_model.", model::ClipLayout::HuggingFace, false);
    clip_case("openclip_text_tiny_sd2.safetensors", "cond_stage_model.model.", model::ClipLayout::OpenClip, true);
    clip_case("openclip_text_tiny_sdxl.safetensors", "conditioner.embedders.1.model.", model::ClipLayout::OpenClip, true);
  } catch (const std::exception& e) {
    CHECK_MSG(false, std::string("exception: ") + e.what());
  }
  return harness::finish("test_parity");
}
