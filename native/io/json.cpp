// Strict JSON: see json.h for the rules. No recursion deeper than max_depth, no exceptions other
// than ParseError (and std::bad_alloc).
#include "json.h"

#include <cstdio>
#include <locale>
#include <sstream>

namespace sd::json {

namespace {

// Length of the well-formed UTF-8 sequence at p (n bytes available), or 0 if it is malformed:
// truncated, a stray continuation byte, an overlong form, an encoded surrogate or > U+10FFFF.
size_t utf8_sequence(const unsigned char* p, size_t n) {
  unsigned char c = p[0];
  if (c < 0x80) return 1;
  size_t len;
  unsigned char lo = 0x80, hi = 0xBF;  // allowed range of the second byte
  if (c >= 0xC2 && c <= 0xDF) {
    len = 2;
  } else if (c >= 0xE0 && c <= 0xEF) {
    len = 3;
    if (c == 0xE0) lo = 0xA0;  // overlong
    if (c == 0xED) hi = 0x9F;  // U+D800..U+DFFF
  } else if (c >= 0xF0 && c <= 0xF4) {
    len = 4;
    if (c == 0xF0) lo = 0x90;  // overlong
    if (c == 0xF4) hi = 0x8F;  // > U+10FFFF
  } else {
    return 0;
  }
  if (n < len) return 0;
  if (p[1] < lo || p[1] > hi) return 0;
  for (size_t i = 2; i < len; ++i)
    if (p[i] < 0x80 || p[i] > 0xBF) return 0;
  return len;
}

void append_utf8(std::string& out, uint32_t cp) {
  if (cp < 0x80) {
    out += char(cp);
  } else if (cp < 0x800) {
    out += char(0xC0 | (cp >> 6));
    out += char(0x80 | (cp & 0x3F));
  } else if (cp < 0x10000) {
    out += char(0xE0 | (cp >> 12));
    out += char(0x80 | ((cp >> 6) & 0x3F));
    out += char(0x80 | (cp & 0x3F));
  } else {
    out += char(0xF0 | (cp >> 18));
    out += char(0x80 | ((cp >> 12) & 0x3F));
    out += char(0x80 | ((cp >> 6) & 0x3F));
    out += char(0x80 | (cp & 0x3F));
  }
}

std::string describe_byte(unsigned char c) {
  char buf[32];
  if (c >= 0x21 && c < 0x7F)
    std::snprintf(buf, sizeof buf, "'%c'", c);
  else
    std::snprintf(buf, sizeof buf, "byte 0x%02X", c);
  return buf;
}

bool is_digit(char c) { return c >= '0' && c <= '9'; }

}  // namespace

const char* type_name(Type t) {
  switch (t) {
    case Type::Null: return "null";
    case Type::Bool: return "a boolean";
    case Type::Number: return "a number";
    case Type::String: return "a string";
    case Type::Array: return "an array";
    case Type::Object: return "an object";
  }
  return "?";
}

ParseError::ParseError(size_t offset, const std::string& reason)
    : sd::Error("at byte " + std::to_string(offset) + ": " + reason), offset_(offset), reason_(reason) {}

// ---- Number ---------------------------------------------------------------------------------

bool Number::is_integer() const {
  return text.find_first_of(".eE") == std::string_view::npos;
}

bool Number::to_u64(uint64_t& out) const {
  if (text.empty()) return false;
  uint64_t v = 0;
  for (char c : text) {
    if (!is_digit(c)) return false;
    uint64_t d = uint64_t(c - '0');
    if (v > (UINT64_MAX - d) / 10) return false;
    v = v * 10 + d;
  }
  out = v;
  return true;
}

double Number::to_double() const {
  std::istringstream in{std::string(text)};
  in.imbue(std::locale::classic());
  double d = 0;
  in >> d;
  return d;
}

// ---- Reader ---------------------------------------------------------------------------------

Reader::Reader(std::string_view text, int max_depth) : s_(text), max_depth_(max_depth) {}

void Reader::fail(const std::string& reason) const { throw ParseError(pos_, reason); }
void Reader::fail_at(size_t offset, const std::string& reason) const { throw ParseError(offset, reason); }

void Reader::skip_ws() {
  while (pos_ < s_.size()) {
    char c = s_[pos_];
    if (c != ' ' && c != '\t' && c != '\n' && c != '\r') break;
    ++pos_;
  }
}

Type Reader::peek() {
  skip_ws();
  if (pos_ >= s_.size()) fail("unexpected end of input, expected a value");
  char c = s_[pos_];
  switch (c) {
    case '{': return Type::Object;
    case '[': return Type::Array;
    case '"': return Type::String;
    case 't': case 'f': return Type::Bool;
    case 'n': return Type::Null;
    default:
      if (c == '-' || is_digit(c)) return Type::Number;
      fail("expected a value, found " + describe_byte((unsigned char)c));
  }
}

void Reader::expect_value_start(Type t, const char* what) {
  Type got = peek();
  if (got != t) fail(std::string("expected ") + what + ", found " + type_name(got));
}

void Reader::push(bool is_object, bool check_duplicates) {
  if (int(stack_.size()) >= max_depth_)
    fail("nested deeper than " + std::to_string(max_depth_) + " levels");
  stack_.push_back(Frame{is_object, true, check_duplicates, {}});
}

void Reader::begin_object(bool check_duplicates) {
  expect_value_start(Type::Object, "an object");
  push(true, check_duplicates);
  ++pos_;
}

void Reader::begin_array() {
  expect_value_start(Type::Array, "an array");
  push(false, false);
  ++pos_;
}

// The start of every object member and array element: false (frame popped) at the closing
// bracket, else past the ',' that precedes every entry but the first.
bool Reader::next_entry(bool object) {
  const char close = object ? '}' : ']';
  if (stack_.empty() || stack_.back().is_object != object)
    fail(object ? "internal error: next_key outside an object" : "internal error: next_element outside an array");
  const Frame& f = stack_.back();
  skip_ws();
  if (pos_ >= s_.size())
    fail(std::string("unexpected end of input, expected ") + (f.first ? (object ? "a key" : "a value") : "','") + " or '" + close + "'");
  const char c = s_[pos_];
  if (c == close) {
    ++pos_;
    stack_.pop_back();
    return false;
  }
  if (!f.first) {
    if (c != ',') fail(std::string("expected ',' or '") + close + "', found " + describe_byte((unsigned char)c));
    ++pos_;
  }
  return true;
}

bool Reader::next_key(std::string& key) {
  if (!next_entry(true)) return false;
  Frame& f = stack_.back();
  skip_ws();
  if (pos_ >= s_.size()) fail("unexpected end of input, expected a key");
  const char c = s_[pos_];
  if (c != '"') fail("expected a string key, found " + describe_byte((unsigned char)c));
  size_t key_offset = pos_;
  key.clear();
  scan_string(&key);
  skip_ws();
  if (pos_ >= s_.size()) fail("unexpected end of input, expected ':'");
  if (s_[pos_] != ':') fail("expected ':', found " + describe_byte((unsigned char)s_[pos_]));
  ++pos_;
  f.first = false;
  if (f.check_duplicates && !f.keys.insert(key).second) {
    std::string q;
    append_quoted(q, key);
    fail_at(key_offset, "duplicate key " + q);
  }
  return true;
}

bool Reader::next_element() {
  if (!next_entry(false)) return false;
  stack_.back().first = false;
  return true;
}

uint32_t Reader::read_hex4() {
  uint32_t v = 0;
  for (int i = 0; i < 4; ++i) {
    if (pos_ >= s_.size()) fail("unterminated \\u escape");
    char c = s_[pos_];
    uint32_t d;
    if (c >= '0' && c <= '9') d = uint32_t(c - '0');
    else if (c >= 'a' && c <= 'f') d = uint32_t(c - 'a' + 10);
    else if (c >= 'A' && c <= 'F') d = uint32_t(c - 'A' + 10);
    else fail("\\u must be followed by 4 hex digits, found " + describe_byte((unsigned char)c));
    v = v * 16 + d;
    ++pos_;
  }
  return v;
}

void Reader::scan_string(std::string* out) {
  size_t start = pos_;
  ++pos_;  // opening quote
  const auto* p = reinterpret_cast<const unsigned char*>(s_.data());
  const size_t n = s_.size();
  for (;;) {
    if (pos_ >= n) fail_at(start, "unterminated string");
    unsigned char c = p[pos_];
    if (c == '"') {
      ++pos_;
      return;
    }
    if (c == '\\') {
      size_t esc = pos_;
      ++pos_;
      if (pos_ >= n) fail_at(start, "unterminated string");
      char e = char(p[pos_++]);
      char plain = 0;
      switch (e) {
        case '"': plain = '"'; break;
        case '\\': plain = '\\'; break;
        case '/': plain = '/'; break;
        case 'b': plain = '\b'; break;
        case 'f': plain = '\f'; break;
        case 'n': plain = '\n'; break;
        case 'r': plain = '\r'; break;
        case 't': plain = '\t'; break;
        case 'u': {
          uint32_t cp = read_hex4();
          if (cp >= 0xDC00 && cp <= 0xDFFF) fail_at(esc, "unpaired surrogate in a \\u escape");
          if (cp >= 0xD800 && cp <= 0xDBFF) {
            if (pos_ + 1 >= n || p[pos_] != '\\' || p[pos_ + 1] != 'u')
              fail_at(esc, "unpaired surrogate in a \\u escape");
            pos_ += 2;
            uint32_t lo = read_hex4();
            if (lo < 0xDC00 || lo > 0xDFFF) fail_at(esc, "unpaired surrogate in a \\u escape");
            cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
          }
          if (out) append_utf8(*out, cp);
          continue;
        }
        default:
          fail_at(esc, "invalid escape \\" + std::string(1, e) +
                           (e >= 0x21 && e < 0x7F ? "" : " (" + describe_byte((unsigned char)e) + ")"));
      }
      if (out) *out += plain;
      continue;
    }
    if (c < 0x20) fail("control character " + describe_byte(c) + " in a string must be escaped");
    if (c < 0x80) {
      if (out) *out += char(c);
      ++pos_;
      continue;
    }
    size_t len = utf8_sequence(p + pos_, n - pos_);
    if (len == 0) fail("invalid UTF-8 in a string (" + describe_byte(c) + ")");
    if (out) out->append(s_.data() + pos_, len);
    pos_ += len;
  }
}

std::string Reader::read_string() {
  expect_value_start(Type::String, "a string");
  std::string out;
  scan_string(&out);
  return out;
}

Number Reader::read_number() {
  expect_value_start(Type::Number, "a number");
  size_t start = pos_;
  const size_t n = s_.size();
  if (s_[pos_] == '-') ++pos_;
  if (pos_ >= n || !is_digit(s_[pos_])) fail_at(start, "invalid number: '-' must be followed by a digit");
  if (s_[pos_] == '0') {
    ++pos_;
    if (pos_ < n && is_digit(s_[pos_])) fail_at(start, "invalid number: leading zeros are not allowed");
  } else {
    while (pos_ < n && is_digit(s_[pos_])) ++pos_;
  }
  if (pos_ < n && s_[pos_] == '.') {
    ++pos_;
    if (pos_ >= n || !is_digit(s_[pos_])) fail_at(start, "invalid number: '.' must be followed by a digit");
    while (pos_ < n && is_digit(s_[pos_])) ++pos_;
  }
  if (pos_ < n && (s_[pos_] == 'e' || s_[pos_] == 'E')) {
    ++pos_;
    if (pos_ < n && (s_[pos_] == '+' || s_[pos_] == '-')) ++pos_;
    if (pos_ >= n || !is_digit(s_[pos_])) fail_at(start, "invalid number: exponent without digits");
    while (pos_ < n && is_digit(s_[pos_])) ++pos_;
  }
  return Number{s_.substr(start, pos_ - start), start};
}

bool Reader::read_bool() {
  expect_value_start(Type::Bool, "true or false");
  if (s_.substr(pos_, 4) == "true") {
    pos_ += 4;
    return true;
  }
  if (s_.substr(pos_, 5) == "false") {
    pos_ += 5;
    return false;
  }
  fail("invalid literal (expected true or false)");
}

void Reader::read_null() {
  expect_value_start(Type::Null, "null");
  if (s_.substr(pos_, 4) != "null") fail("invalid literal (expected null)");
  pos_ += 4;
}

void Reader::skip_value() {
  switch (peek()) {
    case Type::Object: {
      begin_object();
      std::string key;
      while (next_key(key)) skip_value();
      return;
    }
    case Type::Array:
      begin_array();
      while (next_element()) skip_value();
      return;
    case Type::String: scan_string(nullptr); return;
    case Type::Number: read_number(); return;
    case Type::Bool: read_bool(); return;
    case Type::Null: read_null(); return;
  }
}

void Reader::finish() {
  if (!stack_.empty()) fail("internal error: finish() inside an unfinished object or array");
  skip_ws();
  if (pos_ < s_.size())
    fail("unexpected " + describe_byte((unsigned char)s_[pos_]) + " after the end of the JSON document");
}

// ---- tree -----------------------------------------------------------------------------------

const Value* Value::get(std::string_view key) const {
  for (const auto& m : members)
    if (m.first == key) return &m.second;
  return nullptr;
}

namespace {
void build(Reader& r, Value& v) {
  v.type = r.peek();
  v.offset = r.offset();
  switch (v.type) {
    case Type::Object: {
      r.begin_object();
      std::string key;
      while (r.next_key(key)) {
        v.members.emplace_back(std::move(key), Value{});
        build(r, v.members.back().second);
      }
      return;
    }
    case Type::Array:
      r.begin_array();
      while (r.next_element()) {
        v.items.emplace_back();
        build(r, v.items.back());
      }
      return;
    case Type::String: v.text = r.read_string(); return;
    case Type::Number: v.text = std::string(r.read_number().text); return;
    case Type::Bool: v.boolean = r.read_bool(); return;
    case Type::Null: r.read_null(); return;
  }
}
}  // namespace

Value parse(std::string_view text, int max_depth) {
  Reader r(text, max_depth);
  Value v;
  build(r, v);
  r.finish();
  return v;
}

// ---- writing / checking ---------------------------------------------------------------------

void append_quoted(std::string& out, std::string_view s) {
  static const char hex[] = "0123456789abcdef";
  out += '"';
  for (char ch : s) {
    unsigned char c = (unsigned char)ch;
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      case '\b': out += "\\b"; break;
      case '\f': out += "\\f"; break;
      default:
        if (c < 0x20) {
          out += "\\u00";
          out += hex[c >> 4];
          out += hex[c & 15];
        } else {
          out += ch;
        }
    }
  }
  out += '"';
}

bool valid_utf8(std::string_view s, size_t* bad_offset) {
  const auto* p = reinterpret_cast<const unsigned char*>(s.data());
  size_t i = 0;
  while (i < s.size()) {
    size_t len = utf8_sequence(p + i, s.size() - i);
    if (len == 0) {
      if (bad_offset) *bad_offset = i;
      return false;
    }
    i += len;
  }
  return true;
}

}  // namespace sd::json
