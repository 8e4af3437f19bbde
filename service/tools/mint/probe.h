// MintProbe: the two headers of a path diagnostics probe (service/authn/diagnostics.h)
// for the URL a client addresses: a DPoP proof (no ath: a probe carries no
// access token) and the PopGuard-Probe statement, both signed by one key.
// Used by `popguard-cli probe` and the tests.
#ifndef POPGUARD_SERVICE_TOOLS_MINT_PROBE_H_
#define POPGUARD_SERVICE_TOOLS_MINT_PROBE_H_

#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "service/tools/mint/signer.h"

namespace popguard {

struct ProbeOptions {
  std::string method = "GET";
  std::string url;               // absolute http(s) URL, as the client addresses it
  std::string cert_thumbprint;   // x5t#S256 of the client certificate presented; "" for none
  absl::Time now = absl::Now();  // iat of both
};

struct ProbeHeaderValues {
  std::string dpop;       // the DPoP header
  std::string statement;  // the PopGuard-Probe header
};

// MintProbe signs both with `key` (its default algorithm). InvalidArgument
// when `url` is not an absolute http(s) URL.
absl::StatusOr<ProbeHeaderValues> MintProbe(const PrivateKey& key, const ProbeOptions& options);

}  // namespace popguard

#endif  // POPGUARD_SERVICE_TOOLS_MINT_PROBE_H_
