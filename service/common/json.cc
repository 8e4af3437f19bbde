#include "service/common/json.h"

#include <charconv>
#include <cmath>

#include "absl/container/flat_hash_set.h"
#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace popguard {

JsonValue JsonValue::Bool(bool b) {
  JsonValue v;
  v.type_ = Type::kBool;
  v.bool_ = b;
  return v;
}
JsonValue JsonValue::Number(double d) {
  JsonValue v;
  v.type_ = Type::kNumber;
  v.number_ = d;
  return v;
}
JsonValue JsonValue::String(std::string s) {
  JsonValue v;
  v.type_ = Type::kString;
  v.string_ = std::move(s);
  return v;
}
JsonValue JsonValue::Array(std::vector<JsonValue> items) {
  JsonValue v;
  v.type_ = Type::kArray;
  v.array_ = std::move(items);
  return v;
}
JsonValue JsonValue::Object(std::vector<Member> members) {
  JsonValue v;
  v.type_ = Type::kObject;
  v.object_ = std::move(members);
  return v;
}

const JsonValue* JsonValue::Find(std::string_view key) const {
  if (type_ != Type::kObject) return nullptr;
  for (const auto& [k, v] : object_) {
    if (k == key) return &v;
  }
  return nullptr;
}

const std::string* JsonValue::FindString(std::string_view key) const {
  const JsonValue* v = Find(key);
  if (v == nullptr || !v->is_string()) return nullptr;
  return &v->string_;
}

std::optional<int64_t> JsonValue::AsInt64() const {
  if (type_ != Type::kNumber || !std::isfinite(number_)) return std::nullopt;
  constexpr double kLimit = 9007199254740992.0;  // 2^53
  if (number_ > kLimit || number_ < -kLimit) return std::nullopt;
  return static_cast<int64_t>(std::floor(number_));
}

namespace {

class Parser {
 public:
  Parser(std::string_view text, const JsonLimits& limits) : text_(text), limits_(limits) {}

  absl::StatusOr<JsonValue> ParseDocument() {
    JsonValue value;
    SkipWhitespace();
    if (!ParseValue(&value, 1)) return Error();
    SkipWhitespace();
    if (pos_ != text_.size()) {
      Fail("trailing data after the JSON value");
      return Error();
    }
    return value;
  }

  // comparisons counts the member names compared or hashed so far.
  uint64_t comparisons() const { return comparisons_; }

 private:
  absl::Status Error() const {
    return absl::InvalidArgumentError(
        absl::StrCat("invalid JSON at offset ", error_pos_, ": ", error_));
  }
  bool Fail(std::string_view what) {
    if (error_.empty()) {
      error_ = std::string(what);
      error_pos_ = pos_;
    }
    return false;
  }

  void SkipWhitespace() {
    while (pos_ < text_.size()) {
      char c = text_[pos_];
      if (c != ' ' && c != '\t' && c != '\n' && c != '\r') break;
      ++pos_;
    }
  }

  bool ParseValue(JsonValue* out, int depth) {
    if (pos_ >= text_.size()) return Fail("unexpected end of input");
    char c = text_[pos_];
    switch (c) {
      case '{':
        return ParseObject(out, depth);
      case '[':
        return ParseArray(out, depth);
      case '"': {
        std::string s;
        if (!ParseString(&s)) return false;
        *out = JsonValue::String(std::move(s));
        return true;
      }
      case 't':
        return ParseLiteral("true", JsonValue::Bool(true), out);
      case 'f':
        return ParseLiteral("false", JsonValue::Bool(false), out);
      case 'n':
        return ParseLiteral("null", JsonValue::Null(), out);
      default:
        if (c == '-' || (c >= '0' && c <= '9')) return ParseNumber(out);
        return Fail("unexpected character");
    }
  }

  bool ParseLiteral(std::string_view word, JsonValue value, JsonValue* out) {
    if (text_.substr(pos_, word.size()) != word) return Fail("invalid literal");
    pos_ += word.size();
    *out = std::move(value);
    return true;
  }

