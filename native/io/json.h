// A small strict JSON parser (RFC 8259) for headers and config files we do not trust.
//
// Two layers:
//   Reader  a pull parser: the caller walks the document (begin_object / next_key / read_string …)
//           and never builds a tree, so memory stays O(nesting depth) whatever the input. The
//           safetensors header is read this way: a hostile 100 MB header costs no more than its bytes.
//   parse() builds a Value tree on top of Reader, for small trusted-shape documents (configs).
//
// Strict: UTF-8 is validated (no overlong forms, no encoded surrogates, nothing above U+10FFFF),
// \uXXXX escapes must pair surrogates, control characters must be escaped, numbers follow the JSON
// grammar exactly (no leading zeros, no NaN, no '+'), duplicate keys in one object are an error,
// nesting is limited (default 64), and nothing but whitespace may follow the document.
//
// Every error is a json::ParseError (an sd::Error) carrying the byte offset and a short reason,
// e.g. offset 17, "expected ',' or '}'". what() is "at byte 17: expected ',' or '}'"; callers that
// know the file name catch it and re-throw with the name in front.
//
//   json::Reader r(text);
//   r.begin_object();
//   std::string key;
//   while (r.next_key(key)) {
//     if (key == "shape") { r.begin_array(); while (r.next_element()) dims.push_back(r.read_number()); }
//     else r.skip_value();
//   }
//   r.finish();
#pragma once
#include <cstddef>
#include <cstdint>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "../core/error.h"

namespace sd::json {

enum class Type : uint8_t { Null, Bool, Number, String, Array, Object };

// "null", "a boolean", "a number", "a string", "an array", "an object": for messages.
const char* type_name(Type t);

class ParseError : public sd::Error {
 public:
  ParseError(size_t offset, const std::string& reason);
  size_t offset() const { return offset_; }
  const std::string& reason() const { return reason_; }

 private:
  size_t offset_;
  std::string reason_;
};

// A number token exactly as written, e.g. "12", "-0.5e3".
struct Number {
  std::string_view text;
  size_t offset = 0;        // where it starts in the document
  bool is_integer() const;  // no fraction, no exponent
  // True if the token is a non-negative integer that fits in uint64_t.
  bool to_u64(uint64_t& out) const;
  double to_double() const;
};

class Reader {
 public:
  explicit Reader(std::string_view text, int max_depth = 64);

  // Type of the next value (skips whitespace first). Throws at end of input or on a byte that
  // cannot start a value.
  Type peek();
  size_t offset() const { return pos_; }  // current byte offset (after the last token read)

  // check_duplicates=false leaves duplicate detection to the caller (who can say "tensor X appears
  // twice" instead of "duplicate key").
  void begin_object(bool check_duplicates = true);
  // Reads the next key of the innermost object into `key` and consumes the ':'; returns false (and
  // consumes the '}') when the object ends. Duplicate keys are rejected here unless disabled.
  bool next_key(std::string& key);
  void begin_array();
  // Returns true if another element follows (consumes the ',' before it), false at ']'.
  bool next_element();

  std::string read_string();
  Number read_number();
  bool read_bool();
  void read_null();
  void skip_value();  // any value, validated (strings, numbers, nesting, duplicate keys)

  // After the top-level value: only whitespace may remain.
  void finish();

  [[noreturn]] void fail(const std::string& reason) const;
  [[noreturn]] void fail_at(size_t offset, const std::string& reason) const;

 private:
  struct Frame {
    bool is_object;
    bool first;
    bool check_duplicates;
    std::set<std::string> keys;  // seen so far (objects only), for duplicate detection
  };
  void skip_ws();
  bool next_entry(bool object);  // shared start of next_key / next_element
  void expect_value_start(Type t, const char* what);
  void scan_string(std::string* out);  // pos_ at the opening quote
  uint32_t read_hex4();
  void push(bool is_object, bool check_duplicates);

  std::string_view s_;
  size_t pos_ = 0;
  int max_depth_;
  std::vector<Frame> stack_;
};

// A parsed value (tree). Objects keep members in document order.
struct Value {
  Type type = Type::Null;
  bool boolean = false;
  std::string text;  // String: the decoded string; Number: the token as written
  std::vector<Value> items;                            // Array
  std::vector<std::pair<std::string, Value>> members;  // Object
  size_t offset = 0;                                   // where the value starts in the document

  const Value* get(std::string_view key) const;  // Object member or nullptr
  Number number() const { return Number{text, offset}; }
};

// Parses a whole document. Throws ParseError.
Value parse(std::string_view text, int max_depth = 64);

// Appends `s` as a JSON string literal (with quotes) to `out`. `s` must be valid UTF-8 (the caller
// checks with valid_utf8); control characters, '"' and '\\' are escaped, everything else is copied.
void append_quoted(std::string& out, std::string_view s);

// True if `s` is well-formed UTF-8. If not and `bad_offset` is given, it receives the offset of the
// first byte of the bad sequence.
bool valid_utf8(std::string_view s, size_t* bad_offset = nullptr);

}  // namespace sd::json
