// Tests of RFC 9728 protected-resource metadata (service/resource_metadata.h):
// the document and its path for a table of configs, the resource_metadata
// parameter in the Authenticator's WWW-Authenticate challenges, the Check
// answer (resource_metadata.answer_checks) and the config keys.
#include "service/config/resource_metadata.h"

#include <memory>
#include <string>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "absl/strings/str_cat.h"
#include "service/authn/authenticator.h"
#include "service/authn/rollout_stats.h"
#include "service/common/clock.h"
#include "service/common/json.h"
#include "service/jose/native_verifier.h"
#include "service/server/adapters.h"
#include "storage/memory_replay_store.h"
#include "tests/testing/unit_fixtures.h"

namespace popguard {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

class ResourceMetadataTest : public ::testing::Test {
 protected:
  static RouteConfig Route(BindingRequirement b, std::vector<std::string> scopes) {
    RouteConfig r;
    r.binding = b;
    r.scopes = std::move(scopes);
    return r;
  }
};

TEST_F(ResourceMetadataTest, DocumentAndPathFollowTheConfig) {
  struct Case {
    std::string name;
    std::string resource;
    BindingRequirement default_binding;
    std::vector<RouteConfig> routes;
    std::vector<std::string> dpop_algs;
    std::string path;
    std::string url;
    std::string document;
  };
  const std::string iss = std::string("[\"") + unit::kIssuer + "\"]";
  const std::vector<Case> cases = {
      {"origin only, default bound, no routes",
       "https://api.example",
       BindingRequirement::kBound,
       {},
       {"ES256"},
       "/.well-known/oauth-protected-resource",
       "https://api.example/.well-known/oauth-protected-resource",
       "{\"resource\":\"https://api.example\",\"authorization_servers\":" + iss +
           ",\"bearer_methods_supported\":[\"header\"],"
           "\"dpop_signing_alg_values_supported\":[\"ES256\"],"
           "\"dpop_bound_access_tokens_required\":false,"
           "\"tls_client_certificate_bound_access_tokens\":true}"},
      {"path suffix, everything dpop, scopes merged and sorted",
       "https://api.example:8443/v1/",
       BindingRequirement::kDpop,
       {Route(BindingRequirement::kDpop, {"write", "read"}),
        Route(BindingRequirement::kDpop, {"read", "admin"})},
       {"ES256", "EdDSA"},
       "/.well-known/oauth-protected-resource/v1",
       "https://api.example:8443/.well-known/oauth-protected-resource/v1",
       "{\"resource\":\"https://api.example:8443/v1/\",\"authorization_servers\":" + iss +
           ",\"scopes_supported\":[\"admin\",\"read\",\"write\"],"
           "\"bearer_methods_supported\":[\"header\"],"
           "\"dpop_signing_alg_values_supported\":[\"ES256\",\"EdDSA\"],"
           "\"dpop_bound_access_tokens_required\":true,"
           "\"tls_client_certificate_bound_access_tokens\":false}"},
      {"one mtls route among dpop ones",
       "https://api.example/a/b",
       BindingRequirement::kDpop,
       {Route(BindingRequirement::kMtls, {})},
       {"PS256"},
       "/.well-known/oauth-protected-resource/a/b",
       "https://api.example/.well-known/oauth-protected-resource/a/b",
       "{\"resource\":\"https://api.example/a/b\",\"authorization_servers\":" + iss +
           ",\"bearer_methods_supported\":[\"header\"],"
           "\"dpop_signing_alg_values_supported\":[\"PS256\"],"
           "\"dpop_bound_access_tokens_required\":false,"
           "\"tls_client_certificate_bound_access_tokens\":true}"},
      {"off", "", BindingRequirement::kBound, {}, {"ES256"}, "", "", ""},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    Config config = unit::BaseConfig();
    config.resource_metadata.resource = c.resource;
    config.default_binding = c.default_binding;
    config.routes = c.routes;
    config.dpop.algorithms = c.dpop_algs;
    EXPECT_EQ(ResourceMetadataPath(config), c.path);
    EXPECT_EQ(ResourceMetadataUrl(config), c.url);
    if (c.resource.empty()) continue;
    const std::string doc = ResourceMetadataDocument(config);
    EXPECT_EQ(doc, c.document);
    EXPECT_TRUE(ParseJson(doc).ok()) << doc;
  }
}

TEST_F(ResourceMetadataTest, ChallengesCarryTheMetadataUrlWhenConfigured) {
  struct Case {
    std::string name;
    std::string resource;
    bool challenge;
    std::string expected;  // "" : no resource_metadata parameter
  };
  const std::vector<Case> cases = {
      {"configured", "https://api.example/v1", true,
       "resource_metadata=\"https://api.example/.well-known/oauth-protected-resource/v1\""},
      {"challenge switched off", "https://api.example/v1", false, ""},
      {"no metadata", "", true, ""},
  };
  FakeClock clock(unit::kNow);
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    Config config = unit::BaseConfig();
    config.resource_metadata.resource = c.resource;
    config.resource_metadata.challenge = c.challenge;
    MemoryReplayStore replay(100, 1);
    std::vector<std::string> warnings;
    auto auth = Authenticator::Create(config, NativeVerifier::Create(), &clock, &replay, &warnings);
    ASSERT_TRUE(auth.ok()) << auth.status();
    HttpRequestInfo req;
    req.method = "GET";
    req.url = "https://api.example/v1/things";
    Decision d = (*auth)->DecideSync(req);
    ASSERT_EQ(ReasonCode(d.reason), "token_missing");
    int challenges = 0;
    for (const auto& [k, v] : d.response_headers) {
      if (k != "www-authenticate") continue;
      ++challenges;
      if (c.expected.empty()) {
        EXPECT_THAT(v, Not(HasSubstr("resource_metadata")));
      } else {
        EXPECT_THAT(v, HasSubstr(c.expected));
      }
    }
    EXPECT_GT(challenges, 0);
  }
}

