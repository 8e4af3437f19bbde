// The verifier the server wiring builds from config.crypto
// (service/server/verifier_factory.h): OpenSSL or the native cores, counted
// for the metrics, with issuer key tables prepared through the counting wrap.
#include "service/server/verifier_factory.h"

#include <memory>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "service/common/json.h"
#include "service/config/config.h"
#include "service/jose/native_verifier.h"
#include "service/ops/popguard_metrics.h"
#include "service/tools/mint/signer.h"

namespace popguard {
namespace {

class VerifierFactoryTest : public ::testing::Test {
 protected:
  void SetUp() override {
    absl::StatusOr<PrivateKey> priv = PrivateKey::Generate(JwsAlg::kES256);
    ASSERT_TRUE(priv.ok()) << priv.status();
    priv_ = std::make_shared<PrivateKey>(*std::move(priv));
    absl::StatusOr<std::string> sig = priv_->Sign(JwsAlg::kES256, "m");
    ASSERT_TRUE(sig.ok()) << sig.status();
    sig_ = *sig;
  }

  // The NativeVerifier inside `v` (through a CountingVerifier), or null.
  static const NativeVerifier* Native(const SignatureVerifier& v) {
    const SignatureVerifier* inner = &v;
    if (const auto* counting = dynamic_cast<const CountingVerifier*>(inner)) {
      inner = &counting->inner();
    }
    return dynamic_cast<const NativeVerifier*>(inner);
  }

  std::shared_ptr<PrivateKey> priv_;
  std::string sig_;
};

// crypto.force_openssl (docs/config.md), read from YAML, picks the verifier;
// both verify, the counted one is a CountingVerifier, and PrepareVerifierKeys
// reaches the native core through the counting wrap (before the wiring moved
// here the wrap was added after key preparation; now the key tables must be
// built through it).
TEST_F(VerifierFactoryTest, ConfigCryptoPicksTheVerifier) {
  const std::string jwks = "{\"keys\":[" + SerializeJson(priv_->PublicJwk()) + "]}";
  const std::string base =
      "issuers:\n  - issuer: https://i.example\n    audiences: [a]\n"
      "    jwks: '" +
      jwks + "'\n";
  struct Case {
    std::string yaml;
    bool native;
  } cases[] = {
      {base, true},
      {base + "crypto: {force_openssl: true}\n", false},
      {base + "crypto: {force_openssl: false}\n", true},
      {base + "crypto: {}\n", true},
  };
  const std::vector<std::shared_ptr<const PublicKey>> keys = {priv_->public_key()};
  for (const Case& tc : cases) {
    SCOPED_TRACE(tc.yaml);
    absl::StatusOr<Config> config = LoadConfigYaml(tc.yaml, "/");
    ASSERT_TRUE(config.ok()) << config.status();

    SignatureVerifierPtr plain = CreateVerifier(config->crypto);
    EXPECT_EQ(Native(*plain) != nullptr, tc.native);
    EXPECT_EQ(plain->Verify(JwsAlg::kES256, *keys[0], "m", sig_), SignatureResult::kValid);

    SignatureVerifierPtr counted = CreateCountedVerifier(config->crypto);
    ASSERT_NE(dynamic_cast<const CountingVerifier*>(counted.get()), nullptr);
    const NativeVerifier* native = Native(*counted);
    EXPECT_EQ(native != nullptr, tc.native);
    PrepareVerifierKeys(*counted, keys);  // a no-op on the OpenSSL verifier
    if (native != nullptr) EXPECT_EQ(native->stats().tables_built, 1u);
    EXPECT_EQ(counted->Verify(JwsAlg::kES256, *keys[0], "m", sig_), SignatureResult::kValid);
    if (native != nullptr) EXPECT_EQ(native->stats().es256_hot, 1u);
  }

  // A crypto section the config cannot read is refused, naming the key.
  struct Rejected {
    std::string yaml;
    std::string error_fragment;
  } rejected[] = {
      {base + "crypto: {force_openssl: maybe}\n", "crypto.force_openssl"},
      {base + "crypto: {native: true}\n", "crypto"},
      {base + "crypto: true\n", "crypto"},
  };
  for (const Rejected& tc : rejected) {
    SCOPED_TRACE(tc.yaml);
    absl::StatusOr<Config> config = LoadConfigYaml(tc.yaml, "/");
    ASSERT_FALSE(config.ok());
    EXPECT_EQ(config.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_NE(std::string(config.status().message()).find(tc.error_fragment), std::string::npos)
        << config.status();
  }
}

}  // namespace
}  // namespace popguard
