// IssuerRegistry: the configured token issuers and where their keys come from.
//
// Each issuer's keys come from a KeySource. Today the source is static (a
// JWKS file or inline JWKS parsed once at start-up); a remote source (jwks_uri,
// discovery, background refresh) implements the same interface, and callers
// only ever ask it for the current KeySet snapshot, which is immutable and
// shared, so a refresh swaps the pointer without blocking verifications.
#ifndef POPGUARD_SERVICE_ISSUERS_H_
#define POPGUARD_SERVICE_ISSUERS_H_

#include <memory>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "service/config.h"
#include "service/jwk.h"
#include "service/signature.h"

namespace popguard {

class KeySource {
 public:
  virtual ~KeySource() = default;
  // Current returns the latest key set; never null (possibly empty).
  virtual std::shared_ptr<const KeySet> Current() const = 0;
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

class IssuerRegistry {
 public:
  // Create builds the registry from config, loading static JWKS. Keys that
  // cannot be used are skipped and reported in *warnings; an issuer with no
  // usable key at all is an error (it could never verify anything).
  static absl::StatusOr<std::unique_ptr<IssuerRegistry>> Create(
      const Config& config, std::vector<std::string>* warnings);

  // Find returns the issuer whose iss is exactly `iss`, or nullptr.
  const Issuer* Find(std::string_view iss) const;

  const std::vector<std::unique_ptr<Issuer>>& issuers() const { return issuers_; }

 private:
  std::vector<std::unique_ptr<Issuer>> issuers_;
  absl::flat_hash_map<std::string, const Issuer*> by_iss_;
};

}  // namespace popguard

#endif  // POPGUARD_SERVICE_ISSUERS_H_
