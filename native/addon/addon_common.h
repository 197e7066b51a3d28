// Shared by the addon's files: registration hooks and the conversion of core errors into
// JS exceptions (every native call goes through guarded() so nothing escapes as a crash).
#pragma once
#include <napi.h>

#include <exception>
#include <string>

#include "core/error.h"

namespace sd::addon {

void register_system(Napi::Env env, Napi::Object exports);
void register_contract(Napi::Env env, Napi::Object exports);
void register_inspect(Napi::Env env, Napi::Object exports);
void register_model(Napi::Env env, Napi::Object exports);

// Runs fn; any C++ exception becomes a JS Error with the same message.
template <typename Fn>
Napi::Value guarded(Napi::Env env, Fn&& fn) {
  try {
    return fn();
  } catch (const Napi::Error&) {
    throw;
  } catch (const std::bad_alloc&) {
    throw Napi::Error::New(env, "sd-native: out of memory; try a smaller size or batch, or free other models first");
  } catch (const std::exception& e) {
    throw Napi::Error::New(env, e.what());
  }
}

}  // namespace sd::addon
