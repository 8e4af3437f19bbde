// Correctness of the native P-256 ECDSA core (service/crypto/p256/p256.h) and of
// NativeVerifier, always against OpenSSL as the reference. The field and
// scalar tests are p256_field_test.cc, the point tests p256_point_test.cc (one
// binary, p256_test); this file holds
//   - every Wycheproof ES256 P1363 vector, cold and hot, single and batched;
//   - crafted signatures for the rare branches (x(R) >= n, R = infinity,
//     doubling inside an addition);
//   - a differential harness: random keys and messages, valid signatures and
//     their mutations (bit flips, swapped r/s, r or s at 0, 1, n-1, n, n+1,
//     p-1, p, p+1, 2^256-1, high s, wrong key, wrong length), each compared
//     with the OpenSSL verifier's exact verdict. POPGUARD_LONG_TESTS=1 runs
//     millions of cases instead of tens of thousands;
//   - NativeVerifier's key tables, cache and batches.
#include "tests/crypto/p256_test_util.h"

#include "gtest/gtest.h"

namespace popguard::p256_testing {
namespace {

// ---- ECDSA keys, signatures and the OpenSSL reference ----

std::string ReadXY(EVP_PKEY* pkey) {
  unsigned char buf[65];
  size_t len = 0;
  EXPECT_EQ(EVP_PKEY_get_octet_string_param(pkey, OSSL_PKEY_PARAM_PUB_KEY, buf, sizeof(buf), &len),
            1);
  EXPECT_EQ(len, 65u);
  return std::string(reinterpret_cast<char*>(buf + 1), 64);
}

std::shared_ptr<const PublicKey> PublicKeyFromXY(std::string_view xy) {
  JsonValue jwk = JsonValue::Object({{"kty", JsonValue::String("EC")},
                                     {"crv", JsonValue::String("P-256")},
                                     {"x", JsonValue::String(Base64UrlEncode(xy.substr(0, 32)))},
                                     {"y", JsonValue::String(Base64UrlEncode(xy.substr(32)))}});
  absl::StatusOr<std::shared_ptr<const PublicKey>> key = PublicKey::FromJwk(jwk);
  EXPECT_TRUE(key.ok()) << key.status();
  return key.ok() ? *key : nullptr;
}

struct TestKey {
  std::shared_ptr<PrivateKey> priv;
  std::string xy;
  std::shared_ptr<const PublicKey> pub;
};

TestKey NewKey(JwsAlg alg = JwsAlg::kES256) {
  absl::StatusOr<PrivateKey> priv = PrivateKey::Generate(alg);
  EXPECT_TRUE(priv.ok()) << priv.status();
  TestKey key;
  key.priv = std::make_shared<PrivateKey>(*std::move(priv));
  key.pub = key.priv->public_key();
  if (alg == JwsAlg::kES256) key.xy = ReadXY(key.priv->pkey());
  return key;
}

std::string Sign(const TestKey& key, std::string_view msg, JwsAlg alg = JwsAlg::kES256) {
  absl::StatusOr<std::string> sig = key.priv->Sign(alg, msg);
  EXPECT_TRUE(sig.ok()) << sig.status();
  return sig.value_or("");
}

std::string DerFromRaw(std::string_view raw) {
  EcdsaSigPtr sig(ECDSA_SIG_new());
  ECDSA_SIG_set0(sig.get(), Bn(raw.substr(0, 32)).release(), Bn(raw.substr(32)).release());
  unsigned char* der = nullptr;
  const int len = i2d_ECDSA_SIG(sig.get(), &der);
  std::string out(reinterpret_cast<char*>(der), static_cast<size_t>(len));
  OPENSSL_free(der);
  return out;
}

// OsslVerifyDigest is OpenSSL's verdict for a 32-byte hash given directly
// (digests SHA-256 of a message cannot be chosen to produce).
bool OsslVerifyDigest(EVP_PKEY* pkey, std::string_view digest, std::string_view raw_sig) {
  const std::string der = DerFromRaw(raw_sig);
  PkeyCtxPtr ctx(EVP_PKEY_CTX_new(pkey, nullptr));
  const bool ok = ctx != nullptr && EVP_PKEY_verify_init(ctx.get()) == 1 &&
                  EVP_PKEY_verify(ctx.get(), U8(der), der.size(), U8(digest), digest.size()) == 1;
  ERR_clear_error();
  return ok;
}

std::string OsslSignDigest(EVP_PKEY* pkey, std::string_view digest) {
  PkeyCtxPtr ctx(EVP_PKEY_CTX_new(pkey, nullptr));
  unsigned char der[80];
  size_t len = sizeof(der);
  EXPECT_EQ(EVP_PKEY_sign_init(ctx.get()), 1);
  EXPECT_EQ(EVP_PKEY_sign(ctx.get(), der, &len, U8(digest), digest.size()), 1);
  const unsigned char* p = der;
  EcdsaSigPtr sig(d2i_ECDSA_SIG(nullptr, &p, static_cast<long>(len)));
  return Bytes32(ECDSA_SIG_get0_r(sig.get())) + Bytes32(ECDSA_SIG_get0_s(sig.get()));
}

std::string ResultName(SignatureResult r) {
  switch (r) {
    case SignatureResult::kValid:
      return "valid";
    case SignatureResult::kInvalid:
      return "invalid";
    case SignatureResult::kMalformed:
      return "malformed";
  }
  return "?";
}

std::string VerdictName(EcdsaVerdict v) {
  switch (v) {
    case EcdsaVerdict::kValid:
      return "valid";
    case EcdsaVerdict::kBadSignature:
      return "bad signature";
    case EcdsaVerdict::kScalarOutOfRange:
      return "out of range";
  }
  return "?";
}

// CoreVerdicts verifies at the core level without and with a key table.
std::pair<EcdsaVerdict, EcdsaVerdict> CoreVerdicts(std::string_view xy, std::string_view digest,
                                                   std::string_view sig) {
  std::optional<EcdsaPublicKey> key = EcdsaPublicKey::FromAffineBytes_vartime(U8(xy));
  EXPECT_TRUE(key.has_value());
  if (!key.has_value()) return {EcdsaVerdict::kBadSignature, EcdsaVerdict::kBadSignature};
  std::unique_ptr<const CombTable> table = p256::BuildKeyTable_vartime(*key);
  return {p256::EcdsaVerifyDigest_vartime(*key, nullptr, U8(digest), U8(sig)),
          p256::EcdsaVerifyDigest_vartime(*key, table.get(), U8(digest), U8(sig))};
}

std::unique_ptr<NativeVerifier> ColdVerifier() {
  NativeVerifier::Options options;
  options.client_key_cache_entries = 0;  // every verification is cold
  return NativeVerifier::Create(options);
}

// ---- The ECDSA core ----

class P256EcdsaCoreTest : public BackendTest {};

TEST_P(P256EcdsaCoreTest, DigestEdgeValuesAgreeWithOpenSsl) {
  const Curve& c = TheCurve();
  Rng rng(TestSeed(7));
  TestKey key = NewKey();
  std::vector<std::string> digests = EdgeValues(c.p.get());  // includes 0, n-1, n (mod p)
  digests.push_back(
      Bytes32(BnHex("FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF").get()));
  digests.push_back(
      Bytes32(BnHex("FFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632552").get()));
  for (int i = 0; i < 20; ++i) digests.push_back(rng.Bytes(32));
  for (const std::string& digest : digests) {
    SCOPED_TRACE("digest=" + Hex(digest));
    const std::string sig = OsslSignDigest(key.priv->pkey(), digest);
    ASSERT_TRUE(OsslVerifyDigest(key.priv->pkey(), digest, sig));
    auto [cold, hot] = CoreVerdicts(key.xy, digest, sig);
    EXPECT_EQ(VerdictName(cold), "valid");
    EXPECT_EQ(VerdictName(hot), "valid");
    std::string bad = sig;
    bad[40] ^= 0x10;
    ASSERT_FALSE(OsslVerifyDigest(key.priv->pkey(), digest, bad));
    std::tie(cold, hot) = CoreVerdicts(key.xy, digest, bad);
    EXPECT_EQ(VerdictName(cold), "bad signature");
    EXPECT_EQ(VerdictName(hot), "bad signature");
  }
}

TEST_P(P256EcdsaCoreTest, RandomSignaturesAndBitFlips) {
  Rng rng(TestSeed(8));
  int checked = 0;
  for (int k = 0; k < 4; ++k) {
    TestKey key = NewKey();
    std::optional<EcdsaPublicKey> parsed = EcdsaPublicKey::FromAffineBytes_vartime(U8(key.xy));
    ASSERT_TRUE(parsed.has_value());
    std::unique_ptr<const CombTable> table = p256::BuildKeyTable_vartime(*parsed);
    for (int m = 0; m < 25; ++m) {
      const std::string digest = rng.Bytes(32);
      const std::string sig = OsslSignDigest(key.priv->pkey(), digest);
      for (int flip = -1; flip < 4; ++flip) {
        std::string s = sig;
        if (flip >= 0) s[rng.Index(64)] ^= static_cast<char>(1 << rng.Index(8));
        SCOPED_TRACE("digest=" + Hex(digest) + " sig=" + Hex(s));
        const bool expected = OsslVerifyDigest(key.priv->pkey(), digest, s);
        const EcdsaVerdict cold =
            p256::EcdsaVerifyDigest_vartime(*parsed, nullptr, U8(digest), U8(s));
        const EcdsaVerdict hot =
            p256::EcdsaVerifyDigest_vartime(*parsed, table.get(), U8(digest), U8(s));
        ASSERT_EQ(cold == EcdsaVerdict::kValid, expected);
        ASSERT_EQ(VerdictName(hot), VerdictName(cold));
        ++checked;
      }
    }
  }
  EXPECT_EQ(checked, 500);
}

TEST_P(P256EcdsaCoreTest, BatchEqualsSingle) {
  Rng rng(TestSeed(9));
  std::vector<TestKey> keys = {NewKey(), NewKey(), NewKey()};
  std::vector<EcdsaPublicKey> parsed;
  std::vector<std::unique_ptr<const CombTable>> tables;
  for (const TestKey& k : keys) {
    parsed.push_back(*EcdsaPublicKey::FromAffineBytes_vartime(U8(k.xy)));
    tables.push_back(p256::BuildKeyTable_vartime(parsed.back()));
  }
  for (size_t size = 1; size <= 9; ++size) {
    for (size_t bad = 0; bad <= size; ++bad) {  // bad == size: all good
      std::vector<std::string> digests(size), sigs(size);
      std::vector<p256::EcdsaBatchItem> items(size);
      for (size_t i = 0; i < size; ++i) {
        const size_t k = (i + size) % keys.size();
        digests[i] = rng.Bytes(32);
        sigs[i] = OsslSignDigest(keys[k].priv->pkey(), digests[i]);
        if (i == bad) sigs[i][rng.Index(64)] ^= 1;
        if (i == bad && size % 3 == 0) sigs[i].replace(0, 32, std::string(32, '\0'));  // r = 0
        items[i] = {&parsed[k], i % 2 == 0 ? tables[k].get() : nullptr, U8(digests[i]),
                    U8(sigs[i])};
      }
      std::vector<EcdsaVerdict> out(size);
      p256::EcdsaVerifyDigestBatch_vartime(items, out);
      for (size_t i = 0; i < size; ++i) {
        SCOPED_TRACE("size " + std::to_string(size) + " bad " + std::to_string(bad) + " member " +
                     std::to_string(i));
        const EcdsaVerdict single = p256::EcdsaVerifyDigest_vartime(
            *items[i].key, items[i].key_table, items[i].digest, items[i].sig);
        EXPECT_EQ(VerdictName(out[i]), VerdictName(single));
        EXPECT_EQ(out[i] == EcdsaVerdict::kValid, i != bad);
      }
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Backends, P256EcdsaCoreTest, ::testing::Bool(), BackendName);

// ---- Crafted signatures for the rare branches ----

// PointFromX returns the point (x, y) for the smallest x >= start whose
// x^3 - 3x + b is a square, and that x.
std::string PointFromX(const BIGNUM* start) {
  const Curve& c = TheCurve();
  BnPtr x(BN_dup(start)), rhs(BN_new()), t(BN_new()), y(BN_new());
  for (;;) {
    BN_mod_sqr(t.get(), x.get(), c.p.get(), c.ctx.get());
    BN_mod_mul(rhs.get(), t.get(), x.get(), c.p.get(), c.ctx.get());
    BN_mod_mul(t.get(), x.get(), c.a.get(), c.p.get(), c.ctx.get());
    BN_mod_add(rhs.get(), rhs.get(), t.get(), c.p.get(), c.ctx.get());
    BN_mod_add(rhs.get(), rhs.get(), c.b.get(), c.p.get(), c.ctx.get());
    if (BN_mod_sqrt(y.get(), rhs.get(), c.p.get(), c.ctx.get()) != nullptr) {
      return Bytes32(x.get()) + Bytes32(y.get());
    }
    ERR_clear_error();
    BN_add_word(x.get(), 1);
  }
}

EcPointPtr OsslPoint(std::string_view xy) {
  const Curve& c = TheCurve();
  EcPointPtr p(EC_POINT_new(c.group.get()));
  EXPECT_EQ(EC_POINT_set_affine_coordinates(c.group.get(), p.get(), Bn(xy.substr(0, 32)).get(),
                                            Bn(xy.substr(32)).get(), c.ctx.get()),
            1);
  return p;
}

TEST(P256CraftedTest, XOfRAboveTheOrder) {
  // x(R) mod n = r has a second solution x(R) = r + n when r + n < p
  // (probability ~2^-128 for honest signatures, so crafted): pick R with
  // x(R) >= n, any s, the message's hash e, and solve for the public key,
  // Q = r^-1 (s*R - e*G) (public key recovery). Checks the (r + n)*Z^2
  // comparison.
  const Curve& c = TheCurve();
  BN_CTX* ctx = c.ctx.get();
  Rng rng(TestSeed(10));
  const std::string r_point = PointFromX(c.n.get());
  BnPtr r(BN_new());
  BN_sub(r.get(), Bn(r_point.substr(0, 32)).get(), c.n.get());  // x(R) - n
  const std::string msg = "x(R) >= n";
  const std::string e = Sha256(msg);
  const std::string s = rng.Below(c.n.get());
  EcPointPtr sr(EC_POINT_new(c.group.get())), eg(EC_POINT_new(c.group.get())),
      q(EC_POINT_new(c.group.get()));
  BnPtr e_mod(Bn(e));
  BN_mod(e_mod.get(), e_mod.get(), c.n.get(), ctx);
  ASSERT_EQ(
      EC_POINT_mul(c.group.get(), sr.get(), nullptr, OsslPoint(r_point).get(), Bn(s).get(), ctx),
      1);
  ASSERT_EQ(EC_POINT_mul(c.group.get(), eg.get(), e_mod.get(), nullptr, nullptr, ctx), 1);
  ASSERT_EQ(EC_POINT_invert(c.group.get(), eg.get(), ctx), 1);
  ASSERT_EQ(EC_POINT_add(c.group.get(), sr.get(), sr.get(), eg.get(), ctx), 1);
  BnPtr r_inv(BN_mod_inverse(nullptr, r.get(), c.n.get(), ctx));
  ASSERT_EQ(EC_POINT_mul(c.group.get(), q.get(), nullptr, sr.get(), r_inv.get(), ctx), 1);
  const std::string q_xy = OsslAffineBytes(q.get());
  std::shared_ptr<const PublicKey> key = PublicKeyFromXY(q_xy);
  ASSERT_NE(key, nullptr);
  const std::string sig = Bytes32(r.get()) + s;

  SignatureVerifierPtr openssl = CreateOpenSslVerifier();
  EXPECT_EQ(ResultName(openssl->Verify(JwsAlg::kES256, *key, msg, sig)), "valid");
  auto [cold, hot] = CoreVerdicts(q_xy, e, sig);
  EXPECT_EQ(VerdictName(cold), "valid");
  EXPECT_EQ(VerdictName(hot), "valid");
  std::unique_ptr<NativeVerifier> native = NativeVerifier::Create();
  native->PrepareKeys(std::vector<std::shared_ptr<const PublicKey>>{key});
  EXPECT_EQ(ResultName(native->Verify(JwsAlg::kES256, *key, msg, sig)), "valid");
  EXPECT_EQ(ResultName(ColdVerifier()->Verify(JwsAlg::kES256, *key, msg, sig)), "valid");
  // r + n itself is not a valid encoding of r: out of range.
  BnPtr r_plus_n(BN_new());
  BN_add(r_plus_n.get(), r.get(), c.n.get());
  const std::string big_r = Bytes32(r_plus_n.get()) + s;
  EXPECT_EQ(ResultName(native->Verify(JwsAlg::kES256, *key, msg, big_r)), "malformed");
  EXPECT_EQ(ResultName(openssl->Verify(JwsAlg::kES256, *key, msg, big_r)), "malformed");
}

TEST(P256CraftedTest, RAtInfinityIsRejected) {
  // With Q = -(e/r)*G, u1*G + u2*Q = (e/s)*G - (r/s)*(e/r)*G = infinity
  // for every s: no x coordinate, so no valid signature (SEC 1 4.1.4 step 5).
  const Curve& c = TheCurve();
  BN_CTX* ctx = c.ctx.get();
  Rng rng(TestSeed(11));
  const std::string msg = "R = O";
  BnPtr e(Bn(Sha256(msg)));
  BN_mod(e.get(), e.get(), c.n.get(), ctx);
  const std::string r = rng.Below(c.n.get());
  BnPtr k(BN_mod_inverse(nullptr, Bn(r).get(), c.n.get(), ctx));
  BN_mod_mul(k.get(), k.get(), e.get(), c.n.get(), ctx);
  BN_sub(k.get(), c.n.get(), k.get());  // -(e/r)
  const std::string q_xy = OsslMul(Bytes32(k.get()), "", "");
  std::shared_ptr<const PublicKey> key = PublicKeyFromXY(q_xy);
  ASSERT_NE(key, nullptr);
  std::unique_ptr<NativeVerifier> native = NativeVerifier::Create();
  native->PrepareKeys(std::vector<std::shared_ptr<const PublicKey>>{key});
  std::unique_ptr<NativeVerifier> cold = ColdVerifier();
  SignatureVerifierPtr openssl = CreateOpenSslVerifier();
  for (int i = 0; i < 5; ++i) {
    const std::string sig = r + rng.Below(c.n.get());
    SCOPED_TRACE(Hex(sig));
    EXPECT_EQ(ResultName(openssl->Verify(JwsAlg::kES256, *key, msg, sig)), "invalid");
    EXPECT_EQ(ResultName(native->Verify(JwsAlg::kES256, *key, msg, sig)), "invalid");
    EXPECT_EQ(ResultName(cold->Verify(JwsAlg::kES256, *key, msg, sig)), "invalid");
  }
}

TEST(P256CraftedTest, AdditionsThatMeetTheSamePoint) {
  // Key Q = G and digest e = s = r: u1 = u2 = 1, so R = G + G, and both paths
  // add G to an accumulator holding G (the doubling case of the addition).
  // With r = -s instead, u2 = -1 and the accumulator meets -G: infinity.
  const Curve& c = TheCurve();
  const AffinePoint& g = p256::Generator();
  const std::string g_xy = FeBytes(g.x) + FeBytes(g.y);
  const std::string two_g = OsslMul(Bytes32(BnHex("2").get()), "", "");
  BnPtr r = Bn(two_g.substr(0, 32));
  BN_mod(r.get(), r.get(), c.n.get(), c.ctx.get());
  const std::string rb = Bytes32(r.get());
  std::shared_ptr<const PublicKey> key = PublicKeyFromXY(g_xy);
  ASSERT_NE(key, nullptr);
  auto [cold, hot] = CoreVerdicts(g_xy, rb, rb + rb);
  EXPECT_EQ(VerdictName(cold), "valid");
  EXPECT_EQ(VerdictName(hot), "valid");
  EXPECT_TRUE(OsslVerifyDigest(key->pkey(), rb, rb + rb));

  const std::string s = Bytes32(BnHex("1234567").get());
  BnPtr minus_s(BN_new());
  BN_sub(minus_s.get(), c.n.get(), Bn(s).get());
  const std::string sig = Bytes32(minus_s.get()) + s;
  std::tie(cold, hot) = CoreVerdicts(g_xy, s, sig);
  EXPECT_EQ(VerdictName(cold), "bad signature");
  EXPECT_EQ(VerdictName(hot), "bad signature");
  EXPECT_FALSE(OsslVerifyDigest(key->pkey(), s, sig));
}

TEST(P256KeyTest, RejectsPointsOffTheCurveAndNonCanonical) {
  const AffinePoint& g = p256::Generator();
  const std::string g_xy = FeBytes(g.x) + FeBytes(g.y);
  EXPECT_TRUE(EcdsaPublicKey::FromAffineBytes_vartime(U8(g_xy)).has_value());
  std::string off = g_xy;
  off[63] ^= 1;
  EXPECT_FALSE(EcdsaPublicKey::FromAffineBytes_vartime(U8(off)).has_value());
  const std::string zero(64, '\0');  // (0, 0): not on the curve (b != 0)
  EXPECT_FALSE(EcdsaPublicKey::FromAffineBytes_vartime(U8(zero)).has_value());
  // x + p is G's x in a non-canonical encoding when it fits: it does not
  // (x(G) + p > 2^256), so use y = p (>= p) instead.
  std::string big_y = g_xy.substr(0, 32) + LimbsToBytes(p256::kP);
  EXPECT_FALSE(EcdsaPublicKey::FromAffineBytes_vartime(U8(big_y)).has_value());
}

// ---- Wycheproof through NativeVerifier ----

std::string HexField(const JsonValue& obj, std::string_view name) {
  const std::string* hex = obj.FindString(name);
  EXPECT_NE(hex, nullptr) << name;
  return testdata::HexDecode(hex != nullptr ? *hex : "").value_or("");
}

std::string Coordinate(std::string bytes) {
  while (bytes.size() > 32 && bytes[0] == '\0') bytes.erase(0, 1);
  if (bytes.size() < 32) bytes.insert(0, 32 - bytes.size(), '\0');
  return bytes;
}

TEST(P256WycheproofTest, Es256P1363ColdHotAndBatched) {
  // C2SP Wycheproof (provenance: shared/testvectors/wycheproof/README.md).
  JsonValue doc =
      testdata::ReadSharedJson("testvectors/wycheproof/ecdsa_secp256r1_sha256_p1363_test.json");
  ASSERT_TRUE(doc.is_object());
  SignatureVerifierPtr openssl = CreateOpenSslVerifier();
  std::unique_ptr<NativeVerifier> cold = ColdVerifier();
  std::unique_ptr<NativeVerifier> hot = NativeVerifier::Create();
  int total = 0, valid = 0, invalid = 0, malformed = 0;
  for (const JsonValue& group : doc.Find("testGroups")->array_items()) {
    const JsonValue& pk = *group.Find("publicKey");
    const std::string xy = Coordinate(HexField(pk, "wx")) + Coordinate(HexField(pk, "wy"));
    std::shared_ptr<const PublicKey> key = PublicKeyFromXY(xy);
    ASSERT_NE(key, nullptr);
    hot->PrepareKeys(std::vector<std::shared_ptr<const PublicKey>>{key});
    std::vector<std::string> msgs, sigs;
    std::vector<SignatureResult> expected;
    for (const JsonValue& test : group.Find("tests")->array_items()) {
      const std::string& result = *test.FindString("result");
      SCOPED_TRACE("tcId " + std::to_string(test.Find("tcId")->AsInt64().value_or(-1)) + " (" +
                   result + ") " + *test.FindString("comment"));
      ++total;
      msgs.push_back(HexField(test, "msg"));
      sigs.push_back(HexField(test, "sig"));
      const SignatureResult want = openssl->Verify(JwsAlg::kES256, *key, msgs.back(), sigs.back());
      expected.push_back(want);
      // The file's verdict first (no "acceptable" vectors in this file).
      ASSERT_NE(result, "acceptable");
      if (result == "valid") {
        ++valid;
        EXPECT_EQ(ResultName(want), "valid");
      } else {
        ++invalid;
        EXPECT_NE(ResultName(want), "valid");
        malformed += want == SignatureResult::kMalformed;
      }
      EXPECT_EQ(ResultName(cold->Verify(JwsAlg::kES256, *key, msgs.back(), sigs.back())),
                ResultName(want));
      EXPECT_EQ(ResultName(hot->Verify(JwsAlg::kES256, *key, msgs.back(), sigs.back())),
                ResultName(want));
    }
    // The whole group again as one batch, on both verifiers.
    std::vector<SignatureCheck> checks;
    for (size_t i = 0; i < msgs.size(); ++i) {
      checks.push_back({JwsAlg::kES256, key.get(), msgs[i], sigs[i]});
    }
    for (const NativeVerifier* v : {cold.get(), hot.get()}) {
      std::vector<SignatureResult> results(checks.size());
      v->VerifyBatch(checks, results);
      for (size_t i = 0; i < checks.size(); ++i) {
        EXPECT_EQ(ResultName(results[i]), ResultName(expected[i])) << "batch member " << i;
      }
    }
  }
  std::cout << "ES256 Wycheproof via NativeVerifier: " << total << " vectors (" << valid
            << " valid, " << invalid << " invalid of which " << malformed
            << " malformed), cold and hot, single and batched\n";
  EXPECT_EQ(total, 262);
  EXPECT_EQ(valid, 173);
  EXPECT_EQ(invalid, 89);
  EXPECT_EQ(malformed, 71);
  EXPECT_EQ(cold->stats().es256_hot, 0u);
  EXPECT_EQ(hot->stats().es256_cold, 0u);
  EXPECT_EQ(hot->stats().es256_hot, 2u * (262u - 71u));
  EXPECT_EQ(cold->stats().es256_cold + cold->stats().es256_delegated, 2u * (262u - 71u));
}

// ---- The differential harness ----

struct Mutation {
  std::string label;
  const PublicKey* key;
  std::string msg;
  std::string sig;
};

std::vector<Mutation> Mutations(Rng& rng, const PublicKey& key, const PublicKey& other_key,
                                const std::string& msg, const std::string& sig) {
  const Curve& c = TheCurve();
  const std::string r = sig.substr(0, 32), s = sig.substr(32);
  std::vector<Mutation> out;
  out.push_back({"valid", &key, msg, sig});
  for (int i = 0; i < 6; ++i) {
    std::string flipped = sig;
    flipped[rng.Index(64)] ^= static_cast<char>(1 << rng.Index(8));
    out.push_back({"sig bit flip", &key, msg, flipped});
  }
  std::string flipped_msg = msg;
  flipped_msg[rng.Index(msg.size())] ^= static_cast<char>(1 << rng.Index(8));
  out.push_back({"msg bit flip", &key, flipped_msg, sig});
  out.push_back({"swapped r/s", &key, msg, s + r});
  static const char* kSpecial[] = {
      "0",
      "1",
      "FFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632550",  // n - 1
      "FFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551",  // n
      "FFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632552",  // n + 1
      "FFFFFFFF00000001000000000000000000000000FFFFFFFFFFFFFFFFFFFFFFFE",  // p - 1
      "FFFFFFFF00000001000000000000000000000000FFFFFFFFFFFFFFFFFFFFFFFF",  // p
      "FFFFFFFF00000001000000000000000000000001000000000000000000000000",  // p + 1
      "FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF",  // 2^256 - 1
  };
  for (const char* hex : kSpecial) {
    const std::string v = Bytes32(BnHex(hex).get());
    out.push_back({std::string("r=") + hex, &key, msg, v + s});
    out.push_back({std::string("s=") + hex, &key, msg, r + v});
  }
  BnPtr high_s(BN_new());
  BN_sub(high_s.get(), c.n.get(), Bn(s).get());  // (r, n - s) verifies too
  out.push_back({"high s", &key, msg, r + Bytes32(high_s.get())});
  out.push_back({"wrong key", &other_key, msg, sig});
  out.push_back({"truncated", &key, msg, sig.substr(0, 63)});
  out.push_back({"extended", &key, msg, sig + '\0'});
  out.push_back({"r=s=0", &key, msg, std::string(64, '\0')});
  return out;
}

TEST(P256DifferentialTest, AgreesWithOpenSsl) {
  const bool long_mode = LongTests();
  const int num_keys = long_mode ? 400 : 16;
  const int msgs_per_key = long_mode ? 200 : 50;
  std::cout << "differential: " << (long_mode ? "long" : "short") << " mode\n";
  Rng rng(TestSeed(12));
  SignatureVerifierPtr openssl = CreateOpenSslVerifier();
  std::unique_ptr<NativeVerifier> cold = ColdVerifier();
  std::unique_ptr<NativeVerifier> hot = NativeVerifier::Create();
  std::map<std::string, int> by_verdict;
  int cases = 0;
  TestKey previous = NewKey();
  for (int k = 0; k < num_keys; ++k) {
    TestKey key = NewKey();
    hot->PrepareKeys(std::vector<std::shared_ptr<const PublicKey>>{key.pub, previous.pub});
    for (int m = 0; m < msgs_per_key; ++m) {
      const std::string msg = rng.Bytes(1 + rng.Index(400));
      const std::string sig = Sign(key, msg);
      std::vector<Mutation> muts = Mutations(rng, *key.pub, *previous.pub, msg, sig);
      std::vector<SignatureCheck> checks;
      std::vector<SignatureResult> expected;
      for (const Mutation& mu : muts) {
        SCOPED_TRACE(mu.label + " key " + Hex(key.xy) + " msg " + Hex(mu.msg) + " sig " +
                     Hex(mu.sig));
        const SignatureResult want = openssl->Verify(JwsAlg::kES256, *mu.key, mu.msg, mu.sig);
        ASSERT_EQ(ResultName(cold->Verify(JwsAlg::kES256, *mu.key, mu.msg, mu.sig)),
                  ResultName(want));
        ASSERT_EQ(ResultName(hot->Verify(JwsAlg::kES256, *mu.key, mu.msg, mu.sig)),
                  ResultName(want));
        if (mu.label == "valid" || mu.label == "high s") {
          ASSERT_EQ(ResultName(want), "valid");
        }
        ++by_verdict[ResultName(want)];
        ++cases;
        checks.push_back({JwsAlg::kES256, mu.key, mu.msg, mu.sig});
        expected.push_back(want);
      }
      std::vector<SignatureResult> results(checks.size());
      hot->VerifyBatch(checks, results);
      for (size_t i = 0; i < checks.size(); ++i) {
        ASSERT_EQ(ResultName(results[i]), ResultName(expected[i])) << muts[i].label;
      }
    }
    previous = std::move(key);
  }
  std::cout << "differential: " << cases << " cases (" << by_verdict["valid"] << " valid, "
            << by_verdict["invalid"] << " invalid, " << by_verdict["malformed"]
            << " malformed), each through OpenSSL, native cold, native hot and a native batch\n";
  EXPECT_GE(cases, long_mode ? 2000000 : 20000);
  EXPECT_EQ(ERR_peek_error(), 0u);
}

// ---- NativeVerifier behaviour ----

TEST(NativeVerifierTest, TablesFollowUse) {
  std::unique_ptr<NativeVerifier> v = NativeVerifier::Create();
  TestKey key = NewKey();
  const std::string sig = Sign(key, "m");
  struct Step {
    uint64_t hot, cold, built;
  } steps[] = {
      {0, 1, 0},  // first sight: cold, key remembered
      {1, 1, 1},  // second: table built, hot
      {2, 1, 1},  // then hot
  };
  for (const Step& step : steps) {
    EXPECT_EQ(ResultName(v->Verify(JwsAlg::kES256, *key.pub, "m", sig)), "valid");
    EXPECT_EQ(v->stats().es256_hot, step.hot);
    EXPECT_EQ(v->stats().es256_cold, step.cold);
    EXPECT_EQ(v->stats().tables_built, step.built);
  }
  // Rejections before the core touch no counter.
  EXPECT_EQ(ResultName(v->Verify(JwsAlg::kES256, *key.pub, "m", sig.substr(1))), "malformed");
  EXPECT_EQ(ResultName(v->Verify(JwsAlg::kES256, *key.pub, "m", std::string(64, '\0'))),
            "malformed");
  EXPECT_EQ(v->stats().es256_hot + v->stats().es256_cold, 3u);
}

TEST(NativeVerifierTest, CacheDisabledStaysCold) {
  std::unique_ptr<NativeVerifier> v = ColdVerifier();
  TestKey key = NewKey();
  const std::string sig = Sign(key, "m");
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(ResultName(v->Verify(JwsAlg::kES256, *key.pub, "m", sig)), "valid");
  }
  EXPECT_EQ(v->stats().es256_cold, 3u);
  EXPECT_EQ(v->stats().tables_built, 0u);
}

TEST(NativeVerifierTest, PreparedKeysAreHotAtOnce) {
  NativeVerifier::Options options;
  options.max_pinned_keys = 1;
  std::unique_ptr<NativeVerifier> v = NativeVerifier::Create(options);
  TestKey a = NewKey(), b = NewKey();
  TestKey es384 = NewKey(JwsAlg::kES384), ed = NewKey(JwsAlg::kEdDSA);
  v->PrepareKeys(std::vector<std::shared_ptr<const PublicKey>>{es384.pub, ed.pub, a.pub, b.pub});
  EXPECT_EQ(v->stats().tables_built, 1u);  // only a: others not P-256, b beyond the cap
  EXPECT_EQ(ResultName(v->Verify(JwsAlg::kES256, *a.pub, "m", Sign(a, "m"))), "valid");
  EXPECT_EQ(v->stats().es256_hot, 1u);
  EXPECT_EQ(ResultName(v->Verify(JwsAlg::kES256, *b.pub, "m", Sign(b, "m"))), "valid");
  EXPECT_EQ(v->stats().es256_cold, 1u);
}

TEST(NativeVerifierTest, TableBuildsAreBudgeted) {
  // Every key seen exactly twice: the first kFreeTableBuilds second sights
  // build tables, later ones must wait for 16 verifications per table.
  // Issuer keys (PrepareKeys) do not use up the clients' allowance.
  std::unique_ptr<NativeVerifier> v = NativeVerifier::Create();
  TestKey issuer1 = NewKey(), issuer2 = NewKey();
  v->PrepareKeys(std::vector<std::shared_ptr<const PublicKey>>{issuer1.pub, issuer2.pub});
  const int keys = static_cast<int>(NativeVerifier::kFreeTableBuilds) + 16;
  for (int i = 0; i < keys; ++i) {
    TestKey key = NewKey();
    const std::string sig = Sign(key, "m");
    for (int j = 0; j < 2; ++j) {
      ASSERT_EQ(ResultName(v->Verify(JwsAlg::kES256, *key.pub, "m", sig)), "valid");
    }
  }
  EXPECT_EQ(v->stats().tables_built, NativeVerifier::kFreeTableBuilds + 2);
  EXPECT_EQ(v->stats().table_builds_deferred, 16u);
}

TEST(NativeVerifierTest, OtherAlgorithmsMatchOpenSsl) {
  std::unique_ptr<NativeVerifier> v = NativeVerifier::Create();
  SignatureVerifierPtr openssl = CreateOpenSslVerifier();
  for (JwsAlg alg :
       {JwsAlg::kES384, JwsAlg::kES512, JwsAlg::kEdDSA, JwsAlg::kRS256, JwsAlg::kPS256}) {
    SCOPED_TRACE(std::string(JwsAlgName(alg)));
    TestKey key = NewKey(alg);
    std::string sig = Sign(key, "message", alg);
    EXPECT_EQ(ResultName(v->Verify(alg, *key.pub, "message", sig)), "valid");
    sig[sig.size() / 2] ^= 1;
    EXPECT_EQ(ResultName(v->Verify(alg, *key.pub, "message", sig)),
              ResultName(openssl->Verify(alg, *key.pub, "message", sig)));
    EXPECT_EQ(ResultName(v->Verify(alg, *key.pub, "message", sig.substr(1))), "malformed");
    // An ES256 verification with this key: the key does not fit.
    EXPECT_EQ(ResultName(v->Verify(JwsAlg::kES256, *key.pub, "message", std::string(64, 1))),
              "invalid");
  }
  EXPECT_EQ(v->stats().es256_hot + v->stats().es256_cold, 0u);
  EXPECT_EQ(ERR_peek_error(), 0u);
}

TEST(NativeVerifierTest, BatchEqualsOneByOne) {
  std::unique_ptr<NativeVerifier> v = NativeVerifier::Create();
  Rng rng(TestSeed(13));
  TestKey hot_key = NewKey(), cold_key = NewKey(), es384 = NewKey(JwsAlg::kES384);
  v->PrepareKeys(std::vector<std::shared_ptr<const PublicKey>>{hot_key.pub});
  for (size_t size = 1; size <= 12; ++size) {
    for (size_t bad = 0; bad <= size; ++bad) {
      std::vector<std::string> msgs(size), sigs(size);
      std::vector<SignatureCheck> checks(size);
      for (size_t i = 0; i < size; ++i) {
        msgs[i] = rng.Bytes(20);
        const TestKey& key = i % 3 == 0 ? hot_key : (i % 3 == 1 ? cold_key : es384);
        const JwsAlg alg = i % 3 == 2 ? JwsAlg::kES384 : JwsAlg::kES256;
        sigs[i] = Sign(key, msgs[i], alg);
        if (i == bad) {
          if (size % 2 == 0) {
            sigs[i][rng.Index(sigs[i].size())] ^= 4;
          } else {
            sigs[i].pop_back();  // malformed
          }
        }
        checks[i] = {alg, key.pub.get(), msgs[i], sigs[i]};
      }
      std::vector<SignatureResult> results(size);
      v->VerifyBatch(checks, results);
      for (size_t i = 0; i < size; ++i) {
        SCOPED_TRACE("size " + std::to_string(size) + " bad " + std::to_string(bad) + " member " +
                     std::to_string(i));
        EXPECT_EQ(ResultName(results[i]),
                  ResultName(v->Verify(checks[i].alg, *checks[i].key, checks[i].signing_input,
                                       checks[i].signature)));
        EXPECT_EQ(results[i] == SignatureResult::kValid, i != bad);
      }
    }
  }
}

}  // namespace
}  // namespace popguard::p256_testing
