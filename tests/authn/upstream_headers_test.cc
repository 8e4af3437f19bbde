// Tests for service/upstream_headers.h: the identity headers an ALLOW sets on
// the forwarded request, and the configured ones it removes.
#include "service/authn/upstream_headers.h"

#include <string>
#include <vector>

#include "gtest/gtest.h"

namespace popguard {
namespace {

class UpstreamHeadersTest : public ::testing::Test {
 protected:
  static Decision Allowed() {
    Decision decision;
    decision.allow = true;
    decision.binding = ProvenBinding::kDpop;
    decision.issuer = "https://issuer.example";
    decision.principal = "alice";
    decision.jkt = "jkt-thumbprint";
    return decision;
  }
  static VerifiedToken Token() {
    VerifiedToken token;
    token.claim_values = {{"tenant", "t1"}, {"groups", "a b"}, {"empty", ""}};
    return token;
  }
};

TEST_F(UpstreamHeadersTest, ValuesForEachConfiguredHeader) {
  struct Case {
    std::string why;
    std::vector<UpstreamHeader> configured;
    HeaderList want;
  };
  const std::vector<Case> cases = {
      {"nothing configured", {}, {}},
      {"computed values",
       {{"x-b", "@binding"},
        {"x-i", "@issuer"},
        {"x-p", "@principal"},
        {"x-r", "@route"},
        {"x-j", "@jkt"}},
       {{"x-b", "dpop"},
        {"x-i", "https://issuer.example"},
        {"x-p", "alice"},
        {"x-r", "orders"},
        {"x-j", "jkt-thumbprint"}}},
      {"claims, in configured order",
       {{"x-g", "groups"}, {"x-t", "tenant"}},
       {{"x-g", "a b"}, {"x-t", "t1"}}},
      {"absent and empty claims are not set", {{"x-m", "missing"}, {"x-e", "empty"}}, {}},
  };
  const Decision decision = Allowed();
  const VerifiedToken token = Token();
  for (const Case& c : cases) {
    SCOPED_TRACE(c.why);
    EXPECT_EQ(UpstreamHeadersFor(c.configured, decision, "orders", token), c.want);
  }
  // @jkt without a proof (an mTLS allow) is not set.
  Decision mtls = Allowed();
  mtls.binding = ProvenBinding::kMtls;
  mtls.jkt.clear();
  EXPECT_EQ(UpstreamHeadersFor(std::vector<UpstreamHeader>{{"x-j", "@jkt"}, {"x-b", "@binding"}},
                               mtls, "orders", token),
            (HeaderList{{"x-b", "mtls"}}));
}

TEST_F(UpstreamHeadersTest, UnsetConfiguredHeadersAreRemoved) {
  const std::vector<UpstreamHeader> configured = {
      {"x-sub", "@principal"}, {"x-tenant", "tenant"}, {"x-jkt", "@jkt"}};
  struct Case {
    std::string why;
    HeaderList set;
    std::vector<std::string> want;
  };
  const std::vector<Case> cases = {
      {"none set: all removed", {}, {"x-sub", "x-tenant", "x-jkt"}},
      {"some set", {{"x-sub", "alice"}}, {"x-tenant", "x-jkt"}},
      {"all set", {{"x-sub", "alice"}, {"x-tenant", "t1"}, {"x-jkt", "j"}}, {}},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.why);
    EXPECT_EQ(UpstreamHeadersToRemove(configured, c.set), c.want);
  }
}

}  // namespace
}  // namespace popguard
