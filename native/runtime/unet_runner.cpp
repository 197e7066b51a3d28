#include "unet_runner.h"

#include <cstring>

#include "core/error.h"

namespace sd::runtime {

void UNetRunner::set_conditioning(std::vector<float> context, int64_t tokens, std::vector<float> y) {
  std::vector<Conditioning> one;
  one.push_back({0, std::move(context), std::move(y)});
  set_conditioning_schedule(std::move(one), tokens);
}

void UNetRunner::set_conditioning_schedule(std::vector<Conditioning> segments, int64_t tokens) {
  if (segments.empty()) throw Error("UNet conditioning: no segments");
  const size_t rows = segments[0].context.size();
  for (const auto& s : segments)
    if (s.context.size() != rows || s.y.size() != segments[0].y.size()) throw Error("UNet conditioning: segments differ in shape");
  segments_ = std::move(segments);
  for (auto& [key, planned] : graphs_) planned.context_segment = -1;  // new rows: upload them again
  tokens_ = tokens;
  calls_ = 0;
  context_batch_ = int(rows / size_t(tokens * unet_.config().context_dim));
}

void UNetRunner::set_concat(std::vector<float> per_image, int64_t channels) {
  if (channels && per_image.size() % size_t(channels * h_ * w_)) throw Error("concat conditioning does not match the latent shape");
  concat_ = std::move(per_image);
  concat_c_ = channels;
  graphs_.clear();
}

UNetRunner::Planned& UNetRunner::graph_for(int batch) {
  auto key = std::make_tuple(batch, tokens_, h_, w_);
  auto it = graphs_.find(key);
  if (it != graphs_.end()) return it->second;
  // Only one shape is live at a time: drop older graphs (their arenas) before planning anew.
  graphs_.clear();
  Planned p;
  p.ctx = std::make_unique<Context>();
  Context& ctx = *p.ctx;
  const auto& cfg = unet_.config();
  if (c_ + concat_c_ != cfg.in_channels)
    throw Error("the UNet takes " + std::to_string(cfg.in_channels) + " input channels but is given " + std::to_string(c_ + concat_c_) +
                (cfg.in_channels > c_ ? " (an inpainting model needs its mask conditioning)" : ""));
  p.x = ctx.new_tensor(DType::F32, {batch, c_ + concat_c_, h_, w_}, "x");
  p.t = ctx.new_tensor(DType::F32, {batch}, "t");
  p.context = ctx.new_tensor(DType::F32, {batch, tokens_, cfg.context_dim}, "context");
  p.y = cfg.adm_channels ? ctx.new_tensor(DType::F32, {batch, cfg.adm_channels}, "y") : nullptr;
  p.out = unet_.forward(ctx, p.x, p.t, p.context, p.y);
  p.graph = std::make_unique<Graph>(backend_, std::vector<Tensor*>{p.out});
  p.graph->plan();
  peak_ = std::max(peak_, p.graph->arena_bytes());
  return graphs_.emplace(key, std::move(p)).first->second;
}

void UNetRunner::forward(const float* x_in, int batch, float t, float* out) {
  Planned& p = graph_for(batch);
  const auto& cfg = unet_.config();
  if (!concat_c_) {
    backend_.upload(p.x, x_in, p.x->nbytes());
  } else {
    const size_t plane = size_t(h_ * w_), lat = size_t(c_) * plane, extra = size_t(concat_c_) * plane;
    const size_t images = concat_.size() / extra;
    staged_.resize(size_t(p.x->numel()));
    float* dst = staged_.data();
    for (int i = 0; i < batch; ++i) {
      std::memcpy(dst + size_t(i) * (lat + extra), x_in + size_t(i) * lat, lat * 4);
      std::memcpy(dst + size_t(i) * (lat + extra) + lat, concat_.data() + (size_t(i) % images) * extra, extra * 4);
    }
    backend_.upload(p.x, dst, p.x->nbytes());
  }
  staged_.assign(size_t(batch), t);
  backend_.upload(p.t, staged_.data(), p.t->nbytes());
  // The sampler passes either the full CFG batch (uncond + cond) or, at scale 1, the cond half.
  const size_t per = size_t(tokens_ * cfg.context_dim);
  const int offset = batch == context_batch_ ? 0 : context_batch_ - batch;
  if (offset < 0) throw Error("UNet called with a batch larger than its conditioning");
  size_t at = 0;
  while (at + 1 < segments_.size() && calls_ > segments_[at].end_at_step) ++at;
  ++calls_;
  const Conditioning& cond = segments_[at];
  if (p.context_segment != int(at) || p.context_offset != offset) {
    backend_.upload(p.context, cond.context.data() + size_t(offset) * per, size_t(batch) * per * 4);
    if (p.y) backend_.upload(p.y, cond.y.data() + size_t(offset) * size_t(cfg.adm_channels), p.y->nbytes());
    p.context_segment = int(at);
    p.context_offset = offset;
  }
  p.graph->set_profile(profile);
  p.graph->compute();
  backend_.download(p.out, out, p.out->nbytes());
}

}  // namespace sd::runtime