  bool ParseNumber(JsonValue* out) {
    size_t start = pos_;
    if (text_[pos_] == '-') ++pos_;
    if (pos_ >= text_.size()) return Fail("truncated number");
    if (text_[pos_] == '0') {
      ++pos_;
    } else if (text_[pos_] >= '1' && text_[pos_] <= '9') {
      while (pos_ < text_.size() && IsDigit(text_[pos_])) ++pos_;
    } else {
      return Fail("invalid number");
    }
    if (pos_ < text_.size() && text_[pos_] == '.') {
      ++pos_;
      if (pos_ >= text_.size() || !IsDigit(text_[pos_])) return Fail("invalid fraction");
      while (pos_ < text_.size() && IsDigit(text_[pos_])) ++pos_;
    }
    if (pos_ < text_.size() && (text_[pos_] == 'e' || text_[pos_] == 'E')) {
      ++pos_;
      if (pos_ < text_.size() && (text_[pos_] == '+' || text_[pos_] == '-')) ++pos_;
      if (pos_ >= text_.size() || !IsDigit(text_[pos_])) return Fail("invalid exponent");
      while (pos_ < text_.size() && IsDigit(text_[pos_])) ++pos_;
    }
    double d = 0;
    auto [ptr, ec] = std::from_chars(text_.data() + start, text_.data() + pos_, d);
    if (ec != std::errc() || ptr != text_.data() + pos_ || !std::isfinite(d)) {
      pos_ = start;
      return Fail("number out of range");
    }
    *out = JsonValue::Number(d);
    return true;
  }

  static bool IsDigit(char c) { return c >= '0' && c <= '9'; }

  static int HexValue(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  }

  bool ParseHex4(uint32_t* out) {
    if (pos_ + 4 > text_.size()) return Fail("truncated \\u escape");
    uint32_t v = 0;
    for (int i = 0; i < 4; ++i) {
      int h = HexValue(text_[pos_ + i]);
      if (h < 0) return Fail("invalid \\u escape");
      v = (v << 4) | static_cast<uint32_t>(h);
    }
    pos_ += 4;
    *out = v;
    return true;
  }

  static void AppendUtf8(uint32_t cp, std::string* out) {
    if (cp < 0x80) {
      out->push_back(static_cast<char>(cp));
    } else if (cp < 0x800) {
      out->push_back(static_cast<char>(0xC0 | (cp >> 6)));
      out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
    } else if (cp < 0x10000) {
      out->push_back(static_cast<char>(0xE0 | (cp >> 12)));
      out->push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
      out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
    } else {
      out->push_back(static_cast<char>(0xF0 | (cp >> 18)));
      out->push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
      out->push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
      out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
    }
  }

  // Validates one UTF-8 sequence starting at pos_ (first byte >= 0x80) and
  // appends it. Rejects overlong forms, surrogates and code points > U+10FFFF.
  bool CopyUtf8Sequence(std::string* out) {
    auto byte = [&](size_t i) { return static_cast<unsigned char>(text_[i]); };
    unsigned char b0 = byte(pos_);
    int len;
    uint32_t cp;
    if (b0 >= 0xC2 && b0 <= 0xDF) {
      len = 2;
      cp = b0 & 0x1F;
    } else if (b0 >= 0xE0 && b0 <= 0xEF) {
      len = 3;
      cp = b0 & 0x0F;
    } else if (b0 >= 0xF0 && b0 <= 0xF4) {
      len = 4;
      cp = b0 & 0x07;
    } else {
      return Fail("invalid UTF-8");
    }
    if (pos_ + len > text_.size()) return Fail("truncated UTF-8");
    for (int i = 1; i < len; ++i) {
      unsigned char b = byte(pos_ + i);
      if ((b & 0xC0) != 0x80) return Fail("invalid UTF-8");
      cp = (cp << 6) | (b & 0x3F);
    }
    if ((len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000)) return Fail("overlong UTF-8");
    if (cp >= 0xD800 && cp <= 0xDFFF) return Fail("UTF-8 encoded surrogate");
    if (cp > 0x10FFFF) return Fail("UTF-8 beyond U+10FFFF");
    out->append(text_.data() + pos_, len);
    pos_ += len;
    return true;
  }

