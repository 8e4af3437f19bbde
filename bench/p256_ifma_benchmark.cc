// AVX-512 IFMA for the P-256 field, measured before anyone builds a verifier on
// it (issue 15): is a 52-bit-limb field with vpmadd52luq/vpmadd52huq, one
// verification per 64-bit lane, faster per element than popguard's MULX/ADX
// field (service/crypto/p256/p256_field.h) on this CPU? This file holds only
// what that question needs: lane-parallel Montgomery multiplication and
// squaring, the a = -3 Jacobian doubling on top of them, and a check of all
// three against popguard's own FeMul/FeSqr/PointDouble. It is not a verifier.
//
//   BM_FeMulLatency, BM_FeSqrLatency   popguard FeMul/FeSqr, dependent chain
//   BM_FeMulThroughput                 popguard FeMul, 8 independent chains
//   BM_PointDoubleLatency              popguard PointDouble, dependent chain
//   BM_Ifma8MulLatency, ...Sqr...      8 lanes (zmm), each lane a dependent chain
//   BM_Ifma8MulThroughput              8 lanes, 2 independent zmm chains
//   BM_Ifma4...                        the same on 4 lanes (ymm, AVX-512VL)
//   BM_Ifma8DoubleLatency, BM_Ifma4DoubleLatency   lane point doubling, chain
//   BM_Ifma8DoubleThroughput           8 lanes, 2 independent doubling chains
//   BM_CycleCalibration                core clock (counter ghz), to read ns as cycles
//
// Counters: ns_per_op = thread-CPU ns per operation on one element (a vector
// operation's time divided by its lanes); ns_latency = ns per operation of
// one chain, which is what a single verification would wait for per
// operation if it ran alone in one lane with the other lanes idle.
//
// Representation: an element is 5 limbs of 52 bits, little-endian, and limb i
// of the 8 (or 4) elements sits in one __m512i (__m256i), so a multiplication
// is 25 vpmadd52luq + 25 vpmadd52huq for the product and 30 for the
// reduction, all lane-wise, with no shuffle at all. Montgomery form with
// R = 2^260: the lane form of x is x * 2^260 mod p (popguard's Fe uses 2^256).
// Limbs are "normalized" when each is < 2^52 (IFMA multiplies only the low 52
// bits of each operand, so every multiplication input must be normalized);
// values are lazily reduced: they may exceed p, with the bounds stated at each
// function, and only the conversion out of lane form (LaneToFe) reduces fully.
// Below, U = 2^256 (so p < U, and 5 limbs hold values < 16U).
//
// Single-lane latency (one element's 5 limbs across the lanes of one
// register, the other operand's limbs broadcast) is not built: every one of
// the 5 reduction steps would need a cross-lane broadcast of the low limb and
// a one-lane shift of the accumulator (permutes of several cycles each on
// Zen), and the final carry propagation 4 more cross-lane steps, on top of
// the same IFMA latency, so it cannot undercut the per-lane layout's chain.
// The per-lane layout used by one verification alone is measured instead:
// that is ns_latency above.
//
// Nothing here is secret-dependent (no branches, no table lookups), but it is
// benchmark code, not a vetted constant-time implementation.
#include <benchmark/benchmark.h>
#include <immintrin.h>

#include <algorithm>
#include <array>
#include <cstdint>
#include <cstring>
#include <initializer_list>
#include <random>
#include <string>
#include <vector>

#include "bench/bench_util.h"
#include "service/crypto/p256/p256_field.h"
#include "service/crypto/p256/p256_point.h"

#define POPGUARD_IFMA_TARGET __attribute__((target("avx512f,avx512ifma,avx512vl")))
#define POPGUARD_IFMA_INLINE POPGUARD_IFMA_TARGET __attribute__((always_inline)) inline
#define POPGUARD_IFMA_NOINLINE POPGUARD_IFMA_TARGET __attribute__((noinline))

