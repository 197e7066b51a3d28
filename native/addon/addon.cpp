// The N-API module: registers the wrapped classes and the stateless functions. Each piece
// lives in its own file; this one only wires them into the exports object.
#include <napi.h>

#include "addon_common.h"

namespace sd::addon {

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  register_system(env, exports);
  register_contract(env, exports);
  register_inspect(env, exports);
  register_model(env, exports);
  return exports;
}

}  // namespace sd::addon

static Napi::Object InitModule(Napi::Env env, Napi::Object exports) { return sd::addon::Init(env, exports); }

NODE_API_MODULE(sd_native, InitModule)
