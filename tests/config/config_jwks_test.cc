// Tests for the fetched-keys part of service/config/config.h: jwks_uri, discovery
// and the keys that tune fetching load exactly as written, and every invalid
// value is rejected with an error naming the key.
#include <stdlib.h>

#include <filesystem>
#include <fstream>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "service/config/config.h"

namespace popguard {
namespace {

using ::testing::HasSubstr;

// An issuer whose keys come from a jwks_uri; cases replace its jwks_uri line
// or append keys (indented 4) after it.
constexpr char kRemoteIssuer[] = R"(issuers:
  - issuer: https://issuer.example
    audiences: [https://api.example]
    jwks_uri: https://issuer.example/keys
)";

std::string RemoteWith(const std::string& lines) { return absl::StrCat(kRemoteIssuer, lines); }

std::string RemoteReplacing(const std::string& jwks_uri_line) {
  return absl::StrReplaceAll(kRemoteIssuer,
                             {{"    jwks_uri: https://issuer.example/keys\n", jwks_uri_line}});
}

class ConfigJwksTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = (std::filesystem::temp_directory_path() / "config_jwks.XXXXXX").string();
    ASSERT_NE(mkdtemp(tmpl.data()), nullptr);
    dir_ = tmpl;
    std::ofstream(dir_ / "ca.pem") << "-----BEGIN CERTIFICATE-----\n";
    std::ofstream(dir_ / "jwks.json") << R"({"keys":[]})";
  }
  void TearDown() override {
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }

  absl::StatusOr<Config> Load(const std::string& yaml) {
    return LoadConfigYaml(yaml, dir_.string());
  }

  std::filesystem::path dir_;
};

