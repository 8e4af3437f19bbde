#include "service/crypto/p256/p256_point.h"

#include <algorithm>
#include <cstring>

namespace popguard::p256 {
namespace {

// Curve constants, plain little-endian limbs (SEC 2 2.4.2); tests compare them
// with OpenSSL's group.
constexpr uint64_t kB[4] = {0x3bce3c3e27d2604bull, 0x651d06b0cc53b0f6ull, 0xb3ebbd55769886bcull,
                            0x5ac635d8aa3a93e7ull};
constexpr uint64_t kGx[4] = {0xf4a13945d898c296ull, 0x77037d812deb33a0ull, 0xf8bce6e563a440f2ull,
                             0x6b17d1f2e12c4247ull};
constexpr uint64_t kGy[4] = {0xcbb6406837bf51f5ull, 0x2bce33576b315eceull, 0x8ee7eb4a7c0f9e16ull,
                             0x4fe342e2fe1a7f9bull};

const Fe& CurveB() {
  static const Fe b = FeFromLimbs(kB);
  return b;
}

// GetBits returns `count` (<= 16) bits of k starting at bit `pos`; bits at
// 256 and above are zero.
inline unsigned GetBits(const Sc& k, int pos, int count) {
  if (pos >= 256) return 0;
  const int limb = pos / 64;
  const int shift = pos % 64;
  uint64_t word = k.v[limb] >> shift;
  if (shift + count > 64 && limb + 1 < 4) word |= k.v[limb + 1] << (64 - shift);
  return static_cast<unsigned>(word & ((uint64_t{1} << count) - 1));
}

// AddSigned_vartime adds sign(d) * entry to *acc.
inline void AddSigned_vartime(JacobianPoint* acc, const AffinePoint& entry, bool negative) {
  if (!negative) {
    PointAddMixed_vartime(acc, *acc, entry);
  } else {
    AffinePoint neg;
    neg.x = entry.x;
    FeNeg(&neg.y, entry.y);
    PointAddMixed_vartime(acc, *acc, neg);
  }
}

// BatchToAffine_vartime converts `count` finite Jacobian points with one
// field inversion.
void BatchToAffine_vartime(AffinePoint* out, const JacobianPoint* in, size_t count) {
  std::vector<Fe> z(count), scratch(count);
  for (size_t i = 0; i < count; ++i) z[i] = in[i].z;
  FeBatchInvert_vartime(z.data(), scratch.data(), static_cast<int>(count));
  for (size_t i = 0; i < count; ++i) {
    Fe z2, z3;
    FeSqr(&z2, z[i]);
    FeMul(&z3, z2, z[i]);
    FeMul(&out[i].x, in[i].x, z2);
    FeMul(&out[i].y, in[i].y, z3);
  }
}

}  // namespace

const AffinePoint& Generator() {
  static const AffinePoint g = {FeFromLimbs(kGx), FeFromLimbs(kGy)};
  return g;
}

bool AffineIsOnCurve_vartime(const AffinePoint& a) {
  Fe y2, x2, x3, three_x, rhs;
  FeSqr(&y2, a.y);
  FeSqr(&x2, a.x);
  FeMul(&x3, x2, a.x);
  FeDouble(&three_x, a.x);
  FeAdd(&three_x, three_x, a.x);
  FeSub(&rhs, x3, three_x);
  FeAdd(&rhs, rhs, CurveB());
  return FeEqual_vartime(y2, rhs);
}

void PointSetInfinity(JacobianPoint* r) {
  r->x = FeOne();
  r->y = FeOne();
  r->z = Fe{{0, 0, 0, 0}};
}

void PointFromAffine(JacobianPoint* r, const AffinePoint& a) {
  r->x = a.x;
  r->y = a.y;
  r->z = FeOne();
}

void PointDouble(JacobianPoint* r, const JacobianPoint& a) {
  // dbl-2001-b (Bernstein-Lange EFD, a = -3):
  //   alpha = 3*(X1 - Z1^2)*(X1 + Z1^2), beta = X1*Y1^2,
  //   X3 = alpha^2 - 8*beta, Y3 = alpha*(4*beta - X3) - 8*Y1^4, Z3 = 2*Y1*Z1,
  // with the small multiples taken from (2*Y1)^2 = 4*Y1^2: 4*beta =
  // X1*(2*Y1)^2, 8*Y1^4 = ((2*Y1)^2)^2 / 2, Z3 = (2*Y1)*Z1. Same 4M + 4S,
  // four fewer additions than doubling the terms one by one.
  Fe delta, y2, t0, t1, alpha, four_gamma, beta4, x3, z3, g2;
  FeSqr(&delta, a.z);
  FeDouble(&y2, a.y);
  FeSub(&t0, a.x, delta);
  FeAdd(&t1, a.x, delta);
  FeMul(&alpha, t0, t1);
  FeSqr(&four_gamma, y2);
  FeDouble(&t0, alpha);
  FeAdd(&alpha, alpha, t0);  // 3*(X1-delta)*(X1+delta)
  FeMul(&beta4, a.x, four_gamma);
  FeSqr(&x3, alpha);
  FeMul(&z3, y2, a.z);
  FeSub(&x3, x3, beta4);
  FeSub(&x3, x3, beta4);  // X3 = alpha^2 - 8*beta
  FeSqr(&g2, four_gamma);
  FeHalf(&g2, g2);  // 8*Y1^4
  FeSub(&t0, beta4, x3);
  FeMul(&t0, alpha, t0);
  FeSub(&r->y, t0, g2);  // Y3 = alpha*(4*beta - X3) - 8*Y1^4
  r->x = x3;
  r->z = z3;
}

void PointAddMixed_vartime(JacobianPoint* r, const JacobianPoint& a, const AffinePoint& b) {
  if (PointIsInfinity_vartime(a)) {
    PointFromAffine(r, b);
    return;
  }
  // madd-2004-hmv (EFD).
  Fe z1z1, u2, s2, h, rr;
  FeSqr(&z1z1, a.z);
  FeMul(&u2, b.x, z1z1);
  FeMul(&s2, a.z, z1z1);
  FeMul(&s2, s2, b.y);
  FeSub(&h, u2, a.x);
  FeSub(&rr, s2, a.y);
  if (FeIsZero_vartime(h)) {
    // Same x: a = b (double) or a = -b (infinity). The generic formula would
    // return Z3 = 0 in both cases, wrongly for the first.
    if (FeIsZero_vartime(rr)) {
      PointDouble(r, a);
    } else {
      PointSetInfinity(r);
    }
    return;
  }
  Fe hh, hhh, v, x3, t;
  FeSqr(&hh, h);
  FeMul(&hhh, h, hh);
  FeMul(&v, a.x, hh);
  FeSqr(&x3, rr);
  FeSub(&x3, x3, hhh);
  FeSub(&x3, x3, v);
  FeSub(&x3, x3, v);  // X3 = R^2 - H^3 - 2*X1*H^2
  FeSub(&t, v, x3);
  FeMul(&t, rr, t);
  Fe y1hhh;
  FeMul(&y1hhh, a.y, hhh);
  FeMul(&r->z, a.z, h);
  FeSub(&r->y, t, y1hhh);  // Y3 = R*(V - X3) - Y1*H^3
  r->x = x3;
}

void PointAdd_vartime(JacobianPoint* r, const JacobianPoint& a, const JacobianPoint& b) {
  if (PointIsInfinity_vartime(a)) {
    *r = b;
    return;
  }
  if (PointIsInfinity_vartime(b)) {
    *r = a;
    return;
  }
  // add-1998-cmo-2 (EFD).
  Fe z1z1, z2z2, u1, u2, s1, s2, h, rr;
  FeSqr(&z1z1, a.z);
  FeSqr(&z2z2, b.z);
  FeMul(&u1, a.x, z2z2);
  FeMul(&u2, b.x, z1z1);
  FeMul(&s1, b.z, z2z2);
  FeMul(&s1, s1, a.y);
  FeMul(&s2, a.z, z1z1);
  FeMul(&s2, s2, b.y);
  FeSub(&h, u2, u1);
  FeSub(&rr, s2, s1);
  if (FeIsZero_vartime(h)) {
    if (FeIsZero_vartime(rr)) {
      PointDouble(r, a);
    } else {
      PointSetInfinity(r);
    }
    return;
  }
  Fe hh, hhh, v, x3, t, z3;
  FeSqr(&hh, h);
  FeMul(&hhh, h, hh);
  FeMul(&v, u1, hh);
  FeSqr(&x3, rr);
  FeSub(&x3, x3, hhh);
  FeSub(&x3, x3, v);
  FeSub(&x3, x3, v);
  FeSub(&t, v, x3);
  FeMul(&t, rr, t);
  FeMul(&s1, s1, hhh);
  FeMul(&z3, a.z, b.z);
  FeMul(&r->z, z3, h);
  FeSub(&r->y, t, s1);
  r->x = x3;
}

bool PointToAffine_vartime(AffinePoint* r, const JacobianPoint& a) {
  if (PointIsInfinity_vartime(a)) return false;
  Fe zinv, z2, z3;
  FeInvert_vartime(&zinv, a.z);
  FeSqr(&z2, zinv);
  FeMul(&z3, z2, zinv);
  FeMul(&r->x, a.x, z2);
  FeMul(&r->y, a.y, z3);
  return true;
}

// ---- Recoding ----

void RecodeSignedWindows_vartime(int16_t* digits, const Sc& k, int w, int windows) {
  const int half = 1 << (w - 1);
  int carry = 0;
  for (int j = 0; j < windows; ++j) {
    int d = static_cast<int>(GetBits(k, j * w, w)) + carry;
    carry = d > half ? 1 : 0;
    d -= carry << w;
    digits[j] = static_cast<int16_t>(d);
  }
  // windows * w >= 257 and k < 2^256: the last window absorbs the carry.
}

int RecodeWnaf_vartime(int16_t naf[kMaxWnafLength], const Sc& k, int w) {
  std::memset(naf, 0, sizeof(int16_t) * kMaxWnafLength);
  int carry = 0;
  int length = 0;
  int i = 0;
  while (i < kMaxWnafLength) {
    // The digit at i is (bit i + carry) mod 2: zero when they are equal, and
    // the carry then passes on unchanged.
    if (static_cast<int>(GetBits(k, i, 1)) == carry) {
      ++i;
      continue;
    }
    // Odd: take the next w bits plus the carry, an odd number in
    // [1, 2^w - 1], and make it signed; a negative digit borrows 2^w, which
    // the carry returns at position i + w.
    int word = static_cast<int>(GetBits(k, i, w)) + carry;
    carry = (word >> (w - 1)) & 1;
    word -= carry << w;
    naf[i] = static_cast<int16_t>(word);
    length = i + 1;
    i += w;
  }
  return length;
}

// ---- Tables and multiplication ----

CombTable::CombTable(int window_bits)
    : window_bits_(window_bits),
      windows_((256 + window_bits) / window_bits),  // ceil(257 / w)
      half_(size_t{1} << (window_bits - 1)) {}

std::unique_ptr<CombTable> CombTable::Build_vartime(const AffinePoint& base, int window_bits) {
  if (window_bits < 2 || window_bits > 10) return nullptr;
  std::unique_ptr<CombTable> table(new CombTable(window_bits));
  const size_t total = static_cast<size_t>(table->windows_) * table->half_;
  std::vector<JacobianPoint> jac(total);
  JacobianPoint window_base;  // 2^(w*j) * P
  PointFromAffine(&window_base, base);
  for (int j = 0; j < table->windows_; ++j) {
    JacobianPoint* row = &jac[static_cast<size_t>(j) * table->half_];
    row[0] = window_base;
    if (table->half_ > 1) PointDouble(&row[1], window_base);
    for (size_t k = 2; k < table->half_; ++k) PointAdd_vartime(&row[k], row[k - 1], window_base);
    // Next window base: 2^w * current = 2 * (2^(w-1) * current).
    PointDouble(&window_base, row[table->half_ - 1]);
  }
  // No entry is infinity: k * 2^(w*j) < n * 2^(w*j) and n is an odd prime
  // larger than k, so n never divides k * 2^(w*j).
  table->points_.resize(total);
  BatchToAffine_vartime(table->points_.data(), jac.data(), total);
  return table;
}

const CombTable& BaseTable() {
  // Built on first use, then shared read-only (C++11 guarantees one thread
  // initializes a function-local static while others wait).
  static const CombTable* const table =
      CombTable::Build_vartime(Generator(), kBaseWindowBits).release();
  return *table;
}

namespace {

// OddMultiples_vartime writes P, 3P, ..., (2*count - 1)P in affine form, with
// one inversion for all of them. None is infinity: (2i+1)P for 2i+1 < n.
void OddMultiples_vartime(AffinePoint* out, const AffinePoint& p, int count) {
  std::vector<JacobianPoint> jac(static_cast<size_t>(count));
  JacobianPoint p2;
  PointFromAffine(&jac[0], p);
  PointDouble(&p2, jac[0]);
  for (int i = 1; i < count; ++i) PointAdd_vartime(&jac[i], jac[i - 1], p2);
  BatchToAffine_vartime(out, jac.data(), static_cast<size_t>(count));
}

}  // namespace

const std::vector<AffinePoint>& BaseOddMultiples() {
  static const std::vector<AffinePoint>* const table = [] {
    auto* t = new std::vector<AffinePoint>(size_t{1} << (kBaseWnafBits - 2));
    OddMultiples_vartime(t->data(), Generator(), static_cast<int>(t->size()));
    return t;
  }();
  return *table;
}

void CombAccumulate_vartime(JacobianPoint* acc, const CombTable& table, const Sc& k) {
  int16_t digits[129];  // ceil(257 / 2)
  const int windows = table.windows();
  RecodeSignedWindows_vartime(digits, k, table.window_bits(), windows);
  for (int j = 0; j < windows; ++j) {
    const int d = digits[j];
    if (d == 0) continue;
    AddSigned_vartime(acc, table.Entry(j, d < 0 ? -d : d), d < 0);
  }
}

void StraussMul_vartime(JacobianPoint* r, const Sc& a, const Sc& b, const AffinePoint& q) {
  // Odd multiples Q, 3Q, ..., (2^(w-1) - 1)Q, made affine with one inversion
  // so that the main loop uses the cheaper mixed addition (an inversion costs
  // less than the difference over ~43 additions).
  constexpr int kOdd = 1 << (kColdWnafBits - 2);
  AffinePoint q_odd[kOdd];
  OddMultiples_vartime(q_odd, q, kOdd);
  const std::vector<AffinePoint>& g_odd = BaseOddMultiples();

  // Strauss-Shamir: both wNAFs share one chain of doublings. (Summing a*G
  // from the comb table on a second accumulator instead measured no faster:
  // the work is throughput-bound, and the wide wNAF needs fewer additions.)
  int16_t naf_a[kMaxWnafLength], naf_b[kMaxWnafLength];
  const int len_a = RecodeWnaf_vartime(naf_a, a, kBaseWnafBits);
  const int len_b = RecodeWnaf_vartime(naf_b, b, kColdWnafBits);
  PointSetInfinity(r);
  for (int i = std::max(len_a, len_b) - 1; i >= 0; --i) {
    if (!PointIsInfinity_vartime(*r)) PointDouble(r, *r);
    if (const int d = naf_b[i]; d != 0) {
      AddSigned_vartime(r, q_odd[((d < 0 ? -d : d) - 1) / 2], d < 0);
    }
    if (const int d = naf_a[i]; d != 0) {
      AddSigned_vartime(r, g_odd[static_cast<size_t>(((d < 0 ? -d : d) - 1) / 2)], d < 0);
    }
  }
}

}  // namespace popguard::p256
