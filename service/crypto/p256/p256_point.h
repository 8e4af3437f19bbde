// Points of the NIST P-256 curve y^2 = x^3 - 3x + b over GF(p), and the
// scalar multiplications ECDSA verification needs:
//
//   hot key:  u1*G + u2*Q as a sum of table entries only (no doublings): the
//             fixed-base comb table of G (BaseTable, built once per process)
//             and a comb table of Q (CombTable::Build_vartime, built per key).
//   cold key: Strauss-Shamir: one chain of 256 doublings shared by a width-5
//             wNAF of u2 over odd multiples of Q made on the spot and a
//             width-12 wNAF of u1 over a table of odd multiples of G
//             (BaseOddMultiples, built once per process).
//
// Everything in this file is variable time: it branches on and indexes by
// the scalars and points. That is safe only because ECDSA verification handles
// public data alone (public key, message hash, signature); never use it with a
// private key or nonce.
#ifndef POPGUARD_SERVICE_P256_POINT_H_
#define POPGUARD_SERVICE_P256_POINT_H_

#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

#include "service/crypto/p256/p256_field.h"

namespace popguard::p256 {

// AffinePoint is (x, y), coordinates in Montgomery form. Never the point at
// infinity (which has no affine coordinates).
struct AffinePoint {
  Fe x, y;
};

// JacobianPoint (X, Y, Z) stands for (X/Z^2, Y/Z^3); Z = 0 is the point at
// infinity (X and Y then meaningless).
struct JacobianPoint {
  Fe x, y, z;
};

// Generator returns the base point G (SEC 2 2.4.2).
const AffinePoint& Generator();

// AffineIsOnCurve_vartime returns whether y^2 = x^3 - 3x + b. P-256 has
// cofactor 1, so every such point is in the prime-order group.
bool AffineIsOnCurve_vartime(const AffinePoint& a);

void PointSetInfinity(JacobianPoint* r);
inline bool PointIsInfinity_vartime(const JacobianPoint& a) { return FeIsZero_vartime(a.z); }
void PointFromAffine(JacobianPoint* r, const AffinePoint& a);

// PointDouble sets r = 2a (a = -3 formulas, 3M + 5S; infinity stays
// infinity: Z3 = 2*Y*Z). r may alias a.
void PointDouble(JacobianPoint* r, const JacobianPoint& a);

// PointAddMixed_vartime sets r = a + b (8M + 3S), handling a = infinity,
// a = b (doubles) and a = -b (infinity) by explicit checks. r may alias a.
void PointAddMixed_vartime(JacobianPoint* r, const JacobianPoint& a, const AffinePoint& b);

// PointAdd_vartime sets r = a + b for Jacobian b (12M + 4S), with the same
// explicit special cases. r may alias a or b.
void PointAdd_vartime(JacobianPoint* r, const JacobianPoint& a, const JacobianPoint& b);

// PointToAffine_vartime converts a; returns false for infinity.
bool PointToAffine_vartime(AffinePoint* r, const JacobianPoint& a);

// CombTable is a fixed-base table for a point P with signed windows of
// `window_bits` w: Entry(j, k) = k * 2^(w*j) * P for k in [1, 2^(w-1)] and
// windows j in [0, ceil(257/w)) (one more bit than a scalar, for the carry of
// the signed recoding). A scalar k = sum d_j 2^(wj), |d_j| <= 2^(w-1), then
// costs one mixed addition per nonzero digit and no doubling.
// Immutable after Build_vartime, so shareable between threads.
class CombTable {
 public:
  // Build_vartime makes the table of `base` (on the curve) for w in [2, 10].
  // Costs about 2^(w-1) * ceil(257/w) point additions and one inversion.
  static std::unique_ptr<CombTable> Build_vartime(const AffinePoint& base, int window_bits);

  int window_bits() const { return window_bits_; }
  int windows() const { return windows_; }
  // Entry returns k * 2^(w*j) * P, 1 <= k <= 2^(w-1).
  const AffinePoint& Entry(int j, int k) const {
    return points_[static_cast<size_t>(j) * half_ + static_cast<size_t>(k - 1)];
  }
  size_t MemoryBytes() const { return points_.size() * sizeof(AffinePoint); }

 private:
  CombTable(int window_bits);

  int window_bits_;
  int windows_;
  size_t half_;  // 2^(w-1) entries per window
  std::vector<AffinePoint> points_;
};

// kBaseWindowBits is the window of the base point's table (33 windows of 128
// points, 264 KiB), and kKeyWindowBits that of per-key tables (52 windows of
// 16 points, 52 KiB). bench/es256_benchmark.cc measures the choice.
inline constexpr int kBaseWindowBits = 8;
inline constexpr int kKeyWindowBits = 5;

// BaseTable returns G's table, computed by this code on first use (about
// 4,000 point additions) and kept for the life of the process. Thread-safe.
const CombTable& BaseTable();

// kBaseWnafBits is the wNAF width for u1 in the cold path, and
// BaseOddMultiples the table it reads: G, 3G, ..., (2^(w-1) - 1)G (1024
// points, 64 KiB), computed on first use. Wider than the 8 bits window 0 of
// BaseTable offers: 20 instead of 28 additions on average. Thread-safe.
inline constexpr int kBaseWnafBits = 12;
const std::vector<AffinePoint>& BaseOddMultiples();

// CombAccumulate_vartime adds k*P to *acc, for `table` the CombTable of P and
// k a plain (non-Montgomery) scalar < 2^256.
void CombAccumulate_vartime(JacobianPoint* acc, const CombTable& table, const Sc& k);

// StraussMul_vartime sets r = a*G + b*Q for plain scalars a, b and Q on the
// curve, with no per-key table (the cold path; see the file comment).
void StraussMul_vartime(JacobianPoint* r, const Sc& a, const Sc& b, const AffinePoint& q);

// The width of the wNAF of b*Q in StraussMul_vartime (2^(w-2) odd multiples).
inline constexpr int kColdWnafBits = 5;

// RecodeSignedWindows_vartime writes the `windows` signed digits of a plain
// scalar k in base 2^w: k = sum digits[j] * 2^(w*j), each digit in
// [-(2^(w-1) - 1), 2^(w-1)]. windows * w must be at least 257.
void RecodeSignedWindows_vartime(int16_t* digits, const Sc& k, int w, int windows);

// RecodeWnaf_vartime writes the width-w NAF of a plain scalar k (w in [2, 15]):
// naf[i] is 0 or odd with |naf[i]| < 2^(w-1), at most one nonzero in any w
// consecutive positions, k = sum naf[i] * 2^i. Returns the length (index of
// the highest nonzero digit + 1, 0 for k = 0). `naf` holds kMaxWnafLength.
inline constexpr int kMaxWnafLength = 256 + 15 + 1;
int RecodeWnaf_vartime(int16_t naf[kMaxWnafLength], const Sc& k, int w);

}  // namespace popguard::p256

#endif  // POPGUARD_SERVICE_P256_POINT_H_