// The metadata answer on Verify and Check (resource_metadata.answer_checks):
// only GET/HEAD of a path that is the metadata path in every reading, only
// for the gRPC adapters, and always a denial on the wire.
TEST_F(ResourceMetadataTest, MetadataAnswerOnlyForTheExactPathAndNeverAnAllow) {
  Config config = unit::BaseConfig();
  config.resource_metadata.resource = "https://api.example/v1";
  config.resource_metadata.answer_checks = true;
  struct Case {
    std::string name;
    std::string method, path;
    bool grpc_adapter;  // false: as the forward-auth listener asks
    bool answer_checks;
    std::string reason;  // the exact reason code
  };
  const std::string well_known = "/.well-known/oauth-protected-resource/v1";
  const std::vector<Case> cases = {
      {"GET", "GET", well_known, true, true, "resource_metadata"},
      {"HEAD with a query", "HEAD", well_known + "?x=1", true, true, "resource_metadata"},
      {"POST", "POST", well_known, true, true, "token_missing"},
      {"another resource's path", "GET", "/.well-known/oauth-protected-resource", true, true,
       "token_missing"},
      {"trailing slash", "GET", well_known + "/", true, true, "token_missing"},
      {"a dot segment some reader removes", "GET", "/.well-known/./oauth-protected-resource/v1",
       true, true, "token_missing"},
      {"an encoded separator some reader decodes", "GET",
       "/.well-known%2Foauth-protected-resource/v1", true, true, "token_missing"},
      {"a ;param some reader drops", "GET", well_known + ";x", true, true, "token_missing"},
      {"the metadata path with more after it", "GET", well_known + "/../../v1/things", true, true,
       "token_missing"},
      {"an API path", "GET", "/v1/things", true, true, "token_missing"},
      {"asked as the forward-auth listener asks", "GET", well_known, false, true, "token_missing"},
      {"answer_checks off", "GET", well_known, true, false, "token_missing"},
  };
  FakeClock clock(unit::kNow);
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    config.resource_metadata.answer_checks = c.answer_checks;
    MemoryReplayStore replay(100, 1);
    RolloutStats rollout(RolloutLimits{});
    auto auth = Authenticator::Create(config, NativeVerifier::Create(), &clock, &replay, nullptr,
                                      nullptr, nullptr, nullptr, &rollout);
    ASSERT_TRUE(auth.ok()) << auth.status();
    envoy::service::auth::v3::CheckRequest check;
    auto* http = check.mutable_attributes()->mutable_request()->mutable_http();
    http->set_method(c.method);
    http->set_scheme("https");
    http->set_host("api.example");
    http->set_path(c.path);
    HttpRequestInfo info = FromCheckRequest(check);
    info.metadata_answer = c.grpc_adapter;
    const Decision d = (*auth)->DecideSync(info);
    EXPECT_EQ(ReasonCode(d.reason), c.reason) << d.message;
    EXPECT_FALSE(d.allow);
    // A metadata answer is not traffic: rollout readiness never counts it;
    // every real request is counted once, on its route.
    uint64_t counted = 0;
    for (const RolloutStats::RouteCounts& r : rollout.Snapshot()) counted += r.Total();
    EXPECT_EQ(counted, c.reason == "resource_metadata" ? 0 : 1);
    envoy::service::auth::v3::CheckResponse resp;
    ToCheckResponse(d, &resp);
    // Security: never an OK Check (Envoy would forward the request).
    EXPECT_NE(resp.status().code(), 0);
    popguard::v1::VerifyResponse verify;
    ToVerifyResponse(d, "id", &verify);
    EXPECT_EQ(verify.decision(), popguard::v1::DENY);
    if (c.reason != "resource_metadata") {
      EXPECT_EQ(resp.denied_response().body(), "");
      EXPECT_EQ(verify.response_body(), "");
      continue;
    }
    EXPECT_EQ(resp.status().code(), 7);
    EXPECT_EQ(resp.denied_response().status().code(), 200);
    EXPECT_EQ(resp.denied_response().body(), ResourceMetadataDocument(config));
    bool json = false;
    for (const auto& h : resp.denied_response().headers()) {
      json = json || (h.header().key() == "content-type" &&
                      h.header().value() == "application/json" && !h.append().value());
    }
    EXPECT_TRUE(json);
    EXPECT_EQ(verify.reason(), popguard::v1::REASON_RESOURCE_METADATA);
    EXPECT_EQ(verify.http_status(), 200);
    EXPECT_EQ(verify.response_body(), ResourceMetadataDocument(config));
  }
}

