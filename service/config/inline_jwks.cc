// Inline JWKS in the config (issuers[].jwks): a YAML mapping written as JSON,
// or JSON text, checked for the JWKS shape. What each key holds is the JWKS
// loader's business (issuers.cc).
#include <set>
#include <string>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "service/common/json.h"
#include "service/config/fields.h"
#include "service/config/validate.h"

namespace popguard::config_internal {
namespace {

// Nesting allowed in an inline JWKS (a JWKS needs 3: set, keys, x5c).
constexpr int kMaxInlineJwksDepth = 16;
// Size allowed for an inline JWKS as JSON: the fetcher's default body limit.
// YAML aliases make a few lines stand for exponentially many nodes (ten lines
// of `[*a,*a,...]` are 10^7 strings: 53 s and 2.1 GB before this bound), so
// the bound is checked as the JSON grows, not on the file.
constexpr size_t kMaxInlineJwksBytes = 1 << 20;
const char kTooLarge[] = "is larger than 1048576 bytes as JSON (YAML aliases expanded)";

bool LooksLikeJsonNumber(std::string_view s) {
  size_t i = 0;
  auto digits = [&]() {
    const size_t from = i;
    while (i < s.size() && absl::ascii_isdigit(s[i])) ++i;
    return i > from;
  };
  if (i < s.size() && s[i] == '-') ++i;
  if (i < s.size() && s[i] == '0') {
    ++i;
  } else if (!digits()) {
    return false;
  }
  if (i < s.size() && s[i] == '.') {
    ++i;
    if (!digits()) return false;
  }
  if (i < s.size() && (s[i] == 'e' || s[i] == 'E')) {
    ++i;
    if (i < s.size() && (s[i] == '+' || s[i] == '-')) ++i;
    if (!digits()) return false;
  }
  return i == s.size();
}

// YamlToJson writes a YAML subtree as JSON, resolving plain scalars the way
// YAML's core schema does (true/false, null, numbers); quoted scalars are
// strings. Values are never echoed in errors (a JWKS may hold key material).
absl::Status YamlToJson(const YAML::Node& node, const std::string& path, int depth,
                        std::string* out) {
  if (depth > kMaxInlineJwksDepth) return InvalidAt(node, path, "nested too deeply");
  // Every node appends at most its own scalar before the next check, so the
  // work done is bounded by the limit plus one scalar of the (bounded) file.
  if (out->size() > kMaxInlineJwksBytes) return absl::ResourceExhaustedError(kTooLarge);
  switch (node.Type()) {
    case YAML::NodeType::Undefined:
    case YAML::NodeType::Null:
      out->append("null");
      return absl::OkStatus();
    case YAML::NodeType::Scalar: {
      const std::string& s = node.Scalar();
      if (IsPlain(node)) {
        if (s == "true" || s == "True" || s == "TRUE") {
          out->append("true");
          return absl::OkStatus();
        }
        if (s == "false" || s == "False" || s == "FALSE") {
          out->append("false");
          return absl::OkStatus();
        }
        if (LooksLikeJsonNumber(s)) {
          out->append(s);
          return absl::OkStatus();
        }
      }
      out->append(JsonQuote(s));
      return absl::OkStatus();
    }
    case YAML::NodeType::Sequence:
      out->push_back('[');
      for (size_t i = 0; i < node.size(); ++i) {
        if (i > 0) out->push_back(',');
        POPGUARD_RETURN_IF_ERROR(YamlToJson(node[i], Index(path, i), depth + 1, out));
      }
      out->push_back(']');
      return absl::OkStatus();
    case YAML::NodeType::Map: {
      out->push_back('{');
      std::set<std::string> seen;
      bool first = true;
      for (auto it = node.begin(); it != node.end(); ++it) {
        if (!it->first.IsScalar()) return InvalidAt(it->first, path, "keys must be strings");
        const std::string& key = it->first.Scalar();
        if (!seen.insert(key).second)
          return InvalidAt(it->first, Child(path, key), "duplicate key");
        if (!first) out->push_back(',');
        first = false;
        out->append(JsonQuote(key));
        out->push_back(':');
        POPGUARD_RETURN_IF_ERROR(YamlToJson(it->second, Child(path, key), depth + 1, out));
      }
      out->push_back('}');
      return absl::OkStatus();
    }
  }
  return InvalidAt(node, path, "unsupported YAML node");
}

// CheckJwksShape checks that `json` is a JSON object with a "keys" array of
// objects. What each key holds is the JWKS loader's business (issuers.cc).
absl::Status CheckJwksShape(const std::string& json, const std::string& path) {
  absl::StatusOr<JsonValue> v = ParseJson(json, JsonLimits{kMaxInlineJwksDepth});
  if (!v.ok()) return Invalid(path, absl::StrCat("is not valid JSON: ", v.status().message()));
  const JsonValue* keys = v->Find("keys");
  if (!v->is_object() || keys == nullptr || !keys->is_array()) {
    return Invalid(path, "must be a JWKS: an object with a \"keys\" list");
  }
  for (size_t i = 0; i < keys->array_items().size(); ++i) {
    if (!keys->array_items()[i].is_object()) {
      return Invalid(Index(Child(path, "keys"), i), "must be a JWK object");
    }
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status ReadInlineJwks(const YAML::Node& node, const std::string& path, std::string* out) {
  std::string json;
  if (node.IsScalar()) {
    json = node.Scalar();  // JSON text, e.g. jwks: '{"keys": [...]}'
  } else if (node.IsMap()) {
    if (absl::Status s = YamlToJson(node, path, 1, &json); !s.ok()) {
      return absl::IsResourceExhausted(s) ? Invalid(path, kTooLarge) : s;
    }
  } else {
    return InvalidAt(node, path,
                     absl::StrCat("must be a mapping or a JSON string, got ", TypeName(node)));
  }
  if (json.size() > kMaxInlineJwksBytes) return Invalid(path, kTooLarge);
  POPGUARD_RETURN_IF_ERROR(CheckJwksShape(json, path));
  *out = std::move(json);
  return absl::OkStatus();
}

}  // namespace popguard::config_internal
