// NativeVerifier: SignatureVerifier on popguard's own verification cores,
// OpenSSL for everything else.
//
//   ES256  p256.h: variable-time P-256 ECDSA with per-key tables.
//   EdDSA  ed25519.h: variable-time Ed25519, batch verification in VerifyBatch.
//          Stricter than OpenSSL on small-order and non-canonical keys and R,
//          and cofactored (see service/crypto/ed25519/ed25519.cc): identical verdicts on
//          every key and signature an honest signer can produce.
//   others OpenSSL (RSA, PS*, ES384, ES512).
//
// ES256 key tables. Verification with a key's comb table (hot) is about four
// times cheaper than without (cold), and a table costs about five cold
// verifications to build, so tables go where keys repeat:
//   - issuer keys: PrepareKeys at key load; kept (pinned) for the process.
//   - DPoP client keys: an LRU remembers keys seen once; the second
//     verification with a key builds its table. Building is rate-limited to
//     one table per kVerificationsPerTableBuild verifications (after a first
//     allowance), so a client who presents every fresh key exactly twice
//     cannot turn table building into a cost amplifier.
// Keys are identified by their RFC 7638 thumbprint (PublicKey::thumbprint),
// a SHA-256 over crv, kty, x and y: equal thumbprints mean equal keys unless
// SHA-256 collides. (Reading x, y back out of OpenSSL costs ~5 us, so it is
// done once per key.)
//
// On a CPU without BMI2/ADX the portable field code is about twice as slow
// and cold ES256 verification would lose to OpenSSL, so there it stays on
// OpenSSL; hot keys still use the native core.
#ifndef POPGUARD_SERVICE_NATIVE_VERIFIER_H_
#define POPGUARD_SERVICE_NATIVE_VERIFIER_H_

#include <atomic>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/synchronization/mutex.h"
#include "service/common/bounded_cache.h"
#include "service/jose/signature.h"

namespace popguard {

struct P256KeyEntry;  // native_verifier.cc

class NativeVerifier final : public SignatureVerifier {
 public:
  struct Options {
    // ES256 client keys remembered, each with its table (~52 KiB) once seen
    // twice: up to ~26 MiB. 0 disables the cache (every client key is cold).
    size_t client_key_cache_entries = 512;
    // Issuer keys PrepareKeys keeps tables for; further keys are ignored
    // there and fall back to the client cache.
    size_t max_pinned_keys = 256;
  };

  // Counters, for tests, benchmarks and metrics.
  struct Stats {
    uint64_t es256_hot = 0;              // verified with a key table
    uint64_t es256_cold = 0;             // verified without one (native)
    uint64_t es256_delegated = 0;        // cold, sent to OpenSSL (CPU without ADX)
    uint64_t tables_built = 0;           // client and issuer tables
    uint64_t table_builds_deferred = 0;  // refused by the build budget
  };

  // A client key table build is allowed while client tables built <
  // kFreeTableBuilds or client tables built * kVerificationsPerTableBuild <=
  // ES256 verifications. (PrepareKeys is not budgeted: issuer keys come from
  // configuration, not from clients.)
  static constexpr uint64_t kFreeTableBuilds = 64;
  static constexpr uint64_t kVerificationsPerTableBuild = 16;

  static std::unique_ptr<NativeVerifier> Create(Options options);
  static std::unique_ptr<NativeVerifier> Create() { return Create(Options()); }

  // Verify: see SignatureVerifier. Same verdict as the OpenSSL verifier for
  // every input (kInvalid when the key does not fit alg, kMalformed for a
  // wrong length or ECDSA r or s outside [1, n-1]), except the EdDSA inputs
  // service/crypto/ed25519/ed25519.h lists (small-order, non-canonical, torsion).
  SignatureResult Verify(JwsAlg alg, const PublicKey& key, std::string_view signing_input,
                         std::string_view signature) const override;

  // VerifyBatch writes results[i] for checks[i] (same sizes), each exactly
  // what Verify returns. ES256 members share one s^-1 inversion, EdDSA
  // members one multi-scalar check (Ed25519VerifyBatch_vartime); the rest
  // are verified one by one.
  void VerifyBatch(std::span<const SignatureCheck> checks,
                   std::span<SignatureResult> results) const override;

  // BatchesWell: EdDSA (one multi-scalar multiplication per batch: 50 us per
  // signature alone, 28 in batches of 8, 22 in batches of 64). Not ES256: a
  // batch only shares the s^-1 inversion, ~2 us of a 20 us hot verification,
  // less than a hand-off to a worker costs.
  bool BatchesWell(JwsAlg alg) const override { return IsEd25519Signature(alg); }

  // PrepareKeys builds and pins the ES256 tables of `keys` now (issuer keys
  // at load, so their first tokens are already hot). Keys that are not
  // P-256, or beyond max_pinned_keys, are skipped. Thread-safe.
  void PrepareKeys(std::span<const std::shared_ptr<const PublicKey>> keys) const;

  Stats stats() const;

  ~NativeVerifier() override;

 private:
  explicit NativeVerifier(Options options);

  // KeyEntry returns the cached state of an ES256 key, creating it (cold)
  // on first sight and building its table on the second if the budget allows;
  // null if the key's point cannot be read.
  std::shared_ptr<const P256KeyEntry> KeyEntry(const PublicKey& key) const;
  bool TableBuildAllowed() const;
  // VerifyEs256 runs the ES256 checks after FitsAlg.
  SignatureResult VerifyEs256(const PublicKey& key, std::string_view signing_input,
                              std::string_view signature) const;

  const Options options_;
  SignatureVerifierPtr openssl_;
  mutable BoundedCache<P256KeyEntry> client_keys_;
  mutable absl::Mutex pinned_mu_;
  mutable absl::flat_hash_map<std::string, std::shared_ptr<const P256KeyEntry>> pinned_
      ABSL_GUARDED_BY(pinned_mu_);
  mutable std::atomic<uint64_t> es256_verifications_{0};
  mutable std::atomic<uint64_t> es256_hot_{0};
  mutable std::atomic<uint64_t> es256_cold_{0};
  mutable std::atomic<uint64_t> es256_delegated_{0};
  mutable std::atomic<uint64_t> tables_built_{0};
  mutable std::atomic<uint64_t> client_tables_built_{0};
  mutable std::atomic<uint64_t> table_builds_deferred_{0};
};

// VerifierWrapper is a verifier that delegates to another (the metrics'
// CountingVerifier); PrepareVerifierKeys looks through it. (Choosing the
// verifier from the crypto config, CreateVerifier, is the server's wiring:
// service/server/verifier_factory.h.)
class VerifierWrapper : public SignatureVerifier {
 public:
  virtual const SignatureVerifier& inner() const = 0;
};

// PrepareVerifierKeys calls NativeVerifier::PrepareKeys when `verifier` is
// one, or wraps one (VerifierWrapper, any depth); a no-op for any other.
void PrepareVerifierKeys(const SignatureVerifier& verifier,
                         std::span<const std::shared_ptr<const PublicKey>> keys);

}  // namespace popguard

#endif  // POPGUARD_SERVICE_NATIVE_VERIFIER_H_
