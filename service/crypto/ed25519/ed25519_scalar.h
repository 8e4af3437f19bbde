// Scalars modulo the Ed25519 group order
// L = 2^252 + 27742317777372353535851937790883648493, and the signed-digit
// recodings the multi-scalar multiplications use.
//
// Variable-time: only for the verifier's public scalars (S, k = H(R||A||M),
// and the batch coefficients z, which must stay unknown to the signer but not
// to a timing observer of this process, see service/crypto/ed25519/ed25519.cc).
#ifndef POPGUARD_SERVICE_ED25519_SCALAR_H_
#define POPGUARD_SERVICE_ED25519_SCALAR_H_

#include <cstdint>

namespace popguard::ed25519::internal {

// Scalar is a 256-bit little-endian integer in four 64-bit limbs. Every
// function below returns a value in [0, L) unless it says otherwise.
struct Scalar {
  uint64_t v[4];
};

// kOrder is L.
inline constexpr Scalar kOrder = {
    {0x5812631a5cf5d3edULL, 0x14def9dea2f79cd6ULL, 0, 0x1000000000000000ULL}};

// ScalarFromCanonicalBytes reads 32 little-endian bytes into *out and returns
// true iff the value is < L (RFC 8032 section 5.1.7 step 1, "0 <= S < L").
bool ScalarFromCanonicalBytes(const uint8_t in[32], Scalar* out);

// ScalarFromBytesModL returns the 32 little-endian bytes reduced mod L.
Scalar ScalarFromBytesModL(const uint8_t in[32]);

// ScalarReduce64 returns the 64 little-endian bytes (a SHA-512 digest)
// reduced mod L.
Scalar ScalarReduce64(const uint8_t in[64]);

// ScalarToBytes writes `a` (any 256-bit value) little-endian.
void ScalarToBytes(const Scalar& a, uint8_t out[32]);

// ScalarMul returns a * b mod L. a and b must be < 2^256 with a * b < L * 2^256
// (true whenever one of them is < L).
Scalar ScalarMul(const Scalar& a, const Scalar& b);

// ScalarAdd returns a + b mod L for a, b < L.
Scalar ScalarAdd(const Scalar& a, const Scalar& b);

// ScalarNeg returns -a mod L for a < L.
Scalar ScalarNeg(const Scalar& a);

// ScalarIsZero returns a == 0.
bool ScalarIsZero(const Scalar& a);

// Wnaf writes the width-w non-adjacent form of `a` (a < 2^253, 2 <= w <= 8):
// digits[i] is 0 or odd with |digits[i]| < 2^(w-1), any w consecutive digits
// hold at most one non-zero, and a = sum digits[i] * 2^i. Returns one past the
// index of the highest non-zero digit (0 for a = 0).
int Wnaf(const Scalar& a, int w, int8_t digits[256]);

// SignedRadix writes the signed base-2^c digits of `a` (a < 2^253,
// 1 <= c <= 15): digits[j] in [-(2^(c-1) - 1), 2^(c-1)] with
// a = sum digits[j] * 2^(c j). Returns the number of digits written, at most
// ceil(253 / c) + 1 (the last one absorbs a final carry); `digits` must hold
// 253 / c + 2 entries.
int SignedRadix(const Scalar& a, int c, int16_t* digits);

// HalfSizePair is a short vector of the lattice {(x, y) : x = y k mod L}:
// r = c1 k (mod L) with c1 = -m when m_negative, else m.
struct HalfSizePair {
  Scalar r;         // 0 <= r < 2^126
  Scalar m;         // 0 < m < 2^127
  bool m_negative;  // the sign of c1
};

// HalfSize_vartime finds, for k < L, the pair above, so that a check
// [S]B = [k]A + R can be multiplied by c1 and run with half-size scalars on A
// and R (T. Pornin, "Optimized lattice basis reduction in dimension 2, and
// fast Schnorr and EdDSA signature verification", 2020). It runs the
// extended Euclidean algorithm on (L, k) and stops at the first remainder
// below 2^126 (Lagrange-Gauss reduction of the basis {(L, 0), (k, 1)} would
// find a shorter pair; this one is short enough and simpler to prove):
//   - every remainder r_i satisfies r_i = t_i k (mod L), t_0 = 0, t_1 = 1,
//     t_(i+1) = t_(i-1) - q_i t_i, so the signs of t_i alternate and
//     |t_(i+1)| = |t_(i-1)| + q_i |t_i| >= |t_i| >= 1 for i >= 1;
//   - |t_(i+1)| r_i + |t_i| r_(i+1) = L for every i (the determinant of the
//     step matrices), so at the stop, where r_(j-1) >= 2^126,
//     |t_j| <= L / r_(j-1) < 2^253 / 2^126 = 2^127.
// Returns false only if an intermediate value would overflow its 128 bits,
// which the bound above rules out; callers fall back to the full-size check.
bool HalfSize_vartime(const Scalar& k, HalfSizePair* out);

}  // namespace popguard::ed25519::internal

#endif  // POPGUARD_SERVICE_ED25519_SCALAR_H_
