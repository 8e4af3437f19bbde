// CertThumbprintCache: RFC 8705 thumbprints of client certificates already
// seen, so that a returning mTLS client's certificate is not URL-decoded,
// PEM-decoded and parsed as X.509 on every request (with OpenSSL 3 the parse
// alone costs about twice an ES256 verification).
//
//   forwarded certificate (kind, bytes) → SHA-256 → hit: the thumbprint
//   computed before from the same bytes; miss: compute, cache a success.
//
// Bounded LRU (service/common/bounded_cache.h); entries do not expire (a thumbprint is a
// pure function of the bytes; certificate validity is the TLS stack's job).
// Only successes are cached. Thread-safe.
#ifndef POPGUARD_SERVICE_CERT_THUMBPRINT_CACHE_H_
#define POPGUARD_SERVICE_CERT_THUMBPRINT_CACHE_H_

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "absl/functional/function_ref.h"
#include "absl/status/statusor.h"
#include "service/common/bounded_cache.h"

namespace popguard {

class CertThumbprintCache {
 public:
  static constexpr size_t kDefaultCapacity = 4096;

  // `capacity` 0 disables caching.
  explicit CertThumbprintCache(size_t capacity = kDefaultCapacity);

  // GetOrCompute returns the thumbprint cached for the forwarded certificate
  // `input` of form `kind` (any byte naming how it was forwarded: the same
  // bytes may mean different things in different forms), else `compute()`,
  // caching it when it succeeds.
  absl::StatusOr<std::string> GetOrCompute(
      char kind, std::string_view input, absl::FunctionRef<absl::StatusOr<std::string>()> compute);

  uint64_t hits() const { return cache_.hits(); }
  uint64_t misses() const { return cache_.misses(); }
  uint64_t evictions() const { return cache_.evictions(); }
  size_t size() const { return cache_.Size(); }
  size_t capacity() const { return cache_.capacity(); }

 private:
  BoundedCache<std::string> cache_;
};

}  // namespace popguard

#endif  // POPGUARD_SERVICE_CERT_THUMBPRINT_CACHE_H_