namespace popguard::bench {
namespace {

using p256::Fe;
using p256::JacobianPoint;

constexpr int kLimbs = 5;
constexpr uint64_t kMask52 = (uint64_t{1} << 52) - 1;
constexpr uint64_t kMask48 = (uint64_t{1} << 48) - 1;

// p in radix 2^52: limb 0 = 2^52 - 1, limb 1 = 2^44 - 1, limb 2 = 0,
// limb 3 = 2^36, limb 4 = 2^48 - 2^16. Since p = -1 mod 2^52, -p^-1 mod 2^52
// is 1: the Montgomery quotient digit is the low limb itself.
constexpr uint64_t kP52[kLimbs] = {0xfffffffffffff, 0xfffffffffff, 0, 0x1000000000, 0xffffffff0000};

// 4p with limbs 0..3 raised by 2^52 (and 2^52 - 1 borrowed from the limb
// above), so that 4p - b is non-negative limb by limb for every normalized
// b < 2^257 (limb 4 of 4p here is about 2^50 > 2^49 > b's limb 4).
constexpr uint64_t kFourPBorrowed[kLimbs] = {0x1ffffffffffffc, 0x103ffffffffffe, 0xfffffffffffff,
                                             0x10003fffffffff, 0x3fffffffbffff};

// Chain length of every benchmark iteration: as many operations as a cold
// verification has doublings.
constexpr int kChain = 256;

// LaneBatch holds N elements in lane layout: limb i of element k is
// limb[i][k]. The interface between plain C++ and the vector code.
template <int N>
struct LaneBatch {
  alignas(64) uint64_t limb[kLimbs][N];
};

template <int N>
struct LanePointBatch {
  LaneBatch<N> x, y, z;
};

// Zmm8 and Ymm4 are the two register widths; the field code below is written
// once against either.
struct Zmm8 {
  using V = __m512i;
  static constexpr int kLanes = 8;
  // The shifts use the zero-masked forms with all lanes selected (the same
  // instruction): GCC 12's unmasked ones warn about an uninitialized operand.
  static constexpr __mmask8 kAllLanes = 0xff;
  POPGUARD_IFMA_INLINE static V Load(const uint64_t* p) { return _mm512_load_si512(p); }
  POPGUARD_IFMA_INLINE static void Store(uint64_t* p, V a) { _mm512_store_si512(p, a); }
  POPGUARD_IFMA_INLINE static V Splat(uint64_t x) {
    return _mm512_set1_epi64(static_cast<long long>(x));
  }
  POPGUARD_IFMA_INLINE static V Zero() { return _mm512_setzero_si512(); }
  POPGUARD_IFMA_INLINE static V Add(V a, V b) { return _mm512_add_epi64(a, b); }
  POPGUARD_IFMA_INLINE static V Sub(V a, V b) { return _mm512_sub_epi64(a, b); }
  POPGUARD_IFMA_INLINE static V And(V a, V b) { return _mm512_and_si512(a, b); }
  POPGUARD_IFMA_INLINE static V Or(V a, V b) { return _mm512_or_si512(a, b); }
  template <int kBits>
  POPGUARD_IFMA_INLINE static V Srl(V a) {
    return _mm512_maskz_srli_epi64(kAllLanes, a, kBits);
  }
  template <int kBits>
  POPGUARD_IFMA_INLINE static V Sra(V a) {
    return _mm512_maskz_srai_epi64(kAllLanes, a, kBits);
  }
  template <int kBits>
  POPGUARD_IFMA_INLINE static V Sll(V a) {
    return _mm512_maskz_slli_epi64(kAllLanes, a, kBits);
  }
  // MaddLo/MaddHi return acc + the low/high 52 bits of the 104-bit product of
  // the low 52 bits of b and c.
  POPGUARD_IFMA_INLINE static V MaddLo(V acc, V b, V c) { return _mm512_madd52lo_epu64(acc, b, c); }
  POPGUARD_IFMA_INLINE static V MaddHi(V acc, V b, V c) { return _mm512_madd52hi_epu64(acc, b, c); }
};

struct Ymm4 {
  using V = __m256i;
  static constexpr int kLanes = 4;
  POPGUARD_IFMA_INLINE static V Load(const uint64_t* p) {
    return _mm256_load_si256(reinterpret_cast<const __m256i*>(p));
  }
  POPGUARD_IFMA_INLINE static void Store(uint64_t* p, V a) {
    _mm256_store_si256(reinterpret_cast<__m256i*>(p), a);
  }
  POPGUARD_IFMA_INLINE static V Splat(uint64_t x) {
    return _mm256_set1_epi64x(static_cast<long long>(x));
  }
  POPGUARD_IFMA_INLINE static V Zero() { return _mm256_setzero_si256(); }
  POPGUARD_IFMA_INLINE static V Add(V a, V b) { return _mm256_add_epi64(a, b); }
  POPGUARD_IFMA_INLINE static V Sub(V a, V b) { return _mm256_sub_epi64(a, b); }
  POPGUARD_IFMA_INLINE static V And(V a, V b) { return _mm256_and_si256(a, b); }
  POPGUARD_IFMA_INLINE static V Or(V a, V b) { return _mm256_or_si256(a, b); }
  template <int kBits>
  POPGUARD_IFMA_INLINE static V Srl(V a) {
    return _mm256_srli_epi64(a, kBits);
  }
  template <int kBits>
  POPGUARD_IFMA_INLINE static V Sra(V a) {
    return _mm256_srai_epi64(a, kBits);  // AVX-512VL
  }
  template <int kBits>
  POPGUARD_IFMA_INLINE static V Sll(V a) {
    return _mm256_slli_epi64(a, kBits);
  }
  POPGUARD_IFMA_INLINE static V MaddLo(V acc, V b, V c) { return _mm256_madd52lo_epu64(acc, b, c); }
  POPGUARD_IFMA_INLINE static V MaddHi(V acc, V b, V c) { return _mm256_madd52hi_epu64(acc, b, c); }
};

// VFe is one element per lane, limb i in l[i].
template <typename Ops>
struct VFe {
  typename Ops::V l[kLimbs];
};

template <typename Ops>
struct VPoint {
  VFe<Ops> x, y, z;
};

template <typename Ops>
POPGUARD_IFMA_INLINE VFe<Ops> LoadFe(const LaneBatch<Ops::kLanes>& b) {
  VFe<Ops> r;
  for (int i = 0; i < kLimbs; ++i) r.l[i] = Ops::Load(b.limb[i]);
  return r;
}

template <typename Ops>
POPGUARD_IFMA_INLINE void StoreFe(LaneBatch<Ops::kLanes>* b, const VFe<Ops>& a) {
  for (int i = 0; i < kLimbs; ++i) Ops::Store(b->limb[i], a.l[i]);
}

// Carry normalizes limbs keeping the value: limbs non-negative and < 2^63
// (kSigned false), or possibly negative with |limb| < 2^62 when the value
// they stand for is non-negative (kSigned true, arithmetic shifts). Limb 4
// keeps what is above 2^208, so the caller's value bound (< 2^260) makes it
// normalized too.
template <typename Ops, bool kSigned = false>
POPGUARD_IFMA_INLINE void Carry(typename Ops::V l[kLimbs]) {
  const auto mask = Ops::Splat(kMask52);
  for (int i = 0; i < kLimbs - 1; ++i) {
    const auto carry = kSigned ? Ops::template Sra<52>(l[i]) : Ops::template Srl<52>(l[i]);
    l[i + 1] = Ops::Add(l[i + 1], carry);
    l[i] = Ops::And(l[i], mask);
  }
}

// MontReduce sets r = z / 2^260 mod p for the 10 product limbs z (each
// < 2^58, not normalized), z < 2^519: five steps, each adding q*p for the low
// limb q and moving up one limb. Because p's limb 0 is 2^52 - 1, z0 + q*p0 =
// (z0 >> 52) * 2^52 + q * 2^52 exactly, so limb 0 of p costs an addition
// instead of a multiplication, and limb 2 of p is zero. Every limb stays
// < 2^58 + 10 * 2^52 < 2^59. Output normalized, value < z/2^260 + p < 9U.
template <typename Ops>
POPGUARD_IFMA_INLINE void MontReduce(VFe<Ops>* r, typename Ops::V z[2 * kLimbs]) {
  const auto mask = Ops::Splat(kMask52);
  const auto p1 = Ops::Splat(kP52[1]);
  const auto p3 = Ops::Splat(kP52[3]);
  const auto p4 = Ops::Splat(kP52[4]);
#pragma GCC unroll 5
  for (int i = 0; i < kLimbs; ++i) {
    const auto q = Ops::And(z[i], mask);
    const auto carry = Ops::Add(Ops::template Srl<52>(z[i]), q);
    z[i + 1] = Ops::Add(Ops::MaddLo(z[i + 1], q, p1), carry);
    z[i + 2] = Ops::MaddHi(z[i + 2], q, p1);
    z[i + 3] = Ops::MaddLo(z[i + 3], q, p3);
    z[i + 4] = Ops::MaddHi(Ops::MaddLo(z[i + 4], q, p4), q, p3);
    z[i + 5] = Ops::MaddHi(z[i + 5], q, p4);
  }
  for (int i = 0; i < kLimbs; ++i) r->l[i] = z[kLimbs + i];
  Carry<Ops>(r->l);
}

// Mul sets r = a*b/2^260 mod p, lane by lane. Inputs normalized with
// a*b < 2^519 (e.g. both < 4U, or one < 2^260 and the other < 2^259); output
// normalized, value < a*b/2^260 + p: < 2U when a, b < 4U. r may alias a or b.
template <typename Ops>
POPGUARD_IFMA_INLINE void Mul(VFe<Ops>* r, const VFe<Ops>& a, const VFe<Ops>& b) {
  using V = typename Ops::V;
  // Low and high halves go to separate accumulators so that no chain of
  // dependent vpmadd52 is longer than 5.
  V lo[2 * kLimbs], hi[2 * kLimbs];
  for (int k = 0; k < 2 * kLimbs; ++k) lo[k] = hi[k] = Ops::Zero();
#pragma GCC unroll 5
  for (int i = 0; i < kLimbs; ++i) {
#pragma GCC unroll 5
    for (int j = 0; j < kLimbs; ++j) {
      lo[i + j] = Ops::MaddLo(lo[i + j], a.l[i], b.l[j]);
      hi[i + j + 1] = Ops::MaddHi(hi[i + j + 1], a.l[i], b.l[j]);
    }
  }
  V z[2 * kLimbs];
  for (int k = 0; k < 2 * kLimbs; ++k) z[k] = Ops::Add(lo[k], hi[k]);  // each < 10 * 2^52
  MontReduce<Ops>(r, z);
}

// Sqr sets r = a^2/2^260 mod p: 15 products instead of 25, the 10 cross
// products doubled by an addition. Input normalized, a < 2^259.5 (so
// a^2 < 2^519); output as Mul's. r may alias a.
template <typename Ops>
POPGUARD_IFMA_INLINE void Sqr(VFe<Ops>* r, const VFe<Ops>& a) {
  using V = typename Ops::V;
  V cross[2 * kLimbs], sq[2 * kLimbs];
  for (int k = 0; k < 2 * kLimbs; ++k) cross[k] = sq[k] = Ops::Zero();
#pragma GCC unroll 5
  for (int i = 0; i < kLimbs; ++i) {
    sq[2 * i] = Ops::MaddLo(sq[2 * i], a.l[i], a.l[i]);
    sq[2 * i + 1] = Ops::MaddHi(sq[2 * i + 1], a.l[i], a.l[i]);
#pragma GCC unroll 4
    for (int j = i + 1; j < kLimbs; ++j) {
      cross[i + j] = Ops::MaddLo(cross[i + j], a.l[i], a.l[j]);
      cross[i + j + 1] = Ops::MaddHi(cross[i + j + 1], a.l[i], a.l[j]);
    }
  }
  V z[2 * kLimbs];
  // cross < 6 * 2^52, so 2 * cross + sq < 14 * 2^52.
  for (int k = 0; k < 2 * kLimbs; ++k) z[k] = Ops::Add(Ops::Add(cross[k], cross[k]), sq[k]);
  MontReduce<Ops>(r, z);
}

// Add sets r = a + b, normalized. Needs a + b < 2^260 (no reduction).
template <typename Ops>
POPGUARD_IFMA_INLINE void Add(VFe<Ops>* r, const VFe<Ops>& a, const VFe<Ops>& b) {
  for (int i = 0; i < kLimbs; ++i) r->l[i] = Ops::Add(a.l[i], b.l[i]);
  Carry<Ops>(r->l);
}

// Sub sets r = a - b + 4p, normalized: b < 2^257, and a + 4p < 2^260
// (a < 12U); the result is < a + 4U.
template <typename Ops>
POPGUARD_IFMA_INLINE void Sub(VFe<Ops>* r, const VFe<Ops>& a, const VFe<Ops>& b) {
  for (int i = 0; i < kLimbs; ++i) {
    r->l[i] = Ops::Sub(Ops::Add(a.l[i], Ops::Splat(kFourPBorrowed[i])), b.l[i]);
  }
  Carry<Ops>(r->l);
}

// Reduce brings a normalized a < 16U below U + 2^228 < 1.06U, keeping it mod
// p: with h = floor(a / 2^256) < 16 and 2^256 = 2^224 - 2^192 - 2^96 + 1
// (mod p), a = (a mod 2^256) + h*(2^224 - 2^192 - 2^96 + 1) (mod p), a
// non-negative sum that the signed carry pass normalizes.
template <typename Ops>
POPGUARD_IFMA_INLINE void Reduce(VFe<Ops>* a) {
  const auto h = Ops::template Srl<48>(a->l[4]);
  a->l[4] = Ops::Add(Ops::And(a->l[4], Ops::Splat(kMask48)), Ops::template Sll<16>(h));  // +h*2^224
  a->l[3] = Ops::Sub(a->l[3], Ops::template Sll<36>(h));                                 // -h*2^192
  a->l[1] = Ops::Sub(a->l[1], Ops::template Sll<44>(h));                                 // -h*2^96
  a->l[0] = Ops::Add(a->l[0], h);                                                        // +h
  Carry<Ops, true>(a->l);
}

// Half sets r = a/2 mod p: (a + p)/2 when a is odd, else a/2. Input
// normalized, a < 14U; output < (a + U)/2.
template <typename Ops>
POPGUARD_IFMA_INLINE void Half(VFe<Ops>* r, const VFe<Ops>& a) {
  const auto odd = Ops::Sub(Ops::Zero(), Ops::And(a.l[0], Ops::Splat(1)));  // all ones iff odd
  typename Ops::V s[kLimbs];
  for (int i = 0; i < kLimbs; ++i) s[i] = Ops::Add(a.l[i], Ops::And(Ops::Splat(kP52[i]), odd));
  Carry<Ops>(s);
  for (int i = 0; i < kLimbs - 1; ++i) {
    r->l[i] = Ops::Or(Ops::template Srl<1>(s[i]),
                      Ops::template Sll<51>(Ops::And(s[i + 1], Ops::Splat(1))));
  }
  r->l[4] = Ops::template Srl<1>(s[4]);
}

// PointDouble is popguard's PointDouble (dbl-2001-b, a = -3, 4M + 4S, the
// same operations in the same order, p256_point.cc) on lane elements, with
// three Reduce calls where a lazy bound would otherwise grow. Bounds (in U):
// inputs X, Y, Z < 2; delta < 1.25, y2 < 4, t0 < 6, t1 < 3.25, alpha < 2.22,
// 3*alpha < 6.7 -> 1.06, four_gamma < 2, beta4 < 1.25, alpha^2 < 1.07,
// X3 < 9.1 -> 1.06, Z3 < 1.5, g2 < 1.25 -> 1.13, beta4 - X3 < 5.25,
// product < 1.35, Y3 < 5.4 -> 1.06. So outputs < 2 again and the chain
// closes.
template <typename Ops>
POPGUARD_IFMA_INLINE void PointDouble(VPoint<Ops>* r, const VPoint<Ops>& a) {
  VFe<Ops> delta, y2, t0, t1, alpha, four_gamma, beta4, x3, z3, g2;
  Sqr(&delta, a.z);
  Add(&y2, a.y, a.y);
  Sub(&t0, a.x, delta);
  Add(&t1, a.x, delta);
  Mul(&alpha, t0, t1);
  Sqr(&four_gamma, y2);
  Add(&t0, alpha, alpha);
  Add(&alpha, alpha, t0);  // 3*(X1-delta)*(X1+delta)
  Reduce(&alpha);
  Mul(&beta4, a.x, four_gamma);
  Sqr(&x3, alpha);
  Mul(&z3, y2, a.z);
  Sub(&x3, x3, beta4);
  Sub(&x3, x3, beta4);  // X3 = alpha^2 - 8*beta
  Reduce(&x3);
  Sqr(&g2, four_gamma);
  Half(&g2, g2);  // 8*Y1^4
  Sub(&t0, beta4, x3);
  Mul(&t0, alpha, t0);
  Sub(&r->y, t0, g2);  // Y3 = alpha*(4*beta - X3) - 8*Y1^4
  Reduce(&r->y);
  r->x = x3;
  r->z = z3;
}

// The out-of-line entry points: the benchmarks run them with a long chain,
// the self-check with a chain of 1. kChains independent chains (x[0..kChains))
// interleave to measure throughput instead of latency.

// MulChain sets each x[c] = x[c] * y, n times (x, y < 2U keeps x < 2U).
template <typename Ops, int kChains>
POPGUARD_IFMA_NOINLINE void MulChain(LaneBatch<Ops::kLanes>* x, const LaneBatch<Ops::kLanes>& y,
                                     int64_t n) {
  VFe<Ops> acc[kChains];
  for (int c = 0; c < kChains; ++c) acc[c] = LoadFe<Ops>(x[c]);
  const VFe<Ops> m = LoadFe<Ops>(y);
  for (int64_t k = 0; k < n; ++k) {
#pragma GCC unroll 4
    for (int c = 0; c < kChains; ++c) Mul(&acc[c], acc[c], m);
  }
  for (int c = 0; c < kChains; ++c) StoreFe<Ops>(&x[c], acc[c]);
}

// SqrChain sets x = x^2, n times.
template <typename Ops>
POPGUARD_IFMA_NOINLINE void SqrChain(LaneBatch<Ops::kLanes>* x, int64_t n) {
  VFe<Ops> acc = LoadFe<Ops>(*x);
  for (int64_t k = 0; k < n; ++k) Sqr(&acc, acc);
  StoreFe<Ops>(x, acc);
}

// DoubleChain doubles each lane's point of pt[0..kChains) n times.
template <typename Ops, int kChains>
POPGUARD_IFMA_NOINLINE void DoubleChain(LanePointBatch<Ops::kLanes>* pt, int64_t n) {
  VPoint<Ops> acc[kChains];
  for (int c = 0; c < kChains; ++c) {
    acc[c] = {LoadFe<Ops>(pt[c].x), LoadFe<Ops>(pt[c].y), LoadFe<Ops>(pt[c].z)};
  }
  for (int64_t k = 0; k < n; ++k) {
#pragma GCC unroll 4
    for (int c = 0; c < kChains; ++c) PointDouble(&acc[c], acc[c]);
  }
  for (int c = 0; c < kChains; ++c) {
    StoreFe<Ops>(&pt[c].x, acc[c].x);
    StoreFe<Ops>(&pt[c].y, acc[c].y);
    StoreFe<Ops>(&pt[c].z, acc[c].z);
  }
}

bool HaveIfma() {
  return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512ifma") &&
         __builtin_cpu_supports("avx512vl");
}

// ---- Conversions (plain C++, popguard's field as the reference) ----

using Limbs52 = std::array<uint64_t, kLimbs>;

const Fe kPlainOne = {{1, 0, 0, 0}};

// FeOfSmall returns the popguard (Montgomery) form of a plain x < 2^64.
Fe FeOfSmall(uint64_t x) {
  const uint64_t limbs[4] = {x, 0, 0, 0};
  return p256::FeFromLimbs(limbs);
}

// PlainOf returns the plain value of popguard's Fe a (a/2^256 mod p).
void PlainOf(uint64_t out[4], const Fe& a) {
  Fe t;
  p256::FeMul(&t, a, kPlainOne);
  std::memcpy(out, t.v, sizeof(t.v));
}

struct LaneConstants {
  Fe two52;       // 2^52
  Fe two260;      // 2^260 mod p
  Fe inv_two260;  // 2^-260 mod p
};

const LaneConstants& Constants() {
  static const LaneConstants c = [] {
    LaneConstants k;
    k.two52 = FeOfSmall(uint64_t{1} << 52);
    k.two260 = k.two52;
    for (int i = 1; i < kLimbs; ++i) p256::FeMul(&k.two260, k.two260, k.two52);
    p256::FeInvert(&k.inv_two260, k.two260);
    return k;
  }();
  return c;
}

// LaneToFe returns the element a lane value stands for, A * 2^-260 mod p,
// as popguard's Fe, computed with popguard's field alone (Horner in base 2^52,
// then times 2^-260): the independent side of the self-check. Any limbs
// (each < 2^64; they need not be normalized).
Fe LaneToFe(const Limbs52& a) {
  const LaneConstants& k = Constants();
  Fe acc = FeOfSmall(0);
  for (int i = kLimbs - 1; i >= 0; --i) {
    p256::FeMul(&acc, acc, k.two52);
    const Fe limb = FeOfSmall(a[i]);
    p256::FeAdd(&acc, acc, limb);
  }
  p256::FeMul(&acc, acc, k.inv_two260);
  return acc;
}

// FeToLane returns the lane form (x * 2^260 mod p, < p) of popguard's Fe a.
Limbs52 FeToLane(const Fe& a) {
  Fe t;
  p256::FeMul(&t, a, Constants().two260);
  uint64_t x[4];
  PlainOf(x, t);
  Limbs52 r;
  for (int i = 0; i < kLimbs; ++i) {
    const int bit = 52 * i, word = bit / 64, shift = bit % 64;
    uint64_t v = x[word] >> shift;
    if (shift > 12 && word < 3) v |= x[word + 1] << (64 - shift);
    r[i] = v & kMask52;
  }
  return r;
}

template <int N>
void PutLane(LaneBatch<N>* b, int k, const Limbs52& a) {
  for (int i = 0; i < kLimbs; ++i) b->limb[i][k] = a[i];
}

template <int N>
Limbs52 GetLane(const LaneBatch<N>& b, int k) {
  Limbs52 r;
  for (int i = 0; i < kLimbs; ++i) r[i] = b.limb[i][k];
  return r;
}

// NormalizedBelow returns whether A's limbs are normalized and A < 2^bits
// (bits in (208, 260]).
bool NormalizedBelow(const Limbs52& a, int bits) {
  for (uint64_t limb : a) {
    if (limb > kMask52) return false;
  }
  return a[4] < (uint64_t{1} << (bits - 208));
}

Fe RandomFe(std::mt19937_64& rng) {
  for (;;) {
    uint8_t bytes[32];
    for (int i = 0; i < 32; i += 8) {
      const uint64_t w = rng();
      std::memcpy(bytes + i, &w, 8);
    }
    Fe r;
    if (p256::FeFromBytes_vartime(&r, bytes)) return r;
  }
}

// RandomRaw returns random normalized limbs with value < 2^bits.
Limbs52 RandomRaw(std::mt19937_64& rng, int bits) {
  Limbs52 r;
  for (auto& limb : r) limb = rng() & kMask52;
  r[4] &= (uint64_t{1} << (bits - 208)) - 1;
  return r;
}

Limbs52 RawOf(std::initializer_list<uint64_t> limbs) {
  Limbs52 r{};
  int i = 0;
  for (uint64_t v : limbs) r[i++] = v;
  return r;
}

struct MulCase {
  Limbs52 a, b;
};

// MulCases: edge values and random ones, each pair within Mul's bound
// (a*b < 2^519), and for the squaring check each a < 2^259.
std::vector<MulCase> MulCases() {
  std::mt19937_64 rng(20261203);
  std::vector<Limbs52> edges;
  const uint64_t p_minus[2][4] = {{p256::kP[0] - 1, p256::kP[1], p256::kP[2], p256::kP[3]},
                                  {p256::kP[0] - 2, p256::kP[1], p256::kP[2], p256::kP[3]}};
  const uint64_t plain_edges[][4] = {{0, 0, 0, 0},        {1, 0, 0, 0},
                                     {2, 0, 0, 0},        {0, 0, 0, uint64_t{1} << 63},
                                     {0, 0, 0, 1u << 31}, {~uint64_t{0}, ~uint64_t{0}, 0, 0}};
  for (const auto& v : p_minus) edges.push_back(FeToLane(p256::FeFromLimbs(v)));
  for (const auto& v : plain_edges) edges.push_back(FeToLane(p256::FeFromLimbs(v)));
  // Raw lane values that are not reduced: 0, p, 2p, all-ones below 2^258 and
  // 2^259, and 2^258.
  edges.push_back(RawOf({0, 0, 0, 0, 0}));
  edges.push_back(RawOf({kP52[0], kP52[1], kP52[2], kP52[3], kP52[4]}));
  edges.push_back(
      RawOf({0xffffffffffffe, 0x1fffffffffff, 0, 0x2000000000, 0x1fffffffe0000}));  // 2p
  edges.push_back(RawOf({kMask52, kMask52, kMask52, kMask52, (uint64_t{1} << 50) - 1}));
  edges.push_back(RawOf({kMask52, kMask52, kMask52, kMask52, (uint64_t{1} << 51) - 1}));
  edges.push_back(RawOf({0, 0, 0, 0, uint64_t{1} << 50}));
  std::vector<MulCase> cases;
  for (const auto& a : edges) {
    for (const auto& b : edges) cases.push_back({a, b});
  }
  // All five limbs saturated (2^260 - 1) only as the first operand of a
  // multiplication, against partners < 2^259.
  const Limbs52 saturated = RawOf({kMask52, kMask52, kMask52, kMask52, kMask52});
  for (const auto& b : edges) cases.push_back({saturated, b});
  while (cases.size() < 12000) {
    switch (rng() % 3) {
      case 0:
        cases.push_back({FeToLane(RandomFe(rng)), FeToLane(RandomFe(rng))});
        break;
      case 1:
        cases.push_back({RandomRaw(rng, 259), RandomRaw(rng, 259)});
        break;
      default:
        cases.push_back({saturated, RandomRaw(rng, 259)});
        break;
    }
  }
  return cases;
}

bool IsSaturated(const Limbs52& a) {
  for (uint64_t limb : a) {
    if (limb != kMask52) return false;
  }
  return true;
}

// CheckField runs every case through Mul and Sqr on Ops' lanes and compares
// with popguard's FeMul. Returns an error message, or "" when all agree.
template <typename Ops>
std::string CheckField(const std::vector<MulCase>& cases) {
  constexpr int N = Ops::kLanes;
  for (size_t base = 0; base < cases.size(); base += N) {
    LaneBatch<N> x, y, sq;
    for (int k = 0; k < N; ++k) {
      const MulCase& c = cases[std::min(base + k, cases.size() - 1)];
      PutLane(&x, k, c.a);
      PutLane(&y, k, c.b);
      PutLane(&sq, k, c.a);
    }
    MulChain<Ops, 1>(&x, y, 1);
    SqrChain<Ops>(&sq, 1);
    for (int k = 0; k < N && base + k < cases.size(); ++k) {
      const MulCase& c = cases[base + k];
      const Fe fa = LaneToFe(c.a), fb = LaneToFe(c.b);
      Fe want;
      p256::FeMul(&want, fa, fb);
      const Limbs52 got = GetLane(x, k);
      if (!NormalizedBelow(got, 260) || !p256::FeEqual_vartime(LaneToFe(got), want)) {
        return "lane Mul disagrees with FeMul, case " + std::to_string(base + k);
      }
      // Bound: inputs < 4U give an output < 2U.
      if (NormalizedBelow(c.a, 258) && NormalizedBelow(c.b, 258) && !NormalizedBelow(got, 257)) {
        return "lane Mul output above 2^257, case " + std::to_string(base + k);
      }
      if (IsSaturated(c.a)) continue;  // 2^260 - 1 squared is outside Sqr's bound
      p256::FeSqr(&want, fa);
      const Limbs52 got_sq = GetLane(sq, k);
      if (!NormalizedBelow(got_sq, 260) || !p256::FeEqual_vartime(LaneToFe(got_sq), want)) {
        return "lane Sqr disagrees with FeSqr, case " + std::to_string(base + k);
      }
    }
  }
  return "";
}

// CheckDouble doubles random Jacobian points (not necessarily on the curve:
// the formula is the same polynomial map either way), plus Z = 0 and Y = 0,
// kSteps times per lane, and compares every coordinate after every step with
// popguard's PointDouble. The lane outputs must stay < 2^257 (the chain's
// invariant).
template <typename Ops>
std::string CheckDouble() {
  constexpr int N = Ops::kLanes;
  constexpr int kBatches = 64, kSteps = 12;
  std::mt19937_64 rng(3);
  for (int batch = 0; batch < kBatches; ++batch) {
    JacobianPoint want[N];
    LanePointBatch<N> pts;
    for (int k = 0; k < N; ++k) {
      want[k] = {RandomFe(rng), RandomFe(rng), RandomFe(rng)};
      if (batch == 0 && k == 0) want[k].z = FeOfSmall(0);
      if (batch == 0 && k == 1) want[k].y = FeOfSmall(0);
      PutLane(&pts.x, k, FeToLane(want[k].x));
      PutLane(&pts.y, k, FeToLane(want[k].y));
      PutLane(&pts.z, k, FeToLane(want[k].z));
    }
    for (int step = 0; step < kSteps; ++step) {
      DoubleChain<Ops, 1>(&pts, 1);
      for (int k = 0; k < N; ++k) {
        p256::PointDouble(&want[k], want[k]);
        const Limbs52 got[3] = {GetLane(pts.x, k), GetLane(pts.y, k), GetLane(pts.z, k)};
        const Fe* expect[3] = {&want[k].x, &want[k].y, &want[k].z};
        for (int c = 0; c < 3; ++c) {
          if (!NormalizedBelow(got[c], 257) ||
              !p256::FeEqual_vartime(LaneToFe(got[c]), *expect[c])) {
            return "lane PointDouble disagrees with PointDouble, batch " + std::to_string(batch) +
                   " step " + std::to_string(step) + " coordinate " + std::to_string(c);
          }
        }
      }
    }
  }
  return "";
}

// SelfCheck runs once per process; "" when the lane code agrees with
// popguard's field and point code (or when the CPU has no IFMA).
const std::string& SelfCheck() {
  static const std::string error = []() -> std::string {
    if (!HaveIfma()) return "";
    const std::vector<MulCase> cases = MulCases();
    std::string e = CheckField<Zmm8>(cases);
    if (e.empty()) e = CheckField<Ymm4>(cases);
    if (e.empty()) e = CheckDouble<Zmm8>();
    if (e.empty()) e = CheckDouble<Ymm4>();
    return e;
  }();
  return error;
}

// ---- Benchmarks ----

// SetPerOp records ns_per_op (per element operation) and ns_latency (per
// operation of one chain) from the loop's thread CPU time.
void SetPerOp(benchmark::State& state, const LoopCpuTimer& timer, int lanes, int chains) {
  const double ns = timer.NanosPerIteration(state.iterations());
  state.counters["ns_per_op"] = ns / (kChain * lanes * chains);
  state.counters["ns_latency"] = ns / kChain;
  state.SetItemsProcessed(state.iterations() * kChain * lanes * chains);
}

// StartLanes returns false (after an empty timing loop and a "no IFMA" label,
// which is not an error) when the CPU lacks IFMA, and fails the benchmark
// when the self-check does.
bool StartLanes(benchmark::State& state) {
  if (!HaveIfma()) {
    for (auto _ : state) benchmark::ClobberMemory();
    state.SetLabel("no IFMA");
    return false;
  }
  if (!SelfCheck().empty()) {
    state.SkipWithError(SelfCheck().c_str());
    return false;
  }
  return true;
}

bool StartPopguard(benchmark::State& state) {
  if (!SelfCheck().empty()) {
    state.SkipWithError(SelfCheck().c_str());
    return false;
  }
  state.SetLabel(p256::FieldUsesAdx() ? "MULX/ADX" : "portable");
  return true;
}

void BM_FeMulLatency(benchmark::State& state) {
  if (!StartPopguard(state)) return;
  std::mt19937_64 rng(1);
  Fe x = RandomFe(rng);
  const Fe y = RandomFe(rng);
  LoopCpuTimer timer;
  for (auto _ : state) {
    for (int k = 0; k < kChain; ++k) p256::FeMul(&x, x, y);
    benchmark::DoNotOptimize(x);
  }
  SetPerOp(state, timer, 1, 1);
}
BENCHMARK(BM_FeMulLatency);

void BM_FeSqrLatency(benchmark::State& state) {
  if (!StartPopguard(state)) return;
  std::mt19937_64 rng(2);
  Fe x = RandomFe(rng);
  LoopCpuTimer timer;
  for (auto _ : state) {
    for (int k = 0; k < kChain; ++k) p256::FeSqr(&x, x);
    benchmark::DoNotOptimize(x);
  }
  SetPerOp(state, timer, 1, 1);
}
BENCHMARK(BM_FeSqrLatency);

void BM_FeMulThroughput(benchmark::State& state) {
  if (!StartPopguard(state)) return;
  constexpr int kIndependent = 8;
  std::mt19937_64 rng(3);
  Fe x[kIndependent];
  for (Fe& e : x) e = RandomFe(rng);
  const Fe y = RandomFe(rng);
  LoopCpuTimer timer;
  for (auto _ : state) {
    for (int k = 0; k < kChain; ++k) {
      for (Fe& e : x) p256::FeMul(&e, e, y);
    }
    benchmark::DoNotOptimize(x);
  }
  SetPerOp(state, timer, 1, kIndependent);
}
BENCHMARK(BM_FeMulThroughput);

void BM_PointDoubleLatency(benchmark::State& state) {
  if (!StartPopguard(state)) return;
  std::mt19937_64 rng(4);
  JacobianPoint pt = {RandomFe(rng), RandomFe(rng), RandomFe(rng)};
  LoopCpuTimer timer;
  for (auto _ : state) {
    for (int k = 0; k < kChain; ++k) p256::PointDouble(&pt, pt);
    benchmark::DoNotOptimize(pt);
  }
  SetPerOp(state, timer, 1, 1);
}
BENCHMARK(BM_PointDoubleLatency);

template <int N>
LaneBatch<N> RandomBatch(std::mt19937_64& rng) {
  LaneBatch<N> b;
  for (int k = 0; k < N; ++k) PutLane(&b, k, FeToLane(RandomFe(rng)));
  return b;
}

template <typename Ops, int kChains>
void BM_IfmaMul(benchmark::State& state) {
  if (!StartLanes(state)) return;
  constexpr int N = Ops::kLanes;
  std::mt19937_64 rng(5);
  LaneBatch<N> x[kChains];
  for (auto& b : x) b = RandomBatch<N>(rng);
  const LaneBatch<N> y = RandomBatch<N>(rng);
  LoopCpuTimer timer;
  for (auto _ : state) {
    MulChain<Ops, kChains>(x, y, kChain);
    benchmark::DoNotOptimize(x);
  }
  SetPerOp(state, timer, N, kChains);
}
BENCHMARK_TEMPLATE(BM_IfmaMul, Zmm8, 1)->Name("BM_Ifma8MulLatency");
BENCHMARK_TEMPLATE(BM_IfmaMul, Zmm8, 2)->Name("BM_Ifma8MulThroughput");
BENCHMARK_TEMPLATE(BM_IfmaMul, Ymm4, 1)->Name("BM_Ifma4MulLatency");
BENCHMARK_TEMPLATE(BM_IfmaMul, Ymm4, 2)->Name("BM_Ifma4MulThroughput");

template <typename Ops>
void BM_IfmaSqr(benchmark::State& state) {
  if (!StartLanes(state)) return;
  constexpr int N = Ops::kLanes;
  std::mt19937_64 rng(6);
  LaneBatch<N> x = RandomBatch<N>(rng);
  LoopCpuTimer timer;
  for (auto _ : state) {
    SqrChain<Ops>(&x, kChain);
    benchmark::DoNotOptimize(x);
  }
  SetPerOp(state, timer, N, 1);
}
BENCHMARK(BM_IfmaSqr<Zmm8>)->Name("BM_Ifma8SqrLatency");
BENCHMARK(BM_IfmaSqr<Ymm4>)->Name("BM_Ifma4SqrLatency");

template <typename Ops, int kChains>
void BM_IfmaDouble(benchmark::State& state) {
  if (!StartLanes(state)) return;
  constexpr int N = Ops::kLanes;
  std::mt19937_64 rng(7);
  LanePointBatch<N> pt[kChains];
  for (auto& b : pt) b = {RandomBatch<N>(rng), RandomBatch<N>(rng), RandomBatch<N>(rng)};
  LoopCpuTimer timer;
  for (auto _ : state) {
    DoubleChain<Ops, kChains>(pt, kChain);
    benchmark::DoNotOptimize(pt);
  }
  SetPerOp(state, timer, N, kChains);
}
BENCHMARK_TEMPLATE(BM_IfmaDouble, Zmm8, 1)->Name("BM_Ifma8DoubleLatency");
BENCHMARK_TEMPLATE(BM_IfmaDouble, Zmm8, 2)->Name("BM_Ifma8DoubleThroughput");
BENCHMARK_TEMPLATE(BM_IfmaDouble, Ymm4, 1)->Name("BM_Ifma4DoubleLatency");

// BM_CycleCalibration times a chain of dependent 64-bit additions (one cycle
// each on every x86-64 core of the last decade) to turn ns into core cycles:
// counter ghz; the virtual machine reports only the nominal clock.
void BM_CycleCalibration(benchmark::State& state) {
  uint64_t x = 0;
  LoopCpuTimer timer;
  for (auto _ : state) {
    for (int k = 0; k < kChain; ++k) {
      asm volatile(
          "addq $1, %0\n\taddq $1, %0\n\taddq $1, %0\n\taddq $1, %0\n\t"
          "addq $1, %0\n\taddq $1, %0\n\taddq $1, %0\n\taddq $1, %0"
          : "+r"(x));
    }
  }
  benchmark::DoNotOptimize(x);
  state.counters["ghz"] = kChain * 8.0 / timer.NanosPerIteration(state.iterations());
}
BENCHMARK(BM_CycleCalibration);

}  // namespace
}  // namespace popguard::bench

BENCHMARK_MAIN();