// Several resources (resource_metadata.resources): each its own path and
// document, and the challenge of each route names its resource's URL.
TEST_F(ResourceMetadataTest, SeveralResourcesEachWithItsRoutes) {
  absl::StatusOr<Config> loaded = LoadConfigYaml(
      absl::StrCat("issuers:\n"
                   "  - {issuer: https://a.example, jwks: '{\"keys\": []}', audiences: [x]}\n"
                   "  - {issuer: https://b.example, jwks: '{\"keys\": []}', audiences: [x]}\n"
                   "routes:\n"
                   "  - {name: v1, match: {path_prefix: /v1}, binding: dpop, scopes: [read],"
                   " issuers: [https://b.example]}\n"
                   "  - {name: v1-admin, match: {path_prefix: /v1/admin}, binding: dpop,"
                   " scopes: [admin]}\n"
                   "  - {name: other, match: {path_prefix: /other}, binding: mtls}\n"
                   "resource_metadata:\n"
                   "  resources:\n"
                   "    - {resource: https://api.example/v1, routes: [v1]}\n"
                   "    - resource: https://admin.example/\n"
                   "      routes: [v1-admin]\n"
                   "      authorization_servers: [https://as.example]\n"
                   "      scopes_supported: [admin, audit]\n"
                   "    - {resource: https://api.example}\n"),
      "/tmp");
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  const ResourceMetadataSet set(*loaded);
  ASSERT_EQ(set.docs().size(), 3u);
  struct Case {
    std::string name;
    std::string host, path;
    std::string resource;  // the document's "resource"; "" for none
    std::string document_part;
  };
  const std::vector<Case> cases = {
      {"v1: its route's issuer, scopes and binding", "api.example",
       "/.well-known/oauth-protected-resource/v1", "https://api.example/v1",
       "\"authorization_servers\":[\"https://b.example\"],\"scopes_supported\":[\"read\"],"
       "\"bearer_methods_supported\":[\"header\"],\"dpop_signing_alg_values_supported\":"},
      {"admin: configured servers and scopes", "admin.example:443",
       "/.well-known/oauth-protected-resource", "https://admin.example/",
       "\"authorization_servers\":[\"https://as.example\"],"
       "\"scopes_supported\":[\"admin\",\"audit\"]"},
      {"every other route: both issuers, mtls route and default", "API.example",
       "/.well-known/oauth-protected-resource", "https://api.example",
       "\"authorization_servers\":[\"https://a.example\",\"https://b.example\"],"
       "\"bearer_methods_supported\""},
      {"a shared path on an unknown host is nobody's", "evil.example",
       "/.well-known/oauth-protected-resource", "", ""},
      {"v1's path on any host (the only one there)", "internal:8080",
       "/.well-known/oauth-protected-resource/v1", "https://api.example/v1", ""},
      {"no such path", "api.example", "/.well-known/oauth-protected-resource/v2", "", ""},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    const ResourceMetadataDoc* doc = set.Find(c.host, c.path);
    if (c.resource.empty()) {
      EXPECT_EQ(doc, nullptr);
      continue;
    }
    ASSERT_NE(doc, nullptr);
    EXPECT_THAT(doc->document, HasSubstr("{\"resource\":\"" + c.resource + "\""));
    EXPECT_THAT(doc->document, HasSubstr(c.document_part));
    EXPECT_TRUE(ParseJson(doc->document).ok()) << doc->document;
  }
  EXPECT_EQ(set.UrlForRoute("v1"), "https://api.example/.well-known/oauth-protected-resource/v1");
  EXPECT_EQ(set.UrlForRoute("v1-admin"),
            "https://admin.example/.well-known/oauth-protected-resource");
  EXPECT_EQ(set.UrlForRoute("other"), "https://api.example/.well-known/oauth-protected-resource");
  EXPECT_EQ(set.UrlForRoute("default"), "https://api.example/.well-known/oauth-protected-resource");
}

