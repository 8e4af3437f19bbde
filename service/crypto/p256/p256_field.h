// Arithmetic in the two prime fields of NIST P-256 (FIPS 186-4 D.1.2.3, SEC 2
// 2.4.2): GF(p), p = 2^256 - 2^224 + 2^192 + 2^96 - 1, the field of the curve
// coordinates, and Z/nZ, n the prime group order, the field of ECDSA scalars.
//
// Both use Montgomery form on four little-endian 64-bit limbs with
// unsigned __int128 products. For p, -p^-1 mod 2^64 is 1 and p's limbs are
// {2^64-1, 2^32-1, 0, 2^64-2^32+1}, so each reduction step costs one 64x64
// multiplication; see FeReduce in this file.
//
// Timing: the element operations here (add, sub, mul, sqr) are branch-free
// and take the same time for every input. Functions whose time depends on
// their inputs are named `..._vartime`; popguard only ever applies them to
// public data (public keys, message hashes, signatures).
//
// Backends: on x86-64, FeMul/FeSqr run MULX/ADX assembly when the CPU has
// BMI2 and ADX (checked once at start-up; about 1.6x the portable speed here)
// and FeAdd/FeSub always run baseline x86-64 assembly (p256_field_asm.h); the
// portable C++ below is the fallback and is tested against the same vectors.
// Hot operations are inline so that p256_point.cc compiles them into its
// formulas; everything else is in p256_field.cc.
#ifndef POPGUARD_SERVICE_P256_FIELD_H_
#define POPGUARD_SERVICE_P256_FIELD_H_

#include <cstdint>

#include "service/crypto/p256/p256_field_asm.h"

