// Ed25519 signature verification (RFC 8032 section 5.1.7), single and
// batched: popguard's own core, replacing OpenSSL's for EdDSA (issue 5).
//
// Verification only handles public data (key, message, signature), so it runs
// in variable time (wNAF, table look-ups indexed by public digits); the
// functions carry the _vartime suffix to say so. Never use them with secrets.
//
// The acceptance rule, identical in single and batch mode:
//   1. the public key is 32 bytes and the signature 64 bytes (R || S);
//   2. S < L (no malleability, RFC 8032 section 5.1.7 step 1);
//   3. A and R are canonical encodings of curve points: y < p, and the sign
//      bit is clear when x = 0 (RFC 8032 section 5.1.3);
//   4. neither A nor R is one of the 8 points of small order;
//   5. [8]([S]B - R - [k]A) is the identity, k = SHA-512(R || A || M) mod L
//      (the "cofactored" equation).
// Rules 3 and 4 are stricter than RFC 8032, rule 5 is the RFC's own
// ("[8][S]B = [8]R + [8][k]A"). Why the cofactored equation, and how this
// rule relates to OpenSSL's (cofactorless) verifier, is argued in ed25519.cc
// and proved by tests/crypto/ed25519_test.cc. In short: both accept exactly the same
// signatures whenever A and R lie in the prime-order subgroup, which every
// honestly generated key and signature do.
#ifndef POPGUARD_SERVICE_ED25519_H_
#define POPGUARD_SERVICE_ED25519_H_

#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>
#include <vector>

namespace popguard::ed25519 {

inline constexpr size_t kEd25519PublicKeyBytes = 32;
inline constexpr size_t kEd25519SignatureBytes = 64;

// Ed25519Item is one signature to verify. The views must stay valid for the
// duration of the call that takes them.
struct Ed25519Item {
  std::string_view public_key;  // the 32-byte encoding of A
  std::string_view message;     // M, any length
  std::string_view signature;   // R || S, 64 bytes
};

// Ed25519Verify_vartime returns true iff `signature` is valid for `message`
// under `public_key` by the rule above. All inputs are public.
bool Ed25519Verify_vartime(std::string_view public_key, std::string_view message,
                           std::string_view signature);

// Ed25519KeyCheck is the verdict of CheckEd25519PublicKey_vartime.
enum class Ed25519KeyCheck {
  kOk,
  kWrongLength,   // not 32 bytes
  kNotCanonical,  // y >= p, no curve point has this y, or x = 0 with the sign bit set
  kSmallOrder,    // one of the 8 points of order dividing 8
};

// CheckEd25519PublicKey_vartime applies rules 1, 3 and 4 above to a public key
// alone, for the moment a key is loaded: a key that fails them can never
// verify a signature here, but OpenSSL's verifier would accept forgeries
// under a small-order key (e.g. the identity, with R = identity and S = 0).
Ed25519KeyCheck CheckEd25519PublicKey_vartime(std::string_view public_key);

// Ed25519VerifyBatch_vartime returns one verdict per item, in order, equal to
// what Ed25519Verify_vartime returns for that item.
//
// It checks all well-formed items at once with random 128-bit coefficients
// (one multi-scalar multiplication); when that check fails it splits the
// batch and finally verifies one by one, so a bad signature costs more than a
// good one but never changes the other items' verdicts. The coefficients come
// from OpenSSL's RAND_bytes and must be unpredictable to whoever made the
// signatures; a batch check accepts a bad signature with probability
// <= 2^-128.
std::vector<bool> Ed25519VerifyBatch_vartime(std::span<const Ed25519Item> items);

namespace internal {

// For tests and benchmarks: the batch verifier with a forced multi-scalar
// multiplication algorithm (ed25519_msm.h). kAuto is what
// Ed25519VerifyBatch_vartime uses.
enum class MsmChoice { kAuto, kStraus, kPippenger };
std::vector<bool> VerifyBatchWith_vartime(std::span<const Ed25519Item> items, MsmChoice msm);

// BatchCounters counts the calling thread's batch work, so tests can prove
// that a good batch costs one check and a bad one a logarithmic number.
struct BatchCounters {
  uint64_t batch_checks = 0;    // multi-scalar checks run
  uint64_t batch_failures = 0;  // of which failed
  uint64_t single_checks = 0;   // signatures checked alone inside batches
};
BatchCounters& ThreadBatchCounters();

// For tests and benchmarks: Ed25519Verify_vartime with the full-size check
// (one 253-bit wNAF on A beside the base point's, 253 doublings) instead of
// the half-size one it uses (ed25519.cc, CheckOne). Same verdicts.
bool VerifyFullSize_vartime(std::string_view public_key, std::string_view message,
                            std::string_view signature);

}  // namespace internal
}  // namespace popguard::ed25519

#endif  // POPGUARD_SERVICE_ED25519_H_
