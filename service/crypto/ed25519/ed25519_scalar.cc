#include "service/crypto/ed25519/ed25519_scalar.h"

#include <bit>
#include <cstring>
#include <utility>

namespace popguard::ed25519::internal {
namespace {

static_assert(std::endian::native == std::endian::little,
              "the byte packing below assumes a little-endian host");

using u128 = unsigned __int128;

// GreaterOrEqual returns a >= b.
constexpr bool GreaterOrEqual(const Scalar& a, const Scalar& b) {
  for (int i = 3; i >= 0; --i) {
    if (a.v[i] != b.v[i]) return a.v[i] > b.v[i];
  }
  return true;
}

// SubInPlace sets *a = *a - b (mod 2^256).
constexpr void SubInPlace(Scalar* a, const Scalar& b) {
  uint64_t borrow = 0;
  for (int i = 0; i < 4; ++i) {
    const uint64_t bi = b.v[i] + borrow;
    const uint64_t next_borrow = (bi < borrow) || (a->v[i] < bi) ? 1 : 0;
    a->v[i] -= bi;
    borrow = next_borrow;
  }
}

// Montgomery arithmetic with R = 2^256. kN0 = -L^-1 mod 2^64, by Newton's
// iteration (each step doubles the number of correct low bits; an odd x is
// its own inverse mod 8).
constexpr uint64_t ComputeN0() {
  uint64_t inv = kOrder.v[0];
  for (int i = 0; i < 5; ++i) inv *= 2 - kOrder.v[0] * inv;
  return ~inv + 1;
}
constexpr uint64_t kN0 = ComputeN0();
static_assert(kN0 * kOrder.v[0] == ~uint64_t{0}, "kN0 * L = -1 mod 2^64");

// PowerOfTwoModL returns 2^n mod L by doubling.
constexpr Scalar PowerOfTwoModL(int n) {
  Scalar r = {{1, 0, 0, 0}};
  for (int i = 0; i < n; ++i) {
    // r < L < 2^253, so 2r fits in 256 bits.
    for (int j = 3; j > 0; --j) r.v[j] = (r.v[j] << 1) | (r.v[j - 1] >> 63);
    r.v[0] <<= 1;
    if (GreaterOrEqual(r, kOrder)) SubInPlace(&r, kOrder);
  }
  return r;
}
constexpr Scalar kR2 = PowerOfTwoModL(512);  // R^2 mod L
constexpr Scalar kR3 = PowerOfTwoModL(768);  // R^3 mod L

// MontMul returns a * b / 2^256 mod L (coarsely integrated operand scanning).
// Requires a * b < L * 2^256; then the accumulator ends below 2L and one
// conditional subtraction reduces it. Each inner step computes
// t + x * y + carry <= (2^64 - 1) + (2^64 - 1)^2 + (2^64 - 1) < 2^128.
Scalar MontMul(const Scalar& a, const Scalar& b) {
  uint64_t t[6] = {0, 0, 0, 0, 0, 0};
  for (int i = 0; i < 4; ++i) {
    u128 c = 0;
    for (int j = 0; j < 4; ++j) {
      c += u128{t[j]} + u128{a.v[j]} * b.v[i];
      t[j] = static_cast<uint64_t>(c);
      c >>= 64;
    }
    c += t[4];
    t[4] = static_cast<uint64_t>(c);
    t[5] = static_cast<uint64_t>(c >> 64);
    // Add m * L so the low limb becomes 0, then shift down one limb.
    const uint64_t m = t[0] * kN0;
    c = (u128{t[0]} + u128{m} * kOrder.v[0]) >> 64;
    for (int j = 1; j < 4; ++j) {
      c += u128{t[j]} + u128{m} * kOrder.v[j];
      t[j - 1] = static_cast<uint64_t>(c);
      c >>= 64;
    }
    c += t[4];
    t[3] = static_cast<uint64_t>(c);
    t[4] = t[5] + static_cast<uint64_t>(c >> 64);
  }
  Scalar r = {{t[0], t[1], t[2], t[3]}};
  if (t[4] != 0 || GreaterOrEqual(r, kOrder)) SubInPlace(&r, kOrder);
  return r;
}

Scalar Load(const uint8_t in[32]) {
  Scalar s;
  std::memcpy(s.v, in, 32);
  return s;
}

// Bits returns `w` (<= 64) bits of the 320-bit x starting at bit `pos`
// (< 256).
uint64_t Bits(const uint64_t x[5], int pos, int w) {
  const int limb = pos / 64, off = pos % 64;
  uint64_t v = x[limb] >> off;
  if (off != 0) v |= x[limb + 1] << (64 - off);
  return w == 64 ? v : v & ((uint64_t{1} << w) - 1);
}

}  // namespace

bool ScalarFromCanonicalBytes(const uint8_t in[32], Scalar* out) {
  *out = Load(in);
  return !GreaterOrEqual(*out, kOrder);
}

Scalar ScalarFromBytesModL(const uint8_t in[32]) {
  // x < 2^256 and 2^512 mod L < L, so MontMul(x, R^2) = x R is in range.
  return MontMul(MontMul(Load(in), kR2), Scalar{{1, 0, 0, 0}});
}

Scalar ScalarReduce64(const uint8_t in[64]) {
  // x = lo + hi * 2^256. MontMul(lo, R^2) = lo R and MontMul(hi, R^3) = hi R^2
  // (both in range: lo, hi < 2^256 times a value < L). Their sum is x R, and
  // one more MontMul by 1 divides the R out.
  const Scalar lo_r = MontMul(Load(in), kR2);
  const Scalar hi_r2 = MontMul(Load(in + 32), kR3);
  return MontMul(ScalarAdd(lo_r, hi_r2), Scalar{{1, 0, 0, 0}});
}

void ScalarToBytes(const Scalar& a, uint8_t out[32]) { std::memcpy(out, a.v, 32); }

Scalar ScalarMul(const Scalar& a, const Scalar& b) {
  // MontMul(a, b) = a b / R; MontMul of that (< L) by R^2 = a b.
  return MontMul(MontMul(a, b), kR2);
}

Scalar ScalarAdd(const Scalar& a, const Scalar& b) {
  // a + b < 2L < 2^254: no carry out of the top limb.
  Scalar r;
  uint64_t carry = 0;
  for (int i = 0; i < 4; ++i) {
    const u128 s = u128{a.v[i]} + b.v[i] + carry;
    r.v[i] = static_cast<uint64_t>(s);
    carry = static_cast<uint64_t>(s >> 64);
  }
  if (GreaterOrEqual(r, kOrder)) SubInPlace(&r, kOrder);
  return r;
}

Scalar ScalarNeg(const Scalar& a) {
  if (ScalarIsZero(a)) return a;
  Scalar r = kOrder;
  SubInPlace(&r, a);
  return r;
}

bool ScalarIsZero(const Scalar& a) { return (a.v[0] | a.v[1] | a.v[2] | a.v[3]) == 0; }

int Wnaf(const Scalar& a, int w, int8_t digits[256]) {
  std::memset(digits, 0, 256);
  const uint64_t x[5] = {a.v[0], a.v[1], a.v[2], a.v[3], 0};
  const int width = 1 << w;
  const int half = width >> 1;
  uint64_t carry = 0;  // a pending +1 at bit `pos`
  int top = 0;
  int pos = 0;
  while (pos < 256) {
    // Where the bit equals the carry, the bit plus the carry is 0 (no carry)
    // or 2 (the carry moves on): that position's digit is 0. Skip such runs
    // 64 bits at a time.
    const uint64_t differs = Bits(x, pos, 64) ^ (carry ? ~uint64_t{0} : 0);
    if (differs == 0) {
      pos += 64;
      continue;
    }
    pos += std::countr_zero(differs);
    if (pos >= 256) break;
    // The remaining value is odd here: take w bits as one odd digit, signed
    // so that the next w - 1 positions come out zero.
    int window = static_cast<int>(carry) + static_cast<int>(Bits(x, pos, w));
    if (window >= half) {
      window -= width;
      carry = 1;
    } else {
      carry = 0;
    }
    digits[pos] = static_cast<int8_t>(window);
    top = pos + 1;
    pos += w;
  }
  // a < 2^253 leaves room above the top digit, so no carry is left over.
  return top;
}

int SignedRadix(const Scalar& a, int c, int16_t* digits) {
  const uint64_t x[5] = {a.v[0], a.v[1], a.v[2], a.v[3], 0};
  const int n = (253 + c - 1) / c;
  const int radix = 1 << c;
  int carry = 0;
  for (int j = 0; j < n; ++j) {
    int d = carry + static_cast<int>(Bits(x, j * c, c));
    carry = d > radix / 2 ? 1 : 0;
    digits[j] = static_cast<int16_t>(d - carry * radix);
  }
  if (carry == 0) return n;
  digits[n] = 1;
  return n + 1;
}

namespace {

int BitLength(const Scalar& a) {
  for (int i = 3; i >= 0; --i) {
    if (a.v[i] != 0) return 64 * i + 64 - std::countl_zero(a.v[i]);
  }
  return 0;
}

// ShiftLeft returns a << s for 0 <= s < 256 (bits shifted out are lost).
Scalar ShiftLeft(const Scalar& a, int s) {
  Scalar r = {{0, 0, 0, 0}};
  const int limbs = s / 64, bits = s % 64;
  for (int i = 3; i >= limbs; --i) {
    uint64_t v = a.v[i - limbs] << bits;
    if (bits != 0 && i - limbs - 1 >= 0) v |= a.v[i - limbs - 1] >> (64 - bits);
    r.v[i] = v;
  }
  return r;
}

void ShiftRight1(Scalar* a) {
  for (int i = 0; i < 3; ++i) a->v[i] = (a->v[i] >> 1) | (a->v[i + 1] << 63);
  a->v[3] >>= 1;
}

// DivMod_vartime sets *q = *a / b and *a = *a mod b, for b != 0, by
// schoolbook binary division. False, with *a unchanged, when the quotient
// could reach 2^128.
bool DivMod_vartime(Scalar* a, const Scalar& b, u128* q) {
  const int shift = BitLength(*a) - BitLength(b);
  *q = 0;
  if (shift >= 128) return false;
  if (shift < 0) return true;
  Scalar d = ShiftLeft(b, shift);
  for (int j = shift; j >= 0; --j) {
    *q <<= 1;
    if (GreaterOrEqual(*a, d)) {
      SubInPlace(a, d);
      *q |= 1;
    }
    ShiftRight1(&d);
  }
  return true;
}

}  // namespace

bool HalfSize_vartime(const Scalar& k, HalfSizePair* out) {
  // (prev, cur) = (r_(i-1), r_i), (m_prev, m_cur) = (|t_(i-1)|, |t_i|),
  // starting at i = 1: (L, k), (0, 1). Everything here is a function of the
  // public k only, so the data-dependent loop leaks nothing secret.
  Scalar prev = kOrder, cur = k;
  u128 m_prev = 0, m_cur = 1;
  bool negative = false;  // the sign of t_i: t_1 = +1, then alternating
  constexpr int kStopBits = 126;
  while (BitLength(cur) > kStopBits) {
    // r_(i+1) = r_(i-1) mod r_i, q_i = r_(i-1) / r_i; q_i < L / 2^126 < 2^127.
    u128 q, product, next;
    if (!DivMod_vartime(&prev, cur, &q) || __builtin_mul_overflow(q, m_cur, &product) ||
        __builtin_add_overflow(m_prev, product, &next) || (next >> 127) != 0) {
      return false;
    }
    std::swap(prev, cur);  // (r_i, r_(i+1))
    m_prev = m_cur;
    m_cur = next;
    negative = !negative;
  }
  out->r = cur;
  out->m = Scalar{{static_cast<uint64_t>(m_cur), static_cast<uint64_t>(m_cur >> 64), 0, 0}};
  out->m_negative = negative;
  return true;
}

}  // namespace popguard::ed25519::internal
