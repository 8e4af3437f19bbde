#include "service/common/url.h"

#include <arpa/inet.h>

#include <algorithm>
#include <cstdint>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "service/common/strings.h"

namespace popguard {
namespace {

// Error messages never echo the input: an `htu` comes from a proof and a
// request target may carry secrets in its query.
constexpr char kErrTooLong[] = "url: longer than 8192 bytes";
constexpr char kErrScheme[] = "url: scheme must be http or https";
constexpr char kErrNoAuthority[] = "url: missing '//' authority";
constexpr char kErrEmptyHost[] = "url: empty host";
constexpr char kErrUserinfo[] = "url: userinfo is not allowed";
constexpr char kErrPort[] = "url: invalid port";
constexpr char kErrIpv6[] = "url: invalid IPv6 literal";
constexpr char kErrPercent[] = "url: invalid percent-encoding";
constexpr char kErrChar[] = "url: forbidden character";
constexpr char kErrTarget[] = "url: request target must begin with '/'";

bool IsAlpha(unsigned char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }
bool IsDigit(unsigned char c) { return c >= '0' && c <= '9'; }
bool IsHex(unsigned char c) {
  return IsDigit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}
int HexValue(unsigned char c) {
  if (IsDigit(c)) return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  return c - 'A' + 10;
}

// RFC 3986 section 2.3.
bool IsUnreserved(unsigned char c) {
  return IsAlpha(c) || IsDigit(c) || c == '-' || c == '.' || c == '_' || c == '~';
}
// RFC 3986 section 2.2.
bool IsSubDelim(unsigned char c) {
  switch (c) {
    case '!':
    case '$':
    case '&':
    case '\'':
    case '(':
    case ')':
    case '*':
    case '+':
    case ',':
    case ';':
    case '=':
      return true;
    default:
      return false;
  }
}
// Literal characters of a reg-name host (RFC 3986 section 3.2.2).
bool IsRegNameChar(unsigned char c) { return IsUnreserved(c) || IsSubDelim(c); }
// Literal characters of a path: pchar / "/" (RFC 3986 section 3.3).
bool IsPathChar(unsigned char c) {
  return IsUnreserved(c) || IsSubDelim(c) || c == ':' || c == '@' || c == '/';
}
// Bytes never allowed anywhere in a URL: controls, space, DEL, non-ASCII.
// A space or CR/LF in a target hints at request smuggling; non-ASCII means an
// IRI that was never encoded, which would compare differently per client.
bool IsForbiddenAnywhere(unsigned char c) { return c <= 0x20 || c >= 0x7f; }

bool HasForbiddenByte(std::string_view s) {
  for (unsigned char c : s) {
    if (IsForbiddenAnywhere(c)) return true;
  }
  return false;
}

// NormalizePercent appends `in` to `*out` with percent-encoding normalised
// (RFC 3986 section 6.2.2.2): triplets of unreserved characters decoded, the
// others upper-cased. Every literal byte must satisfy `allowed`. With
// `lower_case`, literal and decoded letters are lower-cased (for hosts) while
// remaining triplets keep upper-case hex.
absl::Status NormalizePercent(std::string_view in, bool (*allowed)(unsigned char), bool lower_case,
                              std::string* out) {
  for (size_t i = 0; i < in.size(); ++i) {
    unsigned char c = in[i];
    if (c == '%') {
      if (in.size() - i < 3) return absl::InvalidArgumentError(kErrPercent);
      unsigned char h = in[i + 1], l = in[i + 2];
      if (!IsHex(h) || !IsHex(l)) return absl::InvalidArgumentError(kErrPercent);
      unsigned char decoded = static_cast<unsigned char>(HexValue(h) << 4 | HexValue(l));
      if (IsUnreserved(decoded)) {
        out->push_back(static_cast<char>(lower_case ? absl::ascii_tolower(decoded) : decoded));
      } else {
        out->push_back('%');
        out->push_back(absl::ascii_toupper(h));
        out->push_back(absl::ascii_toupper(l));
      }
      i += 2;
      continue;
    }
    if (IsForbiddenAnywhere(c) || !allowed(c)) return absl::InvalidArgumentError(kErrChar);
    out->push_back(static_cast<char>(lower_case ? absl::ascii_tolower(c) : c));
  }
  return absl::OkStatus();
}

// RemoveLastSegment drops the last "/segment" of `*out` (RFC 3986 5.2.4 C).
void RemoveLastSegment(std::string* out) {
  size_t slash = out->rfind('/');
  out->resize(slash == std::string::npos ? 0 : slash);
}

// RemoveDotSegments is the algorithm of RFC 3986 section 5.2.4.
std::string RemoveDotSegments(std::string_view in) {
  std::string out;
  out.reserve(in.size());
  while (!in.empty()) {
    if (in.starts_with("../")) {  // A
      in.remove_prefix(3);
    } else if (in.starts_with("./")) {  // A
      in.remove_prefix(2);
    } else if (in.starts_with("/./")) {  // B: "/./x" -> "/x"
      in.remove_prefix(2);
    } else if (in == "/.") {  // B
      in = "/";
    } else if (in.starts_with("/../")) {  // C: "/../x" -> "/x", pop
      in.remove_prefix(3);
      RemoveLastSegment(&out);
    } else if (in == "/..") {  // C
      in = "/";
      RemoveLastSegment(&out);
    } else if (in == "." || in == "..") {  // D
      in = {};
    } else {  // E: move the first segment, with its leading '/', to the output
      size_t end = in.find('/', 1);
      if (end == std::string_view::npos) end = in.size();
      out.append(in.substr(0, end));
      in.remove_prefix(end);
    }
  }
  return out;
}

// SplitOffQueryAndFragment returns `in` up to the first '?' or '#'. What is
// dropped is only checked for forbidden bytes: its percent-encoding is not
// compared, so a stray '%' in a query must not fail the request.
absl::StatusOr<std::string_view> SplitOffQueryAndFragment(std::string_view in) {
  size_t cut = in.find_first_of("?#");
  if (cut == std::string_view::npos) return in;
  if (HasForbiddenByte(in.substr(cut))) return absl::InvalidArgumentError(kErrChar);
  return in.substr(0, cut);
}

// NormalizePathPart normalises a path that has no query or fragment.
absl::StatusOr<std::string> NormalizePathPart(std::string_view path) {
  std::string encoded;
  encoded.reserve(path.size());
  // Percent-encoding first, then dot segments (RFC 3986 section 6.2.2), so an
  // encoded "%2E%2E" is removed like "..". Reserved triplets such as %2F stay
  // encoded: decoding them would change which resource is named.
  if (absl::Status s = NormalizePercent(path, IsPathChar, /*lower_case=*/false, &encoded);
      !s.ok()) {
    return s;
  }
  std::string out = RemoveDotSegments(encoded);
  if (out.empty()) out.push_back('/');
  return out;
}

// NormalizeScheme returns "http" or "https" for a scheme of any case.
absl::StatusOr<std::string> NormalizeScheme(std::string_view scheme) {
  std::string lower;
  for (char c : scheme) lower.push_back(absl::ascii_tolower(static_cast<unsigned char>(c)));
  if (lower != "http" && lower != "https") return absl::InvalidArgumentError(kErrScheme);
  return lower;
}

// NormalizePort sets `*out` to the decimal port without leading zeros, or to
// "" when it is empty or the scheme's default (RFC 3986 section 6.2.3).
absl::Status NormalizePort(std::string_view port, std::string_view scheme, std::string* out) {
  out->clear();
  if (port.empty()) return absl::OkStatus();  // "host:" means the default port
  for (unsigned char c : port) {
    if (!IsDigit(c)) return absl::InvalidArgumentError(kErrPort);
  }
  size_t first = port.find_first_not_of('0');
  if (first == std::string_view::npos) return absl::InvalidArgumentError(kErrPort);  // port 0
  port.remove_prefix(first);
  if (port.size() > 5) return absl::InvalidArgumentError(kErrPort);
  uint32_t value = 0;
  for (unsigned char c : port) value = value * 10 + (c - '0');
  if (value > 65535) return absl::InvalidArgumentError(kErrPort);
  uint32_t default_port = scheme == "https" ? 443 : 80;
  if (value != default_port) *out = std::string(port);
  return absl::OkStatus();
}

// NormalizeIpv6 validates the inside of "[...]" and writes it back in the
// canonical text form of inet_ntop (RFC 5952: lower-case, longest zero run
// compressed). IPvFuture and zone identifiers are not supported.
absl::StatusOr<std::string> NormalizeIpv6(std::string_view literal) {
  if (literal.empty() || literal.size() >= INET6_ADDRSTRLEN) {
    return absl::InvalidArgumentError(kErrIpv6);
  }
  for (unsigned char c : literal) {
    if (!IsHex(c) && c != ':' && c != '.') return absl::InvalidArgumentError(kErrIpv6);
  }
  std::string text(literal);
  in6_addr addr;
  if (inet_pton(AF_INET6, text.c_str(), &addr) != 1) return absl::InvalidArgumentError(kErrIpv6);
  char buf[INET6_ADDRSTRLEN];
  if (inet_ntop(AF_INET6, &addr, buf, sizeof(buf)) == nullptr) {
    return absl::InvalidArgumentError(kErrIpv6);
  }
  return absl::StrCat("[", buf, "]");
}

// ParseAuthority fills host and port of `*url` (whose scheme is set).
absl::Status ParseAuthority(std::string_view authority, NormalizedUrl* url) {
  if (HasForbiddenByte(authority)) return absl::InvalidArgumentError(kErrChar);
  // Userinfo is deprecated for http(s) (RFC 9110 section 4.2.4) and a proof
  // whose htu carries "user:pass@" is suspicious: reject rather than strip.
  if (authority.find('@') != std::string_view::npos) {
    return absl::InvalidArgumentError(kErrUserinfo);
  }
  const std::optional<HostPort> split = SplitHostPort(authority);
  if (!split.has_value()) {
    // Either "[" was never closed, or something other than ":port" follows "]".
    return absl::InvalidArgumentError(authority.find(']') == std::string_view::npos ? kErrIpv6
                                                                                    : kErrPort);
  }
  const std::string_view host = split->host;
  if (host.empty()) return absl::InvalidArgumentError(kErrEmptyHost);
  if (host[0] == '[') {
    absl::StatusOr<std::string> ipv6 = NormalizeIpv6(host.substr(1, host.size() - 2));
    if (!ipv6.ok()) return ipv6.status();
    url->host = *std::move(ipv6);
  } else {
    url->host.clear();
    if (absl::Status s = NormalizePercent(host, IsRegNameChar, /*lower_case=*/true, &url->host);
        !s.ok()) {
      return s;
    }
  }
  return split->port.has_value() ? NormalizePort(*split->port, url->scheme, &url->port)
                                 : absl::OkStatus();
}

}  // namespace

std::string NormalizedUrl::Origin() const {
  if (port.empty()) return absl::StrCat(scheme, "://", host);
  return absl::StrCat(scheme, "://", host, ":", port);
}

std::string NormalizedUrl::ToString() const { return absl::StrCat(Origin(), path); }

absl::StatusOr<NormalizedUrl> NormalizeAbsoluteUrl(std::string_view url) {
  if (url.size() > kMaxUrlBytes) return absl::InvalidArgumentError(kErrTooLong);
  size_t colon = url.find(':');
  if (colon == std::string_view::npos) return absl::InvalidArgumentError(kErrScheme);
  NormalizedUrl out;
  absl::StatusOr<std::string> scheme = NormalizeScheme(url.substr(0, colon));
  if (!scheme.ok()) return scheme.status();
  out.scheme = *std::move(scheme);
  std::string_view rest = url.substr(colon + 1);
  if (!rest.starts_with("//")) return absl::InvalidArgumentError(kErrNoAuthority);
  rest.remove_prefix(2);
  size_t authority_end = rest.find_first_of("/?#");
  if (authority_end == std::string_view::npos) authority_end = rest.size();
  if (absl::Status s = ParseAuthority(rest.substr(0, authority_end), &out); !s.ok()) return s;
  absl::StatusOr<std::string_view> path = SplitOffQueryAndFragment(rest.substr(authority_end));
  if (!path.ok()) return path.status();
  absl::StatusOr<std::string> normalized_path = NormalizePathPart(*path);
  if (!normalized_path.ok()) return normalized_path.status();
  out.path = *std::move(normalized_path);
  return out;
}

absl::StatusOr<NormalizedUrl> NormalizeRequestTarget(std::string_view scheme,
                                                     std::string_view authority,
                                                     std::string_view path_and_query) {
  if (scheme.size() + authority.size() + path_and_query.size() > kMaxUrlBytes) {
    return absl::InvalidArgumentError(kErrTooLong);
  }
  NormalizedUrl out;
  absl::StatusOr<std::string> normalized_scheme = NormalizeScheme(scheme);
  if (!normalized_scheme.ok()) return normalized_scheme.status();
  out.scheme = *std::move(normalized_scheme);
  // Only origin-form targets: "*" (OPTIONS) and absolute-form never reach a
  // DPoP-protected resource through Envoy, which rewrites absolute-form.
  if (!path_and_query.starts_with('/')) return absl::InvalidArgumentError(kErrTarget);
  if (absl::Status s = ParseAuthority(authority, &out); !s.ok()) return s;
  absl::StatusOr<std::string_view> path = SplitOffQueryAndFragment(path_and_query);
  if (!path.ok()) return path.status();
  absl::StatusOr<std::string> normalized_path = NormalizePathPart(*path);
  if (!normalized_path.ok()) return normalized_path.status();
  out.path = *std::move(normalized_path);
  return out;
}

std::optional<HttpUrlParts> ParseHttpUrl(std::string_view url) {
  HttpUrlParts parts;
  size_t scheme_len;
  if (url.size() >= 8 && EqualsIgnoreCase(url.substr(0, 8), "https://")) {
    scheme_len = 5;
  } else if (url.size() >= 7 && EqualsIgnoreCase(url.substr(0, 7), "http://")) {
    scheme_len = 4;
  } else {
    return std::nullopt;
  }
  parts.scheme = url.substr(0, scheme_len);
  std::string_view rest = url.substr(scheme_len + 3);
  const size_t authority_end = std::min(rest.find_first_of("/?#"), rest.size());
  parts.authority = rest.substr(0, authority_end);
  parts.has_userinfo = parts.authority.find('@') != std::string_view::npos;
  parts.origin = url.substr(0, scheme_len + 3 + authority_end);
  rest.remove_prefix(authority_end);
  if (const size_t hash = rest.find('#'); hash != std::string_view::npos) {
    parts.fragment = rest.substr(hash + 1);
    rest = rest.substr(0, hash);
  }
  if (const size_t question = rest.find('?'); question != std::string_view::npos) {
    parts.query = rest.substr(question + 1);
    rest = rest.substr(0, question);
  }
  parts.path = rest;
  return parts;
}

std::optional<HostPort> SplitHostPort(std::string_view authority) {
  HostPort out;
  if (authority.starts_with('[')) {
    const size_t close = authority.find(']');
    if (close == std::string_view::npos) return std::nullopt;
    out.host = authority.substr(0, close + 1);
    const std::string_view rest = authority.substr(close + 1);
    if (rest.empty()) return out;
    if (rest[0] != ':') return std::nullopt;
    out.port = rest.substr(1);
    return out;
  }
  // A reg-name or IPv4 address cannot contain ':', so the first one starts
  // the port; a second one makes the port invalid.
  const size_t colon = authority.find(':');
  out.host = authority.substr(0, colon);
  if (colon != std::string_view::npos) out.port = authority.substr(colon + 1);
  return out;
}

std::optional<std::string> NormalizePath(std::string_view path) {
  if (path.size() > kMaxUrlBytes) return std::nullopt;
  absl::StatusOr<std::string_view> bare = SplitOffQueryAndFragment(path);
  if (!bare.ok()) return std::nullopt;
  if (!bare->empty() && !bare->starts_with('/')) return std::nullopt;
  absl::StatusOr<std::string> out = NormalizePathPart(*bare);
  if (!out.ok()) return std::nullopt;
  return *std::move(out);
}

std::optional<std::string> PercentDecode(std::string_view in) {
  std::string out;
  out.reserve(in.size());
  for (size_t i = 0; i < in.size(); ++i) {
    if (in[i] != '%') {
      out.push_back(in[i]);
      continue;
    }
    if (in.size() - i < 3) return std::nullopt;
    unsigned char h = in[i + 1], l = in[i + 2];
    if (!IsHex(h) || !IsHex(l)) return std::nullopt;
    out.push_back(static_cast<char>(HexValue(h) << 4 | HexValue(l)));
    i += 2;
  }
  return out;
}

bool PathHasPrefixSegment(std::string_view path, std::string_view prefix, bool ignore_case) {
  if (prefix.empty() || prefix == "/") return true;
  if (path.size() < prefix.size()) return false;
  const std::string_view head = path.substr(0, prefix.size());
  if (ignore_case ? !EqualsIgnoreCase(head, prefix) : head != prefix) return false;
  if (prefix.back() == '/') return true;
  // Segment boundary: "/admin" covers "/admin" and "/admin/..." only.
  return path.size() == prefix.size() || path[prefix.size()] == '/';
}

}  // namespace popguard
