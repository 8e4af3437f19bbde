// Checks of single config values that need no YAML: listen addresses, hosts,
// ports, URLs, header names, route names, path prefixes and scopes. The config
// parser (config.cc) calls them with the dotted path of the value, which every
// error message starts with; they are unit-tested directly
// (tests/config/validate_test.cc).
#ifndef POPGUARD_SERVICE_CONFIG_VALIDATE_H_
#define POPGUARD_SERVICE_CONFIG_VALIDATE_H_

#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "service/common/url.h"

namespace popguard::config_internal {

// Invalid is the InvalidArgument "PATH: WHAT" every config error has.
absl::Status Invalid(std::string_view path, std::string_view what);

// IsValidHost accepts a DNS name or IPv4 address (letters, digits, '.', '-',
// '_'), or an IPv6 literal in brackets.
bool IsValidHost(std::string_view host);

// IsValidPort accepts 1..65535 in decimal (0 too with `allow_zero`).
bool IsValidPort(std::string_view port, bool allow_zero);

// IsHostAndPort accepts "host:port" and "[v6]:port" with a valid host and
// port (url.h SplitHostPort splits them).
bool IsHostAndPort(std::string_view s, bool allow_zero_port);

// CheckListen requires a listen address "host:port" (port 0: any free port).
absl::Status CheckListen(const std::string& listen, const std::string& path);

// CheckLogLevel requires one of debug, info, warn, error.
absl::Status CheckLogLevel(const std::string& level, const std::string& path);

// CheckIssuer requires an http(s) URL with a host and no whitespace.
absl::Status CheckIssuer(const std::string& iss, const std::string& path);

// CheckFetchUrl requires an https:// URL (http:// only with `allow_http`)
// with a host and no userinfo, fragment or whitespace.
absl::Status CheckFetchUrl(const std::string& url, bool allow_http, const std::string& path);

// CheckResourceUrl requires an RFC 9728 protected resource identifier (or an
// authorization server issuer listed in its metadata): an https:// URL with a
// host and no userinfo, query, fragment or whitespace.
absl::Status CheckResourceUrl(const std::string& url, const std::string& path);

// NormalizeOrigin requires "http(s)://host[:port]" (a trailing "/" is
// allowed) and returns it normalised as url.h does (NormalizedUrl::Origin()
// is what DPoP htu is compared against; its path is "/").
absl::StatusOr<NormalizedUrl> NormalizeOrigin(const std::string& origin, const std::string& path);

// IsValidHeaderName accepts an HTTP field name (RFC 9110 section 5.6.2 token).
bool IsValidHeaderName(std::string_view name);

// IsForbiddenUpstreamHeader is true for the (lower-case) headers popguard
// must never set upstream.
bool IsForbiddenUpstreamHeader(std::string_view name);

// IsValidRouteHost accepts "host" or "*.suffix", without a port.
bool IsValidRouteHost(std::string_view host);

// CheckPathPrefix requires a route path prefix that some request path can
// match (see validate.cc). Errors name the route.
absl::Status CheckPathPrefix(const std::string& prefix, const std::string& path,
                             const std::string& route);

// IsValidScopeToken accepts a non-empty RFC 6749 section 3.3 scope-token.
bool IsValidScopeToken(std::string_view scope);

// IsValidRouteName accepts non-empty letters, digits, '-', '_' and '.'.
bool IsValidRouteName(std::string_view name);

}  // namespace popguard::config_internal

#endif  // POPGUARD_SERVICE_CONFIG_VALIDATE_H_
