// inspectSafetensors(path): the validated header of a weights file (names, dtypes, shapes,
// metadata), without reading tensor data. Backs `sd-native info` and the corrupt-file tests.
#include "addon_common.h"
#include "core/error.h"
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

// readSmallTensors(path, maxBytes): every floating-point tensor of a small file (an embedding) as
// f32, through the validated reader; a file over maxBytes is refused before its data is read.
static Napi::Value read_small_tensors(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 2 || !info[0].IsString() || !info[1].IsNumber())
    throw Napi::TypeError::New(env, "readSmallTensors(path, maxBytes): path must be a string, maxBytes a number");
  std::string path = info[0].As<Napi::String>();
  const double max_bytes = info[1].As<Napi::Number>().DoubleValue();
  return guarded(env, [&]() -> Napi::Value {
    auto file = io::SafetensorsFile::open(path);
    if (double(file->file_size()) > max_bytes)
      throw Error("\"" + path + "\" is " + std::to_string(file->file_size()) + " bytes; an embedding file is at most " + std::to_string(int64_t(max_bytes)));
    Napi::Object out = Napi::Object::New(env);
    for (const io::TensorInfo& t : file->tensors()) {
      if (t.dtype != DType::F32 && t.dtype != DType::F16 && t.dtype != DType::BF16) continue;
      Napi::Float32Array data = Napi::Float32Array::New(env, size_t(t.numel()));
      for (int64_t i = 0; i < t.numel(); ++i) data[size_t(i)] = load_as_f32(t.data, t.dtype, size_t(i));
      Napi::Array shape = Napi::Array::New(env, t.shape.size());
      for (uint32_t d = 0; d < t.shape.size(); ++d) shape.Set(d, double(t.shape[d]));
      Napi::Object o = Napi::Object::New(env);
      o.Set("shape", shape);
      o.Set("data", data);
      out.Set(t.name, o);
    }
    return out;
  });
}

void register_inspect(Napi::Env env, Napi::Object exports) {
  exports.Set("inspectSafetensors", Napi::Function::New(env, inspect_safetensors, "inspectSafetensors"));
  exports.Set("readSmallTensors", Napi::Function::New(env, read_small_tensors, "readSmallTensors"));
}

}  // namespace sd::addon
