// The gRPC listener with TLS (tls.cert_file / key_file) and with required
// client certificates (tls.client_ca_file), against the real binary.
// Certificates are made per run with the openssl command in a temp dir.
#include <cstdlib>
#include <fstream>
#include <string>

#include <grpcpp/grpcpp.h>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "popguard/v1/verifier.grpc.pb.h"
#include "tests/testing/popguard_process.h"
#include "tests/testing/test_vectors.h"

namespace popguard::e2e {
namespace {

class TlsListenerTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    char tmpl[] = "/tmp/popguard-tls.XXXXXX";
    dir_ = mkdtemp(tmpl);
    std::ofstream(dir_ + "/san.ext") << "subjectAltName=DNS:localhost,IP:127.0.0.1\n";
    std::string d = dir_;
    std::string script = absl::StrCat(
        "set -e; cd ", d, ";",
        "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout ca.key",
        " -out ca.pem -subj /CN=popguard-test-ca -days 1 2>/dev/null;",
        "openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout server.key",
        " -out server.csr -subj /CN=localhost 2>/dev/null;",
        "openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial",
        " -out server.pem -days 1 -extfile san.ext 2>/dev/null;",
        "openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout client.key",
        " -out client.csr -subj /CN=gateway 2>/dev/null;",
        "openssl x509 -req -in client.csr -CA ca.pem -CAkey ca.key -CAcreateserial",
        " -out client.pem -days 1 2>/dev/null");
    ASSERT_EQ(std::system(script.c_str()), 0);
    std::string jwks = absl::StrCat(POPGUARD_SOURCE_DIR, "/examples/quickstart/jwks.json");
    std::string base =
        absl::StrCat("issuers:\n  - issuer: https://issuer.example\n    jwks_file: ", jwks,
                     "\n    audiences: [https://api.example]\n");
    std::ofstream(d + "/tls.yaml")
        << base << "tls:\n  cert_file: server.pem\n  key_file: server.key\n";
    std::ofstream(d + "/mtls.yaml") << base
                                    << "tls:\n  cert_file: server.pem\n  key_file: server.key\n"
                                       "  client_ca_file: ca.pem\n";
  }

  static void TearDownTestSuite() { std::system(absl::StrCat("rm -rf ", dir_).c_str()); }

  // Sends one Verify with no credentials; a connected server answers DENY
  // token_missing, so a returned status OK proves the channel works.
  static grpc::Status Probe(const std::shared_ptr<grpc::Channel>& channel) {
    auto stub = popguard::v1::Verifier::NewStub(channel);
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(3));
    popguard::v1::VerifyRequest req;
    req.set_method("GET");
    req.set_url("https://api.example/x");
    popguard::v1::VerifyResponse resp;
    grpc::Status s = stub->Verify(&ctx, req, &resp);
    if (s.ok()) EXPECT_EQ(resp.reason_code(), "token_missing");
    return s;
  }

  static std::shared_ptr<grpc::Channel> TlsChannel(int port, bool with_client_cert) {
    grpc::SslCredentialsOptions opts;
    opts.pem_root_certs = testdata::ReadFileOrEmpty(dir_ + "/ca.pem");
    if (with_client_cert) {
      opts.pem_private_key = testdata::ReadFileOrEmpty(dir_ + "/client.key");
      opts.pem_cert_chain = testdata::ReadFileOrEmpty(dir_ + "/client.pem");
    }
    grpc::ChannelArguments args;
    args.SetSslTargetNameOverride("localhost");
    return grpc::CreateCustomChannel(absl::StrCat("127.0.0.1:", port), grpc::SslCredentials(opts),
                                     args);
  }

  static std::string dir_;
};

std::string TlsListenerTest::dir_;

TEST_F(TlsListenerTest, ServesTlsAndRefusesPlaintext) {
  auto server = PopguardProcess::Start(dir_ + "/tls.yaml");
  ASSERT_TRUE(server.ok()) << server.status();
  EXPECT_TRUE(Probe(TlsChannel((*server)->port(), /*with_client_cert=*/false)).ok());
  auto plaintext = grpc::CreateChannel((*server)->address(), grpc::InsecureChannelCredentials());
  const grpc::Status refused = Probe(plaintext);
  // Refused by the server during the handshake ("Socket closed"), not a
  // server that is down ("Connection refused") or a deadline.
  EXPECT_EQ(refused.error_code(), grpc::StatusCode::UNAVAILABLE) << refused.error_message();
  EXPECT_THAT(refused.error_message(), ::testing::HasSubstr("Socket closed"));
}

TEST_F(TlsListenerTest, RequiresClientCertificateWhenClientCaIsSet) {
  auto server = PopguardProcess::Start(dir_ + "/mtls.yaml");
  ASSERT_TRUE(server.ok()) << server.status();
  EXPECT_TRUE(Probe(TlsChannel((*server)->port(), /*with_client_cert=*/true)).ok());
  const grpc::Status refused = Probe(TlsChannel((*server)->port(), /*with_client_cert=*/false));
  // Refused by the server during the handshake ("Socket closed"), not a
  // server that is down ("Connection refused") or a deadline.
  EXPECT_EQ(refused.error_code(), grpc::StatusCode::UNAVAILABLE) << refused.error_message();
  EXPECT_THAT(refused.error_message(), ::testing::HasSubstr("Socket closed"));
}

}  // namespace
}  // namespace popguard::e2e
