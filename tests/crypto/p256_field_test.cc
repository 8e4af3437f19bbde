// Correctness of the P-256 field and scalar arithmetic (part of p256_test;
// service/crypto/p256/p256_field.h) against OpenSSL: the constants, arithmetic
// mod p and mod n against BIGNUM on random and edge values, on both backends
// (MULX/ADX assembly and portable C++), canonical encodings only.
#include "tests/crypto/p256_test_util.h"

#include "gtest/gtest.h"

namespace popguard::p256_testing {
namespace {

Fe FeOf(std::string_view be32) {
  Fe r;
  EXPECT_TRUE(p256::FeFromBytes_vartime(&r, U8(be32)));
  return r;
}

// ---- Constants ----

TEST(P256ConstantsTest, MatchOpenSsl) {
  const Curve& c = TheCurve();
  EXPECT_EQ(Hex(LimbsToBytes(p256::kP)), Hex(Bytes32(c.p.get())));
  EXPECT_EQ(Hex(LimbsToBytes(p256::kN)), Hex(Bytes32(c.n.get())));
  const EC_POINT* g = EC_GROUP_get0_generator(c.group.get());
  const AffinePoint& ours = p256::Generator();
  EXPECT_EQ(Hex(FeBytes(ours.x) + FeBytes(ours.y)), Hex(OsslAffineBytes(g)));
  EXPECT_TRUE(p256::AffineIsOnCurve_vartime(ours));
  // b: G on the curve with our b is checked above; also a point off it.
  AffinePoint off = ours;
  p256::FeAdd(&off.y, off.y, p256::FeOne());
  EXPECT_FALSE(p256::AffineIsOnCurve_vartime(off));
}

// ---- GF(p) ----

class P256FieldTest : public BackendTest {};

TEST_P(P256FieldTest, MatchesBignum) {
  const Curve& c = TheCurve();
  BN_CTX* ctx = c.ctx.get();
  Rng rng(TestSeed(1));
  std::vector<std::string> values = EdgeValues(c.p.get());
  for (int i = 0; i < 300; ++i) values.push_back(rng.Below(c.p.get()));
  BnPtr expect(BN_new());
  int checked = 0;
  for (size_t i = 0; i < values.size(); ++i) {
    for (size_t j = 0; j < values.size(); j += (i < 20 ? 1 : 13)) {
      const std::string& a = values[i];
      const std::string& b = values[j];
      SCOPED_TRACE("a=" + Hex(a) + " b=" + Hex(b));
      BnPtr ba = Bn(a), bb = Bn(b);
      const Fe fa = FeOf(a), fb = FeOf(b);
      Fe r;
      p256::FeMul(&r, fa, fb);
      BN_mod_mul(expect.get(), ba.get(), bb.get(), c.p.get(), ctx);
      ASSERT_EQ(Hex(FeBytes(r)), Hex(Bytes32(expect.get())));
      p256::FeAdd(&r, fa, fb);
      BN_mod_add(expect.get(), ba.get(), bb.get(), c.p.get(), ctx);
      ASSERT_EQ(Hex(FeBytes(r)), Hex(Bytes32(expect.get())));
      p256::FeSub(&r, fa, fb);
      BN_mod_sub(expect.get(), ba.get(), bb.get(), c.p.get(), ctx);
      ASSERT_EQ(Hex(FeBytes(r)), Hex(Bytes32(expect.get())));
      ++checked;
    }
    const std::string& a = values[i];
    SCOPED_TRACE("a=" + Hex(a));
    BnPtr ba = Bn(a);
    const Fe fa = FeOf(a);
    Fe r;
    p256::FeSqr(&r, fa);
    BN_mod_sqr(expect.get(), ba.get(), c.p.get(), ctx);
    ASSERT_EQ(Hex(FeBytes(r)), Hex(Bytes32(expect.get())));
    p256::FeNeg(&r, fa);
    BN_mod_sub(expect.get(), c.p.get(), ba.get(), c.p.get(), ctx);
    ASSERT_EQ(Hex(FeBytes(r)), Hex(Bytes32(expect.get())));
    p256::FeHalf(&r, fa);  // r*2 == a
    p256::FeAdd(&r, r, r);
    ASSERT_EQ(Hex(FeBytes(r)), Hex(a));
    p256::FeHalfPortable(&r, fa);
    p256::FeAdd(&r, r, r);
    ASSERT_EQ(Hex(FeBytes(r)), Hex(a));
    Fe inv, inv_vt;
    p256::FeInvert(&inv, fa);
    p256::FeInvert_vartime(&inv_vt, fa);
    if (BN_is_zero(ba.get())) {
      EXPECT_TRUE(p256::FeIsZero_vartime(inv));
      EXPECT_TRUE(p256::FeIsZero_vartime(inv_vt));
    } else {
      ASSERT_NE(BN_mod_inverse(expect.get(), ba.get(), c.p.get(), ctx), nullptr);
      ASSERT_EQ(Hex(FeBytes(inv)), Hex(Bytes32(expect.get())));
      ASSERT_EQ(Hex(FeBytes(inv_vt)), Hex(Bytes32(expect.get())));
    }
  }
  EXPECT_GT(checked, 10000);
}

TEST_P(P256FieldTest, BatchInvert) {
  const Curve& c = TheCurve();
  Rng rng(TestSeed(2));
  for (int count : {1, 2, 3, 17, 64}) {
    std::vector<Fe> a(count), scratch(count);
    std::vector<std::string> plain(count);
    for (int i = 0; i < count; ++i) {
      do plain[i] = rng.Below(c.p.get());
      while (BN_is_zero(Bn(plain[i]).get()));
      a[i] = FeOf(plain[i]);
    }
    p256::FeBatchInvert_vartime(a.data(), scratch.data(), count);
    for (int i = 0; i < count; ++i) {
      BnPtr expect(BN_mod_inverse(nullptr, Bn(plain[i]).get(), c.p.get(), c.ctx.get()));
      EXPECT_EQ(Hex(FeBytes(a[i])), Hex(Bytes32(expect.get()))) << count << " " << i;
    }
  }
}

TEST(P256FieldEncodingTest, CanonicalOnly) {
  const Curve& c = TheCurve();
  struct Case {
    const char* hex;
    bool accepted;
  } cases[] = {
      {"00", true},
      {"FFFFFFFF00000001000000000000000000000000FFFFFFFFFFFFFFFFFFFFFFFE", true},   // p - 1
      {"FFFFFFFF00000001000000000000000000000000FFFFFFFFFFFFFFFFFFFFFFFF", false},  // p
      {"FFFFFFFF00000001000000000000000000000001000000000000000000000000", false},  // p + 1
      {"FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF", false},  // 2^256 - 1
  };
  for (const Case& tc : cases) {
    SCOPED_TRACE(tc.hex);
    const std::string bytes = Bytes32(BnHex(tc.hex).get());
    Fe r;
    EXPECT_EQ(p256::FeFromBytes_vartime(&r, U8(bytes)), tc.accepted);
    if (tc.accepted) {
      EXPECT_EQ(Hex(FeBytes(r)), Hex(bytes));
    }
  }
  (void)c;
}

// ---- Z/nZ ----

class P256ScalarTest : public BackendTest {};

TEST_P(P256ScalarTest, MatchesBignum) {
  const Curve& c = TheCurve();
  BN_CTX* ctx = c.ctx.get();
  Rng rng(TestSeed(3));
  std::vector<std::string> values = EdgeValues(c.n.get());
  for (int i = 0; i < 200; ++i) values.push_back(rng.Below(c.n.get()));
  // Raw 256-bit values, reduced by ScFromBytesReduce.
  for (const char* h : {"FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF",
                        "FFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551",
                        "FFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632552"}) {
    const std::string raw = Bytes32(BnHex(h).get());
    BnPtr expect = BnHex(h);
    BN_mod(expect.get(), expect.get(), c.n.get(), ctx);
    EXPECT_EQ(Hex(LimbsToBytes(ScPlain(raw).v)), Hex(Bytes32(expect.get()))) << h;
  }
  BnPtr expect(BN_new());
  for (size_t i = 0; i < values.size(); ++i) {
    const std::string& a = values[i];
    SCOPED_TRACE("a=" + Hex(a));
    const Sc sa = ScPlain(a);
    for (size_t j = 0; j < values.size(); j += 7) {
      const Sc sb = ScPlain(values[j]);
      const Sc prod = p256::ScMontMul(p256::ScToMont(sa), sb);
      BN_mod_mul(expect.get(), Bn(a).get(), Bn(values[j]).get(), c.n.get(), ctx);
      ASSERT_EQ(Hex(LimbsToBytes(prod.v)), Hex(Bytes32(expect.get()))) << Hex(values[j]);
    }
    const Sc one = {{1, 0, 0, 0}};
    const Sc inv_vt = p256::ScMontMul(p256::ScInvertMont_vartime(p256::ScToMont(sa)), one);
    const Sc inv_ct = p256::ScMontMul(p256::ScInvertMontConstTime(p256::ScToMont(sa)), one);
    if (p256::ScIsZero_vartime(sa)) {
      EXPECT_TRUE(p256::ScIsZero_vartime(inv_vt));
      continue;
    }
    ASSERT_NE(BN_mod_inverse(expect.get(), Bn(a).get(), c.n.get(), ctx), nullptr);
    ASSERT_EQ(Hex(LimbsToBytes(inv_vt.v)), Hex(Bytes32(expect.get())));
    ASSERT_EQ(Hex(LimbsToBytes(inv_ct.v)), Hex(Bytes32(expect.get())));
  }
  // Batch inversion agrees with one-by-one.
  std::vector<Sc> batch, scratch(values.size());
  std::vector<std::string> batch_plain;
  for (const std::string& v : values) {
    if (p256::ScIsZero_vartime(ScPlain(v))) continue;
    batch.push_back(p256::ScToMont(ScPlain(v)));
    batch_plain.push_back(v);
  }
  p256::ScBatchInvertMont_vartime(batch.data(), scratch.data(), static_cast<int>(batch.size()));
  for (size_t i = 0; i < batch.size(); ++i) {
    BnPtr e(BN_mod_inverse(nullptr, Bn(batch_plain[i]).get(), c.n.get(), ctx));
    EXPECT_EQ(Hex(LimbsToBytes(p256::ScMontMul(batch[i], Sc{{1, 0, 0, 0}}).v)),
              Hex(Bytes32(e.get())));
  }
}

TEST(P256ScalarRangeTest, SignatureScalars) {
  // SEC 1 4.1.4 step 1: r and s in [1, n-1].
  struct Case {
    const char* hex;
    bool in_range;
  } cases[] = {
      {"0", false},
      {"1", true},
      {"FFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632550", true},   // n - 1
      {"FFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551", false},  // n
      {"FFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632552", false},  // n + 1
      {"FFFFFFFF00000001000000000000000000000000FFFFFFFFFFFFFFFFFFFFFFFF", false},  // p
      {"FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF", false},
  };
  for (const Case& tc : cases) {
    SCOPED_TRACE(tc.hex);
    const std::string v = Bytes32(BnHex(tc.hex).get());
    Sc s;
    EXPECT_EQ(p256::ScFromBytes_vartime(&s, U8(v)), tc.in_range);
    const std::string one = Bytes32(BnHex("1").get());
    EXPECT_EQ(p256::EcdsaScalarsInRange_vartime(U8(v + one)), tc.in_range);
    EXPECT_EQ(p256::EcdsaScalarsInRange_vartime(U8(one + v)), tc.in_range);
  }
}

INSTANTIATE_TEST_SUITE_P(Backends, P256FieldTest, ::testing::Bool(), BackendName);
INSTANTIATE_TEST_SUITE_P(Backends, P256ScalarTest, ::testing::Bool(), BackendName);

}  // namespace
}  // namespace popguard::p256_testing
