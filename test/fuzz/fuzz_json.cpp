// libFuzzer: any bytes as JSON for the strict parser behind safetensors headers and configs. It
// must accept or throw json::ParseError (depth bounded), and a string it accepts must quote and
// parse back to itself.
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "io/json.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  try {
    const sd::json::Value v = sd::json::parse(text);
    if (v.type == sd::json::Type::String) {
      std::string quoted;
      sd::json::append_quoted(quoted, v.text);
      if (sd::json::parse(quoted).text != v.text) std::abort();
    }
  } catch (const sd::json::ParseError&) {
  }
  return 0;
}
