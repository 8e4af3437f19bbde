// Reading config values out of YAML: the checked mapping (Fields), typed field
// readers with the config's error format ("PATH: WHAT (line N)"), durations,
// files and signature algorithms; the inline JWKS reader lives in
// config_inline_jwks.cc. Used by the section parsers in config.cc.
#ifndef POPGUARD_SERVICE_CONFIG_FIELDS_H_
#define POPGUARD_SERVICE_CONFIG_FIELDS_H_

#include <yaml-cpp/yaml.h>

#include <cstdint>
#include <initializer_list>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "service/common/status_macros.h"

namespace popguard::config_internal {

// InvalidAt is validate.h's Invalid with the node's line appended.
absl::Status InvalidAt(const YAML::Node& node, std::string_view path, std::string_view what);

// Child is "path.key" ("key" at the root); Index is "path[i]".
std::string Child(std::string_view path, std::string_view key);
std::string Index(std::string_view path, size_t i);

// TypeName names a node's kind for errors ("a list", "a mapping", ...).
const char* TypeName(const YAML::Node& node);

// IsPlain reports whether a scalar was written without quotes or an explicit
// tag, i.e. whether YAML would resolve it as a bool, number or null.
bool IsPlain(const YAML::Node& node);

// Fields is one YAML mapping whose keys were checked against the allowed set:
// unknown and duplicate keys are errors (a misspelt security option must not
// silently fall back to its default).
class Fields {
 public:
  // Of checks `node` (absent or null: an empty section) against `allowed`.
  static absl::StatusOr<Fields> Of(const YAML::Node& node, std::string path,
                                   std::initializer_list<std::string_view> allowed);

  // Get returns the value of `key`, or nullptr when it is absent or null
  // (`key:` and `key: ~` mean "use the default").
  const YAML::Node* Get(std::string_view key) const;

  bool Has(std::string_view key) const { return Get(key) != nullptr; }

  std::string Path(std::string_view key) const { return Child(path_, key); }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
  std::vector<std::pair<std::string, YAML::Node>> members_;
};

// Readers of one node: a string without control characters, true/false
// only, an integer in [min, max] written as plain digits, a list of strings.
absl::Status ReadString(const YAML::Node& node, const std::string& path, std::string* out);
absl::Status ReadBool(const YAML::Node& node, const std::string& path, bool* out);
absl::Status ReadUint(const YAML::Node& node, const std::string& path, uint64_t min, uint64_t max,
                      uint64_t* out);
absl::Status ReadStringList(const YAML::Node& node, const std::string& path,
                            std::vector<std::string>* out);

// Readers of an optional field: `*out` is left alone when the key is absent.
absl::Status ReadStringField(const Fields& f, std::string_view key, std::string* out);
absl::Status ReadBoolField(const Fields& f, std::string_view key, bool* out);
absl::Status ReadStringListField(const Fields& f, std::string_view key,
                                 std::vector<std::string>* out);

template <typename T>
absl::Status ReadUintField(const Fields& f, std::string_view key, uint64_t min, uint64_t max,
                           T* out) {
  const YAML::Node* n = f.Get(key);
  if (n == nullptr) return absl::OkStatus();
  uint64_t v = 0;
  POPGUARD_RETURN_IF_ERROR(ReadUint(*n, f.Path(key), min, max, &v));
  *out = static_cast<T>(v);
  return absl::OkStatus();
}

// ReadDurationField reads a duration (config.h ParseDuration) of at least `min`.
absl::Status ReadDurationField(const Fields& f, std::string_view key, absl::Duration min,
                               absl::Duration* out);

// ReadBoundedDuration is ReadDurationField with an upper bound as well.
absl::Status ReadBoundedDuration(const Fields& f, std::string_view key, absl::Duration min,
                                 absl::Duration max, absl::Duration* out);

// ReadFileField reads a path, resolves it against base_dir and checks that it
// is a readable regular file of at least `min_bytes` ("" means not set).
absl::Status ReadFileField(const Fields& f, std::string_view key, const std::string& base_dir,
                           std::uintmax_t min_bytes, std::string* out);

// ReadAlgorithms reads `algorithms`: a non-empty list of distinct asymmetric
// JOSE signature algorithms popguard verifies.
absl::Status ReadAlgorithms(const Fields& f, std::vector<std::string>* out);

// ReadInlineJwks reads an inline JWKS, a YAML mapping or a JSON string, as
// JSON text (config_inline_jwks.cc). Values are never echoed in errors.
absl::Status ReadInlineJwks(const YAML::Node& node, const std::string& path, std::string* out);

}  // namespace popguard::config_internal

#endif  // POPGUARD_SERVICE_CONFIG_FIELDS_H_
