#include "service/config/validate.h"

#include <algorithm>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "service/common/strings.h"

namespace popguard::config_internal {
namespace {

bool IsHostChar(char c) { return absl::ascii_isalnum(c) || c == '.' || c == '-' || c == '_'; }

bool HasWhitespace(std::string_view s) {
  return std::any_of(s.begin(), s.end(), absl::ascii_isspace);
}

bool IsTokenChar(char c) {  // RFC 9110 section 5.6.2 tchar
  return absl::ascii_isalnum(c) ||
         std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
}

bool IsScopeChar(char c) {  // RFC 6749 section 3.3 scope-token
  return c == 0x21 || (c >= 0x23 && c <= 0x5b) || (c >= 0x5d && c <= 0x7e);
}

}  // namespace

absl::Status Invalid(std::string_view path, std::string_view what) {
  return absl::InvalidArgumentError(absl::StrCat(AV(path), ": ", AV(what)));
}

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

bool IsHostAndPort(std::string_view s, bool allow_zero_port) {
  const std::optional<HostPort> hp = SplitHostPort(s);
  return hp.has_value() && hp->port.has_value() && IsValidHost(hp->host) &&
         IsValidPort(*hp->port, allow_zero_port);
}

absl::Status CheckListen(const std::string& listen, const std::string& path) {
  if (!IsHostAndPort(listen, /*allow_zero_port=*/true)) {
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

// An issuer must be an http(s) URL with a host: iss is compared exactly, so a
// typo here means no token ever verifies, and a bare word is almost always a
// mistake for the issuer's URL. The scheme must be written in lower case, as
// issuers write it in `iss`.
absl::Status CheckIssuer(const std::string& iss, const std::string& path) {
  if (iss.empty()) return Invalid(path, "must not be empty");
  const std::optional<HttpUrlParts> url = ParseHttpUrl(iss);
  if (!url.has_value() || (url->scheme != "https" && url->scheme != "http")) {
    return Invalid(path, absl::StrCat("\"", iss, "\" must be an https:// (or http://) URL"));
  }
  if (url->authority.empty()) return Invalid(path, absl::StrCat("\"", iss, "\" has no host"));
  if (HasWhitespace(iss)) return Invalid(path, "must not contain whitespace");
  return absl::OkStatus();
}

// Keys fetched in the clear could be swapped by anyone on the network path,
// hence https:// unless allow_http says this is a local test.
absl::Status CheckFetchUrl(const std::string& url, bool allow_http, const std::string& path) {
  const std::optional<HttpUrlParts> parts = ParseHttpUrl(url);
  if (!parts.has_value() || (parts->scheme != "https" && parts->scheme != "http")) {
    return Invalid(path, absl::StrCat("\"", url, "\" must be an https:// URL"));
  }
  if (parts->scheme == "http" && !allow_http) {
    return Invalid(path, absl::StrCat("\"", url,
                                      "\" is plain http://; use https:// (allow_http: true is "
                                      "for local testing only)"));
  }
  if (parts->authority.empty()) return Invalid(path, absl::StrCat("\"", url, "\" has no host"));
  if (parts->has_userinfo) return Invalid(path, "must not carry userinfo (user:password@)");
  if (parts->fragment.has_value()) return Invalid(path, "must not have a fragment");
  if (HasWhitespace(url)) return Invalid(path, "must not contain whitespace");
  return absl::OkStatus();
}

// RFC 9728 section 2: the resource identifier is an https URL without query
// or fragment (RFC 8414 section 2 says the same of an issuer).
absl::Status CheckResourceUrl(const std::string& url, const std::string& path) {
  const std::optional<HttpUrlParts> parts = ParseHttpUrl(url);
  if (!parts.has_value() || parts->scheme != "https") {
    return Invalid(path, absl::StrCat("\"", url, "\" must be an https:// URL"));
  }
  if (absl::Status s = CheckFetchUrl(url, /*allow_http=*/false, path); !s.ok()) return s;
  if (parts->query.has_value()) return Invalid(path, "must not have a query");
  return absl::OkStatus();
}

// The origin is stored normalised (RFC 3986 section 6.2.3: lower case,
// default port dropped), the form DPoP htu is compared in (RFC 9449 section
// 4.3), so the request path never normalises it again.
absl::StatusOr<NormalizedUrl> NormalizeOrigin(const std::string& origin, const std::string& path) {
  const absl::Status bad = Invalid(
      path,
      absl::StrCat("\"", origin, "\" must be http(s)://host[:port] with no path, query or user"));
  const std::optional<HttpUrlParts> parts = ParseHttpUrl(origin);
  // "https://a.example/" has no path either.
  if (!parts.has_value() || parts->has_userinfo || (!parts->path.empty() && parts->path != "/") ||
      parts->query.has_value() || parts->fragment.has_value()) {
    return bad;
  }
  const std::optional<HostPort> hp = SplitHostPort(parts->authority);
  if (!hp.has_value() || !IsValidHost(hp->host) ||
      (hp->port.has_value() && !IsValidPort(*hp->port, /*allow_zero=*/false))) {
    return bad;
  }
  absl::StatusOr<NormalizedUrl> url = NormalizeAbsoluteUrl(origin);
  if (!url.ok()) return bad;
  return url;
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

// IsValidRouteHost accepts "host" or "*.suffix"; no port (the request's port is
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
      return invalid(
          "must not contain '\\' or ';' (upstreams read them as a separator or "
          "parameters, so the prefix could never match)");
    }
    if (c == '/' && i + 1 < prefix.size() && prefix[i + 1] == '/') {
      return invalid("must not contain \"//\" (merged by upstreams, so it could never match)");
    }
    if (c != '%') continue;
    if (i + 2 < prefix.size() &&
        ((prefix[i + 1] == '2' && absl::ascii_toupper(prefix[i + 2]) == 'F') ||
         (prefix[i + 1] == '5' && absl::ascii_toupper(prefix[i + 2]) == 'C'))) {
      return invalid(
          "must not contain %2F or %5C (decoded as separators by upstreams, so the "
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

bool IsValidScopeToken(std::string_view scope) {
  return !scope.empty() && std::all_of(scope.begin(), scope.end(), IsScopeChar);
}

bool IsValidRouteName(std::string_view name) {
  return !name.empty() && std::all_of(name.begin(), name.end(), [](char c) {
    return absl::ascii_isalnum(c) || c == '-' || c == '_' || c == '.';
  });
}

}  // namespace popguard::config_internal
