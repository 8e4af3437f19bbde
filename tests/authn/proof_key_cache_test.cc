// Tests of the parsed DPoP proof key cache (service/authn/proof_key_cache.h) and its
// use by DpopValidator: a hit only ever for an identical jwk, results always
// identical to PublicKey::FromJwk, failures never cached, and counters.
#include "service/authn/proof_key_cache.h"

#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

#include "service/authn/dpop.h"
#include "service/common/crypto_util.h"
#include "service/config/config.h"
#include "service/jose/jwk.h"
#include "service/jose/signature.h"
#include "tests/testing/unit_fixtures.h"

namespace popguard {
namespace {

using unit::Json;
using unit::kNow;
using unit::SharedKey;
using unit::WithMember;
using unit::WithoutMember;

TEST(ProofKeyCacheTest, CacheKeyIsInjective) {
  struct Case {
    const char* a;
    const char* b;
  };
  // Each pair differs, often in a way a naive concatenation would not see.
  const Case cases[] = {
      {R"({"a":"bc"})", R"({"ab":"c"})"},
      {R"({"x":"1"})", R"({"x":1})"},
      {R"({"x":[]})", R"({"x":{}})"},
      {R"({"x":true})", R"({"x":"1"})"},
      {R"({"x":null})", R"({"x":false})"},
      {R"({"k":["a","b"]})", R"({"k":["ab"]})"},
      {R"({"k":["a"],"b":"c"})", R"({"k":["a","b"]})"},
      {R"({"a":"1","b":"2"})", R"({"b":"2","a":"1"})"},
      {R"({"n":0})", R"({"n":-0})"},
      {R"({"n":1})", R"({"n":1.0000000000000002})"},
      {R"({"x":"a"})", R"({"x":"a","y":"b"})"},
      {R"({"x":"\u0000"})", R"({"x":""})"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(std::string(c.a) + " vs " + c.b);
    auto ka = ProofKeyCache::CacheKey(Json(c.a));
    auto kb = ProofKeyCache::CacheKey(Json(c.b));
    ASSERT_TRUE(ka.has_value());
    ASSERT_TRUE(kb.has_value());
    EXPECT_NE(*ka, *kb);
    EXPECT_EQ(*ka, *ProofKeyCache::CacheKey(Json(c.a)));
  }
}

TEST(ProofKeyCacheTest, CacheKeyRefusesNonObjectsAndHugeObjects) {
  EXPECT_FALSE(ProofKeyCache::CacheKey(Json(R"("x")")).has_value());
  EXPECT_FALSE(ProofKeyCache::CacheKey(Json("[]")).has_value());
  std::string big(ProofKeyCache::kMaxKeyBytes, 'a');
  EXPECT_FALSE(
      ProofKeyCache::CacheKey(JsonValue::Object({{"x", JsonValue::String(big)}})).has_value());
}

TEST(ProofKeyCacheTest, ReturningJwkIsAHitWithTheSameKey) {
  ProofKeyCache cache;
  const JsonValue jwk = SharedKey(JwsAlg::kES256).RequiredPublicJwk();
  auto first = cache.GetOrParse(jwk);
  ASSERT_TRUE(first.ok()) << first.status();
  EXPECT_EQ(cache.misses(), 1u);
  EXPECT_EQ(cache.hits(), 0u);
  auto second = cache.GetOrParse(jwk);
  ASSERT_TRUE(second.ok());
  EXPECT_EQ(second->get(), first->get());
  EXPECT_EQ(cache.hits(), 1u);
  EXPECT_EQ(cache.size(), 1u);
  EXPECT_EQ((*second)->thumbprint(), SharedKey(JwsAlg::kES256).Thumbprint());
}

// With one jwk cached, every variant must be parsed on its own and give
// exactly what PublicKey::FromJwk gives: same status, thumbprint and FitsAlg.
TEST(ProofKeyCacheTest, VariantsOfACachedJwkNeverReuseIt) {
  const JsonValue base = SharedKey(JwsAlg::kES256, 0).RequiredPublicJwk();
  const JsonValue other = SharedKey(JwsAlg::kES256, 1).RequiredPublicJwk();
  const std::string other_y = *other.FindString("y");
  struct Case {
    const char* name;
    JsonValue jwk;
  };
  const std::vector<Case> cases = {
      {"another key's x and y", other},
      {"another key's y (off the curve)", WithMember(base, "y", unit::Str(other_y))},
      {"alg ES384", WithMember(base, "alg", unit::Str("ES384"))},
      {"alg ES256", WithMember(base, "alg", unit::Str("ES256"))},
      {"use enc", WithMember(base, "use", unit::Str("enc"))},
      {"key_ops sign", WithMember(base, "key_ops", Json(R"(["sign"])"))},
      {"kid not a string", WithMember(base, "kid", unit::Num(5))},
      {"private d", WithMember(base, "d", unit::Str("AAAA"))},
      {"crv P-384", WithMember(base, "crv", unit::Str("P-384"))},
      {"kty OKP", WithMember(base, "kty", unit::Str("OKP"))},
      {"no y", WithoutMember(base, "y")},
      {"extra member", WithMember(base, "ext", Json("true"))},
  };
  ProofKeyCache cache;
  ASSERT_TRUE(cache.GetOrParse(base).ok());
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    const uint64_t hits = cache.hits();
    auto got = cache.GetOrParse(c.jwk);
    auto want = PublicKey::FromJwk(c.jwk);
    EXPECT_EQ(cache.hits(), hits);  // a miss
    ASSERT_EQ(got.status().code(), want.status().code());
    EXPECT_EQ(got.status().message(), want.status().message());
    if (!want.ok()) continue;
    EXPECT_EQ((*got)->thumbprint(), (*want)->thumbprint());
    for (JwsAlg alg : kAllJwsAlgs) EXPECT_EQ((*got)->FitsAlg(alg), (*want)->FitsAlg(alg));
  }
  // The original is still a hit.
  const uint64_t hits = cache.hits();
  ASSERT_TRUE(cache.GetOrParse(base).ok());
  EXPECT_EQ(cache.hits(), hits + 1);
}

TEST(ProofKeyCacheTest, FailuresAreNotCached) {
  ProofKeyCache cache;
  const JsonValue bad =
      WithMember(SharedKey(JwsAlg::kES256).RequiredPublicJwk(), "kid", unit::Num(1));
  const absl::Status want = absl::InvalidArgumentError("jwk member \"kid\" is not a string");
  EXPECT_EQ(cache.GetOrParse(bad).status(), want);
  EXPECT_EQ(cache.GetOrParse(bad).status(), want);
  EXPECT_EQ(cache.size(), 0u);
  EXPECT_EQ(cache.hits(), 0u);
  EXPECT_EQ(cache.misses(), 2u);
}

TEST(ProofKeyCacheTest, CapacityZeroParsesEveryTime) {
  ProofKeyCache cache(0);
  const JsonValue jwk = SharedKey(JwsAlg::kEdDSA).RequiredPublicJwk();
  auto a = cache.GetOrParse(jwk);
  auto b = cache.GetOrParse(jwk);
  ASSERT_TRUE(a.ok());
  ASSERT_TRUE(b.ok());
  EXPECT_NE(a->get(), b->get());
  EXPECT_EQ(cache.hits(), 0u);
  EXPECT_EQ(cache.size(), 0u);
}

TEST(ProofKeyCacheTest, LeastRecentlyUsedKeysAreEvicted) {
  ProofKeyCache cache(/*capacity=*/1);
  const JsonValue a = SharedKey(JwsAlg::kES256, 0).RequiredPublicJwk();
  const JsonValue b = SharedKey(JwsAlg::kES256, 1).RequiredPublicJwk();
  ASSERT_TRUE(cache.GetOrParse(a).ok());
  ASSERT_TRUE(cache.GetOrParse(b).ok());
  EXPECT_EQ(cache.size(), 1u);
  EXPECT_EQ(cache.evictions(), 1u);
  ASSERT_TRUE(cache.GetOrParse(b).ok());
  EXPECT_EQ(cache.hits(), 1u);
}

// --- Through DpopValidator. ---

class DpopKeyCacheTest : public ::testing::Test {
 protected:
  DpopKeyCacheTest()
      : config_(unit::BaseConfig()),
        verifier_(CreateOpenSslVerifier()),
        dpop_(config_.dpop, config_.limits, verifier_.get(), nullptr) {}

