// Arithmetic in GF(p), p = 2^255 - 19, for the Ed25519 verifier
// (service/crypto/ed25519/ed25519.h). Five unsigned 51-bit limbs (radix 2^51), products in
// unsigned __int128.
//
// The arithmetic has no data-dependent branches, but nothing here is meant to
// be constant-time (IsZero, IsNegative, ToBytes and callers branch on
// values): the verifier only ever handles public data (keys, messages,
// signatures). Do not use this file with secrets.
//
// Two types carry the limb bounds, so the compiler checks that an unreduced
// sum never feeds another sum:
//   Fe       "tight":  every limb < 2^51 + 2^15.  Produced by Mul, Sq, Sq2,
//                      Carry, FromBytes and the constants.
//   FeLoose  "loose":  every limb < 2^54.         Produced by Add, Sub, Neg;
//                      accepted only by Mul, Sq and Carry.
// Bounds are proved next to each function. An Fe converts implicitly to an
// FeLoose (a tight element is also loose).
#ifndef POPGUARD_SERVICE_ED25519_FIELD_H_
#define POPGUARD_SERVICE_ED25519_FIELD_H_

#include <cstdint>

namespace popguard::ed25519::internal {

inline constexpr uint64_t kMask51 = (uint64_t{1} << 51) - 1;

// Fe: value = v[0] + v[1]*2^51 + v[2]*2^102 + v[3]*2^153 + v[4]*2^204,
// each limb < 2^51 + 2^15. The value is any representative mod p (< 2p).
struct Fe {
  uint64_t v[5];
};

// FeLoose: same radix, each limb < 2^54.
struct FeLoose {
  uint64_t v[5];
  FeLoose() = default;
  // NOLINTNEXTLINE(google-explicit-constructor): tight implies loose.
  FeLoose(const Fe& f) : v{f.v[0], f.v[1], f.v[2], f.v[3], f.v[4]} {}
};

// FeZero / FeOne return 0 and 1.
inline Fe FeZero() { return Fe{{0, 0, 0, 0, 0}}; }
inline Fe FeOne() { return Fe{{1, 0, 0, 0, 0}}; }

// Add returns a + b. Limbs < 2 * (2^51 + 2^15) < 2^54.
inline FeLoose Add(const Fe& a, const Fe& b) {
  FeLoose r;
  for (int i = 0; i < 5; ++i) r.v[i] = a.v[i] + b.v[i];
  return r;
}

// Sub returns a - b, computed as a + 4p - b so no limb underflows: limb 0 of
// 4p is 2^53 - 76 and the others 2^53 - 4, all above any tight limb of b.
// Limbs < (2^51 + 2^15) + 2^53 < 2^54.
inline FeLoose Sub(const Fe& a, const Fe& b) {
  constexpr uint64_t k4P0 = (uint64_t{1} << 53) - 76;
  constexpr uint64_t k4Pi = (uint64_t{1} << 53) - 4;
  FeLoose r;
  r.v[0] = a.v[0] + k4P0 - b.v[0];
  for (int i = 1; i < 5; ++i) r.v[i] = a.v[i] + k4Pi - b.v[i];
  return r;
}

// Neg returns -a (as 4p - a).
inline FeLoose Neg(const Fe& a) { return Sub(FeZero(), a); }

// Carry reduces a loose element to a tight one (same value mod p). Input
// limbs < 2^54: each carry out is < 2^3 + 1, the wrapped carry times 19 is
// < 2^8, so after the second pass limb 0 < 2^51 and limb 1 < 2^51 + 1.
inline Fe Carry(const FeLoose& a) {
  uint64_t v0 = a.v[0], v1 = a.v[1], v2 = a.v[2], v3 = a.v[3], v4 = a.v[4];
  v1 += v0 >> 51;
  v0 &= kMask51;
  v2 += v1 >> 51;
  v1 &= kMask51;
  v3 += v2 >> 51;
  v2 &= kMask51;
  v4 += v3 >> 51;
  v3 &= kMask51;
  v0 += 19 * (v4 >> 51);
  v4 &= kMask51;
  v1 += v0 >> 51;
  v0 &= kMask51;
  return Fe{{v0, v1, v2, v3, v4}};
}

namespace detail {

using u128 = unsigned __int128;

// ReduceProduct folds the five 128-bit column sums of a product into a tight
// element. Requires c0..c3 < 2^115 and c4 < 2^110.5. Then every carry between
// columns is < 2^64; the carry out of c4 (after the carry in from c3, < 2^64)
// is < 2^59.6, so 19 times it plus a 51-bit limb stays below 2^64. A final
// carry from limb 0 into limb 1 leaves limb 0 < 2^51 and limb 1 < 2^51 + 2^13.
inline Fe ReduceProduct(u128 c0, u128 c1, u128 c2, u128 c3, u128 c4) {
  c1 += static_cast<uint64_t>(c0 >> 51);
  uint64_t r0 = static_cast<uint64_t>(c0) & kMask51;
  c2 += static_cast<uint64_t>(c1 >> 51);
  uint64_t r1 = static_cast<uint64_t>(c1) & kMask51;
  c3 += static_cast<uint64_t>(c2 >> 51);
  uint64_t r2 = static_cast<uint64_t>(c2) & kMask51;
  c4 += static_cast<uint64_t>(c3 >> 51);
  uint64_t r3 = static_cast<uint64_t>(c3) & kMask51;
  uint64_t carry = static_cast<uint64_t>(c4 >> 51);
  uint64_t r4 = static_cast<uint64_t>(c4) & kMask51;
  r0 += carry * 19;
  r1 += r0 >> 51;
  r0 &= kMask51;
  return Fe{{r0, r1, r2, r3, r4}};
}

}  // namespace detail

// Mul returns a * b. Inputs loose (limbs < 2^54), output tight.
// Bounds: every product of limbs is < 2^108 and 19 * b_i < 2^59, so column 0
// (the widest: one plain product and four with a factor 19) is
// < 2^108 + 4 * 19 * 2^108 = 77 * 2^108 < 2^115; column 4 has five plain
// products, < 5 * 2^108 < 2^110.4, as ReduceProduct needs.
inline Fe Mul(const FeLoose& a, const FeLoose& b) {
  using detail::u128;
  const uint64_t a0 = a.v[0], a1 = a.v[1], a2 = a.v[2], a3 = a.v[3], a4 = a.v[4];
  const uint64_t b0 = b.v[0], b1 = b.v[1], b2 = b.v[2], b3 = b.v[3], b4 = b.v[4];
  const uint64_t b1_19 = 19 * b1, b2_19 = 19 * b2, b3_19 = 19 * b3, b4_19 = 19 * b4;
  u128 c0 =
      u128{a0} * b0 + u128{a1} * b4_19 + u128{a2} * b3_19 + u128{a3} * b2_19 + u128{a4} * b1_19;
  u128 c1 = u128{a0} * b1 + u128{a1} * b0 + u128{a2} * b4_19 + u128{a3} * b3_19 + u128{a4} * b2_19;
  u128 c2 = u128{a0} * b2 + u128{a1} * b1 + u128{a2} * b0 + u128{a3} * b4_19 + u128{a4} * b3_19;
  u128 c3 = u128{a0} * b3 + u128{a1} * b2 + u128{a2} * b1 + u128{a3} * b0 + u128{a4} * b4_19;
  u128 c4 = u128{a0} * b4 + u128{a1} * b3 + u128{a2} * b2 + u128{a3} * b1 + u128{a4} * b0;
  return detail::ReduceProduct(c0, c1, c2, c3, c4);
}

// Sq returns a^2. Input loose, output tight. The columns are those of
// Mul(a, a) with symmetric products merged (2 * a_i < 2^55, 38 * a_i < 2^60),
// so the same bounds hold.
inline Fe Sq(const FeLoose& a) {
  using detail::u128;
  const uint64_t a0 = a.v[0], a1 = a.v[1], a2 = a.v[2], a3 = a.v[3], a4 = a.v[4];
  const uint64_t a0_2 = 2 * a0, a1_2 = 2 * a1;
  const uint64_t a3_19 = 19 * a3, a4_19 = 19 * a4;
  const uint64_t a2_38 = 38 * a2, a3_38 = 38 * a3;
  u128 c0 = u128{a0} * a0 + u128{a1_2} * a4_19 + u128{a2_38} * a3;
  u128 c1 = u128{a0_2} * a1 + u128{a2_38} * a4 + u128{a3_19} * a3;
  u128 c2 = u128{a0_2} * a2 + u128{a1} * a1 + u128{a3_38} * a4;
  u128 c3 = u128{a0_2} * a3 + u128{a1_2} * a2 + u128{a4_19} * a4;
  u128 c4 = u128{a0_2} * a4 + u128{a1_2} * a3 + u128{a2} * a2;
  return detail::ReduceProduct(c0, c1, c2, c3, c4);
}

// Sq2 returns 2 * a^2. Input TIGHT: limbs < 2^51 + 2^15, so every product is
// < 2^102.01, doubled column 0 < 154 * 2^102.01 < 2^110 and doubled column 4
// < 10 * 2^102.01 < 2^106. Output tight.
inline Fe Sq2(const Fe& a) {
  using detail::u128;
  const uint64_t a0 = a.v[0], a1 = a.v[1], a2 = a.v[2], a3 = a.v[3], a4 = a.v[4];
  const uint64_t a0_2 = 2 * a0, a1_2 = 2 * a1;
  const uint64_t a3_19 = 19 * a3, a4_19 = 19 * a4;
  const uint64_t a2_38 = 38 * a2, a3_38 = 38 * a3;
  u128 c0 = u128{a0} * a0 + u128{a1_2} * a4_19 + u128{a2_38} * a3;
  u128 c1 = u128{a0_2} * a1 + u128{a2_38} * a4 + u128{a3_19} * a3;
  u128 c2 = u128{a0_2} * a2 + u128{a1} * a1 + u128{a3_38} * a4;
  u128 c3 = u128{a0_2} * a3 + u128{a1_2} * a2 + u128{a4_19} * a4;
  u128 c4 = u128{a0_2} * a4 + u128{a1_2} * a3 + u128{a2} * a2;
  return detail::ReduceProduct(c0 << 1, c1 << 1, c2 << 1, c3 << 1, c4 << 1);
}

// SqN returns a^(2^n), n >= 1.
inline Fe SqN(const FeLoose& a, int n) {
  Fe r = Sq(a);
  for (int i = 1; i < n; ++i) r = Sq(r);
  return r;
}

// FromBytes reads 32 little-endian bytes, ignoring the top bit (bit 255).
// The result is tight but not necessarily reduced: values in [p, 2^255) are
// kept as they are (IsCanonicalBytes tells them apart).
Fe FromBytes(const uint8_t in[32]);

// IsCanonicalBytes returns true when the low 255 bits of `in`, read
// little-endian, are < p. Bit 255 is ignored.
bool IsCanonicalBytes(const uint8_t in[32]);

// ToBytes writes the unique representative in [0, p) of `a`, little-endian,
// with bit 255 clear.
void ToBytes(const Fe& a, uint8_t out[32]);

// IsZero returns true when `a` is 0 mod p.
bool IsZero(const FeLoose& a);

// IsNegative returns the low bit of the reduced value of `a` (RFC 8032's
// "sign" of x).
bool IsNegative(const Fe& a);

// Invert returns a^(p-2), the inverse of a (0 for a = 0).
Fe Invert(const Fe& a);

// Pow22523 returns a^((p-5)/8) = a^(2^252 - 3), for square roots.
Fe Pow22523(const Fe& a);

// Pow22523Lanes replaces each of a[0..n) by a[i]^((p-5)/8), 1 <= n <= 4. The
// n exponentiations run interleaved: each is a chain of 250 dependent
// squarings, so one alone leaves the multiplier idle between steps, and
// several side by side are up to a third cheaper each.
void Pow22523Lanes(Fe* a, int n);

// FieldConstants holds the curve constants, computed at start-up by this code
// (see ed25519_field.cc) rather than pasted in; the test recomputes them with
// OpenSSL BIGNUM.
struct FieldConstants {
  Fe d;        // -121665 / 121666, the Edwards d
  Fe d2;       // 2d
  Fe sqrt_m1;  // 2^((p-1)/4), a square root of -1
};

// Constants returns the process-wide constants (initialised on first use,
// thread-safe).
const FieldConstants& Constants();

}  // namespace popguard::ed25519::internal

#endif  // POPGUARD_SERVICE_ED25519_FIELD_H_
