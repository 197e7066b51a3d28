// Memory plans without memory: each stage's graph is built and measured (Graph::measure lays out
// the arena without allocating it), so a server can refuse a request before it runs.
#include <algorithm>

#include "core/error.h"
#include "core/graph.h"
#include "pipeline_impl.h"

namespace sd {
size_t MemoryPlan::total_bytes() const { return weights_bytes + std::max({text_bytes, unet_bytes, vae_bytes}); }
}  // namespace sd

namespace sd::runtime {

namespace {

size_t measure(Backend& backend, Tensor* out) { return Graph(backend, {out}).measure(); }

// One VAE pass at h × w latent pixels (decode) or h·f × w·f image pixels (encode), whole or one tile.
size_t vae_pass_bytes(const model::Vae& vae, Backend& backend, bool decode, int64_t h, int64_t w, int f) {
  Context ctx;
  if (decode) return measure(backend, vae.decode(ctx, ctx.new_tensor(DType::F32, {1, vae.config().z_channels, h, w}, "z")));
  return measure(backend, vae.encode(ctx, ctx.new_tensor(DType::F32, {1, 3, h * f, w * f}, "image")));
}

}  // namespace

MemoryPlan PipelineImpl::plan_memory(const PlanRequest& r) const {
  const int f = info_.vae_downscale;
  if (r.width <= 0 || r.height <= 0 || r.width % f || r.height % f) throw Error("width and height must be positive multiples of " + std::to_string(f));
  if (r.batch < 1 || r.chunks < 1) throw Error("batch and chunks must be at least 1");
  MemoryPlan plan;
  plan.weights_bytes = info_.file_bytes;
  const int64_t h = r.height / f, w = r.width / f;

  for (const auto* clip : {&clip_l_, &clip_g_}) {
    if (!clip->has_value()) continue;
    const int skip = clip == &clip_g_ ? 1 : 0;  // as the load-time dry run: OpenCLIP always skips one
    Context ctx;
    Tensor* ids = ctx.new_tensor(DType::I32, {int64_t(r.chunks) * kTokensPerChunk}, "ids");
    model::ClipOutputs out = (*clip)->forward(ctx, ids, r.chunks, skip, true, info_.family == Family::SDXL);
    std::vector<Tensor*> outs = {out.hidden};
    if (out.last_normed) outs.push_back(out.last_normed);
    plan.text_bytes = std::max(plan.text_bytes, Graph(*backend_, outs).measure());
  }

  {
    const auto& cfg = unet_->config();
    const int64_t batch = int64_t(r.batch) * (r.cfg ? 2 : 1);
    Context ctx;
    Tensor* x = ctx.new_tensor(DType::F32, {batch, cfg.in_channels, h, w}, "x");
    Tensor* t = ctx.new_tensor(DType::F32, {batch}, "t");
    Tensor* context = ctx.new_tensor(DType::F32, {batch, int64_t(r.chunks) * kTokensPerChunk, cfg.context_dim}, "context");
    Tensor* y = cfg.adm_channels ? ctx.new_tensor(DType::F32, {batch, cfg.adm_channels}, "y") : nullptr;
    plan.unet_bytes = measure(*backend_, unet_->forward(ctx, x, t, context, y));
  }

  // Decode, and for img2img (or an inpainting UNet's conditioning) the encoder: one at a time.
  const bool encodes = r.img2img || info_.inpainting_unet();
  const TileSize size = tile_size_from_env();
  const int64_t th = fit_tile(h, size.tile, size.overlap), tw = fit_tile(w, size.tile, size.overlap);
  if (!vae_) return plan;
  for (bool decode : {true, false}) {
    if (!decode && !encodes) continue;
    const size_t whole = vae_pass_bytes(*vae_, *backend_, decode, h, w, f);
    const size_t tile = vae_pass_bytes(*vae_, *backend_, decode, th, tw, f);
    plan.vae_whole_bytes = std::max(plan.vae_whole_bytes, whole);
    plan.vae_tiled_bytes = std::max(plan.vae_tiled_bytes, tile);
    const bool tiled = wants_tiles(r.vae_tiling, whole, vae_budget_bytes_);
    plan.vae_bytes = std::max(plan.vae_bytes, tiled ? tile : whole);
    if (tiled) plan.vae_tiles = int(tile_starts(h, th, size.overlap).size() * tile_starts(w, tw, size.overlap).size());
  }
  return plan;
}

}  // namespace sd::runtime
