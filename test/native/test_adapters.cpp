// LoRA / LyCORIS merging against A1111's extensions-builtin/Lora and diffusers' load_lora_weights
// (goldens made by running their code: test/fixtures/generators/lora_golden.py and
// lora_diffusers_golden.py): every module kind's merged weight, a kohya SD1 LoRA (and the same LoRA
// in diffusers/PEFT spelling) through the tiny UNet and CLIP text encoder,
// and SD2's q/k/v LoRAs landing in OpenCLIP's packed in_proj_weight, LoRA changes reaching
// Winograd convs (whose transformed filters are cached), and LoRA switches on the emulated device
// reusing the device space of evicted sets. Limit: rel L2 1e-5 in f32.
#include <cmath>
#include <cstring>
#include <map>
#include <memory>
#include <set>

#include "adapters/adapter_set.h"
#include "core/error.h"
#include "core/cpu/cpu_backend.h"
#include "core/emulated/emulated_backend.h"
#include "golden.h"
#include "model/clip.h"
#include "model/unet.h"

using namespace sd;
using namespace sd::adapters;

namespace {

constexpr double kTol = 1e-5;
std::string dir;

std::shared_ptr<io::SafetensorsFile> open(const std::string& name) { return io::SafetensorsFile::open(dir + "/" + name); }

bool ends_with(const std::string& s, const std::string& tail) {
  return s.size() >= tail.size() && s.compare(s.size() - tail.size(), tail.size(), tail) == 0;
}

// Every case of lora_math: NAME.base, NAME.adapter.<suffix>, NAME.merged (A1111's weight).
void math_cases() {
  auto f = open("lora_math.safetensors");
  std::set<std::string> names;
  for (const auto& t : f->tensors())
    if (ends_with(t.name, ".base")) names.insert(t.name.substr(0, t.name.size() - 5));
  CHECK_MSG(names.size() >= 20, "lora_math holds " + std::to_string(names.size()) + " cases");
  double worst = 0;
  for (const std::string& name : names) {
    AdapterModule m;
    const std::string head = name + ".adapter.";
    for (const auto& t : f->tensors()) {
      if (t.name.compare(0, head.size(), head) != 0) continue;
      const std::string suffix = t.name.substr(head.size());
      std::vector<float> v = golden::floats(*f, t.name);
      if (suffix == "alpha") m.alpha = v.at(0);
      else if (suffix == "scale") m.scale = v.at(0);
      else m.w[suffix] = Array{t.shape, std::move(v)};
    }
    const auto kind = module_kind(m.w);
    CHECK_MSG(kind.has_value(), name + ": no module kind");
    if (!kind) continue;
    m.kind = *kind;
    const io::TensorInfo* base = f->find(name + ".base");
    std::vector<float> w = golden::floats(*f, name + ".base");
    const float multiplier = ends_with(name, "_negmult") ? -0.5f : 0.7f;  // as lora_math.json lists them
    const std::vector<float> delta = weight_delta(m, base->shape, w.data(), multiplier, name);
    for (size_t i = 0; i < w.size(); ++i) w[i] += delta[i];
    const std::vector<float> want = golden::floats(*f, name + ".merged");
    const double e = harness::rel_l2(w.data(), want.data(), int64_t(want.size()));
    // The error is of the update, the part the adapter contributes: merged − base.
    std::vector<float> want_delta(want.size()), base_w = golden::floats(*f, name + ".base");
    for (size_t i = 0; i < want.size(); ++i) want_delta[i] = want[i] - base_w[i];
    const double ed = harness::rel_l2(delta.data(), want_delta.data(), int64_t(want.size()));
    worst = std::max(worst, ed);
    CHECK_MSG(e <= kTol && ed <= 1e-4, name + ": merged rel L2 " + std::to_string(e) + ", update rel L2 " + std::to_string(ed));
  }
  std::printf("lora_math: %zu module cases, worst rel L2 of the update %.2e\n", names.size(), worst);
}

// The tiny UNet on the golden file's x, t and context, through `backend`, with whatever weights
// its leaves point at now.
std::vector<float> unet_on_golden_inputs(const model::UNet& unet, Backend& backend, const io::SafetensorsFile& f) {
  Context ctx;
  Tensor* x = ctx.new_tensor(DType::F32, {2, 4, 16, 16}, "x");
  Tensor* t = ctx.new_tensor(DType::F32, {2}, "t");
  Tensor* c = ctx.new_tensor(DType::F32, {2, 77, 64}, "context");
  Tensor* out = unet.forward(ctx, x, t, c, nullptr);
  Graph g(backend, {out});
  g.plan();
  // Through upload/download: on a device backend the arena is not host memory.
  auto put = [&](Tensor* dst, const std::vector<float>& v) { backend.upload(dst, v.data(), v.size() * 4); };
  put(x, golden::floats(f, "golden.x"));
  put(t, golden::floats(f, "golden.t"));
  put(c, golden::floats(f, "golden.context"));
  g.compute();
  std::vector<float> result(size_t(out->numel()));
  backend.download(out, result.data(), result.size() * 4);
  return result;
}

// The tiny SD1 UNet with the kohya LoRA (and its PEFT spelling) at UNet weight 0.8.
void unet_case() {
  auto f = open("lora_sd1_unet_tiny.safetensors");
  auto wctx = std::make_shared<Context>();
  model::Weights root(f, wctx, "");
  model::UNet unet(root.sub("model.diffusion_model."), 2, 0);
  AdapterSets sets(*f, [&](const std::string& key) { return root.get(key); }, size_t(64) << 20);
  cpu::CpuBackend backend;
  auto diffusers = open("lora_sd1_diffusers.safetensors");  // huggingface/diffusers v0.24 load_lora_weights, scale 0.8
  auto run = [&](const char* want_key, const std::vector<AdapterRequest>& set, const char* label, const io::SafetensorsFile* want_file = nullptr) {
    const AdapterReport report = sets.activate(set);
    const std::vector<float> got = unet_on_golden_inputs(unet, backend, *f);
    const std::vector<float> want = golden::floats(want_file ? *want_file : *f, want_key);
    const double e = harness::rel_l2(got.data(), want.data(), int64_t(want.size()));
    CHECK_MSG(e <= kTol, std::string(label) + ": rel L2 " + std::to_string(e));
    std::printf("%s: UNet output rel L2 %.2e (%d modules, %d unmatched, merge %.3f s%s)\n", label, e, report.modules_applied,
                report.modules_unmatched, report.merge_seconds, report.cached ? ", cached" : "");
    return report;
  };
  run("golden.output_base", {}, "no LoRA");
  const std::string kohya = dir + "/lora_sd1.safetensors", peft = dir + "/lora_sd1_peft.safetensors";
  const AdapterReport first = run("golden.output_lora", {{kohya, 0.6f, 0.8f}}, "kohya lora_sd1 <lora:lora_sd1:0.6:0.8>");
  CHECK_MSG(first.modules_applied == 197 && first.modules_unmatched == 12 && !first.cached, "the 197 UNet modules match; the 12 text-encoder ones have no encoder here");
  const AdapterReport again = run("golden.output_lora", {{kohya, 0.6f, 0.8f}}, "the same set again");
  CHECK_MSG(again.cached && again.merge_seconds == 0, "the same set is not merged twice");
  run("golden.output_base", {}, "set removed");
  run("golden.output_lora", {{peft, 0.6f, 0.8f}}, "the same LoRA in PEFT spelling");
  run("golden.output_lora", {{kohya, 0.6f, 0.8f}}, "back to kohya (from the cache)");
  run("golden.output_diffusers", {{kohya, 0.6f, 0.8f}}, "vs diffusers' load_lora_weights (scale 0.8)", diffusers.get());
  CHECK_MSG(sets.cached_bytes() > 0, "merged sets are kept");
  AdapterSets tight(*f, [&](const std::string& key) { return root.get(key); }, 1);
  tight.activate({{kohya, 0.6f, 0.8f}});
  tight.activate({{peft, 0.6f, 0.8f}});
  CHECK_MSG(tight.cached_bytes() == first.merged_bytes, "a 1-byte budget keeps only the active set (" + std::to_string(tight.cached_bytes()) + " bytes)");
}

// LoRA changes reach convs run through Winograd F(4,3) with its transformed-filter cache on: the
// tiny UNet (the LoRA patches 38 of its 3x3 convs) through one backend with every 3x3 conv on
// Winograd and one with every conv direct, over a sequence of sets with a 1-byte adapter budget
// (each set frees the one before, whose addresses the next copies may get), and the base again.
// Winograd = direct on the patched weights (rel L2 <= 1e-5), and = the goldens where they exist.
void unet_winograd_case() {
  auto f = open("lora_sd1_unet_tiny.safetensors");
  auto wctx = std::make_shared<Context>();
  model::Weights root(f, wctx, "");
  model::UNet unet(root.sub("model.diffusion_model."), 2, 0);
  cpu::CpuOptions on, off;
  on.winograd = cpu::WinogradMode::Always;
  on.winograd_cache_bytes = size_t(1) << 30;  // the cache on (the default keeps none)
  off.winograd = cpu::WinogradMode::Off;
  cpu::CpuBackend wino(on), direct(off);
  size_t freed = 0;
  AdapterSets sets(*f, [&](const std::string& key) { return root.get(key); }, 1, 0, [&](const void* data, size_t bytes) {
    freed += bytes;
    wino.forget_weights(data, bytes);
  });
  auto forward = [&](cpu::CpuBackend& backend) { return unet_on_golden_inputs(unet, backend, *f); };
  const std::string kohya = dir + "/lora_sd1.safetensors";
  struct Step { std::vector<AdapterRequest> set; const char* golden; const char* label; };
  const Step steps[] = {
      {{}, "golden.output_base", "base"},
      {{{kohya, 0.6f, 0.8f}}, "golden.output_lora", "<lora:lora_sd1:0.6:0.8>"},
      {{{kohya, 0.6f, -0.5f}}, nullptr, "<lora:lora_sd1:0.6:-0.5>"},
      {{{kohya, 0.6f, 0.3f}}, nullptr, "<lora:lora_sd1:0.6:0.3>"},
      {{{kohya, 0.6f, 0.8f}}, "golden.output_lora", "<lora:lora_sd1:0.6:0.8> again"},
      {{}, "golden.output_base", "base again"},
  };
  std::vector<float> prev;
  size_t with_one_set = 0;  // cached filters of the base plus one set's copies
  for (const Step& s : steps) {
    sets.activate(s.set);
    const std::vector<float> w = forward(wino), d = forward(direct);
    const double e = harness::rel_l2(w.data(), d.data(), int64_t(d.size()));
    CHECK_MSG(e <= kTol, std::string("winograd vs direct, ") + s.label + ": rel L2 " + std::to_string(e));
    if (s.golden) {
      const std::vector<float> want = golden::floats(*f, s.golden);
      const double eg = harness::rel_l2(w.data(), want.data(), int64_t(want.size()));
      CHECK_MSG(eg <= kTol, std::string("winograd vs golden, ") + s.label + ": rel L2 " + std::to_string(eg));
    }
    if (!prev.empty()) CHECK_MSG(harness::rel_l2(w.data(), prev.data(), int64_t(prev.size())) > 1e-3, std::string(s.label) + " changes the output");
    std::printf("winograd, %s: rel L2 vs direct %.2e (filter cache %.1f MiB)\n", s.label, e, double(wino.winograd_cache_bytes()) / (1 << 20));
    prev = w;
    // An evicted set's copies leave the filter cache with it (else it would grow by a set per step).
    if (with_one_set == 0 && !s.set.empty()) with_one_set = wino.winograd_cache_bytes();
    else if (with_one_set) CHECK_MSG(wino.winograd_cache_bytes() == with_one_set, std::string(s.label) + ": filters of freed copies forgotten");
  }
  CHECK_MSG(wino.winograd_cache_bytes() > 0, "the filter cache was in use");
  CHECK_MSG(freed > 0, "evicted sets announced their freed copies");
}

// LoRA sets switched on the emulated device with a 1-byte adapter budget, so each set evicts the
// one before: the evicted copies' device space must be reused by the next set's, or device memory
// grows by a set per switch. After every switch the device holds the bytes it held after the first
// (weight blocks and mapped chunks), every set's copies go up anew, and every output is the CPU
// backend's, bit for bit.
void unet_emulated_case() {
  auto f = open("lora_sd1_unet_tiny.safetensors");
  auto wctx = std::make_shared<Context>();
  model::Weights root(f, wctx, "");
  model::UNet unet(root.sub("model.diffusion_model."), 2, 0);
  cpu::CpuBackend cpu;
  emulated::EmulatedBackend dev;
  AdapterSets sets(*f, [&](const std::string& key) { return root.get(key); }, 1, 0, [&](const void* data, size_t bytes) {
    cpu.forget_weights(data, bytes);
    dev.forget_weights(data, bytes);
  });
  const std::string kohya = dir + "/lora_sd1.safetensors";
  auto same = [&](const char* label) {
    const std::vector<float> want = unet_on_golden_inputs(unet, cpu, *f), got = unet_on_golden_inputs(unet, dev, *f);
    CHECK_MSG(want.size() == got.size() && std::memcmp(want.data(), got.data(), want.size() * 4) == 0, std::string(label) + ": emulated and CPU outputs differ");
    return got;
  };
  same("base");
  const size_t base_weights = dev.weight_bytes();
  const float unet_weights[] = {0.8f, -0.5f, 0.3f, 1.0f, 0.8f, -0.2f, 0.6f, 0.3f, -0.5f, 0.9f, 0.8f, 0.1f};
  constexpr int kSwitches = int(sizeof(unet_weights) / sizeof(unet_weights[0]));
  size_t ref_weights = 0, ref_mapped = 0;
  int64_t uploads_before = dev.transfers().weight_uploads, set_uploads = 0;
  std::vector<float> prev;
  for (int i = 0; i < kSwitches; ++i) {
    const std::string label = "emulated, switch " + std::to_string(i + 1) + " <lora:lora_sd1:0.6:" + std::to_string(unet_weights[i]) + ">";
    const AdapterReport report = sets.activate({{kohya, 0.6f, unet_weights[i]}});
    CHECK_MSG(!report.cached, label + ": the 1-byte budget keeps no set to reuse");
    const std::vector<float> out = same(label.c_str());
    if (!prev.empty()) CHECK_MSG(harness::rel_l2(out.data(), prev.data(), int64_t(prev.size())) > 1e-3, label + " changes the output");
    prev = out;
    const int64_t uploads = dev.transfers().weight_uploads - uploads_before;
    uploads_before += uploads;
    if (i == 0) {
      ref_weights = dev.weight_bytes();
      ref_mapped = dev.device_bytes();
      set_uploads = uploads;
      CHECK_MSG(ref_weights > base_weights, "the first set's copies are on the device");
    } else {
      CHECK_MSG(uploads == set_uploads, label + ": " + std::to_string(uploads) + " copies uploaded, the first set " + std::to_string(set_uploads));
      CHECK_MSG(dev.weight_bytes() == ref_weights, label + ": " + std::to_string(dev.weight_bytes()) + " device weight bytes, " + std::to_string(ref_weights) + " after the first switch");
      CHECK_MSG(dev.device_bytes() == ref_mapped, label + ": " + std::to_string(dev.device_bytes()) + " device bytes mapped, " + std::to_string(ref_mapped) + " after the first switch");
    }
  }
  const size_t set_bytes = ref_weights - base_weights;
  std::printf("emulated, %d LoRA switches: device weight bytes %zu after the first and %zu after the last (base %zu, a set %zu in %lld copies; "
              "without reuse %zu), mapped %zu\n",
              kSwitches, ref_weights, dev.weight_bytes(), base_weights, set_bytes, (long long)set_uploads, ref_weights + size_t(kSwitches - 1) * set_bytes,
              dev.device_bytes());
  CHECK_MSG(set_uploads > 0, "each set's merged copies went up");
}

// The kohya LoRA's lora_te_ part at text weight 0.6 on the tiny CLIP-L (clip_text_tiny's weights).
void text_case() {
  auto f = open("clip_text_tiny.safetensors");
  auto golden_file = open("lora_sd1_text.safetensors");
  auto wctx = std::make_shared<Context>();
  model::Weights root(f, wctx, "");
  model::ClipTextEncoder clip(root.sub("cond_stage_model.transformer.text_model."), model::ClipLayout::HuggingFace, 2);
  AdapterSets sets(*f, [&](const std::string& key) { return root.get(key); }, size_t(64) << 20);
  const std::vector<int32_t> ids = golden::ids(*golden_file, "golden.ids");
  cpu::CpuBackend backend;
  for (const char* key : {"golden.output_base", "golden.output_lora"}) {
    const bool lora = std::string(key) == "golden.output_lora";
    const AdapterReport report = sets.activate(lora ? std::vector<AdapterRequest>{{dir + "/lora_sd1.safetensors", 0.6f, 0.8f}} : std::vector<AdapterRequest>{});
    Context ctx;
    Tensor* tid = ctx.new_tensor(DType::I32, {2 * 77}, "ids");
    model::ClipOutputs out = clip.forward(ctx, tid, 2, 0, true, false);
    Graph g(backend, {out.hidden});
    g.plan();
    std::memcpy(tid->data, ids.data(), ids.size() * 4);
    g.compute();
    const std::vector<float> want = golden::floats(*golden_file, key);
    const double e = harness::rel_l2(out.hidden->ptr<float>(), want.data(), int64_t(want.size()));
    CHECK_MSG(e <= kTol, std::string("text ") + key + ": rel L2 " + std::to_string(e));
    std::printf("CLIP-L text %s: rel L2 %.2e (%d modules)\n", lora ? "with lora_te_ at 0.6" : "base", e, report.modules_applied);
  }
}

// SD2: HF-named q/k/v LoRAs become row bands of OpenCLIP's in_proj_weight.
void sd2_text_case() {
  auto f = open("openclip_text_tiny_sd2.safetensors");
  auto golden_file = open("lora_sd2_text.safetensors");
  auto wctx = std::make_shared<Context>();
  model::Weights root(f, wctx, "");
  AdapterSets sets(*f, [&](const std::string& key) { return root.get(key); }, size_t(64) << 20);
  const AdapterReport report = sets.activate({{dir + "/lora_sd2_text.safetensors", 0.6f, 1.0f}});
  int compared = 0;
  double worst = 0;
  const std::string head = "golden.merged.";
  for (const auto& t : golden_file->tensors()) {
    if (t.name.compare(0, head.size(), head) != 0) continue;
    Tensor* leaf = root.get(t.name.substr(head.size()));
    const std::vector<float> want = golden::floats(*golden_file, t.name);
    const double e = harness::rel_l2(leaf->ptr<float>(), want.data(), int64_t(want.size()));
    worst = std::max(worst, e);
    CHECK_MSG(e <= kTol, t.name + ": rel L2 " + std::to_string(e));
    ++compared;
  }
  CHECK_MSG(compared == 8 && report.modules_applied == 12, "SD2: " + std::to_string(compared) + " weights compared, " + std::to_string(report.modules_applied) + " modules");
  std::printf("SD2 OpenCLIP: %d merged weights (q/k/v into in_proj_weight), worst rel L2 %.2e\n", compared, worst);
}

// Files that must be refused with a message, not merged.
void refusals() {
  auto f = open("lora_sd1_unet_tiny.safetensors");
  auto wctx = std::make_shared<Context>();
  model::Weights root(f, wctx, "");
  AdapterSets sets(*f, [&](const std::string& key) { return root.get(key); }, size_t(64) << 20);
  auto expect_error = [&](const std::string& path, const std::string& part) {
    bool threw = false;
    try {
      sets.activate({{path, 1.0f, 1.0f}});
    } catch (const Error& e) {
      threw = std::string(e.what()).find(part) != std::string::npos;
      if (!threw) std::printf("message was: %s\n", e.what());
    }
    CHECK_MSG(threw, path + ": expected an error containing \"" + part + "\"");
  };
  expect_error(dir + "/unet_sd1_tiny.safetensors", "changes nothing in this model");  // a checkpoint is no adapter
  expect_error(dir + "/no-such-file.safetensors", "cannot be opened");
  expect_error(dir + "/lora_sd1.json", "adapter: ");
}

}  // namespace

int main(int argc, char** argv) {
  dir = argc > 1 ? argv[1] : "test/fixtures";
  try {
    math_cases();
    unet_case();
    unet_winograd_case();
    unet_emulated_case();
    text_case();
    sd2_text_case();
    refusals();
  } catch (const std::exception& e) {
    CHECK_MSG(false, std::string("exception: ") + e.what());
  }
  return harness::finish("test_adapters");
}