TEST_F(ResourceMetadataTest, ConfigKeys) {
  const std::string issuer =
      "issuers:\n  - issuer: https://issuer.example\n    jwks: '{\"keys\": []}'\n"
      "    audiences: [https://api.example]\n";
  struct Case {
    std::string name;
    std::string yaml;
    std::string error;  // "" : loads
  };
  const std::vector<Case> cases = {
      {"all keys",
       "resource_metadata: {resource: https://api.example/v1, challenge: false, "
       "answer_checks: true}\n",
       ""},
      {"resource required", "resource_metadata: {challenge: true}\n",
       "resource_metadata.resource: required"},
      {"http refused", "resource_metadata: {resource: http://api.example}\n",
       "resource_metadata.resource:"},
      {"query refused", "resource_metadata: {resource: \"https://api.example/?a=1\"}\n",
       "resource_metadata.resource: must not have a query"},
      {"fragment refused", "resource_metadata: {resource: \"https://api.example/#a\"}\n",
       "resource_metadata.resource: must not have a fragment"},
      {"unknown key", "resource_metadata: {resource: https://api.example, scopes: [a]}\n",
       "resource_metadata.scopes: unknown key"},
      {"resource and resources",
       "resource_metadata: {resource: https://api.example, "
       "resources: [{resource: https://b.example}]}\n",
       "resource_metadata.resources: give either resource"},
      {"resources: unknown route",
       "resource_metadata: {resources: [{resource: "
       "https://b.example, routes: [nope]}]}\n",
       "resource_metadata.resources[0].routes[0]: names no route (nor \"default\")"},
      {"resources: a route listed twice",
       "resource_metadata: {resources: ["
       "{resource: https://a.example, routes: [default]}, "
       "{resource: https://b.example, routes: [default]}]}\n",
       "resource_metadata.resources[1].routes: route \"default\" is listed by another"},
      {"resources: two for every other route",
       "resource_metadata: {resources: ["
       "{resource: https://a.example}, {resource: https://b.example}]}\n",
       "resource_metadata.resources[1].routes: only one resource may leave routes empty"},
      {"resources: same metadata URL",
       "resource_metadata: {resources: ["
       "{resource: https://a.example/v1, routes: [default]}, {resource: https://a.example/v1/}]}\n",
       "resource_metadata.resources[1].resource: another resource has the same host and "
       "metadata path"},
      // Find tells documents apart by host without port: a second port of
      // one host would serve one document in the other's place.
      {"resources: same host on another port",
       "resource_metadata: {resources: ["
       "{resource: https://a.example/v1, routes: [default]}, "
       "{resource: \"https://A.example:8443/v1\"}]}\n",
       "resource_metadata.resources[1].resource: another resource has the same host and "
       "metadata path"},
      {"resources: query on an authorization server",
       "resource_metadata: {resources: ["
       "{resource: https://a.example, authorization_servers: [https://as.example, "
       "\"https://as.example/?t=1\"]}]}\n",
       "resource_metadata.resources[0].authorization_servers[1]: must not have a query"},
      {"resources: not a scope token",
       "resource_metadata: {resources: ["
       "{resource: https://a.example, scopes_supported: [read, \"a b\"]}]}\n",
       "resource_metadata.resources[0].scopes_supported[1]: is not a scope token"},
      {"resources: resource missing", "resource_metadata: {resources: [{routes: [default]}]}\n",
       "resource_metadata.resources[0].resource: required"},
      {"resources: http authorization server",
       "resource_metadata: {resources: ["
       "{resource: https://a.example, authorization_servers: [http://as.example]}]}\n",
       "resource_metadata.resources[0].authorization_servers[0]:"},
      {"resources: empty", "resource_metadata: {resources: []}\n",
       "resource_metadata.resources: must be a non-empty list"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    absl::StatusOr<Config> config = LoadConfigYaml(issuer + c.yaml, "/tmp");
    if (c.error.empty()) {
      ASSERT_TRUE(config.ok()) << config.status();
      EXPECT_EQ(config->resource_metadata.resource, "https://api.example/v1");
      EXPECT_FALSE(config->resource_metadata.challenge);
      EXPECT_TRUE(config->resource_metadata.answer_checks);
    } else {
      ASSERT_FALSE(config.ok());
      EXPECT_THAT(config.status().message(), HasSubstr(c.error));
    }
  }
  absl::StatusOr<Config> defaults = LoadConfigYaml(issuer, "/tmp");
  ASSERT_TRUE(defaults.ok()) << defaults.status();
  EXPECT_EQ(defaults->resource_metadata.resource, "");
  EXPECT_TRUE(defaults->resource_metadata.challenge);
  EXPECT_FALSE(defaults->resource_metadata.answer_checks);
}

}  // namespace
}  // namespace popguard