namespace popguard::p256 {

using u128 = unsigned __int128;

// Fe is an element a of GF(p) held as a*2^256 mod p (Montgomery form).
// Invariant: every function returns fully reduced limbs, value < p, so two
// elements are equal exactly when their limbs are, and zero is all-zero limbs.
struct Fe {
  uint64_t v[4];
};

// Sc is an element of Z/nZ. Which form (plain or Montgomery) is stated by each
// function that takes or returns one. Invariant: value < n.
struct Sc {
  uint64_t v[4];
};

// The moduli, little-endian limbs.
inline constexpr uint64_t kP[4] = {0xffffffffffffffffull, 0x00000000ffffffffull, 0,
                                   0xffffffff00000001ull};
inline constexpr uint64_t kN[4] = {0xf3b9cac2fc632551ull, 0xbce6faada7179e84ull,
                                   0xffffffffffffffffull, 0xffffffff00000000ull};

namespace field_internal {

// SubModulus sets d = (r mod 2^256) - m and returns 1 iff the 257-bit value
// r4:r is < m.
inline uint64_t SubModulus(uint64_t d[4], const uint64_t r[4], uint64_t r4, const uint64_t m[4]) {
  u128 t = static_cast<u128>(r[0]) - m[0];
  d[0] = static_cast<uint64_t>(t);
  uint64_t borrow = static_cast<uint64_t>(t >> 64) & 1;
  t = static_cast<u128>(r[1]) - m[1] - borrow;
  d[1] = static_cast<uint64_t>(t);
  borrow = static_cast<uint64_t>(t >> 64) & 1;
  t = static_cast<u128>(r[2]) - m[2] - borrow;
  d[2] = static_cast<uint64_t>(t);
  borrow = static_cast<uint64_t>(t >> 64) & 1;
  t = static_cast<u128>(r[3]) - m[3] - borrow;
  d[3] = static_cast<uint64_t>(t);
  borrow = static_cast<uint64_t>(t >> 64) & 1;
  return static_cast<uint64_t>(static_cast<u128>(r4) - borrow) >> 63;  // 1 iff r < m
}

// ReduceOnce sets out = r mod m for r = (r4:r0..r3) < 2m, branch-free.
inline void ReduceOnce(uint64_t out[4], const uint64_t r[4], uint64_t r4, const uint64_t m[4]) {
  uint64_t d[4];
  const uint64_t keep_r = 0 - SubModulus(d, r, r4, m);  // all ones iff r < m
  for (int i = 0; i < 4; ++i) out[i] = (r[i] & keep_r) | (d[i] & ~keep_r);
}

// FeReduce sets out = (hi*2^256 + lo) / 2^256 mod p (Montgomery reduction),
// for a product lo + hi*2^256 < p^2 (so hi < p).
//
// Each of the four steps takes q = lowest limb and adds q*p, which clears that
// limb, then shifts down one limb. With p0 = 2^64-1 and p1 = 2^32-1, the two
// low limbs of q*p plus the limb being cleared sum to exactly q*2^96, and p2 is
// zero, so a step is one shift and one multiplication by p3. After four steps
// the low half is some u <= p, and u + hi < 2p needs at most one subtraction.
inline void FeReduce(uint64_t out[4], const uint64_t lo[4], const uint64_t hi[4]) {
  uint64_t l0 = lo[0], l1 = lo[1], l2 = lo[2], l3 = lo[3];
  for (int i = 0; i < 4; ++i) {
    const uint64_t q = l0;
    u128 acc = static_cast<u128>(l1) + (static_cast<u128>(q) << 32);
    const uint64_t n0 = static_cast<uint64_t>(acc);
    acc = static_cast<u128>(l2) + static_cast<uint64_t>(acc >> 64);
    const uint64_t n1 = static_cast<uint64_t>(acc);
    acc = static_cast<u128>(q) * kP[3] + l3 + static_cast<uint64_t>(acc >> 64);
    l0 = n0;
    l1 = n1;
    l2 = static_cast<uint64_t>(acc);
    l3 = static_cast<uint64_t>(acc >> 64);
  }
  uint64_t s[4];
  u128 acc = static_cast<u128>(l0) + hi[0];
  s[0] = static_cast<uint64_t>(acc);
  acc = static_cast<u128>(l1) + hi[1] + static_cast<uint64_t>(acc >> 64);
  s[1] = static_cast<uint64_t>(acc);
  acc = static_cast<u128>(l2) + hi[2] + static_cast<uint64_t>(acc >> 64);
  s[2] = static_cast<uint64_t>(acc);
  acc = static_cast<u128>(l3) + hi[3] + static_cast<uint64_t>(acc >> 64);
  s[3] = static_cast<uint64_t>(acc);
  ReduceOnce(out, s, static_cast<uint64_t>(acc >> 64), kP);
}

}  // namespace field_internal

// On x86-64 the portable code is only the fallback for CPUs without ADX, so it
// is kept out of line there rather than inlined into every formula.
#ifdef POPGUARD_P256_HAVE_ADX_ASM
#define POPGUARD_P256_PORTABLE __attribute__((noinline))
#else
#define POPGUARD_P256_PORTABLE
#endif

// FeMulPortable is FeMul in plain C++ (any 64-bit target).
POPGUARD_P256_PORTABLE inline void FeMulPortable(Fe* r, const Fe& a, const Fe& b) {
  uint64_t t[8] = {0, 0, 0, 0, 0, 0, 0, 0};
  for (int i = 0; i < 4; ++i) {
    uint64_t carry = 0;
    for (int j = 0; j < 4; ++j) {
      u128 acc = static_cast<u128>(a.v[j]) * b.v[i] + t[i + j] + carry;
      t[i + j] = static_cast<uint64_t>(acc);
      carry = static_cast<uint64_t>(acc >> 64);
    }
    t[i + 4] = carry;
  }
  field_internal::FeReduce(r->v, t, t + 4);
}

// FeSqrPortable is FeSqr in plain C++.
POPGUARD_P256_PORTABLE inline void FeSqrPortable(Fe* r, const Fe& a) {
  const uint64_t* x = a.v;
  uint64_t t[8];
  // Cross products x_i*x_j, i < j, into t[1..6].
  u128 acc = static_cast<u128>(x[0]) * x[1];
  t[1] = static_cast<uint64_t>(acc);
  acc = static_cast<u128>(x[0]) * x[2] + static_cast<uint64_t>(acc >> 64);
  t[2] = static_cast<uint64_t>(acc);
  acc = static_cast<u128>(x[0]) * x[3] + static_cast<uint64_t>(acc >> 64);
  t[3] = static_cast<uint64_t>(acc);
  t[4] = static_cast<uint64_t>(acc >> 64);
  acc = static_cast<u128>(x[1]) * x[2] + t[3];
  t[3] = static_cast<uint64_t>(acc);
  acc = static_cast<u128>(x[1]) * x[3] + t[4] + static_cast<uint64_t>(acc >> 64);
  t[4] = static_cast<uint64_t>(acc);
  t[5] = static_cast<uint64_t>(acc >> 64);
  acc = static_cast<u128>(x[2]) * x[3] + t[5];
  t[5] = static_cast<uint64_t>(acc);
  t[6] = static_cast<uint64_t>(acc >> 64);
  // Double them.
  t[7] = t[6] >> 63;
  t[6] = (t[6] << 1) | (t[5] >> 63);
  t[5] = (t[5] << 1) | (t[4] >> 63);
  t[4] = (t[4] << 1) | (t[3] >> 63);
  t[3] = (t[3] << 1) | (t[2] >> 63);
  t[2] = (t[2] << 1) | (t[1] >> 63);
  t[1] = t[1] << 1;
  // Add the squares x_i^2 at limbs 2i, 2i+1.
  acc = static_cast<u128>(x[0]) * x[0];
  t[0] = static_cast<uint64_t>(acc);
  uint64_t carry = static_cast<uint64_t>(acc >> 64);
  for (int i = 1; i < 4; ++i) {
    const u128 sq = static_cast<u128>(x[i]) * x[i];
    acc = static_cast<u128>(t[2 * i - 1]) + carry;
    t[2 * i - 1] = static_cast<uint64_t>(acc);
    acc =
        static_cast<u128>(t[2 * i]) + static_cast<uint64_t>(sq) + static_cast<uint64_t>(acc >> 64);
    t[2 * i] = static_cast<uint64_t>(acc);
    carry = static_cast<uint64_t>(sq >> 64) + static_cast<uint64_t>(acc >> 64);
  }
  t[7] += carry;
  field_internal::FeReduce(r->v, t, t + 4);
}

namespace field_internal {
// g_use_adx is set once at start-up when the CPU has BMI2 and ADX.
extern bool g_use_adx;
}  // namespace field_internal

// FieldUsesAdx returns whether FeMul/FeSqr run the MULX/ADX assembly.
inline bool FieldUsesAdx() { return field_internal::g_use_adx; }

// SetFieldAdxForTesting switches between the assembly (when the CPU has it)
// and the portable code, so tests cover both. Not thread-safe: call it only
// while no other thread does P-256 arithmetic. Returns the new setting.
bool SetFieldAdxForTesting(bool use_adx);

// FeMul sets r = a*b (Montgomery product a*b/2^256 mod p). r may alias a or b.
inline void FeMul(Fe* r, const Fe& a, const Fe& b) {
#ifdef POPGUARD_P256_HAVE_ADX_ASM
  if (field_internal::g_use_adx) {
    field_internal::FeMulAdx(r->v, a.v, b.v);
    return;
  }
#endif
  FeMulPortable(r, a, b);
}

// FeSqr sets r = a^2 (Montgomery). r may alias a.
inline void FeSqr(Fe* r, const Fe& a) {
#ifdef POPGUARD_P256_HAVE_ADX_ASM
  if (field_internal::g_use_adx) {
    field_internal::FeSqrAdx(r->v, a.v);
    return;
  }
#endif
  FeSqrPortable(r, a);
}

// FeAddPortable / FeSubPortable are FeAdd / FeSub in plain C++.
inline void FeAddPortable(Fe* r, const Fe& a, const Fe& b) {
  uint64_t s[4];
  u128 acc = static_cast<u128>(a.v[0]) + b.v[0];
  s[0] = static_cast<uint64_t>(acc);
  acc = static_cast<u128>(a.v[1]) + b.v[1] + static_cast<uint64_t>(acc >> 64);
  s[1] = static_cast<uint64_t>(acc);
  acc = static_cast<u128>(a.v[2]) + b.v[2] + static_cast<uint64_t>(acc >> 64);
  s[2] = static_cast<uint64_t>(acc);
  acc = static_cast<u128>(a.v[3]) + b.v[3] + static_cast<uint64_t>(acc >> 64);
  s[3] = static_cast<uint64_t>(acc);
  field_internal::ReduceOnce(r->v, s, static_cast<uint64_t>(acc >> 64), kP);
}

inline void FeSubPortable(Fe* r, const Fe& a, const Fe& b) {
  uint64_t d[4];
  u128 t = static_cast<u128>(a.v[0]) - b.v[0];
  d[0] = static_cast<uint64_t>(t);
  uint64_t borrow = static_cast<uint64_t>(t >> 64) & 1;
  for (int i = 1; i < 4; ++i) {
    t = static_cast<u128>(a.v[i]) - b.v[i] - borrow;
    d[i] = static_cast<uint64_t>(t);
    borrow = static_cast<uint64_t>(t >> 64) & 1;
  }
  // Add p back when the subtraction borrowed.
  const uint64_t mask = 0 - borrow;
  u128 acc = static_cast<u128>(d[0]) + (kP[0] & mask);
  r->v[0] = static_cast<uint64_t>(acc);
  for (int i = 1; i < 4; ++i) {
    acc = static_cast<u128>(d[i]) + (kP[i] & mask) + static_cast<uint64_t>(acc >> 64);
    r->v[i] = static_cast<uint64_t>(acc);
  }
}

// FeAdd sets r = a + b mod p. r may alias a or b.
inline void FeAdd(Fe* r, const Fe& a, const Fe& b) {
#ifdef POPGUARD_P256_HAVE_ADX_ASM
  field_internal::FeAddAsm(r->v, a.v, b.v);
#else
  FeAddPortable(r, a, b);
#endif
}

// FeSub sets r = a - b mod p. r may alias a or b.
inline void FeSub(Fe* r, const Fe& a, const Fe& b) {
#ifdef POPGUARD_P256_HAVE_ADX_ASM
  field_internal::FeSubAsm(r->v, a.v, b.v);
#else
  FeSubPortable(r, a, b);
#endif
}

// FeDouble sets r = 2a mod p.
inline void FeDouble(Fe* r, const Fe& a) { FeAdd(r, a, a); }

// FeHalfPortable is FeHalf in plain C++.
inline void FeHalfPortable(Fe* r, const Fe& a) {
  const uint64_t mask = 0 - (a.v[0] & 1);
  uint64_t s[4];
  u128 acc = static_cast<u128>(a.v[0]) + (kP[0] & mask);
  s[0] = static_cast<uint64_t>(acc);
  for (int i = 1; i < 4; ++i) {
    acc = static_cast<u128>(a.v[i]) + (kP[i] & mask) + static_cast<uint64_t>(acc >> 64);
    s[i] = static_cast<uint64_t>(acc);
  }
  const uint64_t top = static_cast<uint64_t>(acc >> 64);
  for (int i = 0; i < 3; ++i) r->v[i] = (s[i] >> 1) | (s[i + 1] << 63);
  r->v[3] = (s[3] >> 1) | (top << 63);
}

// FeHalf sets r = a/2 mod p. r may alias a.
inline void FeHalf(Fe* r, const Fe& a) {
#ifdef POPGUARD_P256_HAVE_ADX_ASM
  field_internal::FeHalfAsm(r->v, a.v);
#else
  FeHalfPortable(r, a);
#endif
}

// FeNeg sets r = -a mod p.
inline void FeNeg(Fe* r, const Fe& a) {
  const Fe zero = {{0, 0, 0, 0}};
  FeSub(r, zero, a);
}

// FeIsZero_vartime returns whether a == 0. Variable time: public values only.
inline bool FeIsZero_vartime(const Fe& a) { return (a.v[0] | a.v[1] | a.v[2] | a.v[3]) == 0; }

// FeEqual_vartime returns whether a == b. Variable time: public values only.
inline bool FeEqual_vartime(const Fe& a, const Fe& b) {
  return ((a.v[0] ^ b.v[0]) | (a.v[1] ^ b.v[1]) | (a.v[2] ^ b.v[2]) | (a.v[3] ^ b.v[3])) == 0;
}

// FeOne returns 1 in Montgomery form (2^256 mod p).
Fe FeOne();

// FeFromBytes_vartime parses a 32-byte big-endian integer into Montgomery
// form. Returns false (and leaves *r unspecified) when the value is >= p: no
// non-canonical encodings. Variable time: public values only.
bool FeFromBytes_vartime(Fe* r, const uint8_t in[32]);

// FeToBytes writes a (out of Montgomery form) as 32 bytes big-endian.
void FeToBytes(uint8_t out[32], const Fe& a);

// FeFromLimbs converts a plain integer < p (little-endian limbs) into
// Montgomery form. The caller guarantees the bound.
Fe FeFromLimbs(const uint64_t limbs[4]);

// FeInvert sets r = a^-1 mod p (Fermat: a^(p-2) along a fixed addition chain),
// and r = 0 for a = 0. Constant time.
void FeInvert(Fe* r, const Fe& a);

// FeInvert_vartime sets r = a^-1 mod p (r = 0 for a = 0) with the
// Bernstein-Yang divsteps algorithm: several times faster than FeInvert, but
// its running time depends on a. Only for public values (points derived from
// public keys).
void FeInvert_vartime(Fe* r, const Fe& a);

// FeBatchInvert_vartime replaces each of the `count` nonzero elements of `a`
// by its inverse with one FeInvert and 3(count-1) multiplications
// (Montgomery's trick). `scratch` holds `count` elements. Every a[i] must be
// nonzero. Variable time only in `count`.
void FeBatchInvert_vartime(Fe* a, Fe* scratch, int count);

// ---- Z/nZ ----

// ScFromBytesReduce sets r = (32-byte big-endian value) mod n, plain form.
// Used for the message hash, which may exceed n.
void ScFromBytesReduce(Sc* r, const uint8_t in[32]);

// ScFromBytes_vartime parses a 32-byte big-endian value, plain form. Returns
// false when it is 0 or >= n: the ECDSA range check on r and s (SEC 1
// 4.1.4 step 1). Variable time: public values only.
bool ScFromBytes_vartime(Sc* r, const uint8_t in[32]);

// ScToMont returns a*2^256 mod n (plain -> Montgomery).
Sc ScToMont(const Sc& a);

// ScMontMul returns a*b/2^256 mod n. A Montgomery operand times a plain one
// gives a plain product; two Montgomery operands give a Montgomery product.
Sc ScMontMul(const Sc& a, const Sc& b);

// ScInvertMont_vartime returns the Montgomery form of x^-1 for the Montgomery
// form `a` of a nonzero x (so ScMontMul(plain y, result) = y/x mod n), and 0
// for 0. Variable time (Bernstein-Yang divsteps, see p256_field.cc): only for
// public values, here the signature's s.
Sc ScInvertMont_vartime(const Sc& a);

// ScInvertMontConstTime is the same by Fermat's little theorem (a^(n-2)), in
// constant time; kept as an independent cross-check for tests.
Sc ScInvertMontConstTime(const Sc& a);

// ScBatchInvertMont_vartime inverts `count` nonzero Montgomery-form elements
// in place with one inversion (Montgomery's trick). `scratch` holds `count`.
void ScBatchInvertMont_vartime(Sc* a, Sc* scratch, int count);

// ScToLimbs / ScIsZero for tests and recoding.
inline bool ScIsZero_vartime(const Sc& a) { return (a.v[0] | a.v[1] | a.v[2] | a.v[3]) == 0; }

}  // namespace popguard::p256

#endif  // POPGUARD_SERVICE_P256_FIELD_H_
