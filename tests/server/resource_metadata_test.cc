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

#include "service/server/adapters.h"
#include "service/authn/authenticator.h"
#include "service/common/clock.h"
#include "service/jose/native_verifier.h"
#include "service/common/json.h"
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
      {"origin only, default bound, no routes", "https://api.example",
       BindingRequirement::kBound, {}, {"ES256"}, "/.well-known/oauth-protected-resource",
       "https://api.example/.well-known/oauth-protected-resource",
       "{\"resource\":\"https://api.example\",\"authorization_servers\":" + iss +
           ",\"bearer_methods_supported\":[\"header\"],"
           "\"dpop_signing_alg_values_supported\":[\"ES256\"],"
           "\"dpop_bound_access_tokens_required\":false,"
           "\"tls_client_certificate_bound_access_tokens\":true}"},
      {"path suffix, everything dpop, scopes merged and sorted", "https://api.example:8443/v1/",
       BindingRequirement::kDpop,
       {Route(BindingRequirement::kDpop, {"write", "read"}),
        Route(BindingRequirement::kDpop, {"read", "admin"})},
       {"ES256", "EdDSA"}, "/.well-known/oauth-protected-resource/v1",
       "https://api.example:8443/.well-known/oauth-protected-resource/v1",
       "{\"resource\":\"https://api.example:8443/v1/\",\"authorization_servers\":" + iss +
           ",\"scopes_supported\":[\"admin\",\"read\",\"write\"],"
           "\"bearer_methods_supported\":[\"header\"],"
           "\"dpop_signing_alg_values_supported\":[\"ES256\",\"EdDSA\"],"
           "\"dpop_bound_access_tokens_required\":true,"
           "\"tls_client_certificate_bound_access_tokens\":false}"},
      {"one mtls route among dpop ones", "https://api.example/a/b", BindingRequirement::kDpop,
       {Route(BindingRequirement::kMtls, {})}, {"PS256"},
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
    auto auth =
        Authenticator::Create(config, NativeVerifier::Create(), &clock, &replay, &warnings);
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

TEST_F(ResourceMetadataTest, CheckForTheMetadataPathIsAnsweredWithTheDocument) {
  Config config = unit::BaseConfig();
  config.resource_metadata.resource = "https://api.example/v1";
  config.resource_metadata.answer_checks = true;
  struct Case {
    std::string name;
    std::string method, path;
    bool answered;
  };
  const std::vector<Case> cases = {
      {"GET", "GET", "/.well-known/oauth-protected-resource/v1", true},
      {"HEAD with a query", "HEAD", "/.well-known/oauth-protected-resource/v1?x=1", true},
      {"POST", "POST", "/.well-known/oauth-protected-resource/v1", false},
      {"another path", "GET", "/.well-known/oauth-protected-resource", false},
      {"an API path", "GET", "/v1/things", false},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    envoy::service::auth::v3::CheckRequest req;
    auto* http = req.mutable_attributes()->mutable_request()->mutable_http();
    http->set_method(c.method);
    http->set_path(c.path);
    envoy::service::auth::v3::CheckResponse resp;
    ASSERT_EQ(ToMetadataCheckResponse(config, req, &resp), c.answered);
    if (!c.answered) {
      EXPECT_FALSE(resp.has_denied_response());
      continue;
    }
    EXPECT_NE(resp.status().code(), 0);  // Envoy answers the client itself
    EXPECT_EQ(resp.denied_response().status().code(), 200);
    EXPECT_EQ(resp.denied_response().body(), ResourceMetadataDocument(config));
  }
  config.resource_metadata.answer_checks = false;
  envoy::service::auth::v3::CheckRequest req;
  req.mutable_attributes()->mutable_request()->mutable_http()->set_method("GET");
  req.mutable_attributes()->mutable_request()->mutable_http()->set_path(
      "/.well-known/oauth-protected-resource/v1");
  envoy::service::auth::v3::CheckResponse resp;
  EXPECT_FALSE(ToMetadataCheckResponse(config, req, &resp));
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
