#include "service/crypto/p256/p256_field.h"

#include <array>

#if defined(__x86_64__) && defined(__GNUC__)
#include <cpuid.h>
#endif

namespace popguard::p256 {
namespace {

using Limbs = std::array<uint64_t, 4>;

// The Montgomery constants are computed at compile time from kP and kN, so
// there is no hand-copied magic number to get wrong.

// RModulus returns 2^256 mod m for m > 2^255, i.e. 2^256 - m.
constexpr Limbs RModulus(const uint64_t m[4]) {
  Limbs r{};
  uint64_t borrow = 0;
  for (int i = 0; i < 4; ++i) {
    const u128 t = static_cast<u128>(0) - m[i] - borrow;
    r[i] = static_cast<uint64_t>(t);
    borrow = static_cast<uint64_t>(t >> 64) & 1;
  }
  return r;
}

// DoubleMod returns 2x mod m for x < m.
constexpr Limbs DoubleMod(const Limbs& x, const uint64_t m[4]) {
  Limbs d{};
  uint64_t top = x[3] >> 63;
  d[3] = (x[3] << 1) | (x[2] >> 63);
  d[2] = (x[2] << 1) | (x[1] >> 63);
  d[1] = (x[1] << 1) | (x[0] >> 63);
  d[0] = x[0] << 1;
  // Subtract m if top:d >= m.
  Limbs s{};
  uint64_t borrow = 0;
  for (int i = 0; i < 4; ++i) {
    const u128 t = static_cast<u128>(d[i]) - m[i] - borrow;
    s[i] = static_cast<uint64_t>(t);
    borrow = static_cast<uint64_t>(t >> 64) & 1;
  }
  return (top == 1 || borrow == 0) ? s : d;
}

// RSquaredModulus returns 2^512 mod m: 2^256 mod m doubled 256 times.
constexpr Limbs RSquaredModulus(const uint64_t m[4]) {
  Limbs x = RModulus(m);
  for (int i = 0; i < 256; ++i) x = DoubleMod(x, m);
  return x;
}

// NegInverse64 returns -m0^-1 mod 2^64 for odd m0 (Newton's iteration doubles
// the number of correct low bits each step: 1 -> 64 in six steps).
constexpr uint64_t NegInverse64(uint64_t m0) {
  uint64_t inv = 1;
  for (int i = 0; i < 6; ++i) inv *= 2 - m0 * inv;
  return 0 - inv;
}

// RCubedModulus returns 2^768 mod m.
constexpr Limbs RCubedModulus(const uint64_t m[4]) {
  Limbs x = RSquaredModulus(m);
  for (int i = 0; i < 256; ++i) x = DoubleMod(x, m);
  return x;
}

constexpr Limbs kPR = RModulus(kP);          // 1 in Montgomery form mod p
constexpr Limbs kPR2 = RSquaredModulus(kP);  // converts into Montgomery form mod p
constexpr Limbs kPR3 = RCubedModulus(kP);    // turns a plain inverse of a*R into (a^-1)*R
constexpr Limbs kNR2 = RSquaredModulus(kN);  // converts into Montgomery form mod n
constexpr Limbs kNR3 = RCubedModulus(kN);
constexpr uint64_t kN0 = NegInverse64(kN[0]);  // -n^-1 mod 2^64
static_assert(NegInverse64(kP[0]) == 1, "FeReduce assumes -p^-1 = 1 mod 2^64");
static_assert(kN0 * kN[0] == 0xffffffffffffffffull, "n0' is -n^-1 mod 2^64");

void LoadBigEndian(uint64_t out[4], const uint8_t in[32]) {
  for (int i = 0; i < 4; ++i) {
    uint64_t w = 0;
    for (int j = 0; j < 8; ++j) w = (w << 8) | in[(3 - i) * 8 + j];
    out[i] = w;
  }
}

void StoreBigEndian(uint8_t out[32], const uint64_t in[4]) {
  for (int i = 0; i < 4; ++i) {
    for (int j = 0; j < 8; ++j) out[(3 - i) * 8 + j] = static_cast<uint8_t>(in[i] >> (56 - 8 * j));
  }
}

// LessThan_vartime returns whether a < m (both little-endian limbs).
bool LessThan_vartime(const uint64_t a[4], const uint64_t m[4]) {
  for (int i = 3; i >= 0; --i) {
    if (a[i] != m[i]) return a[i] < m[i];
  }
  return false;
}

// FeSqrN sets r = a^(2^count).
void FeSqrN(Fe* r, const Fe& a, int count) {
  FeSqr(r, a);
  for (int i = 1; i < count; ++i) FeSqr(r, *r);
}

// ScMontMulLimbs is CIOS Montgomery multiplication mod n: r = a*b/2^256 mod n
// for a, b < n. Branch-free.
void ScMontMulLimbs(uint64_t r[4], const uint64_t a[4], const uint64_t b[4]) {
  uint64_t t[6] = {0, 0, 0, 0, 0, 0};
  for (int i = 0; i < 4; ++i) {
    uint64_t carry = 0;
    for (int j = 0; j < 4; ++j) {
      const u128 acc = static_cast<u128>(a[j]) * b[i] + t[j] + carry;
      t[j] = static_cast<uint64_t>(acc);
      carry = static_cast<uint64_t>(acc >> 64);
    }
    u128 acc = static_cast<u128>(t[4]) + carry;
    t[4] = static_cast<uint64_t>(acc);
    t[5] = static_cast<uint64_t>(acc >> 64);
    const uint64_t m = t[0] * kN0;
    acc = static_cast<u128>(m) * kN[0] + t[0];
    carry = static_cast<uint64_t>(acc >> 64);
    for (int j = 1; j < 4; ++j) {
      acc = static_cast<u128>(m) * kN[j] + t[j] + carry;
      t[j - 1] = static_cast<uint64_t>(acc);
      carry = static_cast<uint64_t>(acc >> 64);
    }
    acc = static_cast<u128>(t[4]) + carry;
    t[3] = static_cast<uint64_t>(acc);
    t[4] = t[5] + static_cast<uint64_t>(acc >> 64);
  }
  // t < 2n.
  field_internal::ReduceOnce(r, t, t[4], kN);
}

Sc ScSqrN(const Sc& a, int count) {
  Sc r = ScMontMul(a, a);
  for (int i = 1; i < count; ++i) r = ScMontMul(r, r);
  return r;
}

// ---- Variable-time inversion: Bernstein-Yang "safegcd" divsteps ----
//
// (D. J. Bernstein, B.-Y. Yang, "Fast constant-time gcd computation and
// modular inversion", 2019.) A divstep maps (delta, f, g), f odd, to
//   (1 - delta, g, (g - f)/2)  if delta > 0 and g is odd,
//   (1 + delta, f, (g + f)/2)  if g is odd otherwise,
//   (1 + delta, f, g/2)        if g is even.
// From (1, m, x), m an odd prime and 0 < x < m, g reaches 0 within 741
// divsteps for 256-bit inputs (Theorem 11.2: floor((49*256 + 57)/17)), and
// then f = +-1. The steps depend only on the low bits of f and g, so they run
// 62 at a time on the low 64 bits, recording a 2x2 integer matrix T with
// 2^62 * (f', g') = T * (f, g), which is then applied to the full numbers.
// Tracking (d, e) with f = d*x and g = e*x (mod m) from (0, 1) and applying
// the same T (dividing by 2^62 modulo m) leaves x^-1 = +-d at the end.
//
// The number of steps, the branches and the ctz jumps depend on x: this is
// variable time and only ever applied to public values.

constexpr uint64_t kMask62 = (uint64_t{1} << 62) - 1;

// Signed62 is a signed integer sum(v[i] * 2^(62 i)). Invariant between
// operations: v[0..3] are in [0, 2^62) and v[4] carries the sign.
struct Signed62 {
  int64_t v[5];
};

struct Modulus62 {
  Signed62 m;      // the odd modulus
  uint64_t inv62;  // m^-1 mod 2^62
};

constexpr Signed62 ToSigned62(const uint64_t a[4]) {
  return Signed62{{static_cast<int64_t>(a[0] & kMask62),
                   static_cast<int64_t>(((a[0] >> 62) | (a[1] << 2)) & kMask62),
                   static_cast<int64_t>(((a[1] >> 60) | (a[2] << 4)) & kMask62),
                   static_cast<int64_t>(((a[2] >> 58) | (a[3] << 6)) & kMask62),
                   static_cast<int64_t>(a[3] >> 56)}};
}

// FromSigned62 converts a value in [0, 2^256) back to limbs.
void FromSigned62(uint64_t out[4], const Signed62& a) {
  const uint64_t v0 = static_cast<uint64_t>(a.v[0]), v1 = static_cast<uint64_t>(a.v[1]),
                 v2 = static_cast<uint64_t>(a.v[2]), v3 = static_cast<uint64_t>(a.v[3]),
                 v4 = static_cast<uint64_t>(a.v[4]);
  out[0] = v0 | (v1 << 62);
  out[1] = (v1 >> 2) | (v2 << 60);
  out[2] = (v2 >> 4) | (v3 << 58);
  out[3] = (v3 >> 6) | (v4 << 56);
}

constexpr uint64_t Inverse64(uint64_t m0) { return 0 - NegInverse64(m0); }

constexpr Modulus62 kP62 = {ToSigned62(kP), Inverse64(kP[0]) & kMask62};
constexpr Modulus62 kN62 = {ToSigned62(kN), Inverse64(kN[0]) & kMask62};

struct Transition {
  int64_t u, v, q, r;
};

// Divsteps62_vartime applies 62 divsteps to (delta, f, g) given the low 64
// bits of f and g, stores T in *t and returns the new delta. Runs of even g
// are skipped at once with a count of trailing zeros.
int64_t Divsteps62_vartime(int64_t delta, uint64_t f0, uint64_t g0, Transition* t) {
  // Rows (u, v) and (q, r) of T; after k steps 2^k * (f, g) = T * (f0, g0)
  // as integers, so halving g doubles the f row instead.
  int64_t u = 1, v = 0, q = 0, r = 1;
  int left = 62;
  for (;;) {
    // After k steps the low 64 - k bits of f0, g0 are exact, and 64 - k
    // exceeds `left`, so the bits looked at below are always exact.
    const int zeros = __builtin_ctzll(g0 | (uint64_t{1} << left));
    g0 >>= zeros;
    u = static_cast<int64_t>(static_cast<uint64_t>(u) << zeros);
    v = static_cast<int64_t>(static_cast<uint64_t>(v) << zeros);
    delta += zeros;
    left -= zeros;
    if (left == 0) break;
    // g is odd. (A branch-free form of this step measured no faster.)
    if (delta > 0) {
      delta = 1 - delta;
      const uint64_t old_f = f0;
      f0 = g0;
      g0 = (g0 - old_f) >> 1;
      const int64_t old_u = u, old_v = v;
      u = q * 2;
      v = r * 2;
      q -= old_u;
      r -= old_v;
    } else {
      delta = 1 + delta;
      g0 = (g0 + f0) >> 1;
      q += u;
      r += v;
      u *= 2;
      v *= 2;
    }
    if (--left == 0) break;
  }
  *t = Transition{u, v, q, r};
  return delta;
}

// UpdateFG sets (f, g) = T * (f, g) / 2^62, an exact division.
void UpdateFG(Signed62* f, Signed62* g, const Transition& t) {
  using i128 = __int128;
  i128 cf = static_cast<i128>(t.u) * f->v[0] + static_cast<i128>(t.v) * g->v[0];
  i128 cg = static_cast<i128>(t.q) * f->v[0] + static_cast<i128>(t.r) * g->v[0];
  cf >>= 62;  // the low 62 bits are zero by construction of T
  cg >>= 62;
  for (int i = 1; i < 5; ++i) {
    cf += static_cast<i128>(t.u) * f->v[i] + static_cast<i128>(t.v) * g->v[i];
    cg += static_cast<i128>(t.q) * f->v[i] + static_cast<i128>(t.r) * g->v[i];
    f->v[i - 1] = static_cast<int64_t>(static_cast<uint64_t>(cf) & kMask62);
    g->v[i - 1] = static_cast<int64_t>(static_cast<uint64_t>(cg) & kMask62);
    cf >>= 62;
    cg >>= 62;
  }
  f->v[4] = static_cast<int64_t>(cf);
  g->v[4] = static_cast<int64_t>(cg);
}

// UpdateDE sets (d, e) = T * (d, e) / 2^62 mod m: adds the multiple of m that
// makes each sum divisible by 2^62, then divides. With |u| + |v| <= 2^62,
// each call grows max(|d|, |e|) by less than m; at most a few dozen calls keep
// it far inside the 310-bit range.
void UpdateDE(Signed62* d, Signed62* e, const Transition& t, const Modulus62& mod) {
  using i128 = __int128;
  i128 cd = static_cast<i128>(t.u) * d->v[0] + static_cast<i128>(t.v) * e->v[0];
  i128 ce = static_cast<i128>(t.q) * d->v[0] + static_cast<i128>(t.r) * e->v[0];
  const uint64_t md = (0 - static_cast<uint64_t>(cd) * mod.inv62) & kMask62;
  const uint64_t me = (0 - static_cast<uint64_t>(ce) * mod.inv62) & kMask62;
  cd += static_cast<i128>(md) * mod.m.v[0];
  ce += static_cast<i128>(me) * mod.m.v[0];
  cd >>= 62;
  ce >>= 62;
  for (int i = 1; i < 5; ++i) {
    cd += static_cast<i128>(t.u) * d->v[i] + static_cast<i128>(t.v) * e->v[i] +
          static_cast<i128>(md) * mod.m.v[i];
    ce += static_cast<i128>(t.q) * d->v[i] + static_cast<i128>(t.r) * e->v[i] +
          static_cast<i128>(me) * mod.m.v[i];
    d->v[i - 1] = static_cast<int64_t>(static_cast<uint64_t>(cd) & kMask62);
    e->v[i - 1] = static_cast<int64_t>(static_cast<uint64_t>(ce) & kMask62);
    cd >>= 62;
    ce >>= 62;
  }
  d->v[4] = static_cast<int64_t>(cd);
  e->v[4] = static_cast<int64_t>(ce);
}

// AddMultiple sets a += k*m for small k (may be negative), renormalizing.
void AddMultiple(Signed62* a, const Signed62& m, int64_t k) {
  __int128 c = 0;
  for (int i = 0; i < 5; ++i) {
    c += static_cast<__int128>(a->v[i]) + static_cast<__int128>(k) * m.v[i];
    if (i < 4) {
      a->v[i] = static_cast<int64_t>(static_cast<uint64_t>(c) & kMask62);
      c >>= 62;
    } else {
      a->v[i] = static_cast<int64_t>(c);
    }
  }
}

bool IsZero62(const Signed62& a) { return (a.v[0] | a.v[1] | a.v[2] | a.v[3] | a.v[4]) == 0; }

bool IsNegative62(const Signed62& a) { return a.v[4] < 0; }

// Invert_vartime sets out = x^-1 mod m for 0 < x < m (plain limbs); out = 0
// for x = 0.
void Invert_vartime(uint64_t out[4], const uint64_t x[4], const Modulus62& mod) {
  Signed62 f = mod.m;
  Signed62 g = ToSigned62(x);
  Signed62 d = {{0, 0, 0, 0, 0}};
  Signed62 e = {{1, 0, 0, 0, 0}};
  int64_t delta = 1;
  // 741 divsteps always suffice (see above): 12 rounds of 62. The cap only
  // guards against a bug turning into an endless loop.
  for (int round = 0; round < 16 && !IsZero62(g); ++round) {
    Transition t;
    delta = Divsteps62_vartime(
        delta, static_cast<uint64_t>(f.v[0]) | (static_cast<uint64_t>(f.v[1]) << 62),
        static_cast<uint64_t>(g.v[0]) | (static_cast<uint64_t>(g.v[1]) << 62), &t);
    UpdateFG(&f, &g, t);
    UpdateDE(&d, &e, t, mod);
  }
  // Now f = +-gcd(m, x) = +-1 unless x = 0 (then f = m: no inverse).
  const bool f_is_one = f.v[0] == 1 && (f.v[1] | f.v[2] | f.v[3] | f.v[4]) == 0;
  Signed62 minus_f = f;
  for (int i = 0; i < 5; ++i) minus_f.v[i] = -minus_f.v[i];
  AddMultiple(&minus_f, Signed62{{0, 0, 0, 0, 0}}, 0);  // renormalize
  const bool f_is_minus_one =
      minus_f.v[0] == 1 && (minus_f.v[1] | minus_f.v[2] | minus_f.v[3] | minus_f.v[4]) == 0;
  if (!IsZero62(g) || (!f_is_one && !f_is_minus_one)) {
    out[0] = out[1] = out[2] = out[3] = 0;
    return;
  }
  if (f_is_minus_one) {
    for (int i = 0; i < 5; ++i) d.v[i] = -d.v[i];
    AddMultiple(&d, mod.m, 0);
  }
  // Bring d into [0, m).
  while (IsNegative62(d)) AddMultiple(&d, mod.m, 1);
  for (;;) {
    Signed62 t = d;
    AddMultiple(&t, mod.m, -1);
    if (IsNegative62(t)) break;
    d = t;
  }
  FromSigned62(out, d);
}

#if defined(__x86_64__) && defined(__GNUC__)
bool DetectAdx() {
  unsigned int eax = 0, ebx = 0, ecx = 0, edx = 0;
  if (__get_cpuid_count(7, 0, &eax, &ebx, &ecx, &edx) == 0) return false;
  const bool bmi2 = (ebx & (1u << 8)) != 0;
  const bool adx = (ebx & (1u << 19)) != 0;
  return bmi2 && adx;
}
#else
bool DetectAdx() { return false; }
#endif

}  // namespace

namespace field_internal {
bool g_use_adx = DetectAdx();
}  // namespace field_internal

bool SetFieldAdxForTesting(bool use_adx) {
  field_internal::g_use_adx = use_adx && DetectAdx();
  return field_internal::g_use_adx;
}

Fe FeOne() { return Fe{{kPR[0], kPR[1], kPR[2], kPR[3]}}; }

Fe FeFromLimbs(const uint64_t limbs[4]) {
  Fe plain = {{limbs[0], limbs[1], limbs[2], limbs[3]}};
  const Fe r2 = {{kPR2[0], kPR2[1], kPR2[2], kPR2[3]}};
  Fe r;
  FeMul(&r, plain, r2);
  return r;
}

bool FeFromBytes_vartime(Fe* r, const uint8_t in[32]) {
  uint64_t limbs[4];
  LoadBigEndian(limbs, in);
  if (!LessThan_vartime(limbs, kP)) return false;
  *r = FeFromLimbs(limbs);
  return true;
}

void FeToBytes(uint8_t out[32], const Fe& a) {
  const Fe one_plain = {{1, 0, 0, 0}};
  Fe plain;
  FeMul(&plain, a, one_plain);
  StoreBigEndian(out, plain.v);
}

void FeInvert(Fe* r, const Fe& a) {
  // p - 2 = 2^256 - 2^224 + 2^192 + 2^96 - 3: in binary, 32 ones, 31 zeros, a
  // one, 96 zeros, 94 ones, a zero, a one. xk below is a^(2^k - 1).
  Fe x2, x3, x6, x12, x15, x30, x32, t;
  FeSqr(&t, a);
  FeMul(&x2, t, a);
  FeSqr(&t, x2);
  FeMul(&x3, t, a);
  FeSqrN(&t, x3, 3);
  FeMul(&x6, t, x3);
  FeSqrN(&t, x6, 6);
  FeMul(&x12, t, x6);
  FeSqrN(&t, x12, 3);
  FeMul(&x15, t, x3);
  FeSqrN(&t, x15, 15);
  FeMul(&x30, t, x15);
  FeSqrN(&t, x30, 2);
  FeMul(&x32, t, x2);

  Fe acc;
  FeSqrN(&acc, x32, 32);
  FeMul(&acc, acc, a);    // 32 ones, 31 zeros, 1
  FeSqrN(&acc, acc, 96);  // 96 zeros
  FeSqrN(&acc, acc, 32);
  FeMul(&acc, acc, x32);  // 32 ones
  FeSqrN(&acc, acc, 32);
  FeMul(&acc, acc, x32);  // 32 ones
  FeSqrN(&acc, acc, 30);
  FeMul(&acc, acc, x30);  // 30 ones
  FeSqrN(&acc, acc, 2);
  FeMul(r, acc, a);  // 0, 1
}

void FeInvert_vartime(Fe* r, const Fe& a) {
  // a holds x*R; its plain inverse is x^-1 * R^-1, and one Montgomery
  // multiplication by R^3 turns that into x^-1 * R.
  uint64_t inv[4];
  Invert_vartime(inv, a.v, kP62);
  const Fe inv_fe = {{inv[0], inv[1], inv[2], inv[3]}};
  const Fe r3 = {{kPR3[0], kPR3[1], kPR3[2], kPR3[3]}};
  FeMul(r, inv_fe, r3);
}

void FeBatchInvert_vartime(Fe* a, Fe* scratch, int count) {
  if (count <= 0) return;
  // scratch[i] = a[0] * ... * a[i].
  scratch[0] = a[0];
  for (int i = 1; i < count; ++i) FeMul(&scratch[i], scratch[i - 1], a[i]);
  Fe inv;
  FeInvert_vartime(&inv, scratch[count - 1]);  // (a[0] * ... * a[count-1])^-1
  for (int i = count - 1; i > 0; --i) {
    Fe ai_inv;
    FeMul(&ai_inv, inv, scratch[i - 1]);
    FeMul(&inv, inv, a[i]);  // now (a[0] * ... * a[i-1])^-1
    a[i] = ai_inv;
  }
  a[0] = inv;
}

// ---- Z/nZ ----

void ScFromBytesReduce(Sc* r, const uint8_t in[32]) {
  uint64_t limbs[4];
  LoadBigEndian(limbs, in);
  // in < 2^256 < 2n: one conditional subtraction.
  field_internal::ReduceOnce(r->v, limbs, 0, kN);
}

bool ScFromBytes_vartime(Sc* r, const uint8_t in[32]) {
  LoadBigEndian(r->v, in);
  return !ScIsZero_vartime(*r) && LessThan_vartime(r->v, kN);
}

Sc ScToMont(const Sc& a) {
  Sc r;
  ScMontMulLimbs(r.v, a.v, kNR2.data());
  return r;
}

Sc ScMontMul(const Sc& a, const Sc& b) {
  Sc r;
  ScMontMulLimbs(r.v, a.v, b.v);
  return r;
}

Sc ScInvertMontConstTime(const Sc& a) {
  // Fermat: a^(n-2) in Montgomery form is the Montgomery form of x^-1.
  // n - 2 = 0xffffffff00000000ffffffffffffffff || low 128 bits; the high half
  // is 32 ones, 32 zeros, 64 ones; the low half goes by 4-bit windows.
  static constexpr uint64_t kLow[2] = {kN[0] - 2, kN[1]};  // n[0] >= 2: no borrow
  Sc table[16];                                            // table[i] = a^i, Montgomery form
  table[1] = a;
  for (int i = 2; i < 16; ++i) table[i] = ScMontMul(table[i - 1], a);
  const Sc x4 = table[15];
  const Sc x8 = ScMontMul(ScSqrN(x4, 4), x4);
  const Sc x16 = ScMontMul(ScSqrN(x8, 8), x8);
  const Sc x32 = ScMontMul(ScSqrN(x16, 16), x16);
  const Sc x64 = ScMontMul(ScSqrN(x32, 32), x32);
  Sc acc = ScSqrN(x32, 32);               // 32 ones, 32 zeros
  acc = ScMontMul(ScSqrN(acc, 64), x64);  // 64 ones
  for (int i = 127; i >= 0; i -= 4) {
    const int nibble = static_cast<int>((kLow[i / 64] >> (i % 64 - 3)) & 15);
    acc = ScSqrN(acc, 4);
    if (nibble != 0) acc = ScMontMul(acc, table[nibble]);
  }
  return acc;
}

Sc ScInvertMont_vartime(const Sc& a) {
  uint64_t inv[4];
  Invert_vartime(inv, a.v, kN62);
  Sc plain = {{inv[0], inv[1], inv[2], inv[3]}};
  Sc r3 = {{kNR3[0], kNR3[1], kNR3[2], kNR3[3]}};
  return ScMontMul(plain, r3);
}

void ScBatchInvertMont_vartime(Sc* a, Sc* scratch, int count) {
  if (count <= 0) return;
  scratch[0] = a[0];
  for (int i = 1; i < count; ++i) scratch[i] = ScMontMul(scratch[i - 1], a[i]);
  Sc inv = ScInvertMont_vartime(scratch[count - 1]);
  for (int i = count - 1; i > 0; --i) {
    const Sc ai_inv = ScMontMul(inv, scratch[i - 1]);
    inv = ScMontMul(inv, a[i]);
    a[i] = ai_inv;
  }
  a[0] = inv;
}

}  // namespace popguard::p256
