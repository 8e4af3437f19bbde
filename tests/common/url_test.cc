// Tests for service/common/url.h: RFC 3986 normalisation as RFC 9449 section 4.3
// (check 9) requires for `htu`, and the path helpers used by routes.
#include "service/common/url.h"

#include <optional>
#include <string>

#include "absl/status/status.h"
#include "gtest/gtest.h"

namespace popguard {
namespace {

struct NormalizeCase {
  const char* input;
  const char* expected;  // NormalizedUrl::ToString()
};

TEST(NormalizeAbsoluteUrlTest, Normalizes) {
  const NormalizeCase kCases[] = {
      // RFC 3986 6.2.2.1: scheme and host are case-insensitive.
      {"HTTPS://API.Example/a", "https://api.example/a"},
      {"HtTp://Api.EXAMPLE/A", "http://api.example/A"},  // path case is significant
      // RFC 3986 6.2.3: default port, empty port, port leading zeros.
      {"https://api.example:443/a", "https://api.example/a"},
      {"http://api.example:80/a", "http://api.example/a"},
      {"https://api.example:/a", "https://api.example/a"},
      {"https://api.example:0443/a", "https://api.example/a"},
      {"https://api.example:80/a", "https://api.example:80/a"},
      {"http://api.example:443/a", "http://api.example:443/a"},
      {"https://api.example:08443/a", "https://api.example:8443/a"},
      {"https://api.example:65535/", "https://api.example:65535/"},
      // RFC 9449 4.3: query and fragment are not compared.
      {"https://api.example/a?x#y", "https://api.example/a"},
      {"https://api.example/a?x=1&y=%zz", "https://api.example/a"},  // query not decoded
      {"https://api.example/a#frag", "https://api.example/a"},
      {"https://api.example?x", "https://api.example/"},
      {"https://api.example#x", "https://api.example/"},
      // RFC 3986 6.2.3: empty path is "/".
      {"https://api.example", "https://api.example/"},
      {"https://api.example:443", "https://api.example/"},
      // RFC 3986 6.2.2.2: percent-encoding normalisation.
      {"https://api.example/%7e", "https://api.example/~"},
      {"https://api.example/%7E%41%2d%2E%5f", "https://api.example/~A-._"},
      {"https://api.example/a%2fb", "https://api.example/a%2Fb"},  // reserved stays encoded
      {"https://api.example/a%2Fb", "https://api.example/a%2Fb"},
      {"https://api.example/%c3%a9", "https://api.example/%C3%A9"},
      {"https://api.example/a%20b", "https://api.example/a%20b"},
      {"https://api.example/%00", "https://api.example/%00"},
      {"https://%41pi.example/", "https://api.example/"},  // decoded, then lower-cased
      {"https://a%2cb.example/", "https://a%2Cb.example/"},
      // RFC 3986 6.2.2.3 / 5.2.4: dot segments.
      {"https://api.example/a/./b/../c", "https://api.example/a/c"},
      {"https://api.example/../a", "https://api.example/a"},
      {"https://api.example/a/b/../../..", "https://api.example/"},
      {"https://api.example/a/.", "https://api.example/a/"},
      {"https://api.example/a/..", "https://api.example/"},
      {"https://api.example/a/%2e%2E/b", "https://api.example/b"},  // encoded dots too
      {"https://api.example/a/.../b", "https://api.example/a/.../b"},
      {"https://api.example/a/.b", "https://api.example/a/.b"},
      // Significant differences are kept.
      {"https://api.example/a/", "https://api.example/a/"},
      {"https://api.example//a", "https://api.example//a"},
      {"https://api.example/a;p=1", "https://api.example/a;p=1"},
      {"https://api.example/a:b@c!$&'()*+,;=", "https://api.example/a:b@c!$&'()*+,;="},
      // Hosts.
      {"https://[::1]:8443/a", "https://[::1]:8443/a"},
      {"https://[::1]:443/a", "https://[::1]/a"},
      {"https://[0:0:0:0:0:0:0:1]/", "https://[::1]/"},
      {"https://[2001:DB8::A]/", "https://[2001:db8::a]/"},
      {"https://[::ffff:192.0.2.1]/", "https://[::ffff:192.0.2.1]/"},
      {"http://192.0.2.1:8080/x", "http://192.0.2.1:8080/x"},
      {"https://api.example./", "https://api.example./"},  // trailing dot kept
  };
  for (const NormalizeCase& c : kCases) {
    SCOPED_TRACE(c.input);
    absl::StatusOr<NormalizedUrl> url = NormalizeAbsoluteUrl(c.input);
    ASSERT_TRUE(url.ok()) << url.status();
    EXPECT_EQ(url->ToString(), c.expected);
    // Normalisation is idempotent.
    absl::StatusOr<NormalizedUrl> again = NormalizeAbsoluteUrl(url->ToString());
    ASSERT_TRUE(again.ok()) << again.status();
    EXPECT_EQ(*again, *url);
  }
}

TEST(NormalizeAbsoluteUrlTest, Fields) {
  absl::StatusOr<NormalizedUrl> url = NormalizeAbsoluteUrl("HTTPS://[::1]:8443/a/../b?q#f");
  ASSERT_TRUE(url.ok()) << url.status();
  EXPECT_EQ(url->scheme, "https");
  EXPECT_EQ(url->host, "[::1]");
  EXPECT_EQ(url->port, "8443");
  EXPECT_EQ(url->path, "/b");
  EXPECT_EQ(url->Origin(), "https://[::1]:8443");
  EXPECT_EQ(url->ToString(), "https://[::1]:8443/b");

  url = NormalizeAbsoluteUrl("http://Example.COM:80");
  ASSERT_TRUE(url.ok()) << url.status();
  EXPECT_EQ(url->scheme, "http");
  EXPECT_EQ(url->host, "example.com");
  EXPECT_EQ(url->port, "");
  EXPECT_EQ(url->path, "/");
  EXPECT_EQ(url->Origin(), "http://example.com");
}

struct MatchCase {
  const char* htu;
  const char* request;
  bool match;
};

// The DPoP htu check: the two sides match exactly when their normalised forms
// are equal.
TEST(NormalizeAbsoluteUrlTest, HtuMatching) {
  const MatchCase kCases[] = {
      {"HTTPS://API.Example:443/a", "https://api.example/a", true},
      {"https://api.example/a?x#y", "https://api.example/a", true},
      {"https://api.example/%7e", "https://api.example/~", true},
      {"https://api.example/a/./b/../c", "https://api.example/a/c", true},
      {"https://api.example/%2e%2e/a", "https://api.example/a", true},
      {"https://api.example", "https://api.example/", true},
      {"https://api.example:/x", "https://api.example/x", true},
      {"https://[::1]:8443/x", "https://[0::1]:08443/x", true},
      {"https://api.example/a%2fb", "https://api.example/a%2Fb", true},
      // Must not match.
      {"http://api.example/a", "https://api.example/a", false},         // scheme
      {"https://api.example/a", "https://api2.example/a", false},       // host
      {"https://api.example:8443/a", "https://api.example/a", false},   // port
      {"https://api.example:80/a", "https://api.example/a", false},     // not https default
      {"https://api.example/a", "https://api.example/b", false},        // path
      {"https://api.example/A", "https://api.example/a", false},        // path case
      {"https://api.example/a/b", "https://api.example/a%2Fb", false},  // encoded slash
      {"https://api.example/a/", "https://api.example/a", false},       // trailing slash
      {"https://api.example//a", "https://api.example/a", false},       // empty segment
      {"https://api.example/%41", "https://api.example/%2541", false},  // not double-decoded
      {"https://api.example./a", "https://api.example/a", false},       // trailing dot
  };
  for (const MatchCase& c : kCases) {
    SCOPED_TRACE(std::string(c.htu) + " vs " + c.request);
    absl::StatusOr<NormalizedUrl> a = NormalizeAbsoluteUrl(c.htu);
    absl::StatusOr<NormalizedUrl> b = NormalizeAbsoluteUrl(c.request);
    ASSERT_TRUE(a.ok()) << a.status();
    ASSERT_TRUE(b.ok()) << b.status();
    EXPECT_EQ(a->ToString() == b->ToString(), c.match);
    EXPECT_EQ(*a == *b, c.match);
  }
}

struct ErrorCase {
  std::string input;
  absl::StatusCode code;
  const char* message;
};

TEST(NormalizeAbsoluteUrlTest, Errors) {
  const ErrorCase kCases[] = {
      {"ftp://api.example/", absl::StatusCode::kInvalidArgument,
       "url: scheme must be http or https"},
      {"wss://api.example/", absl::StatusCode::kInvalidArgument,
       "url: scheme must be http or https"},
      {"api.example/a", absl::StatusCode::kInvalidArgument, "url: scheme must be http or https"},
      {"/a/b", absl::StatusCode::kInvalidArgument, "url: scheme must be http or https"},
      {"", absl::StatusCode::kInvalidArgument, "url: scheme must be http or https"},
      {"https:api.example/a", absl::StatusCode::kInvalidArgument, "url: missing '//' authority"},
      {"https:/api.example/a", absl::StatusCode::kInvalidArgument, "url: missing '//' authority"},
      {"https:", absl::StatusCode::kInvalidArgument, "url: missing '//' authority"},
      {"https:///a", absl::StatusCode::kInvalidArgument, "url: empty host"},
      {"https://", absl::StatusCode::kInvalidArgument, "url: empty host"},
      {"https://:443/a", absl::StatusCode::kInvalidArgument, "url: empty host"},
      {"https://?x", absl::StatusCode::kInvalidArgument, "url: empty host"},
      {"https://user:pass@api.example/", absl::StatusCode::kInvalidArgument,
       "url: userinfo is not allowed"},
      {"https://@api.example/", absl::StatusCode::kInvalidArgument, "url: userinfo is not allowed"},
      {"https://api.example:44a/", absl::StatusCode::kInvalidArgument, "url: invalid port"},
      {"https://api.example:-1/", absl::StatusCode::kInvalidArgument, "url: invalid port"},
      {"https://api.example:65536/", absl::StatusCode::kInvalidArgument, "url: invalid port"},
      {"https://api.example:99999999999999999999/", absl::StatusCode::kInvalidArgument,
       "url: invalid port"},
      {"https://api.example:0/", absl::StatusCode::kInvalidArgument, "url: invalid port"},
      {"https://api.example:443:443/", absl::StatusCode::kInvalidArgument, "url: invalid port"},
      {"https://[::1]x/", absl::StatusCode::kInvalidArgument, "url: invalid port"},
      {"https://[::1/", absl::StatusCode::kInvalidArgument, "url: invalid IPv6 literal"},
      {"https://[]/", absl::StatusCode::kInvalidArgument, "url: invalid IPv6 literal"},
      {"https://[::g]/", absl::StatusCode::kInvalidArgument, "url: invalid IPv6 literal"},
      {"https://[1:2:3]/", absl::StatusCode::kInvalidArgument, "url: invalid IPv6 literal"},
      {"https://[v1.x]/", absl::StatusCode::kInvalidArgument, "url: invalid IPv6 literal"},
      {"https://[fe80::1%25eth0]/", absl::StatusCode::kInvalidArgument,
       "url: invalid IPv6 literal"},
      {"https://api.example/%", absl::StatusCode::kInvalidArgument,
       "url: invalid percent-encoding"},
      {"https://api.example/%4", absl::StatusCode::kInvalidArgument,
       "url: invalid percent-encoding"},
      {"https://api.example/%zz", absl::StatusCode::kInvalidArgument,
       "url: invalid percent-encoding"},
      {"https://api.example/%%41", absl::StatusCode::kInvalidArgument,
       "url: invalid percent-encoding"},
      {"https://api%2.example/", absl::StatusCode::kInvalidArgument,
       "url: invalid percent-encoding"},
      {"https://api.example/a b", absl::StatusCode::kInvalidArgument, "url: forbidden character"},
      {"https://api.example/a\tb", absl::StatusCode::kInvalidArgument, "url: forbidden character"},
      {"https://api.example/a\r\nb", absl::StatusCode::kInvalidArgument,
       "url: forbidden character"},
      {std::string("https://api.example/a\0b", 23), absl::StatusCode::kInvalidArgument,
       "url: forbidden character"},
      {"https://api.example/a\x7f", absl::StatusCode::kInvalidArgument, "url: forbidden character"},
      {"https://api.example/caf\xc3\xa9", absl::StatusCode::kInvalidArgument,
       "url: forbidden character"},
      {"https://api.\xc3\xa9xample/", absl::StatusCode::kInvalidArgument,
       "url: forbidden character"},
      {"https://api.example/a?q=a b", absl::StatusCode::kInvalidArgument,
       "url: forbidden character"},
      {"https://api.example/a#\n", absl::StatusCode::kInvalidArgument, "url: forbidden character"},
      {"https://api.example/a\\..\\b", absl::StatusCode::kInvalidArgument,
       "url: forbidden character"},
      {"https://api.example/a\"b", absl::StatusCode::kInvalidArgument, "url: forbidden character"},
      {"https://api.example/<b>", absl::StatusCode::kInvalidArgument, "url: forbidden character"},
      {"https://api.example/a|b", absl::StatusCode::kInvalidArgument, "url: forbidden character"},
      {"https://api.example/a[0]", absl::StatusCode::kInvalidArgument, "url: forbidden character"},
      {"https://api_ex{ample}/", absl::StatusCode::kInvalidArgument, "url: forbidden character"},
      {"https://a]b/", absl::StatusCode::kInvalidArgument, "url: forbidden character"},
      {"https://api.example/" + std::string(8192, 'a'), absl::StatusCode::kInvalidArgument,
       "url: longer than 8192 bytes"},
  };
  for (const ErrorCase& c : kCases) {
    SCOPED_TRACE(c.input.substr(0, 80));
    absl::StatusOr<NormalizedUrl> url = NormalizeAbsoluteUrl(c.input);
    ASSERT_FALSE(url.ok()) << url->ToString();
    EXPECT_EQ(url.status().code(), c.code);
    EXPECT_EQ(url.status().message(), c.message);
  }
}

TEST(NormalizeAbsoluteUrlTest, LengthLimitIsInclusive) {
  std::string prefix = "https://api.example/";
  std::string url = prefix + std::string(kMaxUrlBytes - prefix.size(), 'a');
  ASSERT_EQ(url.size(), kMaxUrlBytes);
  EXPECT_TRUE(NormalizeAbsoluteUrl(url).ok());
}

struct TargetCase {
  const char* scheme;
  const char* authority;
  const char* path_and_query;
  const char* expected;
};

TEST(NormalizeRequestTargetTest, Normalizes) {
  const TargetCase kCases[] = {
      {"https", "api.example", "/a", "https://api.example/a"},
      {"HTTPS", "API.EXAMPLE:443", "/a?x=1", "https://api.example/a"},
      {"http", "api.example:80", "/", "http://api.example/"},
      {"http", "api.example:8080", "/a/./b/../c?q", "http://api.example:8080/a/c"},
      {"https", "[::1]:8443", "/%7euser", "https://[::1]:8443/~user"},
      {"https", "api.example:", "/a%2fb", "https://api.example/a%2Fb"},
      {"https", "api.example", "/a/", "https://api.example/a/"},
      {"https", "api.example", "/?only=query", "https://api.example/"},
      {"https", "api.example", "/a?q=50%", "https://api.example/a"},  // stray % in query
  };
  for (const TargetCase& c : kCases) {
    SCOPED_TRACE(std::string(c.scheme) + " " + c.authority + " " + c.path_and_query);
    absl::StatusOr<NormalizedUrl> url =
        NormalizeRequestTarget(c.scheme, c.authority, c.path_and_query);
    ASSERT_TRUE(url.ok()) << url.status();
    EXPECT_EQ(url->ToString(), c.expected);
  }
}

TEST(NormalizeRequestTargetTest, MatchesAbsoluteForm) {
  absl::StatusOr<NormalizedUrl> htu = NormalizeAbsoluteUrl("https://API.example:443/x/%7Ey");
  absl::StatusOr<NormalizedUrl> request =
      NormalizeRequestTarget("https", "api.example", "/x/y/../~y?page=2");
  ASSERT_TRUE(htu.ok()) << htu.status();
  ASSERT_TRUE(request.ok()) << request.status();
  EXPECT_EQ(*htu, *request);
}

struct TargetErrorCase {
  std::string scheme;
  std::string authority;
  std::string path_and_query;
  const char* message;
};

TEST(NormalizeRequestTargetTest, Errors) {
  const TargetErrorCase kCases[] = {
      {"ftp", "api.example", "/", "url: scheme must be http or https"},
      {"", "api.example", "/", "url: scheme must be http or https"},
      {"https", "", "/", "url: empty host"},
      {"https", ":443", "/", "url: empty host"},
      {"https", "u@api.example", "/", "url: userinfo is not allowed"},
      {"https", "api.example:x", "/", "url: invalid port"},
      {"https", "api.example:70000", "/", "url: invalid port"},
      {"https", "[::1", "/", "url: invalid IPv6 literal"},
      {"https", "api example", "/", "url: forbidden character"},
      {"https", "api.example/x", "/", "url: forbidden character"},
      {"https", "api.example", "", "url: request target must begin with '/'"},
      {"https", "api.example", "*", "url: request target must begin with '/'"},
      {"https", "api.example", "a/b", "url: request target must begin with '/'"},
      {"https", "api.example", "https://api.example/", "url: request target must begin with '/'"},
      {"https", "api.example", "/a%g0", "url: invalid percent-encoding"},
      {"https", "api.example", "/a b", "url: forbidden character"},
      {"https", "api.example", "/a?b c", "url: forbidden character"},
      {"https", "api.example", "/" + std::string(8192, 'a'), "url: longer than 8192 bytes"},
  };
  for (const TargetErrorCase& c : kCases) {
    SCOPED_TRACE(c.scheme + " " + c.authority + " " + c.path_and_query.substr(0, 40));
    absl::StatusOr<NormalizedUrl> url =
        NormalizeRequestTarget(c.scheme, c.authority, c.path_and_query);
    ASSERT_FALSE(url.ok()) << url->ToString();
    EXPECT_EQ(url.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_EQ(url.status().message(), c.message);
  }
}

struct PathCase {
  std::string input;
  std::optional<std::string> expected;
};

TEST(NormalizePathTest, Table) {
  const PathCase kCases[] = {
      {"/admin", "/admin"},
      {"/public/../admin", "/admin"},
      {"/%61dmin", "/admin"},
      {"/public/%2e%2e/admin", "/admin"},
      {"/public/%2E./admin", "/admin"},
      {"/a/./b/../c", "/a/c"},
      {"/../../x", "/x"},
      {"", "/"},
      {"/", "/"},
      {"/admin?x=1", "/admin"},
      {"/admin#f", "/admin"},
      {"?x", "/"},
      {"/admin/", "/admin/"},
      {"/a%2fb", "/a%2Fb"},
      {"/a%2F..%2Fb", "/a%2F..%2Fb"},  // %2F is not a separator: no dot segment here
      {"//admin", "//admin"},
      {"/%7Euser", "/~user"},
      {"/a%zz", std::nullopt},
      {"/a%", std::nullopt},
      {"/a b", std::nullopt},
      {"/a\\b", std::nullopt},
      {"/caf\xc3\xa9", std::nullopt},
      {"/a?\x01", std::nullopt},
      {"admin", std::nullopt},
      {"../admin", std::nullopt},
      {"/" + std::string(8192, 'a'), std::nullopt},
  };
  for (const PathCase& c : kCases) {
    SCOPED_TRACE(c.input.substr(0, 40));
    EXPECT_EQ(NormalizePath(c.input), c.expected);
  }
}

TEST(PercentDecodeTest, Table) {
  const PathCase kCases[] = {
      {"", ""},
      {"abc", "abc"},
      {"%41%62%7e", "Ab~"},
      {"%2f%2F", "//"},
      {"a+b", "a+b"},  // '+' is not a space
      {"%20", " "},
      {"%00", std::string("\0", 1)},
      {"%ff", "\xff"},
      {"%0A-----END%20CERTIFICATE-----", "\n-----END CERTIFICATE-----"},
      {"%", std::nullopt},
      {"%4", std::nullopt},
      {"a%4", std::nullopt},
      {"%g1", std::nullopt},
      {"%1g", std::nullopt},
      {"%%", std::nullopt},
  };
  for (const PathCase& c : kCases) {
    SCOPED_TRACE(c.input);
    EXPECT_EQ(PercentDecode(c.input), c.expected);
  }
}

struct PrefixCase {
  const char* path;
  const char* prefix;
  bool match;
};

TEST(PathHasPrefixSegmentTest, Table) {
  const PrefixCase kCases[] = {
      {"/admin", "/admin", true},      {"/admin/", "/admin", true},
      {"/admin/x", "/admin", true},    {"/administrator", "/admin", false},
      {"/admin%2Fx", "/admin", false}, {"/adm", "/admin", false},
      {"/", "/admin", false},          {"/api/v1/x", "/api/", true},
      {"/api/", "/api/", true},        {"/api", "/api/", false},
      {"/apix", "/api/", false},       {"/anything", "", true},
      {"/anything", "/", true},        {"/", "/", true},
      {"/a/b/c", "/a/b", true},        {"/a/bc", "/a/b", false},
  };
  for (const PrefixCase& c : kCases) {
    SCOPED_TRACE(std::string(c.path) + " prefix " + c.prefix);
    EXPECT_EQ(PathHasPrefixSegment(c.path, c.prefix), c.match);
  }
}

struct HttpUrlCase {
  const char* url;
  bool ok;
  const char* scheme;
  const char* origin;
  const char* authority;
  bool has_userinfo;
  const char* path;
  const char* query;     // nullptr: no '?'
  const char* fragment;  // nullptr: no '#'
};

TEST(ParseHttpUrlTest, Table) {
  const HttpUrlCase kCases[] = {
      {"https://a.example", true, "https", "https://a.example", "a.example", false, "", nullptr,
       nullptr},
      {"HTTP://A.example:8080/x/../y?q=1#f", true, "HTTP", "HTTP://A.example:8080",
       "A.example:8080", false, "/x/../y", "q=1", "f"},
      {"https://u:p@a.example/", true, "https", "https://u:p@a.example", "u:p@a.example", true, "/",
       nullptr, nullptr},
      {"https://a.example?", true, "https", "https://a.example", "a.example", false, "", "",
       nullptr},
      {"https://a.example#x?y", true, "https", "https://a.example", "a.example", false, "", nullptr,
       "x?y"},
      {"https:///path", true, "https", "https://", "", false, "/path", nullptr, nullptr},
      {"https://[::1]:443/p", true, "https", "https://[::1]:443", "[::1]:443", false, "/p", nullptr,
       nullptr},
      {"ftp://a.example", false},
      {"https:/a.example", false},
      {"a.example", false},
      {"", false},
  };
  for (const HttpUrlCase& c : kCases) {
    SCOPED_TRACE(c.url);
    const std::optional<HttpUrlParts> parts = ParseHttpUrl(c.url);
    ASSERT_EQ(parts.has_value(), c.ok);
    if (!c.ok) continue;
    EXPECT_EQ(parts->scheme, c.scheme);
    EXPECT_EQ(parts->origin, c.origin);
    EXPECT_EQ(parts->authority, c.authority);
    EXPECT_EQ(parts->has_userinfo, c.has_userinfo);
    EXPECT_EQ(parts->path, c.path);
    EXPECT_EQ(parts->query.has_value(), c.query != nullptr);
    if (c.query != nullptr && parts->query.has_value()) EXPECT_EQ(*parts->query, c.query);
    EXPECT_EQ(parts->fragment.has_value(), c.fragment != nullptr);
    if (c.fragment != nullptr && parts->fragment.has_value()) {
      EXPECT_EQ(*parts->fragment, c.fragment);
    }
  }
}

struct HostPortCase {
  const char* authority;
  bool ok;
  const char* host;
  const char* port;  // nullptr: no port
};

TEST(SplitHostPortTest, Table) {
  const HostPortCase kCases[] = {
      {"a.example", true, "a.example", nullptr},
      {"a.example:80", true, "a.example", "80"},
      {"a.example:", true, "a.example", ""},
      {"a:b:1", true, "a", "b:1"},
      {":80", true, "", "80"},
      {"[::1]", true, "[::1]", nullptr},
      {"[::1]:9001", true, "[::1]", "9001"},
      {"[::1", false},
      {"[::1]9001", false},
      {"[::1]x:1", false},
  };
  for (const HostPortCase& c : kCases) {
    SCOPED_TRACE(c.authority);
    const std::optional<HostPort> hp = SplitHostPort(c.authority);
    ASSERT_EQ(hp.has_value(), c.ok);
    if (!c.ok) continue;
    EXPECT_EQ(hp->host, c.host);
    EXPECT_EQ(hp->port.has_value(), c.port != nullptr);
    if (c.port != nullptr && hp->port.has_value()) EXPECT_EQ(*hp->port, c.port);
  }
}

}  // namespace
}  // namespace popguard
