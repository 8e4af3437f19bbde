// ECDSA P-256 signature verification (FIPS 186-4 6.4.2, SEC 1 4.1.4) on
// popguard's own field and point arithmetic (p256_field.h, p256_point.h).
//
// Flow for a signature (r, s) over a message hash e with public key Q:
//   1. r and s must lie in [1, n-1] (else kScalarOutOfRange).
//   2. w = s^-1 mod n (one vartime inversion; a batch shares one inversion
//      among all its members with Montgomery's trick).
//   3. u1 = e*w, u2 = r*w; R = u1*G + u2*Q, from the per-key table when the
//      caller has one (hot) or by Strauss-Shamir without one (cold).
//   4. Valid iff R is not infinity and x(R) mod n = r, checked without
//      inverting Z: X == r*Z^2, or X == (r+n)*Z^2 when r + n < p (x(R) is
//      in [0, p) and p > n, so x(R) mod n = r means x(R) = r or r + n).
//
// All of it is variable time, which is safe because every input is public:
// the key, the hash of the signed message and the signature. Thread-safe: the
// only shared state is the immutable base table.
#ifndef POPGUARD_SERVICE_P256_H_
#define POPGUARD_SERVICE_P256_H_

#include <cstdint>
#include <memory>
#include <optional>
#include <span>

#include "service/crypto/p256/p256_point.h"

namespace popguard::p256 {

// EcdsaPublicKey is a validated P-256 public key: coordinates below p, on the
// curve, not infinity (which has no affine encoding).
class EcdsaPublicKey {
 public:
  // FromAffineBytes_vartime parses x || y, 32 bytes big-endian each. Returns
  // nullopt when a coordinate is >= p or the point is not on the curve.
  static std::optional<EcdsaPublicKey> FromAffineBytes_vartime(const uint8_t xy[64]);

  const AffinePoint& point() const { return point_; }

 private:
  explicit EcdsaPublicKey(const AffinePoint& point) : point_(point) {}
  AffinePoint point_;
};

// BuildKeyTable_vartime precomputes Q's comb table (kKeyWindowBits; about
// 850 point additions and 52 KiB) for the hot path.
std::unique_ptr<const CombTable> BuildKeyTable_vartime(const EcdsaPublicKey& key);

enum class EcdsaVerdict {
  kValid,
  kBadSignature,      // well-formed but does not verify (includes R = infinity)
  kScalarOutOfRange,  // r or s is 0 or >= n
};

// EcdsaScalarsInRange_vartime returns whether r and s of the signature
// r || s both lie in [1, n-1] (SEC 1 4.1.4 step 1).
bool EcdsaScalarsInRange_vartime(const uint8_t sig[64]);

// EcdsaVerifyDigest_vartime verifies the signature r || s (32 bytes
// big-endian each) of the 32-byte hash `digest` under `key`. `key_table` is
// the key's BuildKeyTable_vartime table, or null for the cold path; both give
// the same verdict. Variable time: public inputs only.
EcdsaVerdict EcdsaVerifyDigest_vartime(const EcdsaPublicKey& key, const CombTable* key_table,
                                       const uint8_t digest[32], const uint8_t sig[64]);

// EcdsaBatchItem is one member of a batch; pointers must outlive the call.
struct EcdsaBatchItem {
  const EcdsaPublicKey* key;
  const CombTable* key_table;  // may be null
  const uint8_t* digest;       // 32 bytes
  const uint8_t* sig;          // 64 bytes
};

// EcdsaVerifyDigestBatch_vartime verifies every item, writing out[i] for
// items[i] (out.size() == items.size()). The verdicts are exactly those of
// EcdsaVerifyDigest_vartime one by one; the batch only shares the s^-1
// inversions (one inversion plus three multiplications per item).
void EcdsaVerifyDigestBatch_vartime(std::span<const EcdsaBatchItem> items,
                                    std::span<EcdsaVerdict> out);

}  // namespace popguard::p256

#endif  // POPGUARD_SERVICE_P256_H_
