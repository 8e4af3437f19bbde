#include "service/config/config.h"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <initializer_list>
#include <set>
#include <sstream>
#include <system_error>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "service/common/json.h"
#include "service/common/status_macros.h"
#include "service/common/strings.h"
#include "service/common/ip_cidr.h"

namespace popguard {

namespace {

// A config file is a few kilobytes; the bound only stops a wrong path (a log,
// a device) from being read whole.
constexpr std::uintmax_t kMaxConfigFileBytes = 4 << 20;
// Nonce secrets are HMAC keys: shorter than 32 bytes is below the strength of
// the SHA-256 the nonces are made with.
constexpr std::uintmax_t kMinNonceSecretBytes = 32;
// Nesting allowed in an inline JWKS (a JWKS needs 3: set, keys, x5c).
constexpr int kMaxInlineJwksDepth = 16;

using FieldList = std::vector<std::pair<std::string, YAML::Node>>;


absl::Status Invalid(std::string_view path, std::string_view what) {
  return absl::InvalidArgumentError(absl::StrCat(AV(path), ": ", AV(what)));
}

// InvalidAt is Invalid with the node's line in the file appended.
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

// IsPlain reports whether a scalar was written without quotes or an explicit
// tag, i.e. whether YAML would resolve it as a bool, number or null.
bool IsPlain(const YAML::Node& node) { return node.Tag() == "?"; }

bool HasControlChar(std::string_view s) {
  for (unsigned char c : s) {
    if (c < 0x20 || c == 0x7f) return true;
  }
  return false;
}

// Fields is one YAML mapping whose keys were checked against the allowed set:
// unknown and duplicate keys are errors (a misspelt security option must not
// silently fall back to its default).
class Fields {
 public:
  static absl::StatusOr<Fields> Of(const YAML::Node& node, std::string path,
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

  // Get returns the value of `key`, or nullptr when it is absent or null
  // (`key:` and `key: ~` mean "use the default").
  const YAML::Node* Get(std::string_view key) const {
    for (const auto& [name, value] : members_) {
      if (name == key) return value.IsNull() ? nullptr : &value;
    }
    return nullptr;
  }

  bool Has(std::string_view key) const { return Get(key) != nullptr; }

  std::string Path(std::string_view key) const { return Child(path_, key); }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
  FieldList members_;
};

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

absl::Status ReadStringField(const Fields& f, std::string_view key, std::string* out) {
  const YAML::Node* n = f.Get(key);
  if (n == nullptr) return absl::OkStatus();
  return ReadString(*n, f.Path(key), out);
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

// --- Value checks -------------------------------------------------------

// AlgorithmProblem returns why `alg` may not be configured, or "" when it is
// an asymmetric JOSE signature algorithm popguard verifies.
std::string AlgorithmProblem(const std::string& alg) {
  static constexpr std::string_view kKnown[] = {"RS256", "RS384", "RS512", "PS256", "PS384",
                                                "PS512", "ES256", "ES384", "ES512", "EdDSA",
                                                "Ed25519"};
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

bool IsHostChar(char c) { return absl::ascii_isalnum(c) || c == '.' || c == '-' || c == '_'; }

// CheckHost accepts a DNS name / IPv4 address, or an IPv6 literal in brackets.
bool IsValidHost(std::string_view host) {
  if (host.empty()) return false;
  if (host.front() == '[') {
    if (host.size() < 3 || host.back() != ']') return false;
    for (char c : host.substr(1, host.size() - 2)) {
      if (!absl::ascii_isxdigit(c) && c != ':' && c != '.') return false;
    }
    return true;
  }
  return std::all_of(host.begin(), host.end(), IsHostChar);
}

bool IsValidPort(std::string_view port, bool allow_zero) {
  if (port.empty() || port.size() > 5) return false;
  if (!std::all_of(port.begin(), port.end(), absl::ascii_isdigit)) return false;
  int v = 0;
  if (!absl::SimpleAtoi(AV(port), &v)) return false;
  return v <= 65535 && (allow_zero || v > 0);
}

// SplitHostPort splits "host:port" / "[v6]:port"; false when there is no port.
bool SplitHostPort(std::string_view s, std::string_view* host, std::string_view* port) {
  size_t colon;
  if (!s.empty() && s.front() == '[') {
    const size_t close = s.find(']');
    if (close == std::string_view::npos || close + 1 >= s.size() || s[close + 1] != ':') {
      return false;
    }
    colon = close + 1;
  } else {
    colon = s.rfind(':');
    if (colon == std::string_view::npos || s.substr(0, colon).find(':') != std::string_view::npos) {
      return false;
    }
  }
  *host = s.substr(0, colon);
  *port = s.substr(colon + 1);
  return true;
}

absl::Status CheckListen(const std::string& listen, const std::string& path) {
  std::string_view host, port;
  if (!SplitHostPort(listen, &host, &port) || !IsValidHost(host) ||
      !IsValidPort(port, /*allow_zero=*/true)) {
    return Invalid(
        path, absl::StrCat("\"", listen, "\" is not host:port (e.g. 127.0.0.1:9001, [::]:9001)"));
  }
  return absl::OkStatus();
}

absl::Status CheckLogLevel(const std::string& level, const std::string& path) {
  if (level != "debug" && level != "info" && level != "warn" && level != "error") {
    return Invalid(path, absl::StrCat("\"", level, "\" is not one of debug, info, warn, error"));
  }
  return absl::OkStatus();
}

// CheckIssuer requires an http(s) URL with a host: iss is compared exactly, so
// a typo here means no token ever verifies, and a bare word is almost always
// a mistake for the issuer's URL.
absl::Status CheckIssuer(const std::string& iss, const std::string& path) {
  if (iss.empty()) return Invalid(path, "must not be empty");
  std::string_view rest = iss;
  if (rest.starts_with("https://")) {
    rest.remove_prefix(8);
  } else if (rest.starts_with("http://")) {
    rest.remove_prefix(7);
  } else {
    return Invalid(path, absl::StrCat("\"", iss, "\" must be an https:// (or http://) URL"));
  }
  const std::string_view authority = rest.substr(0, rest.find_first_of("/?#"));
  if (authority.empty()) return Invalid(path, absl::StrCat("\"", iss, "\" has no host"));
  for (char c : iss) {
    if (absl::ascii_isspace(c)) return Invalid(path, "must not contain whitespace");
  }
  return absl::OkStatus();
}

// NormalizeOrigin checks `http(s)://host[:port]` and returns it lower-cased
// with a default port removed, the form DPoP htu is compared in (RFC 9449
// section 4.3 and RFC 3986 section 6.2.3).
absl::Status NormalizeOrigin(const std::string& origin, const std::string& path, std::string* out) {
  const std::string bad =
      absl::StrCat("\"", origin, "\" must be http(s)://host[:port] with no path, query or user");
  const std::string lower = absl::AsciiStrToLower(origin);
  std::string_view rest = lower;
  std::string_view scheme;
  if (rest.starts_with("https://")) {
    scheme = "https";
    rest.remove_prefix(8);
  } else if (rest.starts_with("http://")) {
    scheme = "http";
    rest.remove_prefix(7);
  } else {
    return Invalid(path, bad);
  }
  if (rest.ends_with("/")) rest.remove_suffix(1);  // "https://a.example/" is no path
  std::string_view host = rest, port;
  const bool has_port = SplitHostPort(rest, &host, &port);
  if (!has_port) host = rest;
  if (!IsValidHost(host) || (has_port && !IsValidPort(port, /*allow_zero=*/false))) {
    return Invalid(path, bad);
  }
  if ((scheme == "https" && port == "443") || (scheme == "http" && port == "80")) port = {};
  *out = absl::StrCat(AV(scheme), "://", AV(host), port.empty() ? "" : ":", AV(port));
  return absl::OkStatus();
}

bool IsTokenChar(char c) {  // RFC 9110 section 5.6.2 tchar
  return absl::ascii_isalnum(c) ||
         std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
}

bool IsValidHeaderName(std::string_view name) {
  return !name.empty() && std::all_of(name.begin(), name.end(), IsTokenChar);
}

// Headers popguard must never set upstream: they carry the request's framing,
// routing or credentials, or are the inputs other proxies trust.
bool IsForbiddenUpstreamHeader(std::string_view name) {
  // clang-format off
  static constexpr std::string_view kForbidden[] = {
      "host", "content-length", "transfer-encoding", "connection", "keep-alive", "te",
      "trailer", "upgrade", "proxy-connection", "authorization", "proxy-authorization", "dpop",
      "cookie", "x-forwarded-client-cert", "x-forwarded-for", "x-forwarded-proto",
      "x-forwarded-host", "forwarded"};
  // clang-format on
  for (std::string_view f : kForbidden) {
    if (name == f) return true;
  }
  return false;
}

// CheckRouteHost accepts "host" or "*.suffix"; no port (the request's port is
// removed before matching).
bool IsValidRouteHost(std::string_view host) {
  if (host.starts_with("*.")) host.remove_prefix(2);
  if (host.empty() || host.front() == '.' || host.back() == '.') return false;
  if (host.front() == '[') return IsValidHost(host);
  return std::all_of(host.begin(), host.end(), IsHostChar);
}

// CheckPathPrefix requires the prefix in the form service/common/url.h's
// NormalizePath gives request paths (no dot segments, percent-encoding only for
// non-unreserved bytes, in upper-case hex), and refuses what no reading of a
// request path (service/authn/route_path.h) can contain: an encoded or literal
// separator (%2F, %5C, '\\'), a ";" (params are dropped by one reading, so
// the readings of a path holding one never agree on such a route) and "//"
// (merged by one reading). Such a prefix would be accepted and never match,
// leaving its resources to a weaker route. Errors name the route.
absl::Status CheckPathPrefix(const std::string& prefix, const std::string& path,
                             const std::string& route) {
  if (prefix.empty()) return absl::OkStatus();
  auto invalid = [&](std::string_view why) {
    return Invalid(path, absl::StrCat(AV(why), " (route \"", route, "\")"));
  };
  if (prefix.front() != '/') return invalid("must start with \"/\"");
  for (size_t i = 0; i < prefix.size(); ++i) {
    const unsigned char c = prefix[i];
    if (c == '?' || c == '#' || c <= 0x20 || c >= 0x7f) {
      return invalid("must be a path only (no query, fragment, spaces or non-ASCII)");
    }
    if (c == '\\' || c == ';') {
      return invalid("must not contain '\\' or ';' (upstreams read them as a separator or "
                     "parameters, so the prefix could never match)");
    }
    if (c == '/' && i + 1 < prefix.size() && prefix[i + 1] == '/') {
      return invalid("must not contain \"//\" (merged by upstreams, so it could never match)");
    }
    if (c != '%') continue;
    if (i + 2 < prefix.size() &&
        ((prefix[i + 1] == '2' && absl::ascii_toupper(prefix[i + 2]) == 'F') ||
         (prefix[i + 1] == '5' && absl::ascii_toupper(prefix[i + 2]) == 'C'))) {
      return invalid("must not contain %2F or %5C (decoded as separators by upstreams, so the "
                     "prefix could never match)");
    }
    if (i + 2 >= prefix.size() || !absl::ascii_isxdigit(prefix[i + 1]) ||
        !absl::ascii_isxdigit(prefix[i + 2]) || absl::ascii_islower(prefix[i + 1]) ||
        absl::ascii_islower(prefix[i + 2])) {
      return invalid("percent-encoding must be %XX with upper-case hex digits");
    }
    int v = 0;
    if (!absl::SimpleHexAtoi(absl::string_view(prefix.data() + i + 1, 2), &v)) {
      return invalid("percent-encoding must be %XX with upper-case hex digits");
    }
    if (absl::ascii_isalnum(v) || v == '-' || v == '.' || v == '_' || v == '~') {
      return invalid("must not percent-encode letters, digits or -._~ (write them as is)");
    }
  }
  size_t start = 1;
  while (start <= prefix.size()) {
    size_t end = prefix.find('/', start);
    if (end == std::string::npos) end = prefix.size();
    const std::string_view seg = std::string_view(prefix).substr(start, end - start);
    if (seg == "." || seg == "..") return invalid("must not contain . or .. segments");
    start = end + 1;
  }
  return absl::OkStatus();
}

bool IsScopeChar(char c) {  // RFC 6749 section 3.3 scope-token
  return c == 0x21 || (c >= 0x23 && c <= 0x5b) || (c >= 0x5d && c <= 0x7e);
}

bool IsValidRouteName(std::string_view name) {
  return !name.empty() && std::all_of(name.begin(), name.end(), [](char c) {
    return absl::ascii_isalnum(c) || c == '-' || c == '_' || c == '.';
  });
}

// --- Inline JWKS ---------------------------------------------------------

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

absl::Status ReadInlineJwks(const YAML::Node& node, const std::string& path, std::string* out) {
  std::string json;
  if (node.IsScalar()) {
    json = node.Scalar();  // JSON text, e.g. jwks: '{"keys": [...]}'
  } else if (node.IsMap()) {
    POPGUARD_RETURN_IF_ERROR(YamlToJson(node, path, 1, &json));
  } else {
    return InvalidAt(node, path,
                     absl::StrCat("must be a mapping or a JSON string, got ", TypeName(node)));
  }
  POPGUARD_RETURN_IF_ERROR(CheckJwksShape(json, path));
  *out = std::move(json);
  return absl::OkStatus();
}

// --- Sections ------------------------------------------------------------

absl::Status ParseTls(const YAML::Node& node, const std::string& base_dir, TlsConfig* tls) {
  absl::StatusOr<Fields> f = Fields::Of(node, "tls", {"cert_file", "key_file", "client_ca_file"});
  if (!f.ok()) return f.status();
  POPGUARD_RETURN_IF_ERROR(ReadFileField(*f, "cert_file", base_dir, 1, &tls->cert_file));
  POPGUARD_RETURN_IF_ERROR(ReadFileField(*f, "key_file", base_dir, 1, &tls->key_file));
  POPGUARD_RETURN_IF_ERROR(
      ReadFileField(*f, "client_ca_file", base_dir, 1, &tls->client_ca_file));
  if (tls->cert_file.empty() != tls->key_file.empty()) {
    return Invalid(tls->cert_file.empty() ? "tls.cert_file" : "tls.key_file",
                   "tls.cert_file and tls.key_file must be given together");
  }
  if (!tls->client_ca_file.empty() && tls->cert_file.empty()) {
    return Invalid(
        "tls.client_ca_file",
        "needs tls.cert_file and tls.key_file (client certificates need a TLS listener)");
  }
  return absl::OkStatus();
}

// CheckFetchUrl requires an https:// URL with a host and no userinfo or
// fragment (http:// only with allow_http). Keys fetched in the clear could
// be swapped by anyone on the network path.
absl::Status CheckFetchUrl(const std::string& url, bool allow_http, const std::string& path) {
  std::string_view rest = url;
  if (rest.starts_with("https://")) {
    rest.remove_prefix(8);
  } else if (rest.starts_with("http://")) {
    if (!allow_http) {
      return Invalid(path, absl::StrCat("\"", url,
                                        "\" is plain http://; use https:// (allow_http: true is "
                                        "for local testing only)"));
    }
    rest.remove_prefix(7);
  } else {
    return Invalid(path, absl::StrCat("\"", url, "\" must be an https:// URL"));
  }
  const std::string_view authority = rest.substr(0, rest.find_first_of("/?#"));
  if (authority.empty()) return Invalid(path, absl::StrCat("\"", url, "\" has no host"));
  if (authority.find('@') != std::string_view::npos) {
    return Invalid(path, "must not carry userinfo (user:password@)");
  }
  if (url.find('#') != std::string::npos) return Invalid(path, "must not have a fragment");
  for (char c : url) {
    if (absl::ascii_isspace(c)) return Invalid(path, "must not contain whitespace");
  }
  return absl::OkStatus();
}

// ParseRemoteKeys reads the keys that tune fetched keys (jwks_uri or
// discovery: true); with static keys they are errors, as they would do nothing.
absl::Status ParseRemoteKeys(const Fields& f, const std::string& base_dir, IssuerConfig* ic) {
  static constexpr std::string_view kRemoteOnly[] = {
      "ca_file",     "allow_http", "fetch_timeout",        "min_refresh",
      "max_refresh", "max_stale",  "kid_refetch_interval", "required"};
  if (!f.Has("jwks_uri") && !ic->discovery) {
    for (std::string_view key : kRemoteOnly) {
      if (f.Has(key)) return Invalid(f.Path(key), "only applies with jwks_uri or discovery: true");
    }
    return absl::OkStatus();
  }
  POPGUARD_RETURN_IF_ERROR(ReadBoolField(f, "allow_http", &ic->allow_http));
  if (ic->discovery) {
    // The discovery documents live under the issuer URL itself.
    POPGUARD_RETURN_IF_ERROR(CheckFetchUrl(ic->issuer, ic->allow_http, f.Path("issuer")));
    if (ic->issuer.find('?') != std::string::npos) {
      return Invalid(f.Path("issuer"), "must not have a query when discovery is true");
    }
  } else {
    POPGUARD_RETURN_IF_ERROR(ReadStringField(f, "jwks_uri", &ic->jwks_uri));
    POPGUARD_RETURN_IF_ERROR(
        CheckFetchUrl(ic->jwks_uri, ic->allow_http, f.Path("jwks_uri")));
  }
  POPGUARD_RETURN_IF_ERROR(ReadFileField(f, "ca_file", base_dir, 1, &ic->ca_file));
  POPGUARD_RETURN_IF_ERROR(
      ReadDurationField(f, "fetch_timeout", absl::Milliseconds(100), &ic->fetch_timeout));
  if (ic->fetch_timeout > absl::Minutes(1)) {
    return Invalid(f.Path("fetch_timeout"), "must be at most 1m");
  }
  POPGUARD_RETURN_IF_ERROR(
      ReadDurationField(f, "min_refresh", absl::Seconds(1), &ic->min_refresh));
  POPGUARD_RETURN_IF_ERROR(
      ReadDurationField(f, "max_refresh", absl::Seconds(1), &ic->max_refresh));
  if (ic->max_refresh < ic->min_refresh) {
    return Invalid(f.Path("max_refresh"), absl::StrCat("must be at least min_refresh (",
                                                       absl::FormatDuration(ic->min_refresh), ")"));
  }
  POPGUARD_RETURN_IF_ERROR(
      ReadDurationField(f, "max_stale", absl::Seconds(1), &ic->max_stale));
  // Keys would otherwise expire between two regular refreshes.
  if (ic->max_stale < ic->min_refresh) {
    return Invalid(f.Path("max_stale"), absl::StrCat("must be at least min_refresh (",
                                                     absl::FormatDuration(ic->min_refresh), ")"));
  }
  POPGUARD_RETURN_IF_ERROR(ReadDurationField(
      f, "kid_refetch_interval", absl::Milliseconds(100), &ic->kid_refetch_interval));
  POPGUARD_RETURN_IF_ERROR(ReadBoolField(f, "required", &ic->required));
  return absl::OkStatus();
}

absl::Status ParseIssuer(const YAML::Node& node, const std::string& path,
                         const std::string& base_dir, IssuerConfig* ic) {
  absl::StatusOr<Fields> f = Fields::Of(
      node, path,
      {"issuer", "jwks_file", "jwks", "jwks_uri", "discovery", "audiences", "algorithms",
       "require_typ", "max_lifetime", "ca_file", "allow_http", "fetch_timeout", "min_refresh",
       "max_refresh", "max_stale", "kid_refetch_interval", "required"});
  if (!f.ok()) return f.status();
  if (!f->Has("issuer")) return InvalidAt(node, f->Path("issuer"), "is required");
  POPGUARD_RETURN_IF_ERROR(ReadStringField(*f, "issuer", &ic->issuer));
  POPGUARD_RETURN_IF_ERROR(CheckIssuer(ic->issuer, f->Path("issuer")));

  const YAML::Node* jwks = f->Get("jwks");
  const bool has_file = f->Has("jwks_file");
  const bool has_uri = f->Has("jwks_uri");
  POPGUARD_RETURN_IF_ERROR(ReadBoolField(*f, "discovery", &ic->discovery));
  std::vector<std::string> sources;
  if (has_file) sources.push_back("jwks_file");
  if (jwks != nullptr) sources.push_back("jwks");
  if (has_uri) sources.push_back("jwks_uri");
  if (ic->discovery) sources.push_back("discovery: true");
  if (sources.empty()) {
    return InvalidAt(node, path,
                     "one of jwks_file or jwks is required (static keys), or jwks_uri or "
                     "discovery: true (fetched keys)");
  }
  if (sources.size() > 1) {
    std::string given = sources[0];
    for (size_t i = 1; i < sources.size(); ++i) absl::StrAppend(&given, " and ", sources[i]);
    return InvalidAt(node, path, absl::StrCat("give only one of ", given));
  }
  if (has_file) {
    POPGUARD_RETURN_IF_ERROR(ReadFileField(*f, "jwks_file", base_dir, 0, &ic->jwks_file));
    if (ic->jwks_file.empty()) return Invalid(f->Path("jwks_file"), "must not be empty");
  } else if (jwks != nullptr) {
    POPGUARD_RETURN_IF_ERROR(ReadInlineJwks(*jwks, f->Path("jwks"), &ic->jwks_inline));
  }
  POPGUARD_RETURN_IF_ERROR(ParseRemoteKeys(*f, base_dir, ic));

  const YAML::Node* aud = f->Get("audiences");
  if (aud == nullptr) return InvalidAt(node, f->Path("audiences"), "is required");
  POPGUARD_RETURN_IF_ERROR(ReadStringList(*aud, f->Path("audiences"), &ic->audiences));
  // Without an audience check, a token minted for any other API of the same
  // issuer would be accepted here.
  if (ic->audiences.empty()) return InvalidAt(*aud, f->Path("audiences"), "must not be empty");
  for (size_t i = 0; i < ic->audiences.size(); ++i) {
    if (ic->audiences[i].empty()) {
      return Invalid(Index(f->Path("audiences"), i), "must not be empty");
    }
  }
  POPGUARD_RETURN_IF_ERROR(ReadAlgorithms(*f, &ic->algorithms));
  POPGUARD_RETURN_IF_ERROR(ReadBoolField(*f, "require_typ", &ic->require_typ));
  POPGUARD_RETURN_IF_ERROR(
      ReadDurationField(*f, "max_lifetime", absl::ZeroDuration(), &ic->max_lifetime));
  return absl::OkStatus();
}

absl::Status ParseIssuers(const YAML::Node& node, const std::string& base_dir,
                          std::vector<IssuerConfig>* out) {
  if (!node.IsSequence()) {
    return InvalidAt(node, "issuers", absl::StrCat("must be a list, got ", TypeName(node)));
  }
  std::set<std::string> seen;
  for (size_t i = 0; i < node.size(); ++i) {
    IssuerConfig ic;
    const std::string path = Index("issuers", i);
    POPGUARD_RETURN_IF_ERROR(ParseIssuer(node[i], path, base_dir, &ic));
    // Two entries for one iss would make key selection ambiguous.
    if (!seen.insert(ic.issuer).second) {
      return Invalid(Child(path, "issuer"), absl::StrCat("duplicate issuer \"", ic.issuer, "\""));
    }
    out->push_back(std::move(ic));
  }
  return absl::OkStatus();
}

absl::Status ParseDpop(const YAML::Node& node, const std::string& base_dir, DpopConfig* dpop) {
  absl::StatusOr<Fields> f =
      Fields::Of(node, "dpop", {"algorithms", "max_age", "clock_skew", "max_jti_bytes", "nonce"});
  if (!f.ok()) return f.status();
  POPGUARD_RETURN_IF_ERROR(ReadAlgorithms(*f, &dpop->algorithms));
  // A proof must have a positive lifetime or none would ever be accepted.
  POPGUARD_RETURN_IF_ERROR(
      ReadDurationField(*f, "max_age", absl::Seconds(1), &dpop->max_age));
  POPGUARD_RETURN_IF_ERROR(
      ReadDurationField(*f, "clock_skew", absl::ZeroDuration(), &dpop->clock_skew));
  POPGUARD_RETURN_IF_ERROR(
      ReadUintField(*f, "max_jti_bytes", 1, 4096, &dpop->max_jti_bytes));

  absl::StatusOr<Fields> nf = Fields::Of(f->Get("nonce") ? *f->Get("nonce") : YAML::Node(),
                                         "dpop.nonce", {"required", "secret_file", "step"});
  if (!nf.ok()) return nf.status();
  NonceConfig& nonce = dpop->nonce;
  POPGUARD_RETURN_IF_ERROR(ReadBoolField(*nf, "required", &nonce.required));
  POPGUARD_RETURN_IF_ERROR(
      ReadFileField(*nf, "secret_file", base_dir, kMinNonceSecretBytes, &nonce.secret_file));
  POPGUARD_RETURN_IF_ERROR(ReadDurationField(*nf, "step", absl::Seconds(1), &nonce.step));
  // Every replica must derive the same nonces, so the secret is shared and
  // configured; a per-process random secret would break multi-replica setups.
  if (nonce.required && nonce.secret_file.empty()) {
    return Invalid("dpop.nonce.secret_file", "is required when dpop.nonce.required is true");
  }
  return absl::OkStatus();
}

absl::Status ParseBindingField(const Fields& f, std::string_view key, BindingRequirement* out) {
  const YAML::Node* n = f.Get(key);
  if (n == nullptr) return absl::OkStatus();
  std::string s;
  POPGUARD_RETURN_IF_ERROR(ReadString(*n, f.Path(key), &s));
  const std::optional<BindingRequirement> b = ParseBindingRequirement(s);
  if (!b.has_value()) {
    return InvalidAt(*n, f.Path(key),
                     absl::StrCat("\"", s, "\" is not one of bearer, dpop, mtls, bound"));
  }
  *out = *b;
  return absl::OkStatus();
}

absl::Status ParseRoute(const YAML::Node& node, const std::string& path, size_t index,
                        const std::vector<IssuerConfig>& issuers, RouteConfig* route) {
  absl::StatusOr<Fields> f =
      Fields::Of(node, path, {"name", "match", "binding", "scopes", "issuers", "report_only"});
  if (!f.ok()) return f.status();
  route->name = absl::StrCat("route-", index);
  POPGUARD_RETURN_IF_ERROR(ReadStringField(*f, "name", &route->name));
  if (!IsValidRouteName(route->name)) {
    return Invalid(f->Path("name"), "must be non-empty letters, digits, '-', '_' or '.'");
  }
  if (route->name == "default") {
    return Invalid(f->Path("name"), "\"default\" is reserved for requests no route matches");
  }

  absl::StatusOr<Fields> mf = Fields::Of(f->Get("match") ? *f->Get("match") : YAML::Node(),
                                         f->Path("match"),
                                         {"host", "path_prefix", "route_key", "case_insensitive"});
  if (!mf.ok()) return mf.status();
  POPGUARD_RETURN_IF_ERROR(ReadStringField(*mf, "host", &route->match.host));
  route->match.host = absl::AsciiStrToLower(route->match.host);
  if (!route->match.host.empty() && !IsValidRouteHost(route->match.host)) {
    return Invalid(mf->Path("host"), absl::StrCat("\"", route->match.host,
                                                  "\" is not a host name or *.suffix (no port)"));
  }
  POPGUARD_RETURN_IF_ERROR(ReadStringField(*mf, "path_prefix", &route->match.path_prefix));
  POPGUARD_RETURN_IF_ERROR(
      CheckPathPrefix(route->match.path_prefix, mf->Path("path_prefix"), route->name));
  POPGUARD_RETURN_IF_ERROR(ReadStringField(*mf, "route_key", &route->match.route_key));
  POPGUARD_RETURN_IF_ERROR(
      ReadBoolField(*mf, "case_insensitive", &route->match.case_insensitive));

  POPGUARD_RETURN_IF_ERROR(ParseBindingField(*f, "binding", &route->binding));
  if (const YAML::Node* scopes = f->Get("scopes")) {
    POPGUARD_RETURN_IF_ERROR(ReadStringList(*scopes, f->Path("scopes"), &route->scopes));
    for (size_t i = 0; i < route->scopes.size(); ++i) {
      const std::string& s = route->scopes[i];
      if (s.empty() || !std::all_of(s.begin(), s.end(), IsScopeChar)) {
        return Invalid(Index(f->Path("scopes"), i),
                       "must be a non-empty scope token (no spaces, quotes or backslashes)");
      }
    }
  }
  if (const YAML::Node* list = f->Get("issuers")) {
    POPGUARD_RETURN_IF_ERROR(ReadStringList(*list, f->Path("issuers"), &route->issuers));
    if (route->issuers.empty()) {
      // An empty list would read as "every issuer": say so by leaving it out.
      return Invalid(f->Path("issuers"), "must not be empty (leave it out to accept every issuer)");
    }
    for (size_t i = 0; i < route->issuers.size(); ++i) {
      const std::string& iss = route->issuers[i];
      // Issuers are named by their exact iss value, as in issuers[].issuer.
      const bool known = std::any_of(issuers.begin(), issuers.end(),
                                     [&](const IssuerConfig& ic) { return ic.issuer == iss; });
      if (!known) {
        return Invalid(Index(f->Path("issuers"), i),
                       absl::StrCat("\"", iss, "\" is not the issuer of any issuers[] entry"));
      }
    }
  }
  POPGUARD_RETURN_IF_ERROR(ReadBoolField(*f, "report_only", &route->report_only));
  return absl::OkStatus();
}

absl::Status ParseRoutes(const YAML::Node& node, const std::vector<IssuerConfig>& issuers,
                         std::vector<RouteConfig>* out) {
  if (!node.IsSequence()) {
    return InvalidAt(node, "routes", absl::StrCat("must be a list, got ", TypeName(node)));
  }
  std::set<std::string> names;
  for (size_t i = 0; i < node.size(); ++i) {
    RouteConfig route;
    const std::string path = Index("routes", i);
    POPGUARD_RETURN_IF_ERROR(ParseRoute(node[i], path, i, issuers, &route));
    // Names label logs and metrics; two routes with one name are indistinguishable.
    if (!names.insert(route.name).second) {
      return Invalid(Child(path, "name"),
                     absl::StrCat("duplicate route name \"", route.name, "\""));
    }
    out->push_back(std::move(route));
  }
  return absl::OkStatus();
}

absl::Status ParseUpstreamHeaders(const YAML::Node& node, std::vector<UpstreamHeader>* out) {
  if (!node.IsSequence()) {
    return InvalidAt(node, "upstream_headers",
                     absl::StrCat("must be a list, got ", TypeName(node)));
  }
  static constexpr std::string_view kSpecial[] = {"@binding", "@issuer", "@principal", "@route",
                                                  "@jkt"};
  std::vector<UpstreamHeader> headers;
  std::set<std::string> seen;
  for (size_t i = 0; i < node.size(); ++i) {
    const std::string path = Index("upstream_headers", i);
    absl::StatusOr<Fields> f = Fields::Of(node[i], path, {"header", "value"});
    if (!f.ok()) return f.status();
    if (!f->Has("header")) return InvalidAt(node[i], f->Path("header"), "is required");
    if (!f->Has("value")) return InvalidAt(node[i], f->Path("value"), "is required");
    UpstreamHeader h;
    POPGUARD_RETURN_IF_ERROR(ReadStringField(*f, "header", &h.header));
    POPGUARD_RETURN_IF_ERROR(ReadStringField(*f, "value", &h.value));
    h.header = absl::AsciiStrToLower(h.header);
    if (!IsValidHeaderName(h.header)) {
      return Invalid(f->Path("header"),
                     absl::StrCat("\"", h.header, "\" is not a valid header name"));
    }
    if (IsForbiddenUpstreamHeader(h.header)) {
      return Invalid(f->Path("header"),
                     absl::StrCat("\"", h.header,
                                  "\" may not be set: it carries request framing, routing or "
                                  "credentials"));
    }
    if (!seen.insert(h.header).second) {
      return Invalid(f->Path("header"), absl::StrCat("duplicate header \"", h.header, "\""));
    }
    if (h.value.empty()) return Invalid(f->Path("value"), "must not be empty");
    if (h.value.front() == '@') {
      bool known = false;
      for (std::string_view s : kSpecial) known = known || h.value == s;
      if (!known) {
        return Invalid(
            f->Path("value"),
            absl::StrCat("\"", h.value,
                         "\" is not one of @binding, @issuer, @principal, @route, @jkt"));
      }
    } else if (std::any_of(h.value.begin(), h.value.end(), absl::ascii_isspace)) {
      return Invalid(f->Path("value"), "a claim name must not contain whitespace");
    }
    headers.push_back(std::move(h));
  }
  *out = std::move(headers);
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

// ParseRedisReplay reads replay.redis (docs/config.md).
absl::Status ParseRedisReplay(const YAML::Node& node, const std::string& base_dir,
                              RedisReplayConfig* out) {
  absl::StatusOr<Fields> f = Fields::Of(
      node, "replay.redis",
      {"addresses", "username", "password_file", "database", "key_prefix", "connect_timeout",
       "command_timeout", "pool_size", "failure_policy", "breaker_failures", "breaker_open",
       "required_for_readiness"});
  if (!f.ok()) return f.status();
  RedisReplayConfig r;
  if (const YAML::Node* n = f->Get("addresses")) {
    POPGUARD_RETURN_IF_ERROR(ReadStringList(*n, f->Path("addresses"), &r.addresses));
  }
  if (r.addresses.empty()) {
    return Invalid(f->Path("addresses"), "list at least one Redis host:port");
  }
  std::set<std::string> seen;
  for (size_t i = 0; i < r.addresses.size(); ++i) {
    const std::string path = Index(f->Path("addresses"), i);
    std::string_view host, port;
    if (!SplitHostPort(r.addresses[i], &host, &port) || !IsValidHost(host) ||
        !IsValidPort(port, /*allow_zero=*/false)) {
      return Invalid(path, absl::StrCat("\"", r.addresses[i],
                                        "\" is not host:port (e.g. 10.0.0.5:6379, redis:6379)"));
    }
    if (!seen.insert(r.addresses[i]).second) return Invalid(path, "duplicate address");
  }
  POPGUARD_RETURN_IF_ERROR(ReadStringField(*f, "username", &r.username));
  POPGUARD_RETURN_IF_ERROR(ReadFileField(*f, "password_file", base_dir, 1, &r.password_file));
  if (!r.username.empty() && r.password_file.empty()) {
    return Invalid(f->Path("username"), "needs password_file (Redis ACL users log in with both)");
  }
  POPGUARD_RETURN_IF_ERROR(ReadUintField(*f, "database", 0, 65535, &r.database));
  if (r.database != 0 && r.addresses.size() > 1) {
    // Several addresses mean a cluster, and a cluster has only database 0.
    return Invalid(f->Path("database"), "must be 0 with several addresses (Redis Cluster)");
  }
  POPGUARD_RETURN_IF_ERROR(ReadStringField(*f, "key_prefix", &r.key_prefix));
  if (r.key_prefix.empty() || r.key_prefix.size() > 128) {
    return Invalid(f->Path("key_prefix"), "must be 1 to 128 bytes");
  }
  POPGUARD_RETURN_IF_ERROR(ReadBoundedDuration(*f, "connect_timeout", absl::Milliseconds(1),
                                                      absl::Seconds(10), &r.connect_timeout));
  POPGUARD_RETURN_IF_ERROR(ReadBoundedDuration(*f, "command_timeout", absl::Milliseconds(1),
                                                      absl::Seconds(10), &r.command_timeout));
  POPGUARD_RETURN_IF_ERROR(ReadUintField(*f, "pool_size", 1, 64, &r.pool_size));
  POPGUARD_RETURN_IF_ERROR(ReadStringField(*f, "failure_policy", &r.failure_policy));
  if (r.failure_policy != "fail_closed" && r.failure_policy != "local_fallback") {
    return Invalid(f->Path("failure_policy"),
                   absl::StrCat("\"", r.failure_policy,
                                "\" is not one of fail_closed, local_fallback"));
  }
  POPGUARD_RETURN_IF_ERROR(
      ReadUintField(*f, "breaker_failures", 1, 1000, &r.breaker_failures));
  POPGUARD_RETURN_IF_ERROR(ReadBoundedDuration(*f, "breaker_open", absl::Milliseconds(10),
                                                      absl::Minutes(10), &r.breaker_open));
  POPGUARD_RETURN_IF_ERROR(
      ReadBoolField(*f, "required_for_readiness", &r.required_for_readiness));
  *out = std::move(r);
  return absl::OkStatus();
}

absl::Status ParseForwardAuth(const YAML::Node& node, ForwardAuthConfig* out) {
  absl::StatusOr<Fields> f =
      Fields::Of(node, "forward_auth",
                 {"listen", "trusted_sources", "envoy_path_prefix", "client_cert_header",
                  "client_cert_format", "threads", "max_queued", "io_timeout", "request_deadline"});
  if (!f.ok()) return f.status();
  ForwardAuthConfig fa;
  POPGUARD_RETURN_IF_ERROR(ReadStringField(*f, "listen", &fa.listen));
  if (fa.listen.empty()) return Invalid("forward_auth.listen", "required in forward_auth");
  POPGUARD_RETURN_IF_ERROR(CheckListen(fa.listen, "forward_auth.listen"));
  // Security: the forward-auth protocols describe the original request in
  // headers (X-Original-URI, X-Forwarded-*), and a client that could reach
  // this port itself would describe any request it likes. Only listed peers
  // are believed, and the list is required rather than defaulting to "any".
  if (const YAML::Node* n = f->Get("trusted_sources")) {
    POPGUARD_RETURN_IF_ERROR(ReadStringList(*n, f->Path("trusted_sources"),
                                                   &fa.trusted_sources));
  }
  if (fa.trusted_sources.empty()) {
    return Invalid("forward_auth.trusted_sources",
                   "list the gateways' addresses (CIDRs); at least one is required");
  }
  for (size_t i = 0; i < fa.trusted_sources.size(); ++i) {
    absl::StatusOr<IpCidr> c = IpCidr::Parse(fa.trusted_sources[i]);
    if (!c.ok()) {
      return Invalid(Index("forward_auth.trusted_sources", i), std::string(c.status().message()));
    }
  }
  POPGUARD_RETURN_IF_ERROR(ReadStringField(*f, "envoy_path_prefix", &fa.envoy_path_prefix));
  if (!fa.envoy_path_prefix.empty() &&
      (fa.envoy_path_prefix.front() != '/' || fa.envoy_path_prefix.back() == '/' ||
       fa.envoy_path_prefix.find_first_of("?#%") != std::string::npos)) {
    return Invalid("forward_auth.envoy_path_prefix",
                   "must start with / and not end with /, without ?, # or %");
  }
  POPGUARD_RETURN_IF_ERROR(
      ReadStringField(*f, "client_cert_header", &fa.client_cert_header));
  fa.client_cert_header = absl::AsciiStrToLower(fa.client_cert_header);
  POPGUARD_RETURN_IF_ERROR(
      ReadStringField(*f, "client_cert_format", &fa.client_cert_format));
  if (fa.client_cert_header.empty() != fa.client_cert_format.empty()) {
    return Invalid("forward_auth.client_cert_format",
                   "client_cert_header and client_cert_format must be given together");
  }
  if (!fa.client_cert_format.empty() && fa.client_cert_format != "escaped_pem" &&
      fa.client_cert_format != "der_base64" && fa.client_cert_format != "rfc9440") {
    return Invalid("forward_auth.client_cert_format",
                   absl::StrCat("\"", fa.client_cert_format,
                                "\" is not one of escaped_pem, der_base64, rfc9440"));
  }
  POPGUARD_RETURN_IF_ERROR(ReadUintField(*f, "threads", 1, 1024, &fa.threads));
  POPGUARD_RETURN_IF_ERROR(ReadUintField(*f, "max_queued", 0, 1 << 20, &fa.max_queued));
  POPGUARD_RETURN_IF_ERROR(ReadBoundedDuration(*f, "io_timeout", absl::Milliseconds(10),
                                                      absl::Minutes(1), &fa.io_timeout));
  POPGUARD_RETURN_IF_ERROR(ReadBoundedDuration(
      *f, "request_deadline", absl::Milliseconds(10), absl::Minutes(1), &fa.request_deadline));
  *out = std::move(fa);
  return absl::OkStatus();
}

absl::Status ParseResourceMetadata(const YAML::Node& node, ResourceMetadataConfig* out) {
  absl::StatusOr<Fields> f =
      Fields::Of(node, "resource_metadata", {"resource", "challenge", "answer_checks"});
  if (!f.ok()) return f.status();
  ResourceMetadataConfig rm;
  POPGUARD_RETURN_IF_ERROR(ReadStringField(*f, "resource", &rm.resource));
  if (rm.resource.empty()) {
    return Invalid("resource_metadata.resource", "required in resource_metadata");
  }
  // RFC 9728 section 2: an https URL without query or fragment.
  POPGUARD_RETURN_IF_ERROR(
      CheckFetchUrl(rm.resource, /*allow_http=*/false, "resource_metadata.resource"));
  if (rm.resource.find('?') != std::string::npos) {
    return Invalid("resource_metadata.resource", "must not have a query");
  }
  POPGUARD_RETURN_IF_ERROR(ReadBoolField(*f, "challenge", &rm.challenge));
  POPGUARD_RETURN_IF_ERROR(ReadBoolField(*f, "answer_checks", &rm.answer_checks));
  *out = std::move(rm);
  return absl::OkStatus();
}

// ParseOperability reads metrics, log and shutdown (docs/config.md).
absl::Status ParseOperability(const Fields& root, Config* config) {
  if (const YAML::Node* n = root.Get("metrics")) {
    absl::StatusOr<Fields> mf = Fields::Of(*n, "metrics", {"listen"});
    if (!mf.ok()) return mf.status();
    POPGUARD_RETURN_IF_ERROR(ReadStringField(*mf, "listen", &config->metrics.listen));
    if (!config->metrics.listen.empty()) {
      POPGUARD_RETURN_IF_ERROR(CheckListen(config->metrics.listen, "metrics.listen"));
    }
  }
  if (const YAML::Node* n = root.Get("resource_metadata")) {
    POPGUARD_RETURN_IF_ERROR(ParseResourceMetadata(*n, &config->resource_metadata));
  }
  if (const YAML::Node* n = root.Get("forward_auth")) {
    POPGUARD_RETURN_IF_ERROR(ParseForwardAuth(*n, &config->forward_auth));
  }
  if (const YAML::Node* n = root.Get("log")) {
    absl::StatusOr<Fields> lf = Fields::Of(*n, "log", {"allow_sample_rate"});
    if (!lf.ok()) return lf.status();
    if (const YAML::Node* r = lf->Get("allow_sample_rate")) {
      double rate = -1;
      if (!r->IsScalar() || !IsPlain(*r) || !absl::SimpleAtod(r->Scalar(), &rate) ||
          !(rate >= 0 && rate <= 1)) {
        return InvalidAt(*r, lf->Path("allow_sample_rate"), "must be a number from 0 to 1");
      }
      config->log.allow_sample_rate = rate;
    }
  }
  if (const YAML::Node* n = root.Get("shutdown")) {
    absl::StatusOr<Fields> sf = Fields::Of(*n, "shutdown", {"drain_delay", "grace"});
    if (!sf.ok()) return sf.status();
    POPGUARD_RETURN_IF_ERROR(ReadBoundedDuration(*sf, "drain_delay", absl::ZeroDuration(),
                                                        absl::Minutes(10),
                                                        &config->shutdown.drain_delay));
    POPGUARD_RETURN_IF_ERROR(ReadBoundedDuration(*sf, "grace", absl::ZeroDuration(),
                                                        absl::Minutes(10), &config->shutdown.grace));
  }
  return absl::OkStatus();
}

absl::Status ParseXfcc(const YAML::Node& node, bool trusted_xfcc, Config::Xfcc* out) {
  absl::StatusOr<Fields> f = Fields::Of(node, "xfcc", {"element", "trusted_peers"});
  if (!f.ok()) return f.status();
  // A section that is silently ignored would leave the operator believing
  // certificates are read from the header when they are not.
  if (!trusted_xfcc) return Invalid("xfcc", "is only used with trusted_xfcc: true");
  POPGUARD_RETURN_IF_ERROR(ReadStringField(*f, "element", &out->element));
  if (out->element != "only" && out->element != "before_trusted_peer") {
    return Invalid("xfcc.element", absl::StrCat("\"", out->element,
                                                "\" is not one of only, before_trusted_peer"));
  }
  if (const YAML::Node* n = f->Get("trusted_peers")) {
    POPGUARD_RETURN_IF_ERROR(
        ReadStringList(*n, f->Path("trusted_peers"), &out->trusted_peers));
    for (size_t i = 0; i < out->trusted_peers.size(); ++i) {
      if (out->trusted_peers[i].empty()) {
        return InvalidAt((*n)[i], Index(f->Path("trusted_peers"), i), "must not be empty");
      }
    }
  }
  // Without a trusted hop every element would be refused; with element
  // only, peers would be ignored. Both are configuration mistakes.
  if (out->element == "before_trusted_peer" && out->trusted_peers.empty()) {
    return Invalid("xfcc.trusted_peers", "required when xfcc.element is before_trusted_peer");
  }
  if (out->element == "only" && !out->trusted_peers.empty()) {
    return Invalid("xfcc.trusted_peers", "is only used with xfcc.element: before_trusted_peer");
  }
  return absl::OkStatus();
}

absl::Status ParseRoot(const YAML::Node& root, Config* config) {
  absl::StatusOr<Fields> f = Fields::Of(
      root, "",
      {"listen", "log_level", "tls", "issuers", "clock_skew", "dpop", "routes", "default_binding",
       "default_report_only", "replay", "trusted_xfcc", "xfcc", "external_origin",
       "trusted_forwarded_headers", "cors_expose_headers", "upstream_headers",
       "access_token_cache_entries",
       "proof_key_cache_entries", "cert_thumbprint_cache_entries", "limits",
       "crypto", "metrics", "forward_auth", "resource_metadata", "log", "shutdown"});
  if (!f.ok()) return f.status();
  const std::string& base_dir = config->base_dir;

  POPGUARD_RETURN_IF_ERROR(ReadStringField(*f, "listen", &config->listen));
  POPGUARD_RETURN_IF_ERROR(CheckListen(config->listen, "listen"));
  POPGUARD_RETURN_IF_ERROR(ReadStringField(*f, "log_level", &config->log_level));
  POPGUARD_RETURN_IF_ERROR(CheckLogLevel(config->log_level, "log_level"));
  if (const YAML::Node* n = f->Get("tls")) {
    POPGUARD_RETURN_IF_ERROR(ParseTls(*n, base_dir, &config->tls));
  }
  if (const YAML::Node* n = f->Get("issuers")) {
    POPGUARD_RETURN_IF_ERROR(ParseIssuers(*n, base_dir, &config->issuers));
  }
  if (config->issuers.empty()) return Invalid("issuers", "at least one issuer is required");
  POPGUARD_RETURN_IF_ERROR(
      ReadDurationField(*f, "clock_skew", absl::ZeroDuration(), &config->clock_skew));
  if (const YAML::Node* n = f->Get("dpop")) {
    POPGUARD_RETURN_IF_ERROR(ParseDpop(*n, base_dir, &config->dpop));
  }
  if (const YAML::Node* n = f->Get("routes")) {
    POPGUARD_RETURN_IF_ERROR(ParseRoutes(*n, config->issuers, &config->routes));
  }
  POPGUARD_RETURN_IF_ERROR(
      ParseBindingField(*f, "default_binding", &config->default_binding));
  POPGUARD_RETURN_IF_ERROR(
      ReadBoolField(*f, "default_report_only", &config->default_report_only));

  if (const YAML::Node* n = f->Get("replay")) {
    absl::StatusOr<Fields> rf = Fields::Of(*n, "replay", {"backend", "max_entries", "redis"});
    if (!rf.ok()) return rf.status();
    POPGUARD_RETURN_IF_ERROR(ReadStringField(*rf, "backend", &config->replay.backend));
    if (config->replay.backend != "memory" && config->replay.backend != "redis") {
      return Invalid("replay.backend", absl::StrCat("\"", config->replay.backend,
                                                    "\" is not a backend; use memory or redis"));
    }
    POPGUARD_RETURN_IF_ERROR(
        ReadUintField(*rf, "max_entries", 1, uint64_t{1} << 40, &config->replay.max_entries));
    const YAML::Node* redis = rf->Get("redis");
    if (redis != nullptr && config->replay.backend != "redis") {
      // A redis section that is silently ignored would leave the operator
      // believing replicas share a window they do not.
      return Invalid("replay.redis", "is only used with replay.backend: redis");
    }
    if (config->replay.backend == "redis") {
      if (redis == nullptr) {
        return Invalid("replay.redis.addresses", "required when replay.backend is redis");
      }
      POPGUARD_RETURN_IF_ERROR(ParseRedisReplay(*redis, base_dir, &config->replay.redis));
    }
  }

  POPGUARD_RETURN_IF_ERROR(ReadBoolField(*f, "trusted_xfcc", &config->trusted_xfcc));
  if (const YAML::Node* n = f->Get("xfcc")) {
    POPGUARD_RETURN_IF_ERROR(ParseXfcc(*n, config->trusted_xfcc, &config->xfcc));
  }
  std::string origin;
  POPGUARD_RETURN_IF_ERROR(ReadStringField(*f, "external_origin", &origin));
  config->external_origin.clear();
  if (!origin.empty()) {
    POPGUARD_RETURN_IF_ERROR(
        NormalizeOrigin(origin, "external_origin", &config->external_origin));
  }
  POPGUARD_RETURN_IF_ERROR(
      ReadBoolField(*f, "trusted_forwarded_headers", &config->trusted_forwarded_headers));
  POPGUARD_RETURN_IF_ERROR(
      ReadBoolField(*f, "cors_expose_headers", &config->cors_expose_headers));
  // Two sources for the origin clients addressed would make the DPoP htu
  // check depend on which one the code happens to prefer.
  if (!config->external_origin.empty() && config->trusted_forwarded_headers) {
    return Invalid("trusted_forwarded_headers",
                   "cannot be true when external_origin is set (the origin would come from two "
                   "places)");
  }
  if (const YAML::Node* n = f->Get("upstream_headers")) {
    POPGUARD_RETURN_IF_ERROR(ParseUpstreamHeaders(*n, &config->upstream_headers));
  }
  POPGUARD_RETURN_IF_ERROR(ReadUintField(
      *f, "access_token_cache_entries", 0, uint64_t{1} << 32, &config->access_token_cache_entries));
  POPGUARD_RETURN_IF_ERROR(ReadUintField(*f, "proof_key_cache_entries", 0, uint64_t{1} << 24,
                                                &config->proof_key_cache_entries));
  POPGUARD_RETURN_IF_ERROR(ReadUintField(*f, "cert_thumbprint_cache_entries", 0,
                                                uint64_t{1} << 24,
                                                &config->cert_thumbprint_cache_entries));
  // The default wait bound leaves at least half of a very short max_age.
  config->limits.max_queue_wait = std::min(config->limits.max_queue_wait, config->dpop.max_age / 2);
  if (const YAML::Node* n = f->Get("limits")) {
    absl::StatusOr<Fields> lf =
        Fields::Of(*n, "limits", {"max_token_bytes", "max_proof_bytes", "max_json_depth",
                                  "max_inflight", "max_grpc_message_bytes", "max_queue_wait"});
    if (!lf.ok()) return lf.status();
    LimitsConfig& limits = config->limits;
    POPGUARD_RETURN_IF_ERROR(
        ReadUintField(*lf, "max_token_bytes", 64, 1 << 20, &limits.max_token_bytes));
    POPGUARD_RETURN_IF_ERROR(
        ReadUintField(*lf, "max_proof_bytes", 64, 1 << 20, &limits.max_proof_bytes));
    // 2 is the least a DPoP proof header (an object holding the jwk object) needs.
    POPGUARD_RETURN_IF_ERROR(
        ReadUintField(*lf, "max_json_depth", 2, 64, &limits.max_json_depth));
    POPGUARD_RETURN_IF_ERROR(
        ReadUintField(*lf, "max_inflight", 1, 1 << 20, &limits.max_inflight));
    // At least 4 KiB (a request with one token and one proof); at most 64 MiB.
    POPGUARD_RETURN_IF_ERROR(ReadUintField(*lf, "max_grpc_message_bytes", 4096, 64 << 20,
                                                  &limits.max_grpc_message_bytes));
    POPGUARD_RETURN_IF_ERROR(ReadBoundedDuration(*lf, "max_queue_wait",
                                                        absl::Milliseconds(1), absl::Seconds(30),
                                                        &limits.max_queue_wait));
    // A decision allowed to wait as long as a proof lives would let every
    // proof go stale in the queue; the bound must leave most of max_age.
    if (const YAML::Node* w = lf->Get("max_queue_wait");
        w != nullptr && limits.max_queue_wait >= config->dpop.max_age) {
      return InvalidAt(*w, lf->Path("max_queue_wait"),
                       absl::StrCat("must be shorter than dpop.max_age (",
                                    absl::FormatDuration(config->dpop.max_age), ")"));
    }
  }
  if (const YAML::Node* n = f->Get("crypto")) {
    absl::StatusOr<Fields> cf =
        Fields::Of(*n, "crypto", {"force_openssl", "batch_verification", "verify_threads",
                                  "max_batch", "inline_when_idle", "key_table_cache_entries"});
    if (!cf.ok()) return cf.status();
    CryptoConfig& crypto = config->crypto;
    POPGUARD_RETURN_IF_ERROR(ReadBoolField(*cf, "force_openssl", &crypto.force_openssl));
    POPGUARD_RETURN_IF_ERROR(
        ReadBoolField(*cf, "batch_verification", &crypto.batch_verification));
    POPGUARD_RETURN_IF_ERROR(
        ReadUintField(*cf, "verify_threads", 0, 256, &crypto.verify_threads));
    POPGUARD_RETURN_IF_ERROR(ReadUintField(*cf, "max_batch", 1, 1024, &crypto.max_batch));
    POPGUARD_RETURN_IF_ERROR(
        ReadBoolField(*cf, "inline_when_idle", &crypto.inline_when_idle));
    POPGUARD_RETURN_IF_ERROR(ReadUintField(*cf, "key_table_cache_entries", 0, 65536,
                                                  &crypto.key_table_cache_entries));
  }
  POPGUARD_RETURN_IF_ERROR(ParseOperability(*f, config));
  return absl::OkStatus();
}

}  // namespace

std::string_view BindingRequirementName(BindingRequirement b) {
  switch (b) {
    case BindingRequirement::kBearer:
      return "bearer";
    case BindingRequirement::kDpop:
      return "dpop";
    case BindingRequirement::kMtls:
      return "mtls";
    case BindingRequirement::kBound:
      return "bound";
  }
  return "unknown";
}

std::optional<BindingRequirement> ParseBindingRequirement(std::string_view name) {
  for (BindingRequirement b : {BindingRequirement::kBearer, BindingRequirement::kDpop,
                               BindingRequirement::kMtls, BindingRequirement::kBound}) {
    if (name == BindingRequirementName(b)) return b;
  }
  return std::nullopt;
}

absl::StatusOr<absl::Duration> ParseDuration(std::string_view text) {
  const auto invalid = [&] {
    return absl::InvalidArgumentError(absl::StrCat(
        "\"", AV(text),
        "\" is not a duration (e.g. 250ms, 60s, 5m, 1h30m; a bare number is seconds)"));
  };
  if (text.empty()) return invalid();
  if (std::all_of(text.begin(), text.end(), absl::ascii_isdigit)) {
    int64_t secs = 0;
    if (text.size() > 12 || !absl::SimpleAtoi(AV(text), &secs)) return invalid();
    return absl::Seconds(secs);
  }
  // One or more <digits><unit> parts, e.g. "1h30m". Each number is bounded so
  // the sum cannot overflow.
  absl::Duration total = absl::ZeroDuration();
  size_t i = 0;
  while (i < text.size()) {
    const size_t num_start = i;
    while (i < text.size() && absl::ascii_isdigit(text[i])) ++i;
    const std::string_view num = text.substr(num_start, i - num_start);
    const size_t unit_start = i;
    while (i < text.size() && absl::ascii_isalpha(text[i])) ++i;
    const std::string_view unit = text.substr(unit_start, i - unit_start);
    int64_t n = 0;
    if (num.empty() || num.size() > 12 || !absl::SimpleAtoi(AV(num), &n)) return invalid();
    if (unit == "ms") {
      total += absl::Milliseconds(n);
    } else if (unit == "s") {
      total += absl::Seconds(n);
    } else if (unit == "m") {
      total += absl::Minutes(n);
    } else if (unit == "h") {
      total += absl::Hours(n);
    } else {
      return invalid();
    }
  }
  return total;
}

std::string ResolvePath(const std::string& base_dir, const std::string& path) {
  if (path.empty() || base_dir.empty()) return path;
  const std::filesystem::path p(path);
  if (p.is_absolute()) return path;
  return (std::filesystem::path(base_dir) / p).lexically_normal().string();
}

absl::StatusOr<std::string> ReadNonceSecret(const Config& config) {
  const NonceConfig& nonce = config.dpop.nonce;
  if (nonce.secret_file.empty()) {
    if (nonce.required) {
      return absl::InvalidArgumentError("dpop.nonce.required needs dpop.nonce.secret_file");
    }
    return std::string();
  }
  const absl::Status unusable = absl::InvalidArgumentError(
      "dpop.nonce.secret_file must be readable and hold at least 32 bytes");
  std::ifstream in(ResolvePath(config.base_dir, nonce.secret_file), std::ios::binary);
  if (!in) return unusable;
  std::stringstream secret;
  secret << in.rdbuf();
  if (secret.str().size() < kMinNonceSecretBytes) return unusable;
  return secret.str();
}

absl::StatusOr<Config> LoadConfigYaml(std::string_view yaml, const std::string& base_dir) {
  std::vector<YAML::Node> docs;
  try {
    docs = YAML::LoadAll(std::string(yaml));
  } catch (const YAML::Exception& e) {
    if (e.mark.line >= 0) {
      return absl::InvalidArgumentError(absl::StrCat("config: YAML syntax error at line ",
                                                     e.mark.line + 1, ", column ",
                                                     e.mark.column + 1, ": ", e.msg));
    }
    return absl::InvalidArgumentError(absl::StrCat("config: YAML syntax error: ", e.msg));
  }
  if (docs.size() > 1) {
    return absl::InvalidArgumentError("config: holds more than one YAML document");
  }
  Config config;
  // Paths are stored absolute, so ResolvePath(config.base_dir, p) is a no-op
  // for them and the result does not depend on the working directory later.
  std::error_code ec;
  const std::filesystem::path base = base_dir.empty() ? std::filesystem::current_path(ec)
                                                      : std::filesystem::absolute(base_dir, ec);
  if (ec) {
    return absl::InvalidArgumentError(
        absl::StrCat("config: cannot resolve base directory \"", base_dir, "\": ", ec.message()));
  }
  config.base_dir = base.lexically_normal().string();
  try {
    absl::Status status = ParseRoot(docs.empty() ? YAML::Node() : docs[0], &config);
    if (!status.ok()) return status;
  } catch (const YAML::Exception& e) {
    // The parser above checks node types before reading them; this only
    // catches what yaml-cpp reports that we did not anticipate.
    return absl::InvalidArgumentError(absl::StrCat("config: ", e.what()));
  }
  return config;
}

absl::StatusOr<Config> LoadConfigFile(const std::string& path) {
  std::error_code ec;
  const std::filesystem::path abs = std::filesystem::absolute(path, ec);
  // Each way a path can fail to be a config file gets its own message: a
  // directory (a ConfigMap's mount point given instead of the file in it) is
  // not "missing".
  const std::filesystem::file_status st = std::filesystem::status(abs, ec);
  if (std::filesystem::is_directory(st)) {
    return absl::InvalidArgumentError(
        absl::StrCat("config path ", path, " is a directory, not a file (name the YAML file in it)"));
  }
  if (!std::filesystem::exists(st)) {
    return absl::InvalidArgumentError(absl::StrCat("config file ", path, " does not exist"));
  }
  if (!std::filesystem::is_regular_file(st)) {
    return absl::InvalidArgumentError(absl::StrCat("config path ", path, " is not a regular file"));
  }
  const std::uintmax_t size = std::filesystem::file_size(abs, ec);
  if (ec || size > kMaxConfigFileBytes) {
    return absl::InvalidArgumentError(
        absl::StrCat("config file ", path, " is larger than ", kMaxConfigFileBytes, " bytes"));
  }
  std::ifstream in(abs, std::ios::binary);
  if (!in) return absl::InvalidArgumentError(absl::StrCat("cannot read config file ", path));
  std::ostringstream text;
  text << in.rdbuf();
  if (in.bad()) return absl::InvalidArgumentError(absl::StrCat("cannot read config file ", path));
  absl::StatusOr<Config> config = LoadConfigYaml(text.str(), abs.parent_path().string());
  if (!config.ok()) {
    return absl::InvalidArgumentError(absl::StrCat(path, ": ", config.status().message()));
  }
  return config;
}

absl::Status ApplyOverrides(const ConfigOverrides& overrides, Config* config) {
  if (!overrides.listen.empty()) {
    POPGUARD_RETURN_IF_ERROR(CheckListen(overrides.listen, "--listen"));
    config->listen = overrides.listen;
  }
  if (!overrides.log_level.empty()) {
    POPGUARD_RETURN_IF_ERROR(CheckLogLevel(overrides.log_level, "--log_level"));
    config->log_level = overrides.log_level;
  }
  return absl::OkStatus();
}

#undef POPGUARD_RETURN_IF_ERROR

}  // namespace popguard
