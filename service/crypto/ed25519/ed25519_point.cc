#include "service/crypto/ed25519/ed25519_point.h"

#include <cstdlib>
#include <cstring>

namespace popguard::ed25519::internal {
namespace {

constexpr int kBaseTableSize = 1 << (kBaseWnafWidth - 2);

// Niels of an affine point given as x, y.
Niels MakeNiels(const Fe& x, const Fe& y) {
  return Niels{Carry(Add(y, x)), Carry(Sub(y, x)), Mul(Mul(x, y), Constants().d2)};
}

// Tables are the start-up products of this file: the base point, its wNAF
// table and the encodings of the small-order points. Nothing is pasted in;
// the test recomputes each with OpenSSL BIGNUM or checks its defining
// property.
struct Tables {
  P3 base;
  Niels base_table[kBaseTableSize];
  Niels base128_table[kBaseTableSize];  // the same for [2^128]B
  uint8_t small_order[8][32];
};

// FillOddMultiples writes [1]p .. [2 kBaseTableSize - 1]p, normalised to Z = 1.
void FillOddMultiples(const P3& p, Niels* table) {
  const Cached twice = ToCached(ToP3(Dbl(AsP2(p))));
  P3 cur = p;
  for (int i = 0; i < kBaseTableSize; ++i) {
    if (i > 0) cur = ToP3(AddCached(cur, twice));
    const Fe zinv = Invert(cur.Z);
    table[i] = MakeNiels(Mul(cur.X, zinv), Mul(cur.Y, zinv));
  }
}

void ComputeBase(Tables* t) {
  // B has y = 4/5 and the even ("positive") x (RFC 8032 section 5.1).
  const Fe y = Mul(Fe{{4, 0, 0, 0, 0}}, Invert(Fe{{5, 0, 0, 0, 0}}));
  uint8_t enc[32];
  ToBytes(y, enc);  // sign bit 0
  if (!DecodePoint_vartime(enc, &t->base)) std::abort();
  FillOddMultiples(t->base, t->base_table);
  P2 b128 = AsP2(t->base);
  for (int i = 0; i < 127; ++i) b128 = ToP2(Dbl(b128));
  FillOddMultiples(ToP3(Dbl(b128)), t->base128_table);
}

void ComputeSmallOrder(Tables* t) {
  // The torsion subgroup is cyclic of order 8. For a curve point P with
  // a torsion component of order 8, [L]P is a generator T8 of it (L is odd).
  // Try y = 2, 3, ... until one decodes to such a point.
  for (uint64_t y = 2;; ++y) {
    uint8_t enc[32] = {};
    std::memcpy(enc, &y, sizeof(y));
    P3 p;
    if (!DecodePoint_vartime(enc, &p)) continue;
    const P3 torsion = ScalarMulSlow_vartime(kOrder, p);
    const P3 four = ScalarMulSlow_vartime(Scalar{{4, 0, 0, 0}}, torsion);
    if (IsIdentity(AsP2(four))) continue;  // order 1, 2 or 4 only
    P3 multiple = Identity();
    for (int i = 0; i < 8; ++i) {
      EncodePoint(multiple, t->small_order[i]);
      multiple = AddP3(multiple, torsion);
    }
    return;
  }
}

const Tables& GetTables() {
  static const Tables* const tables = [] {
    auto* t = new Tables;
    ComputeBase(t);
    ComputeSmallOrder(t);
    return t;
  }();
  return *tables;
}

}  // namespace

bool IsIdentity(const P2& p) { return IsZero(p.X) && IsZero(Sub(p.Y, p.Z)); }

bool MulByCofactorIsIdentity_vartime(const P3& p) {
  P2 r = ToP2(Dbl(AsP2(p)));
  r = ToP2(Dbl(r));
  r = ToP2(Dbl(r));
  return IsIdentity(r);
}

bool PointEquals(const P3& p, const P3& q) {
  // x1/z1 = x2/z2 and y1/z1 = y2/z2.
  return IsZero(Sub(Mul(p.X, q.Z), Mul(q.X, p.Z))) && IsZero(Sub(Mul(p.Y, q.Z), Mul(q.Y, p.Z)));
}

namespace {

// Decoding runs in two halves around the exponentiation, so several points
// can share one interleaved Pow22523Lanes.
struct DecodeState {
  bool ok;
  bool sign;
  Fe y, u, v, uv3;
};

// DecodeStart checks the encoding's y and returns the base u v^7 of the
// square-root exponentiation (RFC 8032 section 5.1.3 steps 1-2).
Fe DecodeStart(const uint8_t in[32], DecodeState* st) {
  // Step 1: y must be below p. Without this check y and y + p (for y < 19)
  // would be two encodings of one point.
  st->ok = IsCanonicalBytes(in);
  st->sign = (in[31] >> 7) != 0;
  st->y = FromBytes(in);
  // x^2 = u / v with u = y^2 - 1, v = d y^2 + 1 (v is never 0: -1/d is not a
  // square). Candidate root x = u v^3 (u v^7)^((p-5)/8).
  const Fe y2 = Sq(st->y);
  st->u = Carry(Sub(y2, FeOne()));
  st->v = Carry(Add(Mul(Constants().d, y2), FeOne()));
  const Fe v3 = Mul(Sq(st->v), st->v);
  st->uv3 = Mul(st->u, v3);
  return Mul(st->u, Mul(Sq(v3), st->v));  // u v^7
}

// DecodeFinish takes pow = (u v^7)^((p-5)/8) and completes steps 3-4.
bool DecodeFinish(const DecodeState& st, const Fe& pow, P3* out) {
  if (!st.ok) return false;
  Fe x = Mul(st.uv3, pow);
  // Step 3: v x^2 = u gives x; v x^2 = -u gives x * sqrt(-1); else no point.
  const Fe vx2 = Mul(st.v, Sq(x));
  if (!IsZero(Sub(vx2, st.u))) {
    if (!IsZero(Add(vx2, st.u))) return false;
    x = Mul(x, Constants().sqrt_m1);
  }
  // Step 4: x = 0 with the sign bit set is not a valid encoding.
  if (st.sign && IsZero(x)) return false;
  if (IsNegative(x) != st.sign) x = Carry(Neg(x));
  *out = P3{x, st.y, FeOne(), Mul(x, st.y)};
  return true;
}

}  // namespace

bool DecodePoint_vartime(const uint8_t in[32], P3* out) {
  DecodeState st;
  Fe pow = DecodeStart(in, &st);
  if (!st.ok) return false;
  Pow22523Lanes(&pow, 1);
  return DecodeFinish(st, pow, out);
}

void DecodePoints_vartime(const uint8_t* const* in, size_t n, P3* out, bool* ok) {
  constexpr size_t kLanes = 4;
  for (size_t first = 0; first < n; first += kLanes) {
    const size_t lanes = n - first < kLanes ? n - first : kLanes;
    DecodeState st[kLanes];
    Fe pow[kLanes];
    for (size_t j = 0; j < lanes; ++j) pow[j] = DecodeStart(in[first + j], &st[j]);
    Pow22523Lanes(pow, static_cast<int>(lanes));
    for (size_t j = 0; j < lanes; ++j) {
      ok[first + j] = DecodeFinish(st[j], pow[j], &out[first + j]);
    }
  }
}

void EncodePoint(const P3& p, uint8_t out[32]) {
  const Fe zinv = Invert(p.Z);
  const Fe x = Mul(p.X, zinv);
  const Fe y = Mul(p.Y, zinv);
  ToBytes(y, out);
  if (IsNegative(x)) out[31] |= 0x80;
}

bool IsSmallOrderEncoding(const uint8_t in[32]) {
  const Tables& t = GetTables();
  for (const auto& enc : t.small_order) {
    if (std::memcmp(enc, in, 32) == 0) return true;
  }
  return false;
}

const uint8_t* SmallOrderEncoding(int i) { return GetTables().small_order[i]; }

const P3& BasePoint() { return GetTables().base; }

const Niels* BaseTable() { return GetTables().base_table; }

const Niels* BaseTable128() { return GetTables().base128_table; }

P3 ScalarMulSlow_vartime(const Scalar& a, const P3& p) {
  P3 r = Identity();
  for (int i = 255; i >= 0; --i) {
    r = ToP3(Dbl(AsP2(r)));
    if ((a.v[i / 64] >> (i % 64)) & 1) r = AddP3(r, p);
  }
  return r;
}

void OddMultiples(const P3& p, int count, Cached* table) {
  table[0] = ToCached(p);
  if (count == 1) return;
  const Cached twice = ToCached(ToP3(Dbl(AsP2(p))));
  P3 cur = p;
  for (int i = 1; i < count; ++i) {
    cur = ToP3(AddCached(cur, twice));
    table[i] = ToCached(cur);
  }
}

P3 DoubleScalarMulBase_vartime(const Scalar& a, const Scalar& b, const P3& p) {
  constexpr int kWidth = 5;
  int8_t a_digits[256];
  int8_t b_digits[256];
  const int a_top = Wnaf(a, kBaseWnafWidth, a_digits);
  const int b_top = Wnaf(b, kWidth, b_digits);
  Cached table[1 << (kWidth - 2)];
  OddMultiples(p, 1 << (kWidth - 2), table);
  const Niels* base = BaseTable();

  P2 r = AsP2(Identity());
  P3 r3 = Identity();
  for (int i = (a_top > b_top ? a_top : b_top) - 1; i >= 0; --i) {
    P1P1 t = Dbl(r);
    const int da = a_digits[i];
    const int db = b_digits[i];
    if (da != 0) {
      r3 = ToP3(t);
      t = da > 0 ? AddNiels(r3, base[da / 2]) : SubNiels(r3, base[-da / 2]);
    }
    if (db != 0) {
      r3 = ToP3(t);
      t = db > 0 ? AddCached(r3, table[db / 2]) : SubCached(r3, table[-db / 2]);
    }
    if (i == 0) return ToP3(t);
    r = ToP2(t);
  }
  return Identity();
}

P3 HalfSizeMul_vartime(const Scalar& b_lo, const Scalar& b_hi, const Scalar& c, const P3& p,
                       const Scalar& d, const P3& q) {
  constexpr int kWidth = 5;
  int8_t digits[4][256];
  const int tops[4] = {Wnaf(b_lo, kBaseWnafWidth, digits[0]), Wnaf(b_hi, kBaseWnafWidth, digits[1]),
                       Wnaf(c, kWidth, digits[2]), Wnaf(d, kWidth, digits[3])};
  Cached p_table[1 << (kWidth - 2)];
  Cached q_table[1 << (kWidth - 2)];
  OddMultiples(p, 1 << (kWidth - 2), p_table);
  OddMultiples(q, 1 << (kWidth - 2), q_table);
  const Niels* bases[2] = {BaseTable(), BaseTable128()};
  const Cached* tables[2] = {p_table, q_table};
  int top = 0;
  for (int t : tops) top = t > top ? t : top;

  P2 r = AsP2(Identity());
  for (int i = top - 1; i >= 0; --i) {
    P1P1 t = Dbl(r);
    for (int j = 0; j < 2; ++j) {
      const int dj = digits[j][i];
      if (dj == 0) continue;
      const P3 r3 = ToP3(t);
      t = dj > 0 ? AddNiels(r3, bases[j][dj / 2]) : SubNiels(r3, bases[j][-dj / 2]);
    }
    for (int j = 0; j < 2; ++j) {
      const int dj = digits[2 + j][i];
      if (dj == 0) continue;
      const P3 r3 = ToP3(t);
      t = dj > 0 ? AddCached(r3, tables[j][dj / 2]) : SubCached(r3, tables[j][-dj / 2]);
    }
    if (i == 0) return ToP3(t);
    r = ToP2(t);
  }
  return Identity();
}

}  // namespace popguard::ed25519::internal
