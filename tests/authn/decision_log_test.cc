// Tests for service/decision_log.h: the fields of the deny / would_deny /
// allow log lines (issue 14: request id, trace id, method, route, path
// without query, principal, jkt), and how header values are made safe for a
// log line (length cap, percent-encoding of everything but visible ASCII).
#include "service/authn/decision_log.h"

#include <string>
#include <vector>

#include "gtest/gtest.h"

namespace popguard {
namespace {

class DecisionLogTest : public ::testing::Test {
 protected:
  static HttpRequestInfo Request(std::vector<std::pair<std::string, std::string>> headers) {
    HttpRequestInfo request;
    request.method = "GET";
    request.url = "https://api.example/orders/7?secret=1#frag";
    request.headers = std::move(headers);
    return request;
  }
};

TEST_F(DecisionLogTest, LogSafe) {
  struct Case {
    std::string why;
    std::string value;
    size_t max_bytes;
    std::string want;
  };
  const std::vector<Case> cases = {
      {"plain", "req-123", 64, "req-123"},
      {"newline cannot start a line", "a\nb\r{\"event\":\"allow\"}", 64,
       "a%0Ab%0D{\"event\":\"allow\"}"},
      {"space, tab, percent, DEL, non-ASCII", std::string("a b\t%\x7f\xc3\xa9"), 64,
       "a%20b%09%25%7F%C3%A9"},
      {"NUL", std::string("a\0b", 3), 64, "a%00b"},
      {"exactly at the cap", "abcdef", 6, "abcdef"},
      {"cut with a marker", "abcdefgh", 6, "abc..."},
      {"an escape is not split by the cut", "abc\ndefgh", 7, "abc..."},
      {"an escape that fits before the cut", "ab\ncdefgh", 8, "ab%0A..."},
      {"empty", "", 8, ""},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.why);
    const std::string got = LogSafe(c.value, c.max_bytes);
    EXPECT_EQ(got, c.want);
    EXPECT_LE(got.size(), c.max_bytes);
  }
}

TEST_F(DecisionLogTest, RequestLogContext) {
  const std::string trace = "0af7651916cd43dd8448eb211c80319c";
  struct Case {
    std::string why;
    HttpRequestInfo request;
    RequestLogContext want;
  };
  HttpRequestInfo ext_authz;
  ext_authz.method = "POST";
  ext_authz.scheme = "https";
  ext_authz.authority = "api.example";
  ext_authz.path = "/a/b?token=abc";
  const std::vector<Case> cases = {
      {"request id, trace id, method, path without query",
       Request(
           {{"x-request-id", "req-1"}, {"traceparent", "00-" + trace + "-b7ad6b7169203331-01"}}),
       {"req-1", trace, "GET", "/orders/7"}},
      {"no ids", Request({}), {"", "", "GET", "/orders/7"}},
      {"ext_authz path: query dropped", ext_authz, {"", "", "POST", "/a/b"}},
      {"repeated request id names no single request",
       Request({{"x-request-id", "a"}, {"x-request-id", "b"}}),
       {"", "", "GET", "/orders/7"}},
      {"injected newline is encoded",
       Request({{"x-request-id", "a\n{\"forged\":1}"}}),
       {"a%0A{\"forged\":1}", "", "GET", "/orders/7"}},
      {"long request id is capped",
       Request({{"x-request-id", std::string(500, 'r')}}),
       {std::string(kMaxLogIdBytes - 3, 'r') + "...", "", "GET", "/orders/7"}},
      {"malformed traceparent: no trace id",
       Request({{"traceparent", "00-xyz-01"}}),
       {"", "", "GET", "/orders/7"}},
      {"upper-case trace id is invalid",
       Request({{"traceparent", "00-0AF7651916CD43DD8448EB211C80319C-b7ad6b7169203331-01"}}),
       {"", "", "GET", "/orders/7"}},
      {"all-zero trace id is invalid",
       Request({{"traceparent", "00-" + std::string(32, '0') + "-b7ad6b7169203331-01"}}),
       {"", "", "GET", "/orders/7"}},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.why);
    const RequestLogContext got = RequestLogContextFor(c.request);
    EXPECT_EQ(got.request_id, c.want.request_id);
    EXPECT_EQ(got.trace_id, c.want.trace_id);
    EXPECT_EQ(got.method, c.want.method);
    EXPECT_EQ(got.path, c.want.path);
  }
  // A long path is capped too.
  HttpRequestInfo long_path = Request({});
  long_path.url = "https://api.example/" + std::string(1000, 'p');
  EXPECT_EQ(RequestLogContextFor(long_path).path.size(), kMaxLogPathBytes);
}

TEST_F(DecisionLogTest, Fields) {
  Decision denied;
  denied.reason = Reason::kDpopHtuMismatch;
  denied.http_status = 401;
  denied.message = "htu differs";
  denied.route = "orders";
  denied.issuer = "https://issuer.example";
  denied.client_id = "client-1";
  denied.principal = "alice";
  denied.jkt = "jkt-1";
  denied.token_id = "0123456789abcdef";
  const RequestLogContext request{"req-1", "0af7651916cd43dd8448eb211c80319c", "GET", "/orders/7"};
  const LogFields identity_and_request = {
      {"route", "orders"},       {"issuer", "https://issuer.example"},
      {"client_id", "client-1"}, {"principal", "alice"},
      {"jkt", "jkt-1"},          {"token_id", "0123456789abcdef"},
      {"request_id", "req-1"},   {"trace_id", "0af7651916cd43dd8448eb211c80319c"},
      {"method", "GET"},         {"path", "/orders/7"},
      {"detail", "htu differs"}};
  Decision allowed = denied;
  allowed.allow = true;
  allowed.binding = ProvenBinding::kDpop;
  struct Case {
    std::string why;
    DecisionLogKind kind;
    const Decision* decision;
    LogFields want;
  };
  LogFields deny = {{"reason", "dpop_htu_mismatch"}, {"status", "401"}};
  deny.insert(deny.end(), identity_and_request.begin(), identity_and_request.end());
  LogFields would_deny = {{"reason", "dpop_htu_mismatch"}};
  would_deny.insert(would_deny.end(), identity_and_request.begin(), identity_and_request.end());
  const std::vector<Case> cases = {
      {"deny", DecisionLogKind::kDeny, &denied, deny},
      {"would_deny (report-only): no status", DecisionLogKind::kWouldDeny, &denied, would_deny},
      {"allow: unchanged, no request fields",
       DecisionLogKind::kAllow,
       &allowed,
       {{"route", "orders"},
        {"issuer", "https://issuer.example"},
        {"client_id", "client-1"},
        {"binding", "dpop"},
        {"token_id", "0123456789abcdef"}}},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.why);
    EXPECT_EQ(DecisionLogFields(c.kind, *c.decision, request), c.want);
  }
  EXPECT_EQ(DecisionLogKindFor(denied, /*report_only_route=*/false), DecisionLogKind::kDeny);
  EXPECT_EQ(DecisionLogKindFor(denied, /*report_only_route=*/true), DecisionLogKind::kWouldDeny);
  EXPECT_EQ(DecisionLogKindFor(allowed, /*report_only_route=*/true), DecisionLogKind::kAllow);
}

}  // namespace
}  // namespace popguard
