// RFC 3986 URL normalisation for the DPoP `htu` check and for policy routes.
//
// RFC 9449 section 4.3 (check 9) compares the proof's `htu` with the URL of the
// request "without query and fragment parts", after syntax-based and
// scheme-based normalisation (RFC 3986 sections 6.2.2 and 6.2.3). Both sides go
// through the same functions here and are then compared as strings, so two
// URLs match exactly when their NormalizedUrl::ToString() values are equal.
//
// What normalisation does (and deliberately does not do):
//   - scheme and host lower-cased; default port (80/443) and an empty port
//     removed; port leading zeros dropped;
//   - percent-encoding triplets upper-cased; triplets of unreserved characters
//     (ALPHA / DIGIT / "-" / "." / "_" / "~") decoded;
//   - dot segments removed (RFC 3986 section 5.2.4) after the above, so
//     "/%2E%2E/x" is "/x"; an empty path becomes "/";
//   - reserved characters are NEVER decoded: "%2F" stays "%2F" (it is not a
//     segment separator), and "//" is not merged. A trailing slash is kept.
//   - IPv6 literals are validated and written in RFC 5952 canonical form
//     ("[0:0::1]" is "[::1]").
#ifndef POPGUARD_SERVICE_COMMON_URL_H_
#define POPGUARD_SERVICE_COMMON_URL_H_

#include <optional>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"

namespace popguard {

// kMaxUrlBytes bounds every input to this file; longer inputs are rejected.
inline constexpr size_t kMaxUrlBytes = 8192;

// NormalizedUrl is an absolute http(s) URL, split and normalised, without
// query and fragment.
struct NormalizedUrl {
  std::string scheme;  // "http" or "https", lower-case
  std::string host;    // lower-case; IPv6 literal kept in brackets; percent-encoding normalised
  std::string port;    // empty when it is the scheme's default (80/443) or absent
  std::string path;    // normalised path, "/" when empty

  // Origin returns scheme://host[:port].
  std::string Origin() const;
  // ToString returns Origin() + path (no query, no fragment).
  std::string ToString() const;

  bool operator==(const NormalizedUrl&) const = default;
};

// NormalizeAbsoluteUrl parses an absolute URL, drops query and fragment, and
// normalises it as described at the top of this file. Returns
// InvalidArgument, with a message naming the problem, when: the scheme is not
// http/https; there is no "//" authority; the host is empty or malformed;
// userinfo is present; the port is not 1..65535 digits; a "%" is not followed
// by two hex digits; a character is not allowed in a URL (control characters,
// space, non-ASCII bytes; in scheme, authority and path also anything outside
// RFC 3986's set, such as '\' or '"'); or the input exceeds kMaxUrlBytes.
// Error messages never echo the input.
absl::StatusOr<NormalizedUrl> NormalizeAbsoluteUrl(std::string_view url);

// NormalizeRequestTarget builds the NormalizedUrl of a request from the pieces
// a proxy gives: `scheme` ("http"/"https", any case), `authority` (the Host /
// :authority header value, possibly with a port) and `path_and_query` (the
// origin-form request target, "/path?query"; Envoy's `path`). The query is
// dropped. Same normalisation and errors as NormalizeAbsoluteUrl; the target
// must begin with "/".
absl::StatusOr<NormalizedUrl> NormalizeRequestTarget(std::string_view scheme,
                                                     std::string_view authority,
                                                     std::string_view path_and_query);

// HttpUrlParts is an http(s) URL split into its RFC 3986 parts verbatim:
// views into the string given to ParseHttpUrl, nothing decoded, lower-cased or
// validated beyond the split. For callers that must check a URL as written
// (config values compared exactly, fetch targets); NormalizeAbsoluteUrl is the
// one to use for comparing URLs.
struct HttpUrlParts {
  std::string_view scheme;                   // "http" or "https" as written (any case)
  std::string_view origin;                   // scheme "://" authority, as written
  std::string_view authority;                // between "//" and the first '/', '?' or '#'
  bool has_userinfo = false;                 // authority holds an '@' ("user:pass@host")
  std::string_view path;                     // from the authority to the first '?' or '#'
  std::optional<std::string_view> query;     // after '?', up to any '#'
  std::optional<std::string_view> fragment;  // after the first '#'
};

// ParseHttpUrl splits `url` when it begins with "http://" or "https://"
// (scheme in any case); nullopt otherwise. The authority may be empty.
std::optional<HttpUrlParts> ParseHttpUrl(std::string_view url);

// HostPort is an authority without userinfo, split.
struct HostPort {
  std::string_view host;                 // IPv6 literal kept in brackets
  std::optional<std::string_view> port;  // after the ':'; "" for "host:"
};

// SplitHostPort splits "host", "host:port", "[v6]" or "[v6]:port". A
// reg-name or IPv4 host ends at its first ':' (so "a:b:1" has port "b:1",
// which no port check accepts). nullopt when a '[' is not closed or its ']'
// is followed by anything but ":port". Hosts and ports are not validated.
std::optional<HostPort> SplitHostPort(std::string_view authority);

// NormalizePath normalises just a path (anything from the first '?' or '#' is
// dropped) as above; for route matching, so "/public/../admin" and "/%61dmin"
// both become "/admin". The path must be empty or begin with "/". Returns
// nullopt on invalid percent-encoding, forbidden characters or over-long
// input.
std::optional<std::string> NormalizePath(std::string_view path);

// PercentDecode decodes every %XX triplet (hex digits of any case). Strict:
// returns nullopt when a '%' is not followed by two hex digits. '+' is NOT
// decoded to a space.
std::optional<std::string> PercentDecode(std::string_view in);

// PathHasPrefixSegment is the segment-aware prefix test used by routes:
// prefix "/admin" matches "/admin" and "/admin/x" but not "/administrator"; a
// prefix ending in "/" matches any path beginning with it; "" and "/" match
// everything. With `ignore_case` the comparison folds ASCII case
// (match.case_insensitive). "%2F" is not a segment boundary here: a route is
// tested against every reading of the path (route_path.h), and the readings
// that decode "%2F" are where it becomes one.
bool PathHasPrefixSegment(std::string_view path, std::string_view prefix, bool ignore_case = false);

}  // namespace popguard

#endif  // POPGUARD_SERVICE_COMMON_URL_H_
