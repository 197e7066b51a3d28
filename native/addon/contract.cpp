// contract(): the core's option tables, sampler and scheduler names and token constants, for
// lib/options.ts to validate from (sd_contract.h is the one definition).
#include "addon_common.h"
#include "sd_contract.h"

namespace sd::addon {
namespace {

Napi::Array strings(Napi::Env env, const std::vector<std::string>& list) {
  Napi::Array a = Napi::Array::New(env, list.size());
  for (uint32_t i = 0; i < list.size(); ++i) a.Set(i, list[i]);
  return a;
}

Napi::Array options(Napi::Env env, const std::vector<OptionSpec>& specs) {
  Napi::Object json = env.Global().Get("JSON").As<Napi::Object>();
  Napi::Function parse = json.Get("parse").As<Napi::Function>();
  Napi::Array a = Napi::Array::New(env, specs.size());
  for (uint32_t i = 0; i < specs.size(); ++i) {
    const OptionSpec& s = specs[i];
    Napi::Object o = Napi::Object::New(env);
    o.Set("name", s.name);
    o.Set("type", option_type_name(s.type));
    if (s.type == OptionType::Integer || s.type == OptionType::Number || s.type == OptionType::Seed) {
      o.Set("min", s.min);
      o.Set("max", s.max);
    }
    if (s.type == OptionType::Loras) o.Set("max", s.max);  // files per generation
    if (s.multiple_of > 0) o.Set("multipleOf", s.multiple_of);
    if (!s.values.empty()) o.Set("values", strings(env, s.values));
    if (!s.booleans.empty()) o.Set("booleans", strings(env, s.booleans));
    if (!s.default_json.empty()) o.Set("default", parse.Call(json, {Napi::String::New(env, s.default_json)}));
    if (s.required) o.Set("required", true);
    o.Set("doc", s.doc);
    a.Set(i, o);
  }
  return a;
}

Napi::Array names(Napi::Env env, const std::vector<NameSpec>& specs) {
  Napi::Array a = Napi::Array::New(env, specs.size());
  for (uint32_t i = 0; i < specs.size(); ++i) {
    Napi::Object o = Napi::Object::New(env);
    o.Set("name", specs[i].name);
    o.Set("aliases", strings(env, specs[i].aliases));
    if (!specs[i].default_scheduler.empty()) o.Set("defaultScheduler", specs[i].default_scheduler);
    a.Set(i, o);
  }
  return a;
}

Napi::Value contract(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return guarded(env, [&]() -> Napi::Value {
    Napi::Object o = Napi::Object::New(env);
    o.Set("generateOptions", options(env, generate_option_specs()));
    o.Set("loadOptions", options(env, load_option_specs()));
    o.Set("samplers", names(env, sampler_specs()));
    o.Set("schedulers", names(env, scheduler_specs()));
    o.Set("automaticScheduler", strings(env, automatic_scheduler_aliases()));
    Napi::Object tokens = Napi::Object::New(env);
    tokens.Set("start", kStartToken);
    tokens.Set("end", kEndToken);
    tokens.Set("perChunk", kTokensPerChunk);
    o.Set("tokens", tokens);
    return o;
  });
}

}  // namespace

void register_contract(Napi::Env env, Napi::Object exports) {
  exports.Set("contract", Napi::Function::New(env, contract, "contract"));
}

}  // namespace sd::addon
