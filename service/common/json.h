// A strict JSON (RFC 8259) parser for untrusted token and proof segments.
//
// Strict means: exactly one value and nothing after it but whitespace; valid
// UTF-8 only (no overlong forms, no surrogates, nothing above U+10FFFF), no
// lone surrogate escapes; no control characters in strings; no duplicate
// member names in an object (compared after unescaping; RFC 7515 section 5.2
// requires rejecting them, since two parsers could otherwise disagree on which
// value counts); nesting bounded by JsonLimits::max_depth.
#ifndef POPGUARD_SERVICE_JSON_H_
#define POPGUARD_SERVICE_JSON_H_

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"

namespace popguard {

class JsonValue {
 public:
  enum class Type { kNull, kBool, kNumber, kString, kArray, kObject };
  using Member = std::pair<std::string, JsonValue>;

  JsonValue() = default;
  static JsonValue Null() { return JsonValue(); }
  static JsonValue Bool(bool b);
  static JsonValue Number(double d);
  static JsonValue String(std::string s);
  static JsonValue Array(std::vector<JsonValue> items);
  static JsonValue Object(std::vector<Member> members);

  Type type() const { return type_; }
  bool is_null() const { return type_ == Type::kNull; }
  bool is_bool() const { return type_ == Type::kBool; }
  bool is_number() const { return type_ == Type::kNumber; }
  bool is_string() const { return type_ == Type::kString; }
  bool is_array() const { return type_ == Type::kArray; }
  bool is_object() const { return type_ == Type::kObject; }

  // Accessors; calling one on a value of another type returns an empty value.
  bool bool_value() const { return bool_; }
  double number_value() const { return number_; }
  const std::string& string_value() const { return string_; }
  const std::vector<JsonValue>& array_items() const { return array_; }
  const std::vector<Member>& object_members() const { return object_; }

  // Find returns the member named `key` of an object, or nullptr (also when
  // this value is not an object).
  const JsonValue* Find(std::string_view key) const;

  // FindString returns the string member `key`, or nullptr when it is absent or
  // not a string.
  const std::string* FindString(std::string_view key) const;

  // AsInt64 returns the number truncated toward negative infinity when it is a
  // finite number within +-2^53 (the range JSON numbers are exact in).
  std::optional<int64_t> AsInt64() const;

 private:
  Type type_ = Type::kNull;
  bool bool_ = false;
  double number_ = 0;
  std::string string_;
  std::vector<JsonValue> array_;
  std::vector<Member> object_;
};

struct JsonLimits {
  // Maximum nesting of arrays and objects (the top-level value is depth 1).
  int max_depth = 16;
};

// JsonParseStats counts a parse's work, so tests can check that it grows
// linearly with the input.
struct JsonParseStats {
  // Member names compared or hashed for the duplicate-name check.
  uint64_t name_comparisons = 0;
};

// ParseJson parses `text` strictly, in time linear in its size. Errors are
// InvalidArgument with a message naming the offset and what was wrong (never
// echoing the input). `stats` (may be null) receives the parse's counts.
absl::StatusOr<JsonValue> ParseJson(std::string_view text, const JsonLimits& limits = {},
                                    JsonParseStats* stats = nullptr);

// JsonQuote returns `s` as a JSON string literal (with quotes), escaping as
// required; used to build canonical JSON (RFC 7638 thumbprints, CLI output).
std::string JsonQuote(std::string_view s);

// SerializeJson writes `value` as compact JSON, members in stored order.
std::string SerializeJson(const JsonValue& value);

}  // namespace popguard

#endif  // POPGUARD_SERVICE_JSON_H_
