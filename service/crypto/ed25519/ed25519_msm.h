// Multi-scalar multiplication on edwards25519 for batch verification:
//   Q = [b]B + sum_i [s_i] P_i
// with B the base point (fixed table) and public points and scalars.
//
// Two algorithms, both variable-time (public inputs only):
//  - Straus (interleaved wNAF): one shared chain of ~253 doublings, and per
//    point a table of odd multiples plus one addition per non-zero digit.
//    Cost ~ n * (table + bits / (w + 1)) additions.
//  - Pippenger (buckets): per window of c bits, every point is added into the
//    bucket of its digit, then the buckets are summed; no per-point table.
//    Cost ~ (bits / c) * (n + 2^c) additions.
// Which one wins at which n is measured in bench/ed25519_benchmark.cc and
// recorded in bench/README.md; MsmAuto_vartime picks by that measurement.
#ifndef POPGUARD_SERVICE_ED25519_MSM_H_
#define POPGUARD_SERVICE_ED25519_MSM_H_

#include <cstddef>
#include <span>

#include "service/crypto/ed25519/ed25519_point.h"
#include "service/crypto/ed25519/ed25519_scalar.h"

namespace popguard::ed25519::internal {

// MsmStraus_vartime returns [base_scalar]B + sum [scalars[i]] points[i].
// All scalars < 2^253; points.size() == scalars.size().
P3 MsmStraus_vartime(const Scalar& base_scalar, std::span<const P3> points,
                     std::span<const Scalar> scalars);

// MsmPippenger_vartime computes the same with windows of `window_bits` bits
// (1..15); 0 picks the width from the number of points.
P3 MsmPippenger_vartime(const Scalar& base_scalar, std::span<const P3> points,
                        std::span<const Scalar> scalars, int window_bits = 0);

// kPippengerMinPoints is the number of points from which MsmAuto_vartime uses
// Pippenger instead of Straus (measured, see bench/README.md).
inline constexpr size_t kPippengerMinPoints = 128;

// MsmAuto_vartime dispatches on points.size().
P3 MsmAuto_vartime(const Scalar& base_scalar, std::span<const P3> points,
                   std::span<const Scalar> scalars);

}  // namespace popguard::ed25519::internal

#endif  // POPGUARD_SERVICE_ED25519_MSM_H_