  bool ParseString(std::string* out) {
    ++pos_;  // opening quote
    while (true) {
      // Plain printable ASCII (all of base64url, claim names, URLs) is copied
      // a run at a time; everything else takes the checks below.
      size_t run = pos_;
      while (run < text_.size()) {
        unsigned char ch = static_cast<unsigned char>(text_[run]);
        if (ch == '"' || ch == '\\' || ch < 0x20 || ch >= 0x80) break;
        ++run;
      }
      if (run > pos_) {
        out->append(text_.data() + pos_, run - pos_);
        pos_ = run;
      }
      if (pos_ >= text_.size()) return Fail("unterminated string");
      unsigned char c = static_cast<unsigned char>(text_[pos_]);
      if (c == '"') {
        ++pos_;
        return true;
      }
      if (c < 0x20) return Fail("control character in string");
      if (c == '\\') {
        ++pos_;
        if (pos_ >= text_.size()) return Fail("unterminated escape");
        char e = text_[pos_++];
        switch (e) {
          case '"':
            out->push_back('"');
            break;
          case '\\':
            out->push_back('\\');
            break;
          case '/':
            out->push_back('/');
            break;
          case 'b':
            out->push_back('\b');
            break;
          case 'f':
            out->push_back('\f');
            break;
          case 'n':
            out->push_back('\n');
            break;
          case 'r':
            out->push_back('\r');
            break;
          case 't':
            out->push_back('\t');
            break;
          case 'u': {
            uint32_t cp;
            if (!ParseHex4(&cp)) return false;
            if (cp >= 0xDC00 && cp <= 0xDFFF) return Fail("lone low surrogate escape");
            if (cp >= 0xD800 && cp <= 0xDBFF) {
              uint32_t lo;
              if (pos_ + 2 > text_.size() || text_[pos_] != '\\' || text_[pos_ + 1] != 'u') {
                return Fail("lone high surrogate escape");
              }
              pos_ += 2;
              if (!ParseHex4(&lo)) return false;
              if (lo < 0xDC00 || lo > 0xDFFF) return Fail("invalid surrogate pair");
              cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
            }
            AppendUtf8(cp, out);
            break;
          }
          default:
            --pos_;
            return Fail("invalid escape");
        }
        continue;
      }
      if (c >= 0x80) {
        if (!CopyUtf8Sequence(out)) return false;
        continue;
      }
      out->push_back(static_cast<char>(c));
      ++pos_;
    }
  }

  bool ParseArray(JsonValue* out, int depth) {
    if (depth > limits_.max_depth) return Fail("nesting too deep");
    ++pos_;
    std::vector<JsonValue> items;
    SkipWhitespace();
    if (pos_ < text_.size() && text_[pos_] == ']') {
      ++pos_;
      *out = JsonValue::Array(std::move(items));
      return true;
    }
    while (true) {
      SkipWhitespace();
      JsonValue item;
      if (!ParseValue(&item, depth + 1)) return false;
      items.push_back(std::move(item));
      SkipWhitespace();
      if (pos_ >= text_.size()) return Fail("unterminated array");
      if (text_[pos_] == ',') {
        ++pos_;
        continue;
      }
      if (text_[pos_] == ']') {
        ++pos_;
        *out = JsonValue::Array(std::move(items));
        return true;
      }
      return Fail("expected ',' or ']'");
    }
  }

  bool ParseObject(JsonValue* out, int depth) {
    if (depth > limits_.max_depth) return Fail("nesting too deep");
    ++pos_;
    std::vector<JsonValue::Member> members;
    absl::flat_hash_set<std::string> names;  // filled once members outgrow the scan
    SkipWhitespace();
    if (pos_ < text_.size() && text_[pos_] == '}') {
      ++pos_;
      *out = JsonValue::Object(std::move(members));
      return true;
    }
    while (true) {
      SkipWhitespace();
      if (pos_ >= text_.size() || text_[pos_] != '"') return Fail("expected member name");
      size_t name_pos = pos_;
      std::string name;
      if (!ParseString(&name)) return false;
      // Duplicate member names are rejected (RFC 7515 section 5.2, RFC 7519
      // section 4): two consumers could pick different values, so a signed
      // token could mean two things. Objects in tokens are small, and for
      // them a scan of the earlier names is cheaper than a hash set; past
      // kMaxScannedMembers the names go into a set, so that the check stays
      // linear in the input (a 1 MiB token of short members would otherwise
      // cost billions of comparisons before its signature is even looked at).
      bool duplicate = false;
      if (members.size() < kMaxScannedMembers) {
        for (const auto& m : members) {
          ++comparisons_;
          duplicate = duplicate || m.first == name;
        }
      } else {
        if (names.empty()) {
          names.reserve(2 * kMaxScannedMembers);
          for (const auto& m : members) names.insert(m.first);
          comparisons_ += members.size();
        }
        ++comparisons_;
        duplicate = !names.insert(name).second;
      }
      if (duplicate) {
        pos_ = name_pos;
        return Fail("duplicate member name");
      }
      SkipWhitespace();
      if (pos_ >= text_.size() || text_[pos_] != ':') return Fail("expected ':'");
      ++pos_;
      SkipWhitespace();
      JsonValue value;
      if (!ParseValue(&value, depth + 1)) return false;
      members.emplace_back(std::move(name), std::move(value));
      SkipWhitespace();
      if (pos_ >= text_.size()) return Fail("unterminated object");
      if (text_[pos_] == ',') {
        ++pos_;
        continue;
      }
      if (text_[pos_] == '}') {
        ++pos_;
        *out = JsonValue::Object(std::move(members));
        return true;
      }
      return Fail("expected ',' or '}'");
    }
  }