  Reason Validate(const std::string& proof, const PrivateKey& bound_to,
                  std::string_view token_sha256 = "") {
    DpopRequest req;
    req.proof = proof;
    req.method = "GET";
    req.request_url = "https://api.example/resource";
    req.access_token = token_;
    req.access_token_sha256 = token_sha256;
    jkt_ = bound_to.Thumbprint();
    req.expected_jkt = jkt_;
    req.now = kNow;
    DpopResult out;
    std::string detail;
    return dpop_.Validate(req, &out, &detail);
  }

  std::string Proof(const PrivateKey& key, JwsAlg alg = JwsAlg::kES256) {
    unit::ProofOptions o;
    o.alg = alg;
    o.jti = unit::UniqueId("jti-");
    o.access_token = token_;
    return unit::MintProof(key, o);
  }

  Config config_;
  SignatureVerifierPtr verifier_;
  DpopValidator dpop_;
  std::string token_ = "header.payload.signature";
  std::string jkt_;
};

TEST_F(DpopKeyCacheTest, ReturningClientHitsTheCache) {
  const PrivateKey& key = SharedKey(JwsAlg::kES256);
  EXPECT_EQ(Validate(Proof(key), key), Reason::kOk);
  EXPECT_EQ(Validate(Proof(key), key), Reason::kOk);
  EXPECT_EQ(Validate(Proof(key), key), Reason::kOk);
  EXPECT_EQ(dpop_.key_cache().misses(), 1u);
  EXPECT_EQ(dpop_.key_cache().hits(), 2u);
}

// A proof carrying a cached client's jwk but signed by another key must still
// fail: the cached key is the jwk's own key, never the signer's.
TEST_F(DpopKeyCacheTest, CachedJwkWithForeignSignatureFails) {
  const PrivateKey& victim = SharedKey(JwsAlg::kES256, 0);
  const PrivateKey& attacker = SharedKey(JwsAlg::kES256, 1);
  ASSERT_EQ(Validate(Proof(victim), victim), Reason::kOk);
  unit::ProofOptions o;
  o.jti = unit::UniqueId("jti-");
  o.access_token = token_;
  std::string forged = unit::Sign(attacker, JwsAlg::kES256,
                                  unit::ProofHeader(victim, JwsAlg::kES256), unit::ProofClaims(o));
  EXPECT_EQ(Validate(forged, victim), Reason::kDpopSignatureInvalid);
  // And the attacker's own key, now cached too, is bound to its own thumbprint.
  ASSERT_EQ(Validate(Proof(attacker), attacker), Reason::kOk);
  EXPECT_EQ(Validate(Proof(attacker), victim), Reason::kDpopJktMismatch);
}

TEST_F(DpopKeyCacheTest, CachedJwkWithAlgMemberStillChecksFitsAlg) {
  const PrivateKey& key = SharedKey(JwsAlg::kES256);
  ASSERT_EQ(Validate(Proof(key), key), Reason::kOk);
  // Same key material, but the jwk restricts itself to ES384: refused.
  unit::ProofOptions o;
  o.jti = unit::UniqueId("jti-");
  o.access_token = token_;
  JsonValue header = unit::ProofHeader(key, JwsAlg::kES256);
  header =
      WithMember(header, "jwk", WithMember(key.RequiredPublicJwk(), "alg", unit::Str("ES384")));
  EXPECT_EQ(Validate(unit::Sign(key, JwsAlg::kES256, header, unit::ProofClaims(o)), key),
            Reason::kDpopJwkInvalid);
}

TEST_F(DpopKeyCacheTest, AthUsesTheCallersTokenHashWhenGiven) {
  const PrivateKey& key = SharedKey(JwsAlg::kES256);
  const std::string right = Sha256(token_);
  const std::string wrong = Sha256("another token");
  struct Case {
    const char* name;
    std::string hash;
    Reason want;
  };
  const Case cases[] = {
      {"no hash: computed", "", Reason::kOk},
      {"the token's hash", right, Reason::kOk},
      {"a wrong 32-byte hash", wrong, Reason::kDpopAthMismatch},
      {"not 32 bytes: ignored, computed", "short", Reason::kOk},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    EXPECT_EQ(Validate(Proof(key), key, c.hash), c.want);
  }
}

}  // namespace
}  // namespace popguard
