// Prompt tokens -> UNet context: CLIP per 77-token chunk, A1111 emphasis weights, chunks
// concatenated along the token axis; SDXL concatenates CLIP-L and bigG and adds the pooled vector.
#include <cmath>
#include <cstring>

#include "core/error.h"
#include "core/graph.h"
#include "pipeline_impl.h"

namespace sd::runtime {
namespace {

// OpenCLIP (SD2's encoder, SDXL's bigG) was trained on open_clip.tokenize's ids: zeros after each
// chunk's first end token. CLIP-L keeps the end-token padding the tokens arrive with.
PromptTokens with_openclip_padding(const PromptTokens& tokens) {
  PromptTokens t = tokens;
  for (int c = 0; c < t.chunks(); ++c) {
    int32_t* ids = t.ids.data() + size_t(c) * kTokensPerChunk;
    int i = 0;
    while (i < kTokensPerChunk && ids[i] != kEndToken) ++i;
    for (++i; i < kTokensPerChunk; ++i) ids[i] = 0;
  }
  return t;
}

// One row of a [vocab, W] table (f32, f16 or bf16) as f32.
void load_row(const Tensor& table, int64_t row, float* out) {
  const int64_t W = table.shape[1];
  for (int64_t c = 0; c < W; ++c) out[c] = load_as_f32(table.data, table.dtype, size_t(row * W + c));
}

}  // namespace

std::vector<float> PipelineImpl::run_clip(const model::ClipTextEncoder& clip, const PromptTokens& tokens, int skip,
                                          bool final_norm, std::vector<float>* pooled, const std::vector<float>& embed_rows,
                                          const std::function<bool()>& keep_going) {
  const int chunks = tokens.chunks();
  const int64_t T = clip.config().context, W = clip.config().width;
  if (T != kTokensPerChunk) throw Error("text encoder context " + std::to_string(T) + " is not " + std::to_string(kTokensPerChunk));
  const size_t embedded = tokens.embed_positions.size();
  if (embedded && embed_rows.size() != embedded * size_t(W))
    throw Error("textual-inversion vectors: " + std::to_string(embedded) + " positions need " + std::to_string(embedded * size_t(W)) +
                " values at this text encoder's width " + std::to_string(W) + ", got " + std::to_string(embed_rows.size()));
  Context ctx;
  // With embeddings the token rows are looked up here and some replaced; without, the graph does it.
  Tensor* ids = embedded ? ctx.new_tensor(DType::F32, {chunks * T, W}, "token_rows") : ctx.new_tensor(DType::I32, {chunks * T}, "ids");
  model::ClipOutputs out = clip.forward(ctx, ids, chunks, skip, final_norm, pooled != nullptr);
  std::vector<Tensor*> outs = {out.hidden};
  if (out.last_normed) outs.push_back(out.last_normed);
  Graph g(*backend_, outs);
  g.plan();
  for (int32_t id : tokens.ids)
    if (id < 0 || id >= clip.config().vocab) throw Error("token id " + std::to_string(id) + " is outside the vocabulary");
  if (embedded) {
    const Tensor* table = clip.token_embedding();
    std::vector<float> row_buf(size_t(ids->numel()));
    float* rows = row_buf.data();
    for (size_t r = 0; r < tokens.ids.size(); ++r) load_row(*table, tokens.ids[r], rows + r * size_t(W));
    for (size_t e = 0; e < embedded; ++e) {
      const int32_t at = tokens.embed_positions[e];
      if (at < 0 || size_t(at) >= tokens.ids.size()) throw Error("textual-inversion position " + std::to_string(at) + " is outside the prompt");
      std::memcpy(rows + size_t(at) * size_t(W), embed_rows.data() + e * size_t(W), size_t(W) * 4);
    }
    backend_->upload(ids, rows, ids->nbytes());
  } else {
    backend_->upload(ids, tokens.ids.data(), tokens.ids.size() * 4);
  }
  bool stopped = false;
  if (keep_going) g.set_observer([&](Tensor*) { return !(stopped = !keep_going()); });
  g.compute();
  if (stopped) throw TextCancelled{};
  std::vector<float> z(size_t(chunks * T * W));
  backend_->download(out.hidden, z.data(), z.size() * sizeof(float));
  // A1111 emphasis: scale each token's features by its weight, then restore the chunk's mean.
  for (int c = 0; c < chunks; ++c) {
    float* zc = z.data() + c * T * W;
    const float* wc = tokens.weights.data() + c * T;
    bool weighted = false;
    for (int i = 0; i < T; ++i) weighted |= wc[i] != 1.0f;
    if (!weighted) continue;
    double before = 0, after = 0;
    for (int64_t i = 0; i < T * W; ++i) before += zc[i];
    for (int i = 0; i < T; ++i)
      for (int64_t j = 0; j < W; ++j) zc[i * W + j] *= wc[i];
    for (int64_t i = 0; i < T * W; ++i) after += zc[i];
    const float ratio = after != 0 ? float(before / after) : 1.0f;
    for (int64_t i = 0; i < T * W; ++i) zc[i] *= ratio;
  }
  if (pooled) {
    // SDXL: ln_final(h[-1]) at the first end token of the first chunk, times text_projection [W, E].
    const int eot = tokens.eot_index.empty() ? 76 : tokens.eot_index[0];
    std::vector<float> normed(size_t(out.last_normed->numel()));
    if (eot < 0 || int64_t(eot + 1) * W > out.last_normed->numel()) throw Error("end-token index " + std::to_string(eot) + " is outside the prompt");
    backend_->download(out.last_normed, normed.data(), out.last_normed->nbytes());
    const float* row = normed.data() + eot * W;
    Tensor* proj = clip.text_projection();
    if (!proj) throw Error("the second text encoder has no text_projection; the checkpoint is incomplete");
    const int64_t E = proj->shape[1];
    pooled->assign(size_t(E), 0.0f);
    for (int64_t e = 0; e < E; ++e) {
      double s = 0;
      for (int64_t c = 0; c < W; ++c) {
        float pv = proj->dtype == DType::F32 ? proj->ptr<float>()[c * E + e]
                 : proj->dtype == DType::F16 ? f16_to_f32(proj->ptr<uint16_t>()[c * E + e])
                                             : bf16_to_f32(proj->ptr<uint16_t>()[c * E + e]);
        s += double(row[c]) * pv;
      }
      (*pooled)[size_t(e)] = float(s);
    }
  }
  return z;
}

std::vector<float> PipelineImpl::encode_prompt(const PromptTokens& tokens, int clip_skip, std::vector<float>* pooled,
                                               const std::function<bool()>& keep_going) {
  if (tokens.ids.empty() || tokens.ids.size() % kTokensPerChunk || tokens.weights.size() != tokens.ids.size())
    throw Error("prompt tokens must come in chunks of 77 ids with one weight each");
  const int skip = std::max(0, clip_skip - 1);
  switch (info_.family) {
    case Family::SD1:
      return run_clip(*clip_l_, tokens, skip, true, nullptr, tokens.embed_main, keep_going);
    case Family::SD2:  // OpenCLIP penultimate layer, then ln_final
      return run_clip(*clip_g_, with_openclip_padding(tokens), std::max(1, skip), true, nullptr, tokens.embed_main, keep_going);
    case Family::SDXL: {
      std::vector<float> l = run_clip(*clip_l_, tokens, std::max(1, skip), false, nullptr, tokens.embed_main, keep_going);
      std::vector<float> g = run_clip(*clip_g_, with_openclip_padding(tokens), std::max(1, skip), false, pooled, tokens.embed_second, keep_going);
      const int64_t rows = int64_t(tokens.ids.size()), wl = clip_l_->config().width, wg = clip_g_->config().width;
      std::vector<float> z(static_cast<size_t>(rows * (wl + wg)));
      for (int64_t r = 0; r < rows; ++r) {
        std::memcpy(&z[size_t(r * (wl + wg))], &l[size_t(r * wl)], size_t(wl) * 4);
        std::memcpy(&z[size_t(r * (wl + wg) + wl)], &g[size_t(r * wg)], size_t(wg) * 4);
      }
      return z;
    }
  }
  return {};
}

std::vector<float> PipelineImpl::encode_text(const PromptTokens& tokens, int clip_skip) {
  return encode_prompt(tokens, clip_skip, nullptr);
}

// SDXL's y: pooled text, then 256-d sinusoids of original size (h, w), crop (top, left) and
// target size (h, w), each value embedded as cat[cos, sin] like the UNet's timesteps.
std::vector<float> PipelineImpl::sdxl_y(const std::vector<float>& pooled, const GenerateParams& p) const {
  std::vector<float> y = pooled;
  auto or_default = [](int v, int d) { return float(v > 0 ? v : d); };
  const float values[6] = {or_default(p.original_height, p.height), or_default(p.original_width, p.width),
                           float(p.crop_top), float(p.crop_left),
                           or_default(p.target_height, p.height), or_default(p.target_width, p.width)};
  for (float v : values) {
    const int half = 128;
    std::vector<float> e(256);
    for (int i = 0; i < half; ++i) {
      float f = std::exp(-std::log(10000.0f) * float(i) / float(half));
      e[size_t(i)] = std::cos(v * f);
      e[size_t(half + i)] = std::sin(v * f);
    }
    y.insert(y.end(), e.begin(), e.end());
  }
  return y;
}

}  // namespace sd::runtime
