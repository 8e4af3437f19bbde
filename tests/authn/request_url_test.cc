// Tests for service/request_url.h: the URL a client addressed (for the DPoP
// htu check, RFC 9449 4.3) and the host routes match, from the gateway's
// view, the configured external origin or trusted X-Forwarded-Proto/-Host.
#include "service/authn/request_url.h"

#include <string>
#include <vector>

#include "gtest/gtest.h"

namespace popguard {
namespace {

class RequestUrlTest : public ::testing::Test {};

TEST_F(RequestUrlTest, Table) {
  const NormalizedUrl external = *NormalizeAbsoluteUrl("https://api.example");
  struct Case {
    std::string why;
    HttpRequestInfo request;
    bool trust_forwarded = false;
    const NormalizedUrl* external_origin = nullptr;
    Reason want = Reason::kOk;
    std::string url;         // NormalizedUrl::ToString when kOk
    std::string route_host;  // when kOk
  };
  auto absolute = [](std::string url, std::vector<std::pair<std::string, std::string>> headers) {
    HttpRequestInfo request;
    request.method = "GET";
    request.url = std::move(url);
    request.headers = std::move(headers);
    return request;
  };
  auto pieces = [](std::string scheme, std::string authority, std::string path,
                   std::vector<std::pair<std::string, std::string>> headers) {
    HttpRequestInfo request;
    request.method = "GET";
    request.scheme = std::move(scheme);
    request.authority = std::move(authority);
    request.path = std::move(path);
    request.headers = std::move(headers);
    return request;
  };
  const std::vector<std::pair<std::string, std::string>> forwarded = {
      {"x-forwarded-proto", "https"}, {"x-forwarded-host", "Public.Example:8443"}};
  const std::vector<Case> cases = {
      {"absolute URL, normalised, query dropped", absolute("HTTP://Api.Example:80/a/./b?q=1", {}),
       false, nullptr, Reason::kOk, "http://api.example/a/b", "api.example"},
      {"ext_authz pieces", pieces("https", "api.example:443", "/x%41?y", {}), false, nullptr,
       Reason::kOk, "https://api.example/xA", "api.example"},
      {"forwarded headers ignored when untrusted", absolute("http://internal:8080/x", forwarded),
       false, nullptr, Reason::kOk, "http://internal:8080/x", "internal"},
      {"forwarded headers when trusted: scheme, host and route host",
       absolute("http://internal:8080/x", forwarded), true, nullptr, Reason::kOk,
       "https://public.example:8443/x", "public.example"},
      {"forwarded proto alone keeps host and port",
       absolute("http://internal:8080/x", {{"x-forwarded-proto", "https"}}), true, nullptr,
       Reason::kOk, "https://internal:8080/x", "internal"},
      {"external origin: the origin for htu, the request's host for routes",
       absolute("http://internal:8080/x", forwarded), true, &external, Reason::kOk,
       "https://api.example/x", "internal"},
      {"repeated forwarded header",
       absolute("http://internal/x", {{"x-forwarded-host", "a"}, {"x-forwarded-host", "b"}}), true,
       nullptr, Reason::kForwardedHeaderInvalid, "", ""},
      {"forwarded list value", absolute("http://internal/x", {{"x-forwarded-proto", "https,http"}}),
       true, nullptr, Reason::kForwardedHeaderInvalid, "", ""},
      {"forwarded scheme popguard cannot use",
       absolute("http://internal/x", {{"x-forwarded-proto", "gopher"}}), true, nullptr,
       Reason::kRequestInvalid, "", ""},
      {"unparsable URL", absolute("not a url", {}), false, nullptr, Reason::kRequestInvalid, "",
       ""},
      {"no authority in the pieces", pieces("https", "", "/x", {}), false, nullptr,
       Reason::kRequestInvalid, "", ""},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.why);
    NormalizedUrl url;
    std::string route_host;
    std::string detail;
    EXPECT_EQ(ReasonCode(RequestUrl(c.request, c.trust_forwarded, c.external_origin, &url,
                                    &route_host, &detail)),
              ReasonCode(c.want))
        << detail;
    if (c.want != Reason::kOk) continue;
    EXPECT_EQ(url.ToString(), c.url);
    EXPECT_EQ(route_host, c.route_host);
  }
}

}  // namespace
}  // namespace popguard
