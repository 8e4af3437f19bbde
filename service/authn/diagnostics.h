// Path diagnostics: which hop between a client and popguard changed what.
//
// A client sends a probe through the real gateway chain: a DPoP proof over
// the URL it addressed (a fresh key, no access token) and, in the
// PopGuard-Probe header, a statement signed by the same key of what it sent
// (method, scheme, host, port, path, whether it had a query, whether it
// presented a client certificate and its x5t#S256, iat, jti). popguard
// compares that with what reached it (the URL as rebuilt, the forwarded
// headers and whether they are trusted, the certificate the gateway passed)
// and answers with a report: each difference, the hop that most likely made
// it and the config change that fixes it (docs/diagnostics.md).
//
// Security:
//   - Off by default (config diagnostics); a probe is recognised only on the
//     routes listed in diagnostics.routes or at diagnostics.path. Elsewhere
//     the header means nothing and the request is decided as any other.
//   - A probe is never an ALLOW, even on a report-only route: its answer is a
//     denial (diagnostics_probe, 403) carrying the report, so it never
//     reaches an upstream.
//   - No access token: the answer grants nothing, and a probe has to work
//     from a client machine before any client is registered. A token would
//     only be one more credential sent to a diagnostic path.
//   - The report holds what the client sent, popguard's view of the same
//     request (scheme, host, port, path: the URL it would check htu
//     against), the names of the forwarded headers that arrived (values only
//     of X-Forwarded-Proto/-Host/-Port/-Prefix) and certificate thumbprints:
//     never a header value that could be a credential, a certificate, an
//     address list or a config secret.
//   - A global token bucket (diagnostics.rate_per_minute, burst) is checked
//     before any signature is verified. That is enough: probes are an
//     operator's tool (a few per rollout, not traffic), each costs at most
//     two signature checks, and one shared bucket bounds that work and the
//     log lines whatever the number of sources. Per-client buckets would key
//     on the gateway's address, which is the same for every client. Emptying
//     the bucket only delays diagnostics: real requests never use it.
//   - The proof's jti is not recorded in the replay window: a replayed probe
//     gets the same report, which tells its sender nothing the first answer
//     did not, and it never authorises anything.
#ifndef POPGUARD_SERVICE_AUTHN_DIAGNOSTICS_H_
#define POPGUARD_SERVICE_AUTHN_DIAGNOSTICS_H_

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "service/authn/reason.h"
#include "service/authn/request.h"
#include "service/common/clock.h"
#include "service/common/url.h"
#include "service/config/config.h"
#include "service/jose/signature.h"

namespace popguard {

// The probe's request header (the statement) and the answer's header (the
// report, base64url JSON: nginx auth_request passes headers, not bodies).
inline constexpr char kProbeHeader[] = "popguard-probe";
inline constexpr char kProbeReportHeader[] = "popguard-probe-report";
// The statement's JWS typ: explicit typing keeps a DPoP proof or a token
// from being taken for a statement and the other way round.
inline constexpr char kProbeTyp[] = "popguard-probe+jwt";

// IsDiagnosticsReason is true for the reasons only a probe gets.
bool IsDiagnosticsReason(Reason reason);

// ProbeStatement is what the client says it sent.
struct ProbeStatement {
  std::string method;
  NormalizedUrl url;  // scheme, host, port, path as addressed (no query)
  bool query = false;
  bool client_cert = false;
  std::string cert_thumbprint;  // x5t#S256 of the certificate presented; "" without one
};

// ProbeArrival is what reached popguard, as the Authenticator read it.
struct ProbeArrival {
  const HttpRequestInfo* request = nullptr;
  NormalizedUrl rebuilt;  // the URL htu is checked against (after external_origin / forwarded)
  std::string route;      // the route the request selected
  // The client certificate popguard would check a binding against
  // (ClientThumbprint): "" when none, or the reason it could not be read.
  std::string cert_thumbprint;
  Reason cert_reason = Reason::kOk;
};

// ProbeDifference is one thing a hop changed.
struct ProbeDifference {
  std::string what;      // method, scheme, host, path, query, client_certificate, dpop_header
  std::string sent;      // as the client sent it
  std::string received;  // as popguard saw it
  std::string hop;       // the hop that most likely changed it
  std::string finding;   // one sentence
  std::string fix;       // the config change that fixes it
};

// CompareProbe lists the differences between `sent` and `got` under
// `config` (which forwarded headers popguard trusts, external_origin, the
// forward-auth certificate header). `dpop_arrived`: a DPoP header reached
// popguard. Empty when the chain passes everything popguard needs.
std::vector<ProbeDifference> CompareProbe(const ProbeStatement& sent, const ProbeArrival& got,
                                          const Config& config, bool dpop_arrived);

// ProbeRateLimiter is a token bucket: `burst` tokens, refilled at
// `per_minute` per minute. Thread-safe.
class ProbeRateLimiter {
 public:
  ProbeRateLimiter(uint64_t per_minute, uint64_t burst, const Clock* clock);
  // TryTake takes a token; false when the bucket is empty.
  bool TryTake();

 private:
  const double per_second_;
  const double burst_;
  const Clock* const clock_;
  absl::Mutex mu_;
  double tokens_ ABSL_GUARDED_BY(mu_);
  absl::Time last_ ABSL_GUARDED_BY(mu_);
};

// ProbeDiagnostics answers probes for one config (null config.diagnostics:
// Create returns null). Immutable but for the rate limiter; thread-safe.
class ProbeDiagnostics {
 public:
  // Create returns null when config.diagnostics.enabled is false. `clock` and
  // `verifier` must outlive it.
  static std::unique_ptr<ProbeDiagnostics> Create(const Config& config, const Clock* clock,
                                                  const SignatureVerifier* verifier);

  // IsProbe: `request` carries a PopGuard-Probe header and either selected a
  // listed route or addressed diagnostics.path (`url`'s path, as popguard
  // rebuilt it). Cheap: no parsing.
  bool IsProbe(const HttpRequestInfo& request, const NormalizedUrl& url,
               const RouteConfig& route) const;

  // Answer takes a token from the bucket (kDiagnosticsRateLimited without),
  // verifies the statement and the proof (kDiagnosticsProbeInvalid with
  // *detail), compares and returns kDiagnosticsProbe with the report's JSON
  // in *report and a one-line summary in *detail.
  Reason Answer(const ProbeArrival& arrival, absl::Time now, std::string* report,
                std::string* detail) const;

 private:
  ProbeDiagnostics(const Config& config, const Clock* clock, const SignatureVerifier* verifier);

  Config config_;
  std::vector<JwsAlg> algorithms_;  // dpop.algorithms
  const SignatureVerifier* verifier_;
  mutable ProbeRateLimiter limiter_;
};

}  // namespace popguard

#endif  // POPGUARD_SERVICE_AUTHN_DIAGNOSTICS_H_