  // Objects with up to this many members are checked for duplicate names by
  // a scan of the earlier names; larger ones through a hash set.
  static constexpr size_t kMaxScannedMembers = 16;

  std::string_view text_;
  const JsonLimits& limits_;
  uint64_t comparisons_ = 0;  // member names compared or hashed (JsonParseStats)
  size_t pos_ = 0;
  std::string error_;
  size_t error_pos_ = 0;
};

void SerializeTo(const JsonValue& v, std::string* out) {
  switch (v.type()) {
    case JsonValue::Type::kNull:
      out->append("null");
      break;
    case JsonValue::Type::kBool:
      out->append(v.bool_value() ? "true" : "false");
      break;
    case JsonValue::Type::kNumber: {
      double d = v.number_value();
      if (std::floor(d) == d && std::fabs(d) < 9007199254740992.0) {
        absl::StrAppend(out, static_cast<int64_t>(d));
      } else {
        char buf[64];
        auto [ptr, ec] = std::to_chars(buf, buf + sizeof(buf), d);
        out->append(buf, ptr);
      }
      break;
    }
    case JsonValue::Type::kString:
      out->append(JsonQuote(v.string_value()));
      break;
    case JsonValue::Type::kArray: {
      out->push_back('[');
      bool first = true;
      for (const auto& item : v.array_items()) {
        if (!first) out->push_back(',');
        first = false;
        SerializeTo(item, out);
      }
      out->push_back(']');
      break;
    }
    case JsonValue::Type::kObject: {
      out->push_back('{');
      bool first = true;
      for (const auto& [k, item] : v.object_members()) {
        if (!first) out->push_back(',');
        first = false;
        out->append(JsonQuote(k));
        out->push_back(':');
        SerializeTo(item, out);
      }
      out->push_back('}');
      break;
    }
  }
}

}  // namespace

absl::StatusOr<JsonValue> ParseJson(std::string_view text, const JsonLimits& limits,
                                    JsonParseStats* stats) {
  Parser parser(text, limits);
  absl::StatusOr<JsonValue> value = parser.ParseDocument();
  if (stats != nullptr) stats->name_comparisons = parser.comparisons();
  return value;
}

std::string JsonQuote(std::string_view s) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  out.reserve(s.size() + 2);
  out.push_back('"');
  for (unsigned char c : s) {
    switch (c) {
      case '"':
        out.append("\\\"");
        break;
      case '\\':
        out.append("\\\\");
        break;
      case '\n':
        out.append("\\n");
        break;
      case '\r':
        out.append("\\r");
        break;
      case '\t':
        out.append("\\t");
        break;
      case '\b':
        out.append("\\b");
        break;
      case '\f':
        out.append("\\f");
        break;
      default:
        if (c < 0x20) {
          out.append("\\u00");
          out.push_back(kHex[c >> 4]);
          out.push_back(kHex[c & 15]);
        } else {
          out.push_back(static_cast<char>(c));
        }
    }
  }
  out.push_back('"');
  return out;
}

std::string SerializeJson(const JsonValue& value) {
  std::string out;
  SerializeTo(value, &out);
  return out;
}

}  // namespace popguard
