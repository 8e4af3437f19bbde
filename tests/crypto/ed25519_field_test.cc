// Correctness of the Ed25519 field and scalar arithmetic (part 1 of
// ed25519_test; service/crypto/ed25519/ed25519_{field,scalar}.h): field
// arithmetic mod p against OpenSSL BIGNUM, including inputs at the documented
// limb bounds; scalars mod L likewise; the start-up constants recomputed
// independently.
#include "tests/crypto/ed25519_test_util.h"

#include "gtest/gtest.h"

namespace popguard::ed25519_testing {
namespace {

Bn BnFromDec(const char* dec) {
  BIGNUM* b = nullptr;
  BN_dec2bn(&b, dec);
  return Bn(b);
}

std::string BnHex(const BIGNUM* b) {
  char* hex = BN_bn2hex(b);
  std::string s(hex);
  OPENSSL_free(hex);
  return s;
}

constexpr uint64_t kTightMax = (uint64_t{1} << 51) + (uint64_t{1} << 15) - 1;
constexpr uint64_t kLooseMax = (uint64_t{1} << 54) - 1;

bool IsTight(const Fe& a) {
  return std::all_of(a.v, a.v + 5, [](uint64_t l) { return l <= kTightMax; });
}
bool IsLoose(const FeLoose& a) {
  return std::all_of(a.v, a.v + 5, [](uint64_t l) { return l <= kLooseMax; });
}

// RandomTight / RandomLoose draw limbs anywhere up to the type's bound, with
// a bias towards the bound itself (where overflows would show).
Fe RandomTight(std::mt19937_64& rng) {
  Fe a;
  for (uint64_t& l : a.v) {
    switch (rng() % 4) {
      case 0:
        l = kTightMax;
        break;
      case 1:
        l = kTightMax - rng() % 64;
        break;
      default:
        l = rng() % (kTightMax + 1);
    }
  }
  return a;
}

FeLoose RandomLoose(std::mt19937_64& rng) {
  FeLoose a;
  for (uint64_t& l : a.v) {
    switch (rng() % 4) {
      case 0:
        l = kLooseMax;
        break;
      case 1:
        l = kLooseMax - rng() % 64;
        break;
      default:
        l = rng() % (kLooseMax + 1);
    }
  }
  return a;
}

// ---------------------------------------------------------------------------
// 1. Field arithmetic.

TEST(Ed25519FieldTest, ArithmeticMatchesBignum) {
  std::mt19937_64 rng(TestSeed(1));
  const int rounds = LongMode() ? 200000 : 20000;
  for (int i = 0; i < rounds; ++i) {
    const Fe a = RandomTight(rng), b = RandomTight(rng);
    const FeLoose la = RandomLoose(rng), lb = RandomLoose(rng);
    Bn ref = NewBn();

    const Fe mul = Mul(la, lb);
    ASSERT_TRUE(IsTight(mul)) << i;
    BN_mod_mul(ref.get(), FeModP(la).get(), FeModP(lb).get(), BnP(), Ctx());
    ASSERT_TRUE(BnEq(FeModP(mul).get(), ref.get())) << "Mul " << i;

    const Fe sq = Sq(la);
    ASSERT_TRUE(IsTight(sq)) << i;
    BN_mod_sqr(ref.get(), FeModP(la).get(), BnP(), Ctx());
    ASSERT_TRUE(BnEq(FeModP(sq).get(), ref.get())) << "Sq " << i;

    const Fe sq2 = Sq2(a);
    ASSERT_TRUE(IsTight(sq2)) << i;
    BN_mod_sqr(ref.get(), FeModP(a).get(), BnP(), Ctx());
    BN_mod_add(ref.get(), ref.get(), ref.get(), BnP(), Ctx());
    ASSERT_TRUE(BnEq(FeModP(sq2).get(), ref.get())) << "Sq2 " << i;

    const FeLoose add = Add(a, b);
    ASSERT_TRUE(IsLoose(add)) << i;
    BN_mod_add(ref.get(), FeModP(a).get(), FeModP(b).get(), BnP(), Ctx());
    ASSERT_TRUE(BnEq(FeModP(add).get(), ref.get())) << "Add " << i;

    const FeLoose sub = Sub(a, b);
    ASSERT_TRUE(IsLoose(sub)) << i;
    BN_mod_sub(ref.get(), FeModP(a).get(), FeModP(b).get(), BnP(), Ctx());
    ASSERT_TRUE(BnEq(FeModP(sub).get(), ref.get())) << "Sub " << i;

    const Fe carried = Carry(la);
    ASSERT_TRUE(IsTight(carried)) << i;
    ASSERT_TRUE(BnEq(FeModP(carried).get(), FeModP(la).get())) << "Carry " << i;

    // ToBytes gives the canonical value; FromBytes reads it back.
    uint8_t bytes[32];
    ToBytes(a, bytes);
    ASSERT_EQ(bytes[31] & 0x80, 0);
    ASSERT_TRUE(BnEq(BnFromLe(bytes, 32).get(), FeModP(a).get())) << "ToBytes " << i;
    ASSERT_TRUE(IsCanonicalBytes(bytes));
    ASSERT_TRUE(BnEq(FeValue(FromBytes(bytes).v).get(), FeModP(a).get()));
    ASSERT_EQ(IsZero(a), BN_is_zero(FeModP(a).get()) == 1);
    ASSERT_EQ(IsNegative(a), BN_is_odd(FeModP(a).get()) == 1);
  }
}

TEST(Ed25519FieldTest, InvertAndPow22523MatchBignum) {
  std::mt19937_64 rng(TestSeed(2));
  Bn exp = NewBn();  // (p - 5) / 8
  BN_copy(exp.get(), BnP());
  BN_sub_word(exp.get(), 5);
  BN_rshift(exp.get(), exp.get(), 3);
  for (int i = 0; i < 300; ++i) {
    const Fe a = RandomTight(rng);
    Bn ref = NewBn();
    const Fe inv = Invert(a);
    if (BN_is_zero(FeModP(a).get())) {
      EXPECT_TRUE(IsZero(inv));
    } else {
      BN_mod_inverse(ref.get(), FeModP(a).get(), BnP(), Ctx());
      ASSERT_TRUE(BnEq(FeModP(inv).get(), ref.get())) << i;
    }
    BN_mod_exp(ref.get(), FeModP(a).get(), exp.get(), BnP(), Ctx());
    ASSERT_TRUE(BnEq(FeModP(Pow22523(a)).get(), ref.get())) << i;
  }
  EXPECT_TRUE(IsZero(Invert(FeZero())));
}

TEST(Ed25519FieldTest, ByteEdgeCases) {
  // Every 255-bit value from p - 2 to 2^255 - 1: canonical below p only, and
  // ToBytes(FromBytes(x)) = x mod p. Plus bit 255 is ignored.
  for (int delta = -2; delta < 19; ++delta) {
    Bn v = NewBn();
    BN_copy(v.get(), BnP());
    if (delta < 0) {
      BN_sub_word(v.get(), static_cast<BN_ULONG>(-delta));
    } else {
      BN_add_word(v.get(), static_cast<BN_ULONG>(delta));
    }
    uint8_t bytes[32];
    BN_bn2lebinpad(v.get(), bytes, 32);
    SCOPED_TRACE("p + " + std::to_string(delta));
    EXPECT_EQ(IsCanonicalBytes(bytes), delta < 0);
    for (int top : {0, 0x80}) {
      uint8_t with_top[32];
      std::memcpy(with_top, bytes, 32);
      with_top[31] |= top;
      EXPECT_EQ(IsCanonicalBytes(with_top), delta < 0);
      uint8_t out[32];
      ToBytes(FromBytes(with_top), out);
      EXPECT_TRUE(BnEq(BnFromLe(out, 32).get(), ModP(v.get()).get()));
    }
  }
}

TEST(Ed25519FieldTest, ConstantsMatchBignum) {
  const FieldConstants& c = Constants();
  Bn d = NewBn(), t = NewBn();
  BN_set_word(t.get(), 121666);
  BN_mod_inverse(d.get(), t.get(), BnP(), Ctx());
  BN_set_word(t.get(), 121665);
  BN_mod_mul(d.get(), d.get(), t.get(), BnP(), Ctx());
  BN_mod_sub(d.get(), BnP(), d.get(), BnP(), Ctx());  // -121665/121666
  EXPECT_TRUE(BnEq(FeModP(c.d).get(), d.get()));
  BN_mod_add(t.get(), d.get(), d.get(), BnP(), Ctx());
  EXPECT_TRUE(BnEq(FeModP(c.d2).get(), t.get()));
  // sqrt(-1)^2 = p - 1.
  Bn sq = NewBn(), minus_one = NewBn();
  BN_mod_sqr(sq.get(), FeModP(c.sqrt_m1).get(), BnP(), Ctx());
  BN_copy(minus_one.get(), BnP());
  BN_sub_word(minus_one.get(), 1);
  EXPECT_TRUE(BnEq(sq.get(), minus_one.get()));
  // d is the well-known value (RFC 8032 section 5.1).
  EXPECT_EQ(BnHex(d.get()), "52036CEE2B6FFE738CC740797779E89800700A4D4141D8AB75EB4DCA135978A3");
}

// ---------------------------------------------------------------------------
// Scalars mod L.

Bn ScalarBn(const Scalar& s) {
  uint8_t b[32];
  ScalarToBytes(s, b);
  return BnFromLe(b, 32);
}

// RandomScalarBytes returns 32 random bytes biased towards edge values.
void RandomScalarBytes(std::mt19937_64& rng, uint8_t out[32]) {
  const uint64_t kind = rng() % 8;
  Bn v = NewBn();
  if (kind == 0) {  // L - small .. L + small
    BN_copy(v.get(), BnL());
    const uint64_t delta = rng() % 8;
    if (rng() % 2) {
      BN_add_word(v.get(), delta);
    } else {
      BN_sub_word(v.get(), delta);
    }
    BN_bn2lebinpad(v.get(), out, 32);
    return;
  }
  for (int i = 0; i < 32; ++i) out[i] = static_cast<uint8_t>(rng());
  if (kind == 1) std::memset(out, 0xff, 32);
  if (kind == 2) std::memset(out + 1, 0, 31);
  if (kind == 3) out[31] &= 0x1f;  // < 2^253
}

TEST(Ed25519ScalarTest, OrderConstant) {
  EXPECT_TRUE(BnEq(ScalarBn(kOrder).get(), BnL()));
  // L = 2^252 + 27742317777372353535851937790883648493 (RFC 8032 section 5.1).
  Bn l = BnFromDec("27742317777372353535851937790883648493");
  Bn two252 = NewBn();
  BN_set_bit(two252.get(), 252);
  BN_add(l.get(), l.get(), two252.get());
  EXPECT_TRUE(BnEq(l.get(), BnL()));
}

TEST(Ed25519ScalarTest, ArithmeticMatchesBignum) {
  std::mt19937_64 rng(TestSeed(3));
  const int rounds = LongMode() ? 100000 : 10000;
  for (int i = 0; i < rounds; ++i) {
    uint8_t raw_a[32], raw_b[32], wide[64];
    RandomScalarBytes(rng, raw_a);
    RandomScalarBytes(rng, raw_b);
    RandomScalarBytes(rng, wide);
    RandomScalarBytes(rng, wide + 32);
    Bn ra = BnFromLe(raw_a, 32), rb = BnFromLe(raw_b, 32), ref = NewBn();

    Scalar canon;
    ASSERT_EQ(ScalarFromCanonicalBytes(raw_a, &canon), BN_cmp(ra.get(), BnL()) < 0) << i;

    const Scalar a = ScalarFromBytesModL(raw_a);
    const Scalar b = ScalarFromBytesModL(raw_b);
    BN_nnmod(ref.get(), ra.get(), BnL(), Ctx());
    ASSERT_TRUE(BnEq(ScalarBn(a).get(), ref.get())) << "FromBytesModL " << i;
    BN_nnmod(ref.get(), BnFromLe(wide, 64).get(), BnL(), Ctx());
    ASSERT_TRUE(BnEq(ScalarBn(ScalarReduce64(wide)).get(), ref.get())) << "Reduce64 " << i;

    Bn a_mod = ScalarBn(a), b_mod = ScalarBn(b);
    BN_mod_mul(ref.get(), a_mod.get(), b_mod.get(), BnL(), Ctx());
    ASSERT_TRUE(BnEq(ScalarBn(ScalarMul(a, b)).get(), ref.get())) << "Mul " << i;
    // Unreduced left operand (the 128-bit coefficients are, and any 256-bit
    // value times a reduced one is in range).
    Scalar unreduced;
    std::memcpy(unreduced.v, raw_a, 32);
    BN_mod_mul(ref.get(), ra.get(), b_mod.get(), BnL(), Ctx());
    ASSERT_TRUE(BnEq(ScalarBn(ScalarMul(unreduced, b)).get(), ref.get())) << "Mul " << i;
    BN_mod_add(ref.get(), a_mod.get(), b_mod.get(), BnL(), Ctx());
    ASSERT_TRUE(BnEq(ScalarBn(ScalarAdd(a, b)).get(), ref.get())) << "Add " << i;
    BN_mod_sub(ref.get(), BnL(), a_mod.get(), BnL(), Ctx());
    ASSERT_TRUE(BnEq(ScalarBn(ScalarNeg(a)).get(), ref.get())) << "Neg " << i;
  }
}

// Recompose sum digits[i] * 2^(step * i) as a BIGNUM.
Bn Recompose(const std::vector<int>& digits, int step) {
  Bn r = NewBn(), term = NewBn();
  BN_zero(r.get());
  for (size_t i = 0; i < digits.size(); ++i) {
    if (digits[i] == 0) continue;
    BN_set_word(term.get(), static_cast<BN_ULONG>(std::abs(digits[i])));
    BN_lshift(term.get(), term.get(), static_cast<int>(step * i));
    if (digits[i] > 0) {
      BN_add(r.get(), r.get(), term.get());
    } else {
      BN_sub(r.get(), r.get(), term.get());
    }
  }
  return r;
}

// HalfSize_vartime: r = c1 k (mod L), 0 <= r < 2^126, 0 < |c1| < 2^127, for
// random k, the edges (0, 1, L - 1, around 2^126 and 2^127, L / 2) and k with
// long runs of equal bits.
TEST(Ed25519ScalarTest, HalfSizePairs) {
  std::mt19937_64 rng(TestSeed(9));
  std::vector<Bn> cases;
  for (uint64_t w : {0, 1, 2, 3, 1000}) {
    Bn v = NewBn();
    BN_set_word(v.get(), w);
    cases.push_back(std::move(v));
  }
  for (int bit : {125, 126, 127, 128, 200, 251, 252}) {
    for (int delta : {-1, 0, 1}) {
      Bn v = NewBn();
      BN_zero(v.get());
      BN_set_bit(v.get(), bit);
      if (delta < 0) BN_sub_word(v.get(), 1);
      if (delta > 0) BN_add_word(v.get(), 1);
      if (BN_cmp(v.get(), BnL()) < 0) cases.push_back(std::move(v));
    }
  }
  for (uint64_t d : {1, 2, 3}) {
    Bn v = NewBn();
    BN_copy(v.get(), BnL());
    BN_sub_word(v.get(), d);  // L - d
    cases.push_back(std::move(v));
  }
  Bn half = NewBn();
  BN_rshift1(half.get(), BnL());
  cases.push_back(std::move(half));
  const int rounds = LongMode() ? 200000 : 20000;
  for (int i = 0; i < rounds; ++i) {
    uint8_t raw[32];
    RandomScalarBytes(rng, raw);
    Bn v = BnFromLe(raw, 32);
    BN_nnmod(v.get(), v.get(), BnL(), Ctx());
    cases.push_back(std::move(v));
  }
  Bn two126 = NewBn(), two127 = NewBn(), lhs = NewBn(), rhs = NewBn();
  BN_zero(two126.get());
  BN_set_bit(two126.get(), 126);
  BN_zero(two127.get());
  BN_set_bit(two127.get(), 127);
  for (size_t i = 0; i < cases.size(); ++i) {
    uint8_t bytes[32];
    BN_bn2lebinpad(cases[i].get(), bytes, 32);
    Scalar k;
    ASSERT_TRUE(ScalarFromCanonicalBytes(bytes, &k)) << i;
    HalfSizePair h;
    ASSERT_TRUE(HalfSize_vartime(k, &h)) << i;
    Bn r = ScalarBn(h.r), m = ScalarBn(h.m);
    ASSERT_LT(BN_cmp(r.get(), two126.get()), 0) << i;
    ASSERT_FALSE(BN_is_zero(m.get())) << i;
    ASSERT_LT(BN_cmp(m.get(), two127.get()), 0) << i;
    // r = c1 k (mod L) with c1 = +-m.
    BN_mod_mul(lhs.get(), m.get(), cases[i].get(), BnL(), Ctx());
    if (h.m_negative) BN_mod_sub(lhs.get(), BnL(), lhs.get(), BnL(), Ctx());
    BN_nnmod(rhs.get(), r.get(), BnL(), Ctx());
    ASSERT_TRUE(BnEq(lhs.get(), rhs.get())) << i;
  }
}

TEST(Ed25519ScalarTest, RecodingsRecompose) {
  std::mt19937_64 rng(TestSeed(4));
  std::vector<Scalar> cases;
  for (int i = 0; i < 2000; ++i) {
    uint8_t raw[32];
    RandomScalarBytes(rng, raw);
    raw[31] &= 0x1f;  // < 2^253
    Scalar s;
    std::memcpy(s.v, raw, 32);
    cases.push_back(s);
  }
  cases.push_back(Scalar{{0, 0, 0, 0}});
  cases.push_back(Scalar{{~0ULL, ~0ULL, ~0ULL, (1ULL << 61) - 1}});  // 2^253 - 1
  Scalar l_minus_1 = kOrder;
  l_minus_1.v[0] -= 1;
  cases.push_back(l_minus_1);
  for (const Scalar& s : cases) {
    const Bn value = ScalarBn(s);
    for (int w = 2; w <= 8; ++w) {
      int8_t digits[256];
      const int top = Wnaf(s, w, digits);
      std::vector<int> d(digits, digits + 256);
      ASSERT_TRUE(BnEq(Recompose(d, 1).get(), value.get())) << "wNAF w=" << w;
      int last_nonzero = -1000, highest = -1;
      for (int i = 0; i < 256; ++i) {
        if (d[i] == 0) continue;
        ASSERT_TRUE(d[i] % 2 != 0 && std::abs(d[i]) < (1 << (w - 1))) << d[i];
        ASSERT_GE(i - last_nonzero, w) << "two non-zero digits within w";
        last_nonzero = highest = i;
      }
      ASSERT_EQ(top, highest + 1);
    }
    for (int c = 1; c <= 15; ++c) {
      std::vector<int16_t> digits(253 / c + 2, 0);
      const int n = SignedRadix(s, c, digits.data());
      ASSERT_LE(n, static_cast<int>(digits.size()));
      std::vector<int> d(digits.begin(), digits.begin() + n);
      for (int x : d) ASSERT_TRUE(x > -(1 << (c - 1)) && x <= (1 << (c - 1))) << x;
      ASSERT_TRUE(BnEq(Recompose(d, c).get(), value.get())) << "radix c=" << c;
    }
  }
}

}  // namespace
}  // namespace popguard::ed25519_testing
