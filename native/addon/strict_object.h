// Reads a parameter object that lib/ built for the addon, strictly: every key must be one the
// addon reads, with the type it expects, and required keys must be there. lib/ validates what
// users pass; this catches lib/ and the addon drifting apart (a misspelt or mistyped key is an
// error naming it, never a silent default).
#pragma once
#include <napi.h>

#include <exception>
#include <set>
#include <string>

namespace sd::addon {

class StrictObject {
 public:
  StrictObject(Napi::Object object, std::string what) : object_(object), what_(std::move(what)) {}

  bool has(const char* key) { return object_.Has(key) && !object_.Get(key).IsUndefined(); }
  double number(const char* key) { return typed(key, napi_number, "a number").As<Napi::Number>().DoubleValue(); }
  int integer(const char* key) {
    const double v = number(key);
    if (v != double(int(v))) fail(std::string(key) + " must be an integer, got " + std::to_string(v));
    return int(v);
  }
  std::string string(const char* key) { return typed(key, napi_string, "a string").As<Napi::String>(); }
  bool boolean(const char* key) { return typed(key, napi_boolean, "a boolean").As<Napi::Boolean>(); }
  Napi::Object object(const char* key) { return typed(key, napi_object, "an object").As<Napi::Object>(); }
  Napi::Array array(const char* key) {
    Napi::Value v = typed(key, napi_object, "an array");
    if (!v.IsArray()) fail(std::string("key \"") + key + "\" must be an array");
    Napi::Array a = v.As<Napi::Array>();
    for (uint32_t i = 0; i < a.Length(); ++i)
      if (!a.Get(i).IsObject()) fail(std::string("key \"") + key + "\": element " + std::to_string(i) + " must be an object");
    return a;
  }
  // A string the core turns into its own type (a sampler's registry entry, a schedule kind); the
  // core's complaint about it becomes this object's error, naming the key.
  template <class Resolve>
  auto resolved(const char* key, Resolve&& resolve) -> decltype(resolve(std::string())) {
    const std::string value = string(key);
    try {
      return resolve(value);
    } catch (const std::exception& e) {
      fail(std::string("key \"") + key + "\": " + e.what());
    }
  }

  // Throws if the object holds a key nothing read.
  void finish() {
    Napi::Array keys = object_.GetPropertyNames();
    for (uint32_t i = 0; i < keys.Length(); ++i) {
      const std::string key = keys.Get(i).As<Napi::String>();
      if (!read_.count(key) && !object_.Get(key).IsUndefined()) fail("unknown key \"" + key + "\"");
    }
  }

 private:
  Napi::Value typed(const char* key, napi_valuetype want, const char* description) {
    read_.insert(key);
    if (!object_.Has(key) || object_.Get(key).IsUndefined()) fail(std::string("missing key \"") + key + "\"");
    Napi::Value v = object_.Get(key);
    if (v.Type() != want) fail(std::string("key \"") + key + "\" must be " + description);
    return v;
  }
  [[noreturn]] void fail(const std::string& message) {
    throw Napi::TypeError::New(object_.Env(), what_ + ": " + message + " (lib/ and the addon disagree: a bug in sd-native)");
  }

  Napi::Object object_;
  std::string what_;
  std::set<std::string> read_;
};

}  // namespace sd::addon
