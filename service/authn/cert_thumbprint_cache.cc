#include "service/authn/cert_thumbprint_cache.h"

#include <utility>

#include "absl/time/time.h"
#include "service/common/crypto_util.h"

namespace popguard {

CertThumbprintCache::CertThumbprintCache(size_t capacity) : cache_(capacity) {}

absl::StatusOr<std::string> CertThumbprintCache::GetOrCompute(
    char kind, std::string_view input, absl::FunctionRef<absl::StatusOr<std::string>()> compute) {
  // Security: keyed by the SHA-256 of exactly the forwarded bytes (plus their
  // form). A hit needs the same bytes (SHA-256 collision resistance, as for
  // the access token cache), and the thumbprint is a pure function of them,
  // so a client can never obtain another certificate's thumbprint. Failures
  // are not cached: a bad certificate is refused afresh every time.
  std::string key(1, kind);
  key.append(Sha256(input));
  if (auto hit = cache_.Get(key, absl::InfinitePast())) return *hit;
  absl::StatusOr<std::string> thumbprint = compute();
  if (thumbprint.ok()) cache_.Put(key, *thumbprint, absl::InfiniteFuture());
  return thumbprint;
}

}  // namespace popguard
