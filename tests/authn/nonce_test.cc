// Tests for service/authn/nonce.h: stateless DPoP server nonces (RFC 9449 section
// 8). A nonce is accepted in the step it was issued for and the next one,
// never earlier or later, and only under the secret that issued it.
#include "service/authn/nonce.h"

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "gtest/gtest.h"
#include "service/jose/base64url.h"

namespace popguard {
namespace {

const std::string kSecret(32, 'k');
constexpr absl::Duration kStep = absl::Seconds(30);
// A step boundary: 1900000020 = 63333334 * 30.
constexpr absl::Time kBoundary = absl::FromUnixSeconds(1900000020);

class DpopNoncesTest : public ::testing::Test {
 protected:
  DpopNonces nonces_{kSecret, kStep};
};

TEST_F(DpopNoncesTest, EncodingAndLength) {
  const std::string nonce = nonces_.Current(kBoundary);
  // 8 bytes of step + 16 bytes of MAC = 24 bytes = 32 base64url characters.
  EXPECT_EQ(nonce.size(), 32u);
  std::optional<std::string> raw = Base64UrlDecode(nonce);
  ASSERT_TRUE(raw.has_value());
  ASSERT_EQ(raw->size(), 24u);
  uint64_t step = 0;
  for (int i = 0; i < 8; ++i) step = step << 8 | static_cast<unsigned char>((*raw)[i]);
  EXPECT_EQ(step, 1900000020u / 30u);
}

// ReferenceNonce computes a nonce from the documented format (nonce.h) with
// OpenSSL's HMAC and base64 directly, not through popguard's helpers:
// base64url(step || HMAC-SHA-256(secret, "popguard-dpop-nonce-v1" || step)[0..16]),
// step = floor(unix seconds / step seconds) as 8 big-endian bytes. The label
// is part of the wire format: replicas of different versions must agree.
std::string ReferenceNonce(const std::string& secret, int64_t step_seconds, int64_t unix_seconds) {
  const int64_t step = unix_seconds / step_seconds;  // both positive here
  std::string counter(8, '\0');
  for (int i = 0; i < 8; ++i) counter[i] = static_cast<char>((step >> (56 - 8 * i)) & 0xff);
  const std::string message = "popguard-dpop-nonce-v1" + counter;
  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned int mac_len = 0;
  HMAC(EVP_sha256(), secret.data(), static_cast<int>(secret.size()),
       reinterpret_cast<const unsigned char*>(message.data()), message.size(), mac, &mac_len);
  EXPECT_EQ(mac_len, 32u);
  const std::string raw = counter + std::string(reinterpret_cast<const char*>(mac), 16);
  unsigned char b64[64] = {};
  const int n = EVP_EncodeBlock(b64, reinterpret_cast<const unsigned char*>(raw.data()),
                                static_cast<int>(raw.size()));
  return absl::StrReplaceAll(std::string(reinterpret_cast<const char*>(b64), n),
                             {{"+", "-"}, {"/", "_"}, {"=", ""}});
}

TEST(DpopNonceFormatTest, MatchesAnIndependentHmac) {
  struct Case {
    std::string secret;
    int64_t step_seconds;
    int64_t unix_seconds;
  };
  const std::vector<Case> cases = {
      {kSecret, 30, 1900000020},
      {kSecret, 30, 1900000049},
      {std::string(32, 'x'), 30, 1900000020},
      {"0123456789abcdef0123456789abcdef-and-a-longer-tail", 60, 1700000000},
      {std::string(64, '\xff'), 1, 1},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(absl::StrCat(c.step_seconds, "s step at ", c.unix_seconds));
    DpopNonces nonces(c.secret, absl::Seconds(c.step_seconds));
    const std::string want = ReferenceNonce(c.secret, c.step_seconds, c.unix_seconds);
    EXPECT_EQ(nonces.Current(absl::FromUnixSeconds(c.unix_seconds)), want);
    EXPECT_TRUE(nonces.Accept(want, absl::FromUnixSeconds(c.unix_seconds)));
  }
}

TEST_F(DpopNoncesTest, CurrentIsConstantWithinAStepAndChangesAtTheBoundary) {
  const std::string at = nonces_.Current(kBoundary);
  EXPECT_EQ(nonces_.Current(kBoundary + kStep - absl::Nanoseconds(1)), at);
  EXPECT_EQ(nonces_.Current(kBoundary + absl::Seconds(29)), at);
  EXPECT_NE(nonces_.Current(kBoundary - absl::Nanoseconds(1)), at);
  EXPECT_NE(nonces_.Current(kBoundary + kStep), at);
}

TEST_F(DpopNoncesTest, AcceptAcrossStepBoundaries) {
  const std::string issued = nonces_.Current(kBoundary);  // step S
  struct Case {
    absl::Time now;
    bool want;
    std::string why;
  };
  const std::vector<Case> cases = {
      {kBoundary - absl::Nanoseconds(1), false, "step S-1: issued in the future"},
      {kBoundary, true, "step S, first instant"},
      {kBoundary + absl::Seconds(29), true, "step S, last second"},
      {kBoundary + kStep, true, "step S+1, first instant (previous step)"},
      {kBoundary + 2 * kStep - absl::Nanoseconds(1), true, "step S+1, last instant"},
      {kBoundary + 2 * kStep, false, "step S+2: two steps old"},
      {kBoundary + 10 * kStep, false, "ten steps old"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.why);
    EXPECT_EQ(nonces_.Accept(issued, c.now), c.want);
  }
}

TEST_F(DpopNoncesTest, WrongSecretOrStepRejects) {
  const std::string issued = nonces_.Current(kBoundary);
  DpopNonces other_secret(std::string(32, 'x'), kStep);
  EXPECT_FALSE(other_secret.Accept(issued, kBoundary));
  EXPECT_NE(other_secret.Current(kBoundary), issued);
  DpopNonces longer_secret(kSecret + "k", kStep);
  EXPECT_FALSE(longer_secret.Accept(issued, kBoundary));
  DpopNonces other_step(kSecret, absl::Seconds(60));
  EXPECT_FALSE(other_step.Accept(issued, kBoundary));
  // The same secret and step on another replica accepts it.
  DpopNonces replica(kSecret, kStep);
  EXPECT_TRUE(replica.Accept(issued, kBoundary));
}

TEST_F(DpopNoncesTest, GarbageRejects) {
  const std::string issued = nonces_.Current(kBoundary);
  std::string flipped = issued;
  flipped[20] = flipped[20] == 'A' ? 'B' : 'A';
  std::string raw = *Base64UrlDecode(issued);
  raw[7] = static_cast<char>(raw[7] + 1);  // a future step under the old MAC
  std::vector<std::string> cases = {
      "",
      "abc",
      "nonce",
      std::string(32, 'A'),
      flipped,
      issued.substr(0, 31),
      issued + "A",
      " " + issued,
      Base64UrlEncode(raw),
      Base64UrlEncode(raw.substr(0, 8)),  // the step alone
  };
  for (const std::string& nonce : cases) {
    SCOPED_TRACE(nonce);
    EXPECT_FALSE(nonces_.Accept(nonce, kBoundary));
  }
}

}  // namespace
}  // namespace popguard
