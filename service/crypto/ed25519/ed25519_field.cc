#include "service/crypto/ed25519/ed25519_field.h"

#include <bit>
#include <cstdlib>
#include <cstring>

namespace popguard::ed25519::internal {
namespace {

static_assert(std::endian::native == std::endian::little,
              "the byte packing below assumes a little-endian host");

uint64_t Load64(const uint8_t* in) {
  uint64_t w;
  std::memcpy(&w, in, 8);
  return w;
}

// SqNLanes squares each of the N lanes n times, interleaved.
template <int N>
void SqNLanes(Fe* a, int n) {
  for (int i = 0; i < n; ++i) {
    for (int j = 0; j < N; ++j) a[j] = Sq(a[j]);
  }
}

template <int N>
void MulLanes(Fe* r, const Fe* a, const Fe* b) {
  for (int j = 0; j < N; ++j) r[j] = Mul(a[j], b[j]);
}

// Pow2501Lanes replaces each lane a by a^(2^250 - 1) and sets a11 = a^11: the
// shared head of the addition chains for p - 2 and (p - 5) / 8. Exponents in
// the comments.
template <int N>
void Pow2501Lanes(Fe* a, Fe* a11) {
  Fe a2[N], a9[N], t[N], e10[N], e50[N];
  for (int j = 0; j < N; ++j) a2[j] = Sq(a[j]);  // 2
  for (int j = 0; j < N; ++j) t[j] = a2[j];
  SqNLanes<N>(t, 2);                              // 8
  MulLanes<N>(a9, t, a);                          // 9
  MulLanes<N>(a11, a9, a2);                       // 11
  for (int j = 0; j < N; ++j) t[j] = Sq(a11[j]);  // 22
  MulLanes<N>(t, t, a9);                          // 31 = 2^5 - 1
  for (int j = 0; j < N; ++j) e10[j] = t[j];
  SqNLanes<N>(e10, 5);
  MulLanes<N>(e10, e10, t);  // 2^10 - 1
  for (int j = 0; j < N; ++j) t[j] = e10[j];
  SqNLanes<N>(t, 10);
  MulLanes<N>(t, t, e10);  // 2^20 - 1
  Fe e20[N];
  for (int j = 0; j < N; ++j) e20[j] = t[j];
  SqNLanes<N>(t, 20);
  MulLanes<N>(t, t, e20);  // 2^40 - 1
  SqNLanes<N>(t, 10);
  MulLanes<N>(e50, t, e10);  // 2^50 - 1
  for (int j = 0; j < N; ++j) t[j] = e50[j];
  SqNLanes<N>(t, 50);
  MulLanes<N>(t, t, e50);  // 2^100 - 1
  Fe e100[N];
  for (int j = 0; j < N; ++j) e100[j] = t[j];
  SqNLanes<N>(t, 100);
  MulLanes<N>(t, t, e100);  // 2^200 - 1
  SqNLanes<N>(t, 50);
  MulLanes<N>(a, t, e50);  // 2^250 - 1
}

template <int N>
void Pow22523N(Fe* a) {
  // 2^252 - 3 = (2^250 - 1) * 4 + 1.
  Fe base[N], a11[N];
  for (int j = 0; j < N; ++j) base[j] = a[j];
  Pow2501Lanes<N>(a, a11);
  SqNLanes<N>(a, 2);
  MulLanes<N>(a, a, base);
}

// Pow2501 is the one-lane form.
Fe Pow2501(const Fe& a, Fe* a11) {
  Fe r = a;
  Pow2501Lanes<1>(&r, a11);
  return r;
}

FieldConstants ComputeConstants() {
  FieldConstants c;
  // d = -121665 / 121666 (RFC 8032 section 5.1).
  Fe num = Fe{{121665, 0, 0, 0, 0}};
  Fe den = Fe{{121666, 0, 0, 0, 0}};
  c.d = Carry(Neg(Mul(num, Invert(den))));
  c.d2 = Carry(Add(c.d, c.d));
  // sqrt(-1) = 2^((p-1)/4), (p-1)/4 = 2^253 - 5 = (2^250 - 1) * 8 + 3.
  // 2 is a non-residue mod p (p = 5 mod 8), so 2^((p-1)/2) = -1.
  Fe two = Fe{{2, 0, 0, 0, 0}};
  Fe unused;
  Fe e = Pow2501(two, &unused);
  c.sqrt_m1 = Mul(SqN(e, 3), Fe{{8, 0, 0, 0, 0}});
  return c;
}

}  // namespace

Fe FromBytes(const uint8_t in[32]) {
  const uint64_t w0 = Load64(in), w1 = Load64(in + 8), w2 = Load64(in + 16), w3 = Load64(in + 24);
  return Fe{{w0 & kMask51, ((w0 >> 51) | (w1 << 13)) & kMask51, ((w1 >> 38) | (w2 << 26)) & kMask51,
             ((w2 >> 25) | (w3 << 39)) & kMask51, (w3 >> 12) & kMask51}};
}

bool IsCanonicalBytes(const uint8_t in[32]) {
  // The low 255 bits are >= p = 2^255 - 19 exactly when bits 8..254 are all
  // ones and the low byte is >= 0xed.
  if ((in[31] & 0x7f) != 0x7f) return true;
  for (int i = 30; i >= 1; --i) {
    if (in[i] != 0xff) return true;
  }
  return in[0] < 0xed;
}

void ToBytes(const Fe& a, uint8_t out[32]) {
  // After Carry every limb is < 2^51 except limb 1 <= 2^51, so the value is
  // below 2^255 + 2^102 < 2p. It is >= p exactly when value + 19 >= 2^255;
  // q is that top carry, computed limb by limb.
  Fe h = Carry(a);
  uint64_t v0 = h.v[0], v1 = h.v[1], v2 = h.v[2], v3 = h.v[3], v4 = h.v[4];
  uint64_t q = (v0 + 19) >> 51;
  q = (v1 + q) >> 51;
  q = (v2 + q) >> 51;
  q = (v3 + q) >> 51;
  q = (v4 + q) >> 51;
  // value - q * p = value + 19 q - q * 2^255: add 19 q, carry, drop bit 255.
  v0 += 19 * q;
  v1 += v0 >> 51;
  v0 &= kMask51;
  v2 += v1 >> 51;
  v1 &= kMask51;
  v3 += v2 >> 51;
  v2 &= kMask51;
  v4 += v3 >> 51;
  v3 &= kMask51;
  v4 &= kMask51;
  const uint64_t w[4] = {v0 | (v1 << 51), (v1 >> 13) | (v2 << 38), (v2 >> 26) | (v3 << 25),
                         (v3 >> 39) | (v4 << 12)};
  std::memcpy(out, w, 32);
}

bool IsZero(const FeLoose& a) {
  uint8_t bytes[32];
  ToBytes(Carry(a), bytes);
  uint8_t acc = 0;
  for (uint8_t b : bytes) acc |= b;
  return acc == 0;
}

bool IsNegative(const Fe& a) {
  uint8_t bytes[32];
  ToBytes(a, bytes);
  return (bytes[0] & 1) != 0;
}

Fe Invert(const Fe& a) {
  // p - 2 = 2^255 - 21 = (2^250 - 1) * 2^5 + 11.
  Fe a11;
  Fe e = Pow2501(a, &a11);
  return Mul(SqN(e, 5), a11);
}

Fe Pow22523(const Fe& a) {
  Fe r = a;
  Pow22523N<1>(&r);
  return r;
}

void Pow22523Lanes(Fe* a, int n) {
  switch (n) {
    case 1:
      return Pow22523N<1>(a);
    case 2:
      return Pow22523N<2>(a);
    case 3:
      return Pow22523N<3>(a);
    case 4:
      return Pow22523N<4>(a);
  }
  std::abort();
}

const FieldConstants& Constants() {
  static const FieldConstants constants = ComputeConstants();
  return constants;
}

}  // namespace popguard::ed25519::internal
