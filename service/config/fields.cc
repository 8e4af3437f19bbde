#include "service/config/fields.h"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <set>
#include <system_error>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "service/common/strings.h"
#include "service/config/config.h"
#include "service/config/validate.h"

namespace popguard::config_internal {
namespace {

bool HasControlChar(std::string_view s) {
  for (unsigned char c : s) {
    if (c < 0x20 || c == 0x7f) return true;
  }
  return false;
}

// AlgorithmProblem returns why `alg` may not be configured, or "" when it is
// an asymmetric JOSE signature algorithm popguard verifies.
std::string AlgorithmProblem(const std::string& alg) {
  static constexpr std::string_view kKnown[] = {"RS256", "RS384", "RS512",  "PS256",
                                                "PS384", "PS512", "ES256",  "ES384",
                                                "ES512", "EdDSA", "Ed25519"};
  for (std::string_view k : kKnown) {
    if (alg == k) return "";
  }
  if (absl::AsciiStrToLower(alg) == "none") {
    // An unsigned token proves nothing about who issued it.
    return "\"none\" is never allowed: an unsigned token proves nothing";
  }
  if (alg.starts_with("HS")) {
    // HMAC needs the verifier to hold the issuer's secret, so anyone holding
    // the config could mint tokens; and accepting HS* next to public keys is
    // the classic algorithm-confusion hole (the public key used as the HMAC
    // secret). Issuers here are verified with public keys only.
    return absl::StrCat("\"", alg,
                        "\" is not allowed: HMAC algorithms need a shared secret, and mixing "
                        "them with public keys enables algorithm confusion; use an asymmetric "
                        "algorithm");
  }
  return absl::StrCat("unknown algorithm \"", alg,
                      "\" (allowed: RS256, RS384, RS512, PS256, PS384, PS512, ES256, ES384, "
                      "ES512, EdDSA, Ed25519)");
}

// CheckReadableFile verifies that `resolved` is a regular file we can open,
// of at least `min_bytes`. It never reads or reports the content.
absl::Status CheckReadableFile(const std::string& path, const std::string& resolved,
                               std::uintmax_t min_bytes) {
  std::error_code ec;
  const std::filesystem::file_status st = std::filesystem::status(resolved, ec);
  if (ec || !std::filesystem::exists(st)) {
    return Invalid(path, absl::StrCat("file ", resolved, " does not exist"));
  }
  if (!std::filesystem::is_regular_file(st)) {
    return Invalid(path, absl::StrCat(resolved, " is not a regular file"));
  }
  std::ifstream in(resolved, std::ios::binary);
  if (!in) return Invalid(path, absl::StrCat("cannot read ", resolved));
  if (min_bytes > 0) {
    const std::uintmax_t size = std::filesystem::file_size(resolved, ec);
    if (ec || size < min_bytes) {
      return Invalid(path, absl::StrCat(resolved, " must hold at least ", min_bytes,
                                        " bytes (it has ", ec ? 0 : size, ")"));
    }
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status InvalidAt(const YAML::Node& node, std::string_view path, std::string_view what) {
  const YAML::Mark mark = node.Mark();
  if (mark.line < 0) return Invalid(path, what);
  return absl::InvalidArgumentError(
      absl::StrCat(AV(path), ": ", AV(what), " (line ", mark.line + 1, ")"));
}

std::string Child(std::string_view path, std::string_view key) {
  return path.empty() ? std::string(key) : absl::StrCat(AV(path), ".", AV(key));
}

std::string Index(std::string_view path, size_t i) { return absl::StrCat(AV(path), "[", i, "]"); }

const char* TypeName(const YAML::Node& node) {
  switch (node.Type()) {
    case YAML::NodeType::Null:
      return "null";
    case YAML::NodeType::Scalar:
      return "a scalar";
    case YAML::NodeType::Sequence:
      return "a list";
    case YAML::NodeType::Map:
      return "a mapping";
    case YAML::NodeType::Undefined:
      break;
  }
  return "nothing";
}

bool IsPlain(const YAML::Node& node) { return node.Tag() == "?"; }

absl::StatusOr<Fields> Fields::Of(const YAML::Node& node, std::string path,
                                  std::initializer_list<std::string_view> allowed) {
  Fields fields;
  fields.path_ = std::move(path);
  if (node.IsNull() || !node.IsDefined()) return fields;  // an empty section
  if (!node.IsMap()) {
    return InvalidAt(node, fields.path_.empty() ? "config" : fields.path_,
                     absl::StrCat("must be a mapping, got ", TypeName(node)));
  }
  std::set<std::string> seen;
  for (auto it = node.begin(); it != node.end(); ++it) {
    const YAML::Node key = it->first;
    if (!key.IsScalar()) {
      return InvalidAt(key, fields.path_.empty() ? "config" : fields.path_,
                       "keys must be plain strings");
    }
    const std::string name = key.Scalar();
    const std::string key_path = Child(fields.path_, name);
    bool known = false;
    for (std::string_view a : allowed) known = known || a == name;
    if (!known) {
      std::string list;
      for (std::string_view a : allowed) absl::StrAppend(&list, list.empty() ? "" : ", ", AV(a));
      return InvalidAt(key, key_path, absl::StrCat("unknown key (allowed: ", list, ")"));
    }
    if (!seen.insert(name).second) return InvalidAt(key, key_path, "duplicate key");
    fields.members_.emplace_back(name, it->second);
  }
  return fields;
}

const YAML::Node* Fields::Get(std::string_view key) const {
  for (const auto& [name, value] : members_) {
    if (name == key) return value.IsNull() ? nullptr : &value;
  }
  return nullptr;
}

absl::Status ReadString(const YAML::Node& node, const std::string& path, std::string* out) {
  if (!node.IsScalar()) {
    return InvalidAt(node, path, absl::StrCat("must be a string, got ", TypeName(node)));
  }
  // Control characters would end up in logs, metric labels and headers.
  if (HasControlChar(node.Scalar())) return InvalidAt(node, path, "contains a control character");
  *out = node.Scalar();
  return absl::OkStatus();
}

absl::Status ReadBool(const YAML::Node& node, const std::string& path, bool* out) {
  // Only true/false: YAML 1.1's yes/no/on/off are too easy to write by accident.
  if (node.IsScalar() && IsPlain(node)) {
    const std::string s = absl::AsciiStrToLower(node.Scalar());
    if (s == "true" || s == "false") {
      *out = s == "true";
      return absl::OkStatus();
    }
  }
  return InvalidAt(node, path, "must be true or false");
}

absl::Status ReadUint(const YAML::Node& node, const std::string& path, uint64_t min, uint64_t max,
                      uint64_t* out) {
  const std::string range = absl::StrCat("must be an integer from ", min, " to ", max);
  if (!node.IsScalar() || !IsPlain(node)) return InvalidAt(node, path, range);
  const std::string& s = node.Scalar();
  // Digits only: no sign, no hex or octal forms, no separators.
  if (s.empty() || s.size() > 18 || !std::all_of(s.begin(), s.end(), absl::ascii_isdigit)) {
    return InvalidAt(node, path, range);
  }
  uint64_t v = 0;
  if (!absl::SimpleAtoi(s, &v) || v < min || v > max) return InvalidAt(node, path, range);
  *out = v;
  return absl::OkStatus();
}

absl::Status ReadStringField(const Fields& f, std::string_view key, std::string* out) {
  const YAML::Node* n = f.Get(key);
  if (n == nullptr) return absl::OkStatus();
  return ReadString(*n, f.Path(key), out);
}

absl::Status ReadStringListField(const Fields& f, std::string_view key,
                                 std::vector<std::string>* out) {
  const YAML::Node* n = f.Get(key);
  if (n == nullptr) return absl::OkStatus();
  return ReadStringList(*n, f.Path(key), out);
}

absl::Status ReadBoolField(const Fields& f, std::string_view key, bool* out) {
  const YAML::Node* n = f.Get(key);
  if (n == nullptr) return absl::OkStatus();
  return ReadBool(*n, f.Path(key), out);
}

// ReadDurationField reads a duration of at least `min`.
absl::Status ReadDurationField(const Fields& f, std::string_view key, absl::Duration min,
                               absl::Duration* out) {
  const YAML::Node* n = f.Get(key);
  if (n == nullptr) return absl::OkStatus();
  const std::string path = f.Path(key);
  if (!n->IsScalar()) {
    return InvalidAt(*n, path, absl::StrCat("must be a duration, got ", TypeName(*n)));
  }
  absl::StatusOr<absl::Duration> d = ParseDuration(n->Scalar());
  if (!d.ok()) return InvalidAt(*n, path, std::string(d.status().message()));
  if (*d < min) {
    return InvalidAt(*n, path,
                     min == absl::ZeroDuration()
                         ? std::string("must not be negative")
                         : absl::StrCat("must be at least ", absl::FormatDuration(min)));
  }
  *out = *d;
  return absl::OkStatus();
}

absl::Status ReadStringList(const YAML::Node& node, const std::string& path,
                            std::vector<std::string>* out) {
  if (!node.IsSequence()) {
    return InvalidAt(node, path, absl::StrCat("must be a list, got ", TypeName(node)));
  }
  std::vector<std::string> items;
  for (size_t i = 0; i < node.size(); ++i) {
    std::string s;
    POPGUARD_RETURN_IF_ERROR(ReadString(node[i], Index(path, i), &s));
    items.push_back(std::move(s));
  }
  *out = std::move(items);
  return absl::OkStatus();
}

// ReadFileField reads a path, resolves it against base_dir and checks the file.
absl::Status ReadFileField(const Fields& f, std::string_view key, const std::string& base_dir,
                           std::uintmax_t min_bytes, std::string* out) {
  const YAML::Node* n = f.Get(key);
  if (n == nullptr) return absl::OkStatus();
  std::string p;
  POPGUARD_RETURN_IF_ERROR(ReadString(*n, f.Path(key), &p));
  if (p.empty()) return absl::OkStatus();  // "" is the same as not set
  const std::string resolved = ResolvePath(base_dir, p);
  POPGUARD_RETURN_IF_ERROR(CheckReadableFile(f.Path(key), resolved, min_bytes));
  *out = resolved;
  return absl::OkStatus();
}

// ReadBoundedDuration is ReadDurationField with an upper bound as well.
absl::Status ReadBoundedDuration(const Fields& f, std::string_view key, absl::Duration min,
                                 absl::Duration max, absl::Duration* out) {
  absl::Duration d = *out;
  POPGUARD_RETURN_IF_ERROR(ReadDurationField(f, key, min, &d));
  if (d > max) {
    // A bare number is seconds: "50" for 50ms would block requests for 50 s.
    return InvalidAt(*f.Get(key), f.Path(key),
                     absl::StrCat("must be at most ", absl::FormatDuration(max),
                                  " (a bare number is seconds; write e.g. 50ms)"));
  }
  *out = d;
  return absl::OkStatus();
}

absl::Status ReadAlgorithms(const Fields& f, std::vector<std::string>* out) {
  const YAML::Node* n = f.Get("algorithms");
  if (n == nullptr) return absl::OkStatus();
  const std::string path = f.Path("algorithms");
  std::vector<std::string> algs;
  POPGUARD_RETURN_IF_ERROR(ReadStringList(*n, path, &algs));
  if (algs.empty()) return InvalidAt(*n, path, "must list at least one algorithm");
  std::set<std::string> seen;
  for (size_t i = 0; i < algs.size(); ++i) {
    const std::string problem = AlgorithmProblem(algs[i]);
    if (!problem.empty()) return InvalidAt((*n)[i], Index(path, i), problem);
    if (!seen.insert(algs[i]).second)
      return InvalidAt((*n)[i], Index(path, i), "duplicate algorithm");
  }
  *out = std::move(algs);
  return absl::OkStatus();
}

}  // namespace popguard::config_internal
