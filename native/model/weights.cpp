#include "weights.h"

#include <cstdlib>

#include "core/error.h"

namespace sd::model {

Weights::Weights(std::shared_ptr<const io::SafetensorsFile> file, std::shared_ptr<Context> ctx, std::string prefix)
    : file_(std::move(file)), ctx_(std::move(ctx)), shared_(std::make_shared<Shared>()), prefix_(std::move(prefix)) {}

Weights Weights::sub(const std::string& sub_prefix) const {
  Weights w = *this;
  w.prefix_ = prefix_ + sub_prefix;
  return w;
}

bool Weights::has(const std::string& key) const { return file_->find(prefix_ + key) != nullptr; }

Tensor* Weights::opt(const std::string& key) const {
  const std::string full = prefix_ + key;
  auto it = shared_->leaves.find(full);
  if (it != shared_->leaves.end()) return it->second;
  const io::TensorInfo* info = file_->find(full);
  if (!info) return nullptr;
  // Drop leading 1-dims beyond the core's rank limit (e.g. [1, 1, C, 1, 1] layouts).
  std::vector<int64_t> shape = info->shape;
  while (shape.size() > size_t(kMaxDims) && shape.front() == 1) shape.erase(shape.begin());
  if (shape.size() > size_t(kMaxDims))
    throw Error("\"" + file_->path() + "\": tensor \"" + full + "\" has rank " + std::to_string(shape.size()) + "; at most 4 is supported");
  if (shape.empty()) shape.push_back(1);
  Tensor* t = ctx_->new_tensor(info->dtype, int(shape.size()), shape.data(), full);
  t->data = const_cast<uint8_t*>(info->data);
  shared_->leaves[full] = t;
  return t;
}

Tensor* Weights::get(const std::string& key) const {
  Tensor* t = opt(key);
  if (!t)
    throw Error("\"" + file_->path() + "\" is missing tensor \"" + prefix_ + key +
                "\"; the file is not a complete Stable Diffusion checkpoint of the detected family, or it is damaged");
  return t;
}

Tensor* Weights::get(const std::string& key, std::initializer_list<int64_t> shape) const {
  Tensor* t = get(key);
  bool ok = int(shape.size()) == t->ndim;
  int i = 0;
  for (int64_t d : shape) ok = ok && t->shape[i++] == d;
  if (!ok) {
    std::string want = "[";
    for (int64_t d : shape) want += (want.size() > 1 ? ", " : "") + std::to_string(d);
    throw Error("\"" + file_->path() + "\": tensor \"" + t->name + "\" has shape " + t->shape_str() + ", expected " + want + "]");
  }
  return t;
}

int Weights::max_index(const std::string& before, const std::string& after) const {
  const std::string head = prefix_ + before;
  int best = -1;
  for (const io::TensorInfo& t : file_->tensors()) {
    if (t.name.compare(0, head.size(), head) != 0) continue;
    const char* p = t.name.c_str() + head.size();
    char* end = nullptr;
    long n = std::strtol(p, &end, 10);
    if (end == p) continue;
    if (std::string(end).compare(0, after.size(), after) != 0) continue;
    if (n > best) best = int(n);
  }
  return best;
}

}  // namespace sd::model
