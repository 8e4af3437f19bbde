// IssuerRegistry: the configured token issuers and where their keys come from.
//
// Each issuer's keys come from a KeySource: static (a JWKS file or inline
// JWKS parsed once at start-up) or remote (remote_key_source.h: jwks_uri or
// discovery, refreshed in the background). Callers only ever ask a source for
// the current KeySet snapshot, which is immutable and shared, so a refresh
// swaps the pointer without blocking verifications.
#ifndef POPGUARD_SERVICE_ISSUERS_H_
#define POPGUARD_SERVICE_ISSUERS_H_

#include <memory>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/functional/any_invocable.h"
#include "absl/status/statusor.h"
#include "service/common/clock.h"
#include "service/config/config.h"
#include "service/jose/jwk.h"
#include "service/jose/signature.h"

namespace popguard {

class JwksFetcher;

class KeySource {
 public:
  virtual ~KeySource() = default;
  // Current returns the latest key set; never null (possibly empty).
  virtual std::shared_ptr<const KeySet> Current() const = 0;

  // RefreshForUnknownKid asks for a refresh now, because a token named a key
  // that Current() lacks. Returns false when the source cannot refresh (static
  // keys) or declines (rate limit); otherwise calls `done` exactly once when
  // the refresh has finished, successfully or not, usually from another thread.
  virtual bool RefreshForUnknownKid(absl::AnyInvocable<void() &&> done) { return false; }

  // Ready returns true when the source holds keys it trusts; otherwise it sets
  // *why (no key material).
  virtual bool Ready(std::string* why) const { return true; }
};

// StaticKeySource serves one key set forever.
class StaticKeySource final : public KeySource {
 public:
  explicit StaticKeySource(std::shared_ptr<const KeySet> keys) : keys_(std::move(keys)) {}
  std::shared_ptr<const KeySet> Current() const override { return keys_; }

 private:
  std::shared_ptr<const KeySet> keys_;
};

struct Issuer {
  IssuerConfig config;
  std::vector<JwsAlg> algorithms;  // parsed allowlist
  std::unique_ptr<KeySource> keys;

  bool AllowsAlg(JwsAlg alg) const;
};

// RemoteKeyDeps is what remote key sources (jwks_uri, discovery) run on.
struct RemoteKeyDeps {
  JwksFetcher* fetcher = nullptr;  // null: JwksFetcher::Shared()
  const Clock* clock = nullptr;    // null: the real clock
};

class IssuerRegistry {
 public:
  // Create builds the registry from config. Static JWKS are loaded now: keys
  // that cannot be used are skipped and reported in *warnings; a static
  // issuer with no usable key at all is an error (it could never verify
  // anything). Remote issuers get a RemoteKeySource whose first fetch starts
  // now, in the background: an issuer that is down does not stop start-up,
  // it makes popguard not ready until its keys arrive (see Ready).
  static absl::StatusOr<std::unique_ptr<IssuerRegistry>> Create(const Config& config,
                                                                std::vector<std::string>* warnings,
                                                                const RemoteKeyDeps& deps = {});

  // Find returns the issuer whose iss is exactly `iss`, or nullptr.
  const Issuer* Find(std::string_view iss) const;

  // Ready returns true when every issuer with `required: true` has keys it
  // trusts; otherwise *why lists "issuer <iss>: <cause>" for each that does not.
  bool Ready(std::string* why) const;

  const std::vector<std::unique_ptr<Issuer>>& issuers() const { return issuers_; }

 private:
  std::vector<std::unique_ptr<Issuer>> issuers_;
  absl::flat_hash_map<std::string, const Issuer*> by_iss_;
};

}  // namespace popguard

#endif  // POPGUARD_SERVICE_ISSUERS_H_
