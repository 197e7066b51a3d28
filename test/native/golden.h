// Reading golden tensors and comparing graph intermediates with them by name.
#pragma once
#include <cstring>
#include <map>
#include <string>
#include <vector>

#include "core/graph.h"
#include "harness.h"
#include "io/safetensors.h"

namespace golden {

// Safetensors data need not be aligned: read through memcpy.
inline int64_t int64_at(const void* data, size_t i) {
  int64_t v;
  std::memcpy(&v, static_cast<const uint8_t*>(data) + i * 8, 8);
  return v;
}

inline std::vector<float> floats(const sd::io::SafetensorsFile& f, const std::string& key) {
  const sd::io::TensorInfo* t = f.find(key);
  if (!t) { CHECK_MSG(false, "golden key missing: " + key); return {}; }
  std::vector<float> v(size_t(t->numel()));
  if (t->dtype == sd::DType::F32) std::memcpy(v.data(), t->data, v.size() * 4);
  else if (t->dtype == sd::DType::I64) for (size_t i = 0; i < v.size(); ++i) v[i] = float(int64_at(t->data, i));
  return v;
}

inline std::vector<int32_t> ids(const sd::io::SafetensorsFile& f, const std::string& key) {
  const sd::io::TensorInfo* t = f.find(key);
  std::vector<int32_t> v(size_t(t->numel()));
  for (size_t i = 0; i < v.size(); ++i) v[i] = int32_t(int64_at(t->data, i));
  return v;
}

// Compares named nodes as they are computed (their memory may be reused afterwards).
struct Watch {
  const sd::io::SafetensorsFile& file;
  std::multimap<std::string, std::string> node_to_key;  // our name -> golden key(s)
  double tol;
  std::string suite;
  std::map<std::string, double> errors;

  void attach(sd::Graph& g) {
    g.set_observer([this](sd::Tensor* t) {
      auto range = node_to_key.equal_range(t->name);
      for (auto it = range.first; it != range.second; ++it) compare(it->second, t->ptr<float>(), t->numel());
      return true;
    });
  }
  void compare(const std::string& key, const float* got, int64_t n) {
    std::vector<float> want = floats(file, key);
    if (int64_t(want.size()) != n) { CHECK_MSG(false, suite + " " + key + ": size " + std::to_string(n) + " vs golden " + std::to_string(want.size())); return; }
    double e = harness::rel_l2(got, want.data(), n);
    errors[key] = e;
    CHECK_MSG(e <= tol, suite + " " + key + ": rel L2 " + std::to_string(e) + " > " + std::to_string(tol));
  }
  void require_all_seen() {
    for (auto& [node, key] : node_to_key) CHECK_MSG(errors.count(key), suite + " " + key + " was never computed (node " + node + ")");
  }
  double worst() const { double w = 0; for (auto& [k, e] : errors) w = std::max(w, e); return w; }
};

}  // namespace golden