TEST_F(ConfigJwksTest, JwksUriWithEveryKeyLoadsExactly) {
  absl::StatusOr<Config> config = Load(RemoteWith(R"(    ca_file: ca.pem
    fetch_timeout: 2s
    min_refresh: 1m
    max_refresh: 2h
    max_stale: 12h
    kid_refetch_interval: 10s
    required: false
)"));
  ASSERT_TRUE(config.ok()) << config.status();
  const IssuerConfig& ic = config->issuers[0];
  EXPECT_EQ(ic.jwks_uri, "https://issuer.example/keys");
  EXPECT_FALSE(ic.discovery);
  EXPECT_EQ(ic.jwks_file, "");
  EXPECT_EQ(ic.jwks_inline, "");
  EXPECT_EQ(ic.ca_file, (dir_ / "ca.pem").string());  // resolved against the config's directory
  EXPECT_FALSE(ic.allow_http);
  EXPECT_EQ(ic.fetch_timeout, absl::Seconds(2));
  EXPECT_EQ(ic.min_refresh, absl::Minutes(1));
  EXPECT_EQ(ic.max_refresh, absl::Hours(2));
  EXPECT_EQ(ic.max_stale, absl::Hours(12));
  EXPECT_EQ(ic.kid_refetch_interval, absl::Seconds(10));
  EXPECT_FALSE(ic.required);
}

TEST_F(ConfigJwksTest, DefaultsForFetchedKeys) {
  absl::StatusOr<Config> config = Load(RemoteReplacing("    discovery: true\n"));
  ASSERT_TRUE(config.ok()) << config.status();
  const IssuerConfig& ic = config->issuers[0];
  EXPECT_TRUE(ic.discovery);
  EXPECT_EQ(ic.jwks_uri, "");
  EXPECT_EQ(ic.ca_file, "");
  EXPECT_FALSE(ic.allow_http);
  EXPECT_EQ(ic.fetch_timeout, absl::Seconds(5));
  EXPECT_EQ(ic.min_refresh, absl::Minutes(5));
  EXPECT_EQ(ic.max_refresh, absl::Hours(24));
  EXPECT_EQ(ic.max_stale, absl::Hours(24));
  EXPECT_EQ(ic.kid_refetch_interval, absl::Seconds(30));
  EXPECT_TRUE(ic.required);
}

TEST_F(ConfigJwksTest, AcceptedForms) {
  struct Case {
    std::string name;
    std::string yaml;
  };
  const Case cases[] = {
      {"http with allow_http",
       RemoteReplacing("    jwks_uri: http://127.0.0.1:8080/keys\n    allow_http: true\n")},
      {"jwks_uri with a query", RemoteReplacing("    jwks_uri: https://a.example/keys?appid=1\n")},
      {"jwks_uri with a port", RemoteReplacing("    jwks_uri: https://a.example:8443/k\n")},
      {"discovery over http with allow_http",
       absl::StrReplaceAll(kRemoteIssuer,
                           {{"https://issuer.example\n", "http://127.0.0.1:8080/t\n"},
                            {"    jwks_uri: https://issuer.example/keys\n",
                             "    discovery: true\n    allow_http: true\n"}})},
      {"static keys with discovery: false",
       RemoteReplacing("    jwks_file: jwks.json\n    discovery: false\n")},
      {"max_refresh equal to min_refresh",
       RemoteWith("    min_refresh: 1h\n    max_refresh: 1h\n")},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    absl::StatusOr<Config> config = Load(c.yaml);
    EXPECT_TRUE(config.ok()) << config.status();
  }
}

TEST_F(ConfigJwksTest, RejectsInvalidValuesNamingTheKey) {
  struct Case {
    std::string name;
    std::string yaml;
    std::string error;  // expected substring of the InvalidArgument message
  };
  const Case cases[] = {
      // Exactly one key source.
      {"jwks_uri and jwks_file", RemoteWith("    jwks_file: jwks.json\n"),
       "issuers[0]: give only one of jwks_file and jwks_uri"},
      {"jwks_uri and discovery", RemoteWith("    discovery: true\n"),
       "issuers[0]: give only one of jwks_uri and discovery: true"},
      {"jwks and discovery", RemoteReplacing("    jwks: {keys: []}\n    discovery: true\n"),
       "issuers[0]: give only one of jwks and discovery: true"},
      {"all four",
       RemoteWith("    jwks_file: jwks.json\n    jwks: {keys: []}\n    discovery: true\n"),
       "issuers[0]: give only one of jwks_file and jwks and jwks_uri and discovery: true"},
      {"discovery false alone", RemoteReplacing("    discovery: false\n"),
       "issuers[0]: one of jwks_file or jwks is required (static keys), or jwks_uri or "
       "discovery: true (fetched keys)"},
      {"discovery not a bool", RemoteReplacing("    discovery: yes\n"),
       "issuers[0].discovery: must be true or false"},

      // jwks_uri.
      {"jwks_uri over http", RemoteReplacing("    jwks_uri: http://issuer.example/keys\n"),
       "issuers[0].jwks_uri: \"http://issuer.example/keys\" is plain http://; use https://"},
      {"jwks_uri http with allow_http false",
       RemoteReplacing("    jwks_uri: http://issuer.example/keys\n    allow_http: false\n"),
       "issuers[0].jwks_uri: \"http://issuer.example/keys\" is plain http://"},
      {"jwks_uri not a URL", RemoteReplacing("    jwks_uri: keys.json\n"),
       "issuers[0].jwks_uri: \"keys.json\" must be an https:// URL"},
      {"jwks_uri other scheme", RemoteReplacing("    jwks_uri: file:///etc/keys\n"),
       "issuers[0].jwks_uri: \"file:///etc/keys\" must be an https:// URL"},
      {"jwks_uri upper-case scheme", RemoteReplacing("    jwks_uri: HTTPS://a.example/k\n"),
       "issuers[0].jwks_uri: \"HTTPS://a.example/k\" must be an https:// URL"},
      {"jwks_uri empty", RemoteReplacing("    jwks_uri: \"\"\n"),
       "issuers[0].jwks_uri: \"\" must be an https:// URL"},
      {"jwks_uri without host", RemoteReplacing("    jwks_uri: https:///keys\n"),
       "issuers[0].jwks_uri: \"https:///keys\" has no host"},
      {"jwks_uri with userinfo", RemoteReplacing("    jwks_uri: https://u:p@a.example/k\n"),
       "issuers[0].jwks_uri: must not carry userinfo (user:password@)"},
      {"jwks_uri with fragment", RemoteReplacing("    jwks_uri: https://a.example/k#x\n"),
       "issuers[0].jwks_uri: must not have a fragment"},
      {"jwks_uri with space", RemoteReplacing("    jwks_uri: \"https://a.example/k x\"\n"),
       "issuers[0].jwks_uri: must not contain whitespace"},
      {"jwks_uri is a list", RemoteReplacing("    jwks_uri: [https://a.example/k]\n"),
       "issuers[0].jwks_uri: must be a string, got a list"},
      {"allow_http not a bool", RemoteWith("    allow_http: 1\n"),
       "issuers[0].allow_http: must be true or false"},

      // discovery.
      {"discovery with http issuer",
       absl::StrReplaceAll(kRemoteIssuer, {{"https://issuer.example\n", "http://issuer.example\n"},
                                           {"    jwks_uri: https://issuer.example/keys\n",
                                            "    discovery: true\n"}}),
       "issuers[0].issuer: \"http://issuer.example\" is plain http://; use https://"},
      {"discovery with issuer query",
       absl::StrReplaceAll(
           kRemoteIssuer,
           {{"https://issuer.example\n", "https://issuer.example/?t=1\n"},
            {"    jwks_uri: https://issuer.example/keys\n", "    discovery: true\n"}}),
       "issuers[0].issuer: must not have a query when discovery is true"},

      // Tuning keys.
      {"ca_file missing", RemoteWith("    ca_file: missing.pem\n"),
       "issuers[0].ca_file: file @DIR@/missing.pem does not exist"},
      {"ca_file empty file", RemoteWith("    ca_file: empty.pem\n"),
       "issuers[0].ca_file: @DIR@/empty.pem must hold at least 1 bytes (it has 0)"},
      {"fetch_timeout too short", RemoteWith("    fetch_timeout: 50ms\n"),
       "issuers[0].fetch_timeout: must be at least 100ms"},
      {"fetch_timeout too long", RemoteWith("    fetch_timeout: 2m\n"),
       "issuers[0].fetch_timeout: must be at most 1m"},
      {"fetch_timeout not a duration", RemoteWith("    fetch_timeout: soon\n"),
       "issuers[0].fetch_timeout: \"soon\" is not a duration"},
      {"min_refresh zero", RemoteWith("    min_refresh: 0s\n"),
       "issuers[0].min_refresh: must be at least 1s"},
      {"max_refresh below min_refresh", RemoteWith("    max_refresh: 1m\n"),
       "issuers[0].max_refresh: must be at least min_refresh (5m)"},
      {"max_stale below min_refresh", RemoteWith("    min_refresh: 1h\n    max_stale: 30m\n"),
       "issuers[0].max_stale: must be at least min_refresh (1h)"},
      {"max_stale negative", RemoteWith("    max_stale: -1h\n"),
       "issuers[0].max_stale: \"-1h\" is not a duration"},
      {"kid_refetch_interval too short", RemoteWith("    kid_refetch_interval: 10ms\n"),
       "issuers[0].kid_refetch_interval: must be at least 100ms"},
      {"required not a bool", RemoteWith("    required: \"false\"\n"),
       "issuers[0].required: must be true or false"},
      {"unknown key", RemoteWith("    jwks_url: https://a.example/k\n"),
       "issuers[0].jwks_url: unknown key"},

      // Tuning keys do nothing for static keys, so they are errors there.
      {"ca_file with jwks_file", RemoteReplacing("    jwks_file: jwks.json\n    ca_file: ca.pem\n"),
       "issuers[0].ca_file: only applies with jwks_uri or discovery: true"},
      {"max_stale with inline jwks", RemoteReplacing("    jwks: {keys: []}\n    max_stale: 1h\n"),
       "issuers[0].max_stale: only applies with jwks_uri or discovery: true"},
      {"required with jwks_file", RemoteReplacing("    jwks_file: jwks.json\n    required: true\n"),
       "issuers[0].required: only applies with jwks_uri or discovery: true"},
      {"allow_http with jwks_file",
       RemoteReplacing("    jwks_file: jwks.json\n    allow_http: true\n"),
       "issuers[0].allow_http: only applies with jwks_uri or discovery: true"},
  };
  std::ofstream(dir_ / "empty.pem").flush();
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    absl::StatusOr<Config> config = Load(c.yaml);
    ASSERT_FALSE(config.ok());
    EXPECT_EQ(config.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(std::string(config.status().message()),
                HasSubstr(absl::StrReplaceAll(c.error, {{"@DIR@", dir_.string()}})));
  }
}

}  // namespace
}  // namespace popguard
