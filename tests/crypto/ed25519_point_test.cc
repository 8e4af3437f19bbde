// Correctness of the Ed25519 points (part 2 of ed25519_test;
// service/crypto/ed25519/ed25519_{point,msm}.h): point decoding against a
// BIGNUM reference decoder; the base point and its table; scalar
// multiplication against OpenSSL's key derivation; both multi-scalar
// multiplications against a plain sum.
#include "tests/crypto/ed25519_test_util.h"

#include "gtest/gtest.h"

namespace popguard::ed25519_testing {
namespace {

// ---------------------------------------------------------------------------
// 2. Points.

Fe FeFromBn(const BIGNUM* a) {
  uint8_t bytes[32] = {};
  Bn r = ModP(a);
  BN_bn2lebinpad(r.get(), bytes, 32);
  return FromBytes(bytes);
}

// Affine returns (x, y) of p mod p as BIGNUMs.
std::pair<Bn, Bn> Affine(const P3& p) {
  const Fe zinv = Invert(p.Z);
  return {FeModP(Mul(p.X, zinv)), FeModP(Mul(p.Y, zinv))};
}

TEST(Ed25519PointTest, DecodeMatchesReference) {
  std::mt19937_64 rng(TestSeed(5));
  std::vector<std::string> inputs;
  for (int i = 0; i < 3000; ++i) {
    std::string e(32, '\0');
    for (char& c : e) c = static_cast<char>(rng());
    inputs.push_back(e);
  }
  // y near 0, 1, p - 1 and p .. 2^255 - 1, with both signs.
  for (int64_t delta = -3; delta < 22; ++delta) {
    for (bool sign : {false, true}) {
      Bn y = NewBn();
      if (delta < 19) {
        BN_copy(y.get(), BnP());
        if (delta < 0) {
          BN_sub_word(y.get(), static_cast<BN_ULONG>(-delta));
        } else {
          BN_add_word(y.get(), static_cast<BN_ULONG>(delta));
        }
      }
      if (delta >= 19) BN_set_word(y.get(), static_cast<BN_ULONG>(delta - 19));
      inputs.push_back(EncodingOf(y.get(), sign));
    }
  }
  int decoded = 0;
  for (size_t i = 0; i < inputs.size(); ++i) {
    SCOPED_TRACE(Hex(inputs[i]));
    Bn rx, ry;
    const bool ref = RefDecode(U8(inputs[i]), &rx, &ry);
    P3 p;
    ASSERT_EQ(DecodePoint_vartime(U8(inputs[i]), &p), ref);
    if (!ref) continue;
    ++decoded;
    auto [x, y] = Affine(p);
    ASSERT_TRUE(BnEq(x.get(), rx.get()));
    ASSERT_TRUE(BnEq(y.get(), ry.get()));
    ASSERT_EQ(Encode(p), inputs[i]);  // canonical: re-encodes to itself
  }
  // About half of all y values are on the curve.
  EXPECT_GT(decoded, 1000);
  // The batched decoder agrees with the single one for every count of lanes.
  for (size_t n : {1, 2, 3, 4, 5, 7, 8, 13}) {
    std::vector<const uint8_t*> in;
    for (size_t j = 0; j < n; ++j) in.push_back(U8(inputs[(n * 31 + j * 7) % inputs.size()]));
    std::vector<P3> out(n);
    std::unique_ptr<bool[]> ok(new bool[n]);
    DecodePoints_vartime(in.data(), n, out.data(), ok.get());
    for (size_t j = 0; j < n; ++j) {
      P3 single;
      ASSERT_EQ(ok[j], DecodePoint_vartime(in[j], &single));
      if (ok[j]) {
        ASSERT_TRUE(PointEquals(out[j], single));
      }
    }
  }
}

TEST(Ed25519PointTest, BasePointAndTable) {
  const P3& b = BasePoint();
  // RFC 8032 section 5.1: B = (x, 4/5) with x even; its encoding.
  EXPECT_EQ(Hex(Encode(b)), "5866666666666666666666666666666666666666666666666666666666666666");
  Bn y = NewBn(), five = NewBn();
  BN_set_word(five.get(), 5);
  BN_mod_inverse(y.get(), five.get(), BnP(), Ctx());
  BN_mul_word(y.get(), 4);
  BN_nnmod(y.get(), y.get(), BnP(), Ctx());
  auto [bx, by] = Affine(b);
  EXPECT_TRUE(BnEq(by.get(), y.get()));
  EXPECT_FALSE(BN_is_odd(bx.get()));
  // B has order L.
  EXPECT_TRUE(IsIdentity(AsP2(ScalarMulSlow_vartime(kOrder, b))));
  EXPECT_FALSE(IsIdentity(AsP2(b)));
  // The table holds [1]B, [3]B, ... as (y + x, y - x, 2 d x y).
  const Niels* table = BaseTable();
  for (int i = 0; i < (1 << (kBaseWnafWidth - 2)); ++i) {
    const P3 m = ScalarMulSlow_vartime(Scalar{{static_cast<uint64_t>(2 * i + 1), 0, 0, 0}}, b);
    auto [x, yy] = Affine(m);
    const Fe fx = FeFromBn(x.get()), fy = FeFromBn(yy.get());
    SCOPED_TRACE(i);
    EXPECT_TRUE(IsZero(Sub(table[i].YplusX, Carry(Add(fy, fx)))));
    EXPECT_TRUE(IsZero(Sub(table[i].YminusX, Carry(Sub(fy, fx)))));
    EXPECT_TRUE(IsZero(Sub(table[i].XY2d, Mul(Mul(fx, fy), Constants().d2))));
  }
}

TEST(Ed25519PointTest, SmallOrderEncodings) {
  // The torsion subgroup has exactly 8 points; the list must be those 8:
  // distinct, each decoding to a point with [8]P = 0, four of them with
  // [4]P = 0, and including the identity (y = 1), the point of order 2
  // (y = p - 1) and the two of order 4 (y = 0).
  std::vector<std::string> list;
  int order_divides_4 = 0;
  for (int i = 0; i < 8; ++i) {
    std::string e(reinterpret_cast<const char*>(SmallOrderEncoding(i)), 32);
    EXPECT_TRUE(IsSmallOrderEncoding(U8(e)));
    P3 p;
    ASSERT_TRUE(DecodePoint_vartime(U8(e), &p));
    EXPECT_TRUE(MulByCofactorIsIdentity_vartime(p));
    if (IsIdentity(AsP2(ScalarMulSlow_vartime(Scalar{{4, 0, 0, 0}}, p)))) ++order_divides_4;
    list.push_back(e);
  }
  std::sort(list.begin(), list.end());
  EXPECT_EQ(std::unique(list.begin(), list.end()), list.end());
  EXPECT_EQ(order_divides_4, 4);
  Bn y = NewBn();
  BN_one(y.get());
  EXPECT_TRUE(IsSmallOrderEncoding(U8(EncodingOf(y.get(), false))));
  BN_copy(y.get(), BnP());
  BN_sub_word(y.get(), 1);
  EXPECT_TRUE(IsSmallOrderEncoding(U8(EncodingOf(y.get(), false))));
  BN_zero(y.get());
  EXPECT_TRUE(IsSmallOrderEncoding(U8(EncodingOf(y.get(), false))));
  EXPECT_TRUE(IsSmallOrderEncoding(U8(EncodingOf(y.get(), true))));
  // A random prime-order point is not in the list, nor is B.
  EXPECT_FALSE(IsSmallOrderEncoding(U8(Encode(BasePoint()))));
}

TEST(Ed25519PointTest, ScalarMulMatchesOpenSslKeyDerivation) {
  std::mt19937_64 rng(TestSeed(6));
  for (int i = 0; i < 40; ++i) {
    const std::string seed = RandomBytes(rng, 32);
    EXPECT_EQ(Hex(KeyFromSeed(seed).pk), Hex(OpenSslPublicKey(seed)));
  }
}

// RandomPoints returns decoded random encodings (7/8 of them with a torsion
// component), the small-order points and the identity.
std::vector<P3> RandomPoints(std::mt19937_64& rng, size_t n) {
  std::vector<P3> points;
  while (points.size() < n) {
    P3 p;
    const uint64_t kind = rng() % 16;
    if (kind == 0) {
      points.push_back(Identity());
    } else if (kind == 1) {
      if (DecodePoint_vartime(SmallOrderEncoding(static_cast<int>(rng() % 8)), &p)) {
        points.push_back(p);
      }
    } else {
      const std::string e = RandomBytes(rng, 32);
      if (DecodePoint_vartime(U8(e), &p)) points.push_back(p);
    }
  }
  return points;
}

std::vector<Scalar> RandomScalars(std::mt19937_64& rng, size_t n) {
  std::vector<Scalar> scalars;
  for (size_t i = 0; i < n; ++i) {
    switch (rng() % 8) {
      case 0:
        scalars.push_back(Scalar{{0, 0, 0, 0}});
        break;
      case 1: {
        Scalar l1 = kOrder;
        l1.v[0] -= 1 + rng() % 4;
        scalars.push_back(l1);
        break;
      }
      case 2:
        scalars.push_back(Scalar{{~0ULL, ~0ULL, ~0ULL, (1ULL << 61) - 1}});  // 2^253 - 1
        break;
      case 3:
        scalars.push_back(Scalar{{rng() % 100, 0, 0, 0}});
        break;
      case 4:
        scalars.push_back(Scalar{{rng(), rng(), 0, 0}});  // 128-bit, like z
        break;
      default:
        scalars.push_back(Scalar{{rng(), rng(), rng(), rng() >> 3}});  // < 2^253
    }
  }
  return scalars;
}

P3 NaiveMsm(const Scalar& base, const std::vector<P3>& points, const std::vector<Scalar>& s) {
  P3 r = ScalarMulSlow_vartime(base, BasePoint());
  for (size_t i = 0; i < points.size(); ++i) r = AddP3(r, ScalarMulSlow_vartime(s[i], points[i]));
  return r;
}

TEST(Ed25519PointTest, DoubleScalarMulMatchesSlow) {
  std::mt19937_64 rng(TestSeed(7));
  const std::vector<P3> points = RandomPoints(rng, 60);
  const std::vector<Scalar> a = RandomScalars(rng, 60), b = RandomScalars(rng, 60);
  for (size_t i = 0; i < points.size(); ++i) {
    const P3 expected =
        AddP3(ScalarMulSlow_vartime(a[i], BasePoint()), ScalarMulSlow_vartime(b[i], points[i]));
    ASSERT_TRUE(PointEquals(DoubleScalarMulBase_vartime(a[i], b[i], points[i]), expected)) << i;
  }
}

TEST(Ed25519PointTest, HalfSizeMulMatchesSlow) {
  std::mt19937_64 rng(TestSeed(19));
  const std::vector<P3> points = RandomPoints(rng, 80);
  const std::vector<Scalar> s = RandomScalars(rng, 160);
  const Scalar two128 = {{0, 0, 1, 0}};
  const P3 base128 = ScalarMulSlow_vartime(two128, BasePoint());
  for (size_t i = 0; i + 1 < points.size(); i += 2) {
    // Four 128-bit scalars (the low halves of random ones; every eighth case
    // also a zero or an all-ones one).
    Scalar q[4];
    for (int j = 0; j < 4; ++j) {
      q[j] = Scalar{{s[2 * i + j % 2].v[j / 2 * 2], s[2 * i + j % 2].v[j / 2 * 2 + 1], 0, 0}};
    }
    if (i % 16 == 0) q[i / 16 % 4] = Scalar{{0, 0, 0, 0}};
    if (i % 16 == 8) q[i / 16 % 4] = Scalar{{~0ULL, ~0ULL, 0, 0}};
    const P3 expected = AddP3(
        AddP3(ScalarMulSlow_vartime(q[0], BasePoint()), ScalarMulSlow_vartime(q[1], base128)),
        AddP3(ScalarMulSlow_vartime(q[2], points[i]), ScalarMulSlow_vartime(q[3], points[i + 1])));
    ASSERT_TRUE(PointEquals(HalfSizeMul_vartime(q[0], q[1], q[2], points[i], q[3], points[i + 1]),
                            expected))
        << i;
  }
}

TEST(Ed25519PointTest, MultiScalarMulMatchesNaiveSum) {
  std::mt19937_64 rng(TestSeed(8));
  for (size_t n : {0, 1, 2, 3, 5, 8, 17, 64, 129, 300}) {
    SCOPED_TRACE(n);
    const std::vector<P3> points = RandomPoints(rng, n);
    const std::vector<Scalar> scalars = RandomScalars(rng, n);
    const Scalar base = RandomScalars(rng, 1)[0];
    const P3 expected = NaiveMsm(base, points, scalars);
    EXPECT_TRUE(PointEquals(MsmStraus_vartime(base, points, scalars), expected));
    EXPECT_TRUE(PointEquals(MsmPippenger_vartime(base, points, scalars), expected));
    EXPECT_TRUE(PointEquals(MsmAuto_vartime(base, points, scalars), expected));
  }
  // Every Pippenger window width.
  const std::vector<P3> points = RandomPoints(rng, 9);
  const std::vector<Scalar> scalars = RandomScalars(rng, 9);
  const Scalar base = RandomScalar(rng);
  const P3 expected = NaiveMsm(base, points, scalars);
  for (int c = 1; c <= 15; ++c) {
    EXPECT_TRUE(PointEquals(MsmPippenger_vartime(base, points, scalars, c), expected)) << c;
  }
}

}  // namespace
}  // namespace popguard::ed25519_testing
