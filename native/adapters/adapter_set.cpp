#include "adapter_set.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <set>
#include <thread>

#include "core/error.h"

namespace sd::adapters {
namespace {

// Pickled checkpoints run code when loaded; they are refused before anything parses them.
void refuse_pickles(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw Error("adapter \"" + path + "\" cannot be opened (missing or unreadable)");
  char head[2] = {0, 0};
  in.read(head, 2);
  const bool zip = head[0] == 'P' && head[1] == 'K', pickle = static_cast<unsigned char>(head[0]) == 0x80;
  std::string ext = std::filesystem::path(path).extension().string();
  for (char& c : ext) c = char(std::tolower(static_cast<unsigned char>(c)));
  if (zip || pickle || ext == ".pt" || ext == ".ckpt" || ext == ".bin" || ext == ".pth")
    throw Error("adapter \"" + path + "\" is a pickled PyTorch file; sd-native never unpickles (it can run code). "
                "Convert it to .safetensors (e.g. safetensors.torch.save_file(torch.load(f, weights_only=True), out))");
}

Array to_f32(const io::TensorInfo& t, const std::string& path) {
  Array a;
  a.shape = t.shape;
  const int64_t n = t.numel();
  a.data.resize(size_t(n));
  if (t.dtype != DType::F32 && t.dtype != DType::F16 && t.dtype != DType::BF16)
    throw Error("adapter \"" + path + "\": tensor \"" + t.name + "\" is " + dtype_name(t.dtype) + "; adapters hold f32, f16 or bf16");
  for (int64_t i = 0; i < n; ++i) a.data[size_t(i)] = load_as_f32(t.data, t.dtype, size_t(i));
  for (float v : a.data)
    if (!std::isfinite(v)) throw Error("adapter \"" + path + "\": tensor \"" + t.name + "\" holds NaN or infinite values; the file is damaged");
  return a;
}

void load_f32(const Tensor& t, std::vector<float>& out) {
  if (t.dtype != DType::F32 && t.dtype != DType::F16 && t.dtype != DType::BF16) throw Error("adapter target \"" + t.name + "\" is not a floating-point weight");
  out.resize(size_t(t.numel()));
  for (size_t i = 0; i < out.size(); ++i) out[i] = load_as_f32(t.data, t.dtype, i);
}

std::vector<uint8_t> store(const std::vector<float>& v, DType dtype) {
  std::vector<uint8_t> out(v.size() * dtype_size(dtype));
  if (dtype == DType::F32) std::memcpy(out.data(), v.data(), out.size());
  else if (dtype == DType::F16) for (size_t i = 0; i < v.size(); ++i) reinterpret_cast<uint16_t*>(out.data())[i] = f32_to_f16(v[i]);
  else for (size_t i = 0; i < v.size(); ++i) reinterpret_cast<uint16_t*>(out.data())[i] = f32_to_bf16(v[i]);
  return out;
}

// Identifies a request: the file as it is now (an edited file merges anew) and its weights, exactly.
std::string request_key(const AdapterRequest& r) {
  namespace fs = std::filesystem;
  std::error_code ec;
  const fs::path canonical = fs::weakly_canonical(r.path, ec);
  const auto size = fs::file_size(r.path, ec);
  const auto mtime = fs::last_write_time(r.path, ec).time_since_epoch().count();
  char weights[64];
  std::snprintf(weights, sizeof weights, "%a/%a", double(r.text_weight), double(r.unet_weight));
  return (ec ? r.path : canonical.string()) + "|" + std::to_string(ec ? 0 : size) + "|" + std::to_string(ec ? 0 : mtime) + "|" + weights;
}

}  // namespace

AdapterFile read_adapter_file(const std::string& path, const CheckpointIndex& index) {
  refuse_pickles(path);
  std::unique_ptr<io::SafetensorsFile> file;
  try {
    file = io::SafetensorsFile::open(path);
  } catch (const Error& e) {
    throw Error(std::string("adapter: ") + e.what());
  }
  std::map<std::string, std::map<std::string, const io::TensorInfo*>> stems;
  std::set<std::string> unparsed;
  for (const io::TensorInfo& t : file->tensors()) {
    if (auto k = split_adapter_key(t.name)) stems[k->stem][k->suffix] = &t;
    else unparsed.insert(t.name);
  }
  AdapterFile out;
  bool sdxl_only_keys = false;
  for (const auto& [stem, parts] : stems) {
    AdapterModule m;
    for (const auto& [suffix, info] : parts) {
      Array a = to_f32(*info, path);
      if (suffix == "alpha" || suffix == "scale") {
        if (a.numel() != 1) throw Error("adapter \"" + path + "\": \"" + info->name + "\" should hold one number");
        (suffix == "alpha" ? m.alpha : m.scale) = a.data[0];
      } else {
        m.w[suffix] = std::move(a);
      }
    }
    const auto kind = module_kind(m.w);
    const auto target = kind ? index.resolve(stem) : std::nullopt;
    if (!kind || !target) {
      ++out.unmatched;
      if (stem.rfind("lora_te1_", 0) == 0 || stem.rfind("lora_te2_", 0) == 0) sdxl_only_keys = true;
      if (out.unmatched_examples.size() < 3) out.unmatched_examples.push_back(stem);
      continue;
    }
    m.kind = *kind;
    out.modules.push_back({*target, std::move(m)});
    out.names.push_back(stem);
  }
  out.unmatched += int(unparsed.size());
  if (out.modules.empty()) {
    std::string examples;
    for (const auto& s : out.unmatched_examples) examples += (examples.empty() ? "" : ", ") + s;
    for (auto it = unparsed.begin(); it != unparsed.end() && examples.size() < 200; ++it) examples += (examples.empty() ? "" : ", ") + *it;
    std::string why = sdxl_only_keys && !index.is_sdxl() ? " It is an SDXL adapter (lora_te1_/lora_te2_ keys) and the model is not SDXL." : "";
    const auto base = file->metadata().find("ss_base_model_version");
    if (base != file->metadata().end()) why += " Its metadata says it was trained on " + base->second + ".";
    throw Error("adapter \"" + path + "\" changes nothing in this model: none of its " + std::to_string(file->tensors().size()) +
                " tensors names a weight the model has (e.g. " + (examples.empty() ? "none" : examples) + ")." + why);
  }
  return out;
}

AdapterSets::AdapterSets(const io::SafetensorsFile& checkpoint, LeafOf leaf_of, size_t cache_bytes, unsigned threads)
    : index_(checkpoint), leaf_of_(std::move(leaf_of)), budget_(cache_bytes),
      threads_(threads ? threads : std::max(1u, std::thread::hardware_concurrency())) {}

AdapterSets::~AdapterSets() { restore_base(); }

size_t AdapterSets::cached_bytes() const {
  size_t n = 0;
  for (const Merged& m : cache_) n += m.report.merged_bytes;
  return n;
}

void AdapterSets::restore_base() {
  for (auto& [leaf, data] : base_data_) leaf->data = data;
  base_data_.clear();
  active_.clear();
}

AdapterSets::Merged AdapterSets::merge(const std::vector<AdapterRequest>& set, const std::string& key) const {
  const auto t0 = std::chrono::steady_clock::now();
  Merged merged;
  merged.key = key;
  // Every file first (they are small), then one target tensor at a time: peak memory is the merged
  // copies plus one tensor in f32, and the tensors merge in parallel.
  std::vector<AdapterFile> files;
  for (const AdapterRequest& r : set) {
    if (!std::isfinite(r.text_weight) || !std::isfinite(r.unet_weight))
      throw Error("adapter \"" + r.path + "\": its weight must be a finite number");
    files.push_back(read_adapter_file(r.path, index_));
    merged.report.modules_unmatched += files.back().unmatched;
  }
  struct Use { size_t file, module; };
  std::map<Tensor*, std::vector<Use>> uses;  // modules per tensor, in request order (DoRA sees the earlier ones)
  std::vector<Tensor*> order;
  for (size_t f = 0; f < files.size(); ++f)
    for (size_t m = 0; m < files[f].modules.size(); ++m) {
      Tensor* leaf = leaf_of_(files[f].modules[m].first.tensor);
      auto [it, fresh] = uses.try_emplace(leaf);
      if (fresh) order.push_back(leaf);
      it->second.push_back({f, m});
    }
  merged.tensors.resize(order.size());
  std::atomic<size_t> next{0};
  std::mutex failure_mutex;
  std::string failure;
  auto work = [&] {
    std::vector<float> current;
    for (size_t t; (t = next.fetch_add(1)) < order.size();) {
      Tensor* leaf = order[t];
      try {
        load_f32(*leaf, current);
        for (const Use& u : uses[leaf]) {
          const auto& [target, module] = files[u.file].modules[u.module];
          const AdapterRequest& r = set[u.file];
          std::vector<int64_t> shape(leaf->shape, leaf->shape + leaf->ndim);
          float* rows = current.data();
          if (target.rows) {
            const int64_t cols = leaf->numel() / leaf->shape[0];
            shape = {target.rows, cols};
            rows += target.row0 * cols;
          }
          const float multiplier = target.component == Component::Unet ? r.unet_weight : r.text_weight;
          const std::vector<float> delta = weight_delta(module, shape, rows, multiplier, "adapter \"" + r.path + "\", module " + files[u.file].names[u.module]);
          for (size_t k = 0; k < delta.size(); ++k) rows[k] += delta[k];
        }
        merged.tensors[t] = {leaf, store(current, leaf->dtype)};
      } catch (const std::exception& e) {
        std::lock_guard<std::mutex> lock(failure_mutex);
        if (failure.empty()) failure = e.what();
        next = order.size();
      }
    }
  };
  const unsigned threads = std::max(1u, std::min(threads_, unsigned(order.size())));
  std::vector<std::thread> pool;
  for (unsigned i = 1; i < threads; ++i) pool.emplace_back(work);
  work();
  for (std::thread& th : pool) th.join();
  if (!failure.empty()) throw Error(failure);
  for (const auto& [leaf, bytes] : merged.tensors) merged.report.merged_bytes += bytes.size();
  for (const AdapterFile& f : files) merged.report.modules_applied += int(f.modules.size());
  merged.report.tensors_changed = int(order.size());
  merged.report.merge_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return merged;
}

void AdapterSets::evict_beyond_budget() {
  size_t total = cached_bytes();
  while (cache_.size() > 1 && total > budget_) {
    total -= cache_.back().report.merged_bytes;
    if (on_release_)
      for (const auto& [leaf, bytes] : cache_.back().tensors) on_release_(bytes.data());
    cache_.pop_back();
  }
}

AdapterReport AdapterSets::activate(const std::vector<AdapterRequest>& set) {
  std::string key;
  for (const AdapterRequest& r : set) key += request_key(r) + "\n";
  if (key == active_) {
    AdapterReport same = key.empty() ? AdapterReport{} : cache_.front().report;
    same.cached = !key.empty(), same.merge_seconds = 0;
    return same;
  }
  restore_base();
  if (set.empty()) return {};
  auto hit = cache_.begin();
  while (hit != cache_.end() && hit->key != key) ++hit;
  bool cached = hit != cache_.end();
  if (cached) cache_.splice(cache_.begin(), cache_, hit);
  else cache_.push_front(merge(set, key));
  Merged& m = cache_.front();
  for (auto& [leaf, bytes] : m.tensors) {
    base_data_[leaf] = leaf->data;
    leaf->data = bytes.data();
  }
  active_ = key;
  evict_beyond_budget();
  AdapterReport report = m.report;
  report.cached = cached;
  if (cached) report.merge_seconds = 0;
  return report;
}

}  // namespace sd::adapters
