// Correctness of the P-256 points (part of p256_test;
// service/crypto/p256/p256_point.h) against OpenSSL: the base table, key
// tables and Strauss-Shamir against EC_POINT_mul, the special cases of
// addition, and the scalar recodings (signed windows, wNAF).
#include "tests/crypto/p256_test_util.h"

#include "gtest/gtest.h"

namespace popguard::p256_testing {
namespace {

// AffineBytes returns x || y of a finite point, or "inf".
std::string AffineBytes(const JacobianPoint& p) {
  AffinePoint a;
  if (!p256::PointToAffine_vartime(&a, p)) return "inf";
  return FeBytes(a.x) + FeBytes(a.y);
}

// ---- Points ----

class P256PointTest : public BackendTest {};

TEST_P(P256PointTest, BaseTableMatchesOpenSsl) {
  const Curve& c = TheCurve();
  Rng rng(TestSeed(4));
  std::vector<std::string> scalars = EdgeValues(c.n.get());
  for (int i = 0; i < 100; ++i) scalars.push_back(rng.Below(c.n.get()));
  for (const std::string& k : scalars) {
    SCOPED_TRACE("k=" + Hex(k));
    JacobianPoint r;
    p256::PointSetInfinity(&r);
    p256::CombAccumulate_vartime(&r, p256::BaseTable(), ScPlain(k));
    ASSERT_EQ(Hex(AffineBytes(r)), Hex(OsslMul(k, "", "")));
  }
}

TEST_P(P256PointTest, KeyTablesAndStraussMatchOpenSsl) {
  const Curve& c = TheCurve();
  Rng rng(TestSeed(5));
  const std::string q_scalar = rng.Below(c.n.get());
  const std::string q_xy = OsslMul(q_scalar, "", "");
  std::optional<EcdsaPublicKey> q = EcdsaPublicKey::FromAffineBytes_vartime(U8(q_xy));
  ASSERT_TRUE(q.has_value());
  std::vector<std::string> scalars = EdgeValues(c.n.get());
  for (int i = 0; i < 40; ++i) scalars.push_back(rng.Below(c.n.get()));
  for (int w = 2; w <= 8; ++w) {
    SCOPED_TRACE("window bits " + std::to_string(w));
    std::unique_ptr<CombTable> table = CombTable::Build_vartime(q->point(), w);
    ASSERT_NE(table, nullptr);
    EXPECT_EQ(table->windows(), (256 + w) / w);
    for (size_t i = 0; i < scalars.size(); i += (w == p256::kKeyWindowBits ? 1 : 5)) {
      SCOPED_TRACE("k=" + Hex(scalars[i]));
      JacobianPoint r;
      p256::PointSetInfinity(&r);
      p256::CombAccumulate_vartime(&r, *table, ScPlain(scalars[i]));
      ASSERT_EQ(Hex(AffineBytes(r)), Hex(OsslMul(Bytes32(BnHex("0").get()), scalars[i], q_xy)));
    }
  }
  for (size_t i = 0; i < scalars.size(); ++i) {
    const std::string& a = scalars[i];
    const std::string& b = scalars[(i * 7 + 3) % scalars.size()];
    SCOPED_TRACE("a=" + Hex(a) + " b=" + Hex(b));
    JacobianPoint r;
    p256::StraussMul_vartime(&r, ScPlain(a), ScPlain(b), q->point());
    ASSERT_EQ(Hex(AffineBytes(r)), Hex(OsslMul(a, b, q_xy)));
  }
  // a*G + b*Q with Q = G and b = n - a: infinity on the last addition.
  const std::string a = rng.Below(c.n.get());
  BnPtr minus_a(BN_new());
  BN_sub(minus_a.get(), c.n.get(), Bn(a).get());
  JacobianPoint r;
  p256::StraussMul_vartime(&r, ScPlain(a), ScPlain(Bytes32(minus_a.get())), p256::Generator());
  EXPECT_TRUE(p256::PointIsInfinity_vartime(r));
}

TEST_P(P256PointTest, AdditionSpecialCases) {
  const AffinePoint& g = p256::Generator();
  JacobianPoint jg, twice, sum, inf;
  p256::PointFromAffine(&jg, g);
  p256::PointDouble(&twice, jg);
  const std::string two_g = OsslMul(Bytes32(BnHex("2").get()), "", "");
  // a = b: the mixed and the full addition must double.
  p256::PointAddMixed_vartime(&sum, jg, g);
  EXPECT_EQ(Hex(AffineBytes(sum)), Hex(two_g));
  p256::PointAdd_vartime(&sum, jg, jg);
  EXPECT_EQ(Hex(AffineBytes(sum)), Hex(two_g));
  EXPECT_EQ(Hex(AffineBytes(twice)), Hex(two_g));
  // A non-trivial Z: 2G + G = 3G either way.
  const std::string three_g = OsslMul(Bytes32(BnHex("3").get()), "", "");
  p256::PointAddMixed_vartime(&sum, twice, g);
  EXPECT_EQ(Hex(AffineBytes(sum)), Hex(three_g));
  p256::PointAdd_vartime(&sum, jg, twice);
  EXPECT_EQ(Hex(AffineBytes(sum)), Hex(three_g));
  // a = -b: infinity.
  AffinePoint neg = g;
  p256::FeNeg(&neg.y, g.y);
  p256::PointAddMixed_vartime(&sum, jg, neg);
  EXPECT_TRUE(p256::PointIsInfinity_vartime(sum));
  JacobianPoint jneg;
  p256::PointFromAffine(&jneg, neg);
  p256::PointAdd_vartime(&sum, jg, jneg);
  EXPECT_TRUE(p256::PointIsInfinity_vartime(sum));
  // Infinity is the neutral element, and doubles to itself.
  p256::PointSetInfinity(&inf);
  p256::PointAddMixed_vartime(&sum, inf, g);
  EXPECT_EQ(Hex(AffineBytes(sum)), Hex(FeBytes(g.x) + FeBytes(g.y)));
  p256::PointAdd_vartime(&sum, inf, twice);
  EXPECT_EQ(Hex(AffineBytes(sum)), Hex(two_g));
  p256::PointAdd_vartime(&sum, twice, inf);
  EXPECT_EQ(Hex(AffineBytes(sum)), Hex(two_g));
  p256::PointDouble(&sum, inf);
  EXPECT_TRUE(p256::PointIsInfinity_vartime(sum));
  AffinePoint unused;
  EXPECT_FALSE(p256::PointToAffine_vartime(&unused, inf));
}
INSTANTIATE_TEST_SUITE_P(Backends, P256PointTest, ::testing::Bool(), BackendName);

// ScRaw loads 32 big-endian bytes without reduction (the recoders take any
// value below 2^256).
Sc ScRaw(std::string_view be32) {
  Sc r;
  for (int i = 0; i < 4; ++i) {
    uint64_t w = 0;
    for (int j = 0; j < 8; ++j) w = (w << 8) | static_cast<uint8_t>(be32[(3 - i) * 8 + j]);
    r.v[i] = w;
  }
  return r;
}

// SumDigits returns sum digits[i] * 2^(shift*i) as a (signed) BIGNUM.
template <typename Digit>
BnPtr SumDigits(const Digit* digits, int count, int shift) {
  BnPtr acc(BN_new()), t(BN_new());
  BN_zero(acc.get());
  for (int i = count - 1; i >= 0; --i) {
    BN_lshift(acc.get(), acc.get(), shift);
    const int d = digits[i];
    BN_set_word(t.get(), static_cast<BN_ULONG>(d < 0 ? -d : d));
    if (d < 0) {
      BN_sub(acc.get(), acc.get(), t.get());
    } else {
      BN_add(acc.get(), acc.get(), t.get());
    }
  }
  return acc;
}

std::vector<std::string> RecodingScalars() {
  const Curve& c = TheCurve();
  Rng rng(TestSeed(6));
  std::vector<std::string> scalars = EdgeValues(c.n.get());
  scalars.push_back(
      Bytes32(BnHex("FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF").get()));
  scalars.push_back(
      Bytes32(BnHex("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA").get()));
  for (int i = 0; i < 60; ++i) scalars.push_back(rng.Bytes(32));
  return scalars;
}

TEST(P256RecodingTest, SignedWindowsReconstructTheScalar) {
  for (int w = 2; w <= 10; ++w) {
    const int windows = (256 + w) / w;
    for (const std::string& k : RecodingScalars()) {
      SCOPED_TRACE("w=" + std::to_string(w) + " k=" + Hex(k));
      int16_t digits[129];
      p256::RecodeSignedWindows_vartime(digits, ScRaw(k), w, windows);
      for (int j = 0; j < windows; ++j) {
        EXPECT_GE(digits[j], -((1 << (w - 1)) - 1));
        EXPECT_LE(digits[j], 1 << (w - 1));
      }
      EXPECT_EQ(BN_cmp(SumDigits(digits, windows, w).get(), Bn(k).get()), 0);
    }
  }
}

TEST(P256RecodingTest, WnafReconstructsTheScalar) {
  for (int w = 2; w <= 15; ++w) {
    for (const std::string& k : RecodingScalars()) {
      SCOPED_TRACE("w=" + std::to_string(w) + " k=" + Hex(k));
      int16_t naf[p256::kMaxWnafLength];
      const int length = p256::RecodeWnaf_vartime(naf, ScRaw(k), w);
      int last_nonzero = -1000;
      for (int i = 0; i < p256::kMaxWnafLength; ++i) {
        if (naf[i] == 0) continue;
        EXPECT_NE(naf[i] % 2, 0) << i;
        EXPECT_LT(std::abs(naf[i]), 1 << (w - 1)) << i;
        EXPECT_GE(i - last_nonzero, w) << i;  // at most one nonzero per w positions
        last_nonzero = i;
      }
      EXPECT_EQ(length, last_nonzero + 1 > 0 ? last_nonzero + 1 : 0);
      EXPECT_EQ(BN_cmp(SumDigits(naf, p256::kMaxWnafLength, 1).get(), Bn(k).get()), 0);
    }
  }
}

}  // namespace
}  // namespace popguard::p256_testing
