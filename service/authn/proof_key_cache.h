// ProofKeyCache: parsed DPoP proof keys, so that a returning client's jwk is
// not decoded, validated and imported into OpenSSL again on every request
// (PublicKey::FromJwk costs about a third of an ES256 verification).
//
//   proof header jwk → CacheKey (exact encoding of every member) → hit: the
//   PublicKey parsed earlier from an identical jwk; miss: FromJwk, and a
//   success is cached.
//
// Bounded LRU (service/common/bounded_cache.h); entries do not expire, they age out.
// Only successful parses are cached. Thread-safe.
#ifndef POPGUARD_SERVICE_PROOF_KEY_CACHE_H_
#define POPGUARD_SERVICE_PROOF_KEY_CACHE_H_

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "service/common/bounded_cache.h"
#include "service/common/json.h"
#include "service/jose/jwk.h"

namespace popguard {

class ProofKeyCache {
 public:
  static constexpr size_t kDefaultCapacity = 4096;
  // A jwk whose cache key would be longer than this is parsed but not cached
  // (a real public JWK is a few hundred bytes; RSA-8192 about 1.5 KB).
  static constexpr size_t kMaxKeyBytes = 4096;

  // `capacity` 0 disables caching (every call parses).
  explicit ProofKeyCache(size_t capacity = kDefaultCapacity);

  // GetOrParse returns the PublicKey for the jwk object `jwk`: the one parsed
  // earlier from an identical object, else PublicKey::FromJwk(jwk), caching it
  // when the parse succeeds. Errors are exactly FromJwk's.
  absl::StatusOr<std::shared_ptr<const PublicKey>> GetOrParse(const JsonValue& jwk);

  // CacheKey returns the exact, injective byte encoding of `jwk` the cache is
  // keyed by (every member, names, types and values, in document order), or
  // nullopt when it is not an object or the encoding exceeds kMaxKeyBytes.
  static std::optional<std::string> CacheKey(const JsonValue& jwk);

  // Counters (lookups that found a key / did not; entries dropped for room).
  uint64_t hits() const { return cache_.hits(); }
  uint64_t misses() const { return cache_.misses(); }
  uint64_t evictions() const { return cache_.evictions(); }
  size_t size() const { return cache_.Size(); }
  size_t capacity() const { return cache_.capacity(); }

 private:
  BoundedCache<PublicKey> cache_;
};

}  // namespace popguard

#endif  // POPGUARD_SERVICE_PROOF_KEY_CACHE_H_
