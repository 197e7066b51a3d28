// inspectSafetensors(path): the validated header of a weights file (names, dtypes, shapes,
// metadata), without reading tensor data. Backs `sd-native info` and the corrupt-file tests.
#include "addon_common.h"
#include "io/safetensors.h"

namespace sd::addon {

static Napi::Value inspect_safetensors(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsString()) throw Napi::TypeError::New(env, "inspectSafetensors(path): path must be a string");
  std::string path = info[0].As<Napi::String>();
  return guarded(env, [&]() -> Napi::Value {
    auto file = io::SafetensorsFile::open(path);
    Napi::Object out = Napi::Object::New(env);
    Napi::Array tensors = Napi::Array::New(env, file->tensors().size());
    uint32_t i = 0;
    for (const io::TensorInfo& t : file->tensors()) {
      Napi::Object o = Napi::Object::New(env);
      o.Set("name", t.name);
      o.Set("dtype", dtype_name(t.dtype));
      Napi::Array shape = Napi::Array::New(env, t.shape.size());
      for (uint32_t d = 0; d < t.shape.size(); ++d) shape.Set(d, double(t.shape[d]));
      o.Set("shape", shape);
      o.Set("bytes", double(t.nbytes));
      tensors.Set(i++, o);
    }
    out.Set("tensors", tensors);
    Napi::Object meta = Napi::Object::New(env);
    for (const auto& [k, v] : file->metadata()) meta.Set(k, v);
    out.Set("metadata", meta);
    out.Set("fileBytes", double(file->file_size()));
    return out;
  });
}

void register_inspect(Napi::Env env, Napi::Object exports) {
  exports.Set("inspectSafetensors", Napi::Function::New(env, inspect_safetensors, "inspectSafetensors"));
}

}  // namespace sd::addon
