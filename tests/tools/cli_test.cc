// popguard-cli, run as the real binary (POPGUARD_BINARY_DIR/popguard-cli) in
// a subprocess: flag parsing and help, typed --claim values, keygen file
// modes and overwrites, and `check` against the real server on a loopback
// port (Verify and ext_authz Check, TLS, route keys).
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "service/common/json.h"
#include "service/jose/base64url.h"
#include "tests/testing/popguard_process.h"
#include "tests/testing/test_env.h"
#include "tests/testing/test_vectors.h"

namespace popguard::e2e {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

using ::popguard::testdata::ReadFileOrEmpty;
using CliResult = ProgramResult;

// RunCli runs popguard-cli with `args` (outputs in files in `dir`).
CliResult RunCli(const TempDir& dir, const std::vector<std::string>& args) {
  return RunProgram(std::string(POPGUARD_BINARY_DIR) + "/popguard-cli", args, dir.path());
}

std::string IssuerKey() {
  return std::string(POPGUARD_SOURCE_DIR) + "/examples/quickstart/demo-issuer-key.DEMO-ONLY.jwk";
}

// TokenArgs is a valid `token` invocation plus `extra`.
std::vector<std::string> TokenArgs(std::vector<std::string> extra) {
  std::vector<std::string> args = {"token",
                                   "--key",
                                   IssuerKey(),
                                   "--iss",
                                   "https://issuer.example",
                                   "--aud",
                                   "https://api.example"};
  args.insert(args.end(), extra.begin(), extra.end());
  return args;
}

// Payload decodes the claims of a compact JWS printed by the CLI.
JsonValue Payload(const std::string& jws) {
  std::vector<std::string> parts = absl::StrSplit(absl::StripAsciiWhitespace(jws), '.');
  if (parts.size() != 3) return JsonValue();
  auto raw = Base64UrlDecode(parts[1]);
  if (!raw) return JsonValue();
  auto json = ParseJson(*raw);
  return json.ok() ? *json : JsonValue();
}

mode_t ModeOf(const std::string& path) {
  struct stat st;
  return stat(path.c_str(), &st) == 0 ? (st.st_mode & 07777) : 0;
}

class CliTest : public ::testing::Test {
 protected:
  CliResult Run(const std::vector<std::string>& args) { return RunCli(dir_, args); }
  TempDir dir_;
};

TEST_F(CliTest, HelpPerSubcommandGoesToStdoutAndExitsZero) {
  struct Case {
    std::vector<std::string> args;
    std::string want;  // a line of the usage
  };
  const std::vector<Case> cases = {
      {{"--help"}, "  token       mint a JWT access token (RFC 9068)"},
      {{"-h"}, "`popguard-cli COMMAND --help` lists a command's flags."},
      {{"token", "--help"},
       "  --claim NAME=JSON         an extra claim, value as JSON (repeatable)"},
      {{"token", "-h"}, "usage: popguard-cli token --key FILE --iss ISS --aud AUD [flags]"},
      // --help wins over other mistakes on the same line.
      {{"token", "--bogus", "--help"},
       "usage: popguard-cli token --key FILE --iss ISS --aud AUD [flags]"},
      {{"keygen", "--help"},
       "  --force                   replace existing --out / --public-out files"},
      {{"jwks", "--help"}, "usage: popguard-cli jwks --key FILE [flags]"},
      {{"proof", "--help"}, "usage: popguard-cli proof --key FILE --url URL [flags]"},
      {{"check", "--help"},
       "  --api verify|check        popguard Verify (default) or Envoy ext_authz Check"},
      {{"thumbprint", "--help"}, "  --jwk FILE                a JWK"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(absl::StrJoin(c.args, " "));
    CliResult r = Run(c.args);
    EXPECT_EQ(r.exit_code, 0);
    EXPECT_THAT(r.out, HasSubstr(c.want + "\n"));
    EXPECT_EQ(r.err, "");
  }
}

TEST_F(CliTest, BadInvocationsAreOneLineErrorsNamingTheFlag) {
  struct Case {
    std::vector<std::string> args;
    std::string err;  // the whole stderr
  };
  const std::vector<Case> cases = {
      {{}, ""},  // overview on stderr, checked below
      {{"mint"}, "popguard-cli: unknown command mint (see popguard-cli --help)\n"},
      {TokenArgs({"--bogus", "1"}),
       "popguard-cli: token: unknown flag --bogus (see popguard-cli token --help)\n"},
      {TokenArgs({"--ttl", "abc"}),
       "popguard-cli: token: --ttl: expected an integer, got \"abc\"\n"},
      {TokenArgs({"--ttl", "9223372036854775807"}), "popguard-cli: --ttl: too large\n"},
      {TokenArgs({"--iat=12x"}), "popguard-cli: token: --iat: expected an integer, got \"12x\"\n"},
      {TokenArgs({"--iss", "https://other.example"}),
       "popguard-cli: token: --iss given more than once\n"},
      {{"token", "--key", IssuerKey(), "--aud", "https://api.example"},
       "popguard-cli: token: --iss is required\n"},
      {TokenArgs({"--sub"}), "popguard-cli: token: --sub needs a value\n"},
      {TokenArgs({"stray"}), "popguard-cli: token: unexpected argument #7 (flags start with --)\n"},
      {TokenArgs({"--ttl", "60", "--exp", "1"}),
       "popguard-cli: --exp and --ttl exclude each other\n"},
      {{"keygen", "--force=yes"}, "popguard-cli: keygen: --force takes no value\n"},
      {{"jwks"}, "popguard-cli: jwks: --key is required\n"},
      {{"proof", "--key", IssuerKey()}, "popguard-cli: proof: --url is required\n"},
      {{"check", "--url", "https://api.example/", "--proof", "p"},
       "popguard-cli: --proof needs --token\n"},
      {{"check", "--url", "https://api.example/", "--api", "rest"},
       "popguard-cli: --api must be verify or check\n"},
      {{"check", "--url", "https://api.example/", "--cert", "client.pem"},
       "popguard-cli: --cert and --key go together (the TLS client certificate for the "
       "connection to popguard; the request's client certificate is --client-cert)\n"},
      {{"check", "--url", "https://api.example/", "--route", "partner"},
       "popguard-cli: --route needs --config (the server's popguard.yaml) to check that the "
       "route exists\n"},
      {{"thumbprint"}, "popguard-cli: thumbprint needs exactly one of --jwk, --cert\n"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(absl::StrJoin(c.args, " "));
    CliResult r = Run(c.args);
    EXPECT_EQ(r.exit_code, 2);
    EXPECT_EQ(r.out, "");
    if (c.args.empty()) {
      EXPECT_THAT(r.err, HasSubstr("usage: popguard-cli COMMAND"));
    } else {
      EXPECT_EQ(r.err, c.err);
    }
  }
}

TEST_F(CliTest, ClaimValuesAreTypedJson) {
  CliResult r = Run(TokenArgs({"--sub", "alice", "--claim", "acr=\"gold card\"", "--claim", "n=3",
                               "--claim", "x={\"a\":[1,true,null]}", "--claim", "ok=false"}));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  JsonValue claims = Payload(r.out);
  ASSERT_TRUE(claims.is_object()) << r.out;
  ASSERT_NE(claims.FindString("acr"), nullptr);
  EXPECT_EQ(*claims.FindString("acr"), "gold card");
  ASSERT_NE(claims.Find("n"), nullptr);
  EXPECT_EQ(claims.Find("n")->AsInt64(), 3);
  ASSERT_NE(claims.Find("x"), nullptr);
  EXPECT_EQ(SerializeJson(*claims.Find("x")), "{\"a\":[1,true,null]}");
  ASSERT_NE(claims.Find("ok"), nullptr);
  EXPECT_TRUE(claims.Find("ok")->is_bool());
  // ParseJson (strict) accepted the payload, so no member is duplicated; and
  // the CLI's own claims are there once, in order.
  std::vector<std::string> names;
  for (const auto& [name, value] : claims.object_members()) names.push_back(name);
  EXPECT_EQ(absl::StrJoin(names, ","), "iss,aud,iat,exp,jti,sub,acr,n,x,ok");
}

TEST_F(CliTest, ClaimThatWouldDuplicateAMemberIsAnError) {
  struct Case {
    std::vector<std::string> args;
    std::string err;
  };
  const std::vector<Case> cases = {
      {TokenArgs({"--claim", "iss=\"https://evil.example\""}),
       "popguard-cli: --claim iss: claim already set by --iss\n"},
      {TokenArgs({"--claim", "exp=1"}),
       "popguard-cli: --claim exp: claim already set by the CLI (--exp, --ttl)\n"},
      {TokenArgs({"--claim", "jti=\"x\""}),
       "popguard-cli: --claim jti: claim already set by the CLI (a random jti)\n"},
      {TokenArgs({"--sub", "alice", "--claim", "sub=\"bob\""}),
       "popguard-cli: --claim sub: claim already set by --sub\n"},
      {TokenArgs({"--jkt", "abc", "--claim", "cnf={}"}),
       "popguard-cli: --claim cnf: claim already set by --dpop-key/--jkt/--cert\n"},
      {TokenArgs({"--claim", "n=1", "--claim", "n=2"}),
       "popguard-cli: --claim n: claim already set by an earlier --claim\n"},
      {TokenArgs({"--claim", "acr=gold"}),
       "popguard-cli: --claim acr: value is not JSON (invalid JSON at offset 0: unexpected "
       "character); a string needs quotes: --claim 'acr=\"text\"'\n"},
      {TokenArgs({"--claim", "x={\"a\":1,\"a\":2}"}),
       "popguard-cli: --claim x: value is not JSON (invalid JSON at offset 7: duplicate member "
       "name); a string needs quotes: --claim 'x=\"text\"'\n"},
      {TokenArgs({"--claim", "novalue"}), "popguard-cli: --claim: expected NAME=JSON\n"},
      {TokenArgs({"--claim", "=1"}), "popguard-cli: --claim: expected NAME=JSON\n"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.args.back());
    CliResult r = Run(c.args);
    EXPECT_EQ(r.exit_code, 2);
    EXPECT_EQ(r.out, "");
    EXPECT_EQ(r.err, c.err);
  }
}

TEST_F(CliTest, KeygenWritesPrivateKeysWithMode0600WhateverTheUmask) {
  for (mode_t mask : {mode_t{0}, mode_t{022}, mode_t{0277}}) {
    SCOPED_TRACE(absl::StrCat("umask ", mask));
    const std::string priv = absl::StrCat(dir_.path(), "/k", mask, ".jwk");
    const std::string pub = absl::StrCat(dir_.path(), "/k", mask, ".pub.jwk");
    mode_t old = umask(mask);  // inherited by the child
    CliResult r = Run({"keygen", "--alg", "EdDSA", "--out", priv, "--public-out", pub});
    umask(old);
    ASSERT_EQ(r.exit_code, 0) << r.err;
    EXPECT_EQ(ModeOf(priv), 0600u);
    EXPECT_EQ(ModeOf(pub), 0644u);
    EXPECT_THAT(ReadFileOrEmpty(priv), HasSubstr("\"d\":"));
    EXPECT_THAT(ReadFileOrEmpty(pub), Not(HasSubstr("\"d\":")));
  }
}

TEST_F(CliTest, KeygenRefusesToOverwriteWithoutForce) {
  const std::string priv = dir_.Write("client.jwk", "keep me\n");
  const std::string pub = dir_.path() + "/client.pub.jwk";
  chmod(priv.c_str(), 0644);
  struct Case {
    std::vector<std::string> args;
    std::string err;
  };
  const std::vector<Case> cases = {
      {{"keygen", "--out", priv},
       absl::StrCat("popguard-cli: ", priv, " exists (use --force to replace it)\n")},
      // A refusal of one output writes neither.
      {{"keygen", "--public-out", pub, "--out", priv},
       absl::StrCat("popguard-cli: ", priv, " exists (use --force to replace it)\n")},
      {{"keygen", "--out", pub, "--public-out", pub},
       "popguard-cli: --out and --public-out name the same file\n"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(absl::StrJoin(c.args, " "));
    CliResult r = Run(c.args);
    EXPECT_EQ(r.exit_code, 2);
    EXPECT_EQ(r.err, c.err);
    EXPECT_EQ(ReadFileOrEmpty(priv), "keep me\n");
    EXPECT_NE(access(pub.c_str(), F_OK), 0);
  }
  // --force replaces it, and the replaced file is 0600 although the old one was 0644.
  CliResult r = Run({"keygen", "--out", priv, "--force"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_THAT(ReadFileOrEmpty(priv), HasSubstr("\"d\":"));
  EXPECT_EQ(ModeOf(priv), 0600u);
}

// `check` against the real server: a config with a route key and TLS.
class CliCheckTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new TempDir();
    const std::string d = dir_->path();
    dir_->Write("san.ext", "subjectAltName=DNS:localhost,IP:127.0.0.1\n");
    std::string script = absl::StrCat(
        "set -e; cd ", d, ";",
        "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout ca.key",
        " -out ca.pem -subj /CN=popguard-cli-test-ca -days 1 2>/dev/null;",
        "openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout server.key",
        " -out server.csr -subj /CN=localhost 2>/dev/null;",
        "openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial",
        " -out server.pem -days 1 -extfile san.ext 2>/dev/null");
    ASSERT_EQ(std::system(script.c_str()), 0);
    const std::string base = QuickstartYaml(absl::StrCat(
        "routes:\n  - name: partner\n    match: {route_key: partner-api}\n    binding: bearer\n",
        "  - name: open\n    match: {path_prefix: /open}\n    binding: bearer\n"));
    plain_config_ = new std::string(dir_->Write("plain.yaml", base));
    tls_config_ = new std::string(
        dir_->Write("tls.yaml", base + "tls:\n  cert_file: server.pem\n  key_file: server.key\n"));
    auto plain = PopguardProcess::Start(*plain_config_);
    ASSERT_TRUE(plain.ok()) << plain.status();
    plain_ = plain->release();
    auto tls = PopguardProcess::Start(*tls_config_);
    ASSERT_TRUE(tls.ok()) << tls.status();
    tls_ = tls->release();
  }
  static void TearDownTestSuite() {
    delete plain_;
    delete tls_;
    delete plain_config_;
    delete tls_config_;
    delete dir_;
  }

  CliResult Run(const std::vector<std::string>& args) { return RunCli(*dir_, args); }
  std::string BearerToken() {
    CliResult r = Run(TokenArgs({"--sub", "alice"}));
    EXPECT_EQ(r.exit_code, 0) << r.err;
    return std::string(absl::StripAsciiWhitespace(r.out));
  }

  static TempDir* dir_;
  static std::string* plain_config_;
  static std::string* tls_config_;
  static PopguardProcess* plain_;
  static PopguardProcess* tls_;
};
TempDir* CliCheckTest::dir_ = nullptr;
std::string* CliCheckTest::plain_config_ = nullptr;
std::string* CliCheckTest::tls_config_ = nullptr;
PopguardProcess* CliCheckTest::plain_ = nullptr;
PopguardProcess* CliCheckTest::tls_ = nullptr;

TEST_F(CliCheckTest, BothApisPrintDecisionAndHeadersToSetAndRemove) {
  const std::string token = BearerToken();
  for (std::string api : {"verify", "check"}) {
    SCOPED_TRACE(api);
    CliResult r = Run({"check", "--addr", plain_->address(), "--api", api, "--url",
                       "https://api.example/open/x", "--token", token});
    EXPECT_EQ(r.exit_code, 0) << r.err;
    EXPECT_EQ(r.err, "");
    EXPECT_THAT(r.out, HasSubstr("ALLOW ok (HTTP 200)\n"));
    EXPECT_THAT(r.out, HasSubstr("  upstream header: x-popguard-sub: alice\n"));
    EXPECT_THAT(r.out, HasSubstr("  upstream header: x-popguard-binding: none\n"));
    // No client_id and no scope in the token: the gateway must drop
    // client-sent copies of those headers.
    EXPECT_THAT(r.out, HasSubstr("  remove header: x-popguard-client-id\n"));
    EXPECT_THAT(r.out, HasSubstr("  remove header: x-popguard-scope\n"));

    CliResult deny = Run({"check", "--addr", plain_->address(), "--api", api, "--url",
                          "https://api.example/orders", "--token", token});
    EXPECT_EQ(deny.exit_code, 1) << deny.err;
    EXPECT_THAT(deny.out, HasSubstr("DENY binding_required (HTTP 401)\n"));
  }
}

TEST_F(CliCheckTest, RouteMustExistInTheConfig) {
  const std::string token = BearerToken();
  for (std::string api : {"verify", "check"}) {
    SCOPED_TRACE(api);
    CliResult r = Run({"check", "--addr", plain_->address(), "--api", api, "--url",
                       "https://api.example/orders", "--token", token, "--route", "partner-api",
                       "--config", *plain_config_});
    EXPECT_EQ(r.exit_code, 0) << r.err;
    EXPECT_THAT(r.out, HasSubstr("ALLOW ok (HTTP 200)\n"));
  }
  CliResult r = Run({"check", "--addr", plain_->address(), "--url", "https://api.example/orders",
                     "--token", token, "--route", "partner", "--config", *plain_config_});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_EQ(r.out, "");
  EXPECT_EQ(r.err, absl::StrCat("popguard-cli: --route partner: no route in ", *plain_config_,
                                " has match.route_key partner (it has: partner-api)\n"));
}

TEST_F(CliCheckTest, TlsFlags) {
  const std::string token = BearerToken();
  const std::string ca = dir_->path() + "/ca.pem";
  struct Case {
    std::vector<std::string> flags;
    int exit_code;
    std::string fragment;  // of stdout (exit 0) or stderr
  };
  const std::vector<Case> cases = {
      {{"--ca", ca}, 0, "ALLOW ok (HTTP 200)\n"},
      {{"--ca", ca, "--server-name", "localhost"}, 0, "ALLOW ok (HTTP 200)\n"},
      {{"--ca", ca, "--api", "check"}, 0, "ALLOW ok (HTTP 200)\n"},
      {{"--ca", ca, "--server-name", "other.example"}, 2, "popguard-cli: Verify failed: "},
      {{}, 2, "popguard-cli: Verify failed: "},  // plaintext to a TLS listener
      {{"--ca", dir_->path() + "/missing.pem"}, 2, "popguard-cli: --ca: cannot read "},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(absl::StrJoin(c.flags, " "));
    std::vector<std::string> args = {
        "check",   "--addr", tls_->address(), "--url", "https://api.example/open/x",
        "--token", token};
    args.insert(args.end(), c.flags.begin(), c.flags.end());
    CliResult r = Run(args);
    EXPECT_EQ(r.exit_code, c.exit_code) << r.err;
    EXPECT_THAT(c.exit_code == 0 ? r.out : r.err, HasSubstr(c.fragment));
  }
}

}  // namespace
}  // namespace popguard::e2e
