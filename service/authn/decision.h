// Decision: the outcome of one request, and its mapping to HTTP.
//
// This is the edge: a Reason becomes an HTTP status, an OAuth error code and a
// WWW-Authenticate challenge (RFC 6750 section 3, RFC 9449 section 7.1) only
// here. The gRPC adapters (verifier_service, ext_authz_service) copy a
// Decision into their wire messages.
#ifndef POPGUARD_SERVICE_DECISION_H_
#define POPGUARD_SERVICE_DECISION_H_

#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "service/authn/reason.h"
#include "service/config/config.h"

namespace popguard {

enum class ProvenBinding { kNone, kDpop, kMtls };
std::string_view ProvenBindingName(ProvenBinding b);  // "none", "dpop", "mtls"

using HeaderList = std::vector<std::pair<std::string, std::string>>;

// The Authorization scheme a request used: none (no usable credential yet),
// Bearer (RFC 6750) or DPoP (RFC 9449). A request carries exactly one
// credential, so it is never two of them.
enum class Scheme { kNone, kBearer, kDpop };

struct Decision {
  // Whether the gateway must let the request through (true for a would-deny
  // on a report-only route).
  bool allow = false;
  Reason reason = Reason::kInternalError;
  std::string message;  // detail for operators; never a token, proof or key
  int http_status = 500;
  bool report_only = false;     // allowed only because the route is report-only
  HeaderList response_headers;  // to the client: WWW-Authenticate, DPoP-Nonce
  HeaderList upstream_headers;  // set on the forwarded request
  std::vector<std::string> upstream_headers_to_remove;
  std::string principal;
  std::string issuer;
  std::string route;
  std::string client_id;
  std::string jkt;       // proof key thumbprint (DPoP), for logs
  std::string token_id;  // short hash of the token, for logs
  ProvenBinding binding = ProvenBinding::kNone;
  // A diagnostics probe's report (JSON, service/authn/diagnostics.h); empty
  // for every other decision. Adapters send it as the denial's body / field.
  std::string diagnostics_report;
  // The body of the answer to the client, when not the gateway's own: the
  // RFC 9728 document of a kResourceMetadata answer (status 200, its
  // content-type in response_headers). Empty for every other decision.
  std::string response_body;
};

// HttpStatusFor returns the HTTP status a denial with `reason` gets.
int HttpStatusFor(Reason reason);

// OAuthErrorFor returns the error code for WWW-Authenticate ("invalid_token",
// "invalid_dpop_proof", "use_dpop_nonce", "invalid_request",
// "insufficient_scope") or "" when none applies (no credential, server errors).
std::string_view OAuthErrorFor(Reason reason);

// ChallengeHeaders returns the WWW-Authenticate headers of a denial with
// `reason` (RFC 6750 3, RFC 9449 7.1): none for a server error (5xx);
// otherwise one challenge per scheme to answer with, DPoP first, each with
// error and error_description (the reason code) when OAuthErrorFor has an
// error, scope="..." (`scopes`) for kInsufficientScope, and algs="..."
// (`dpop_algs`) on the DPoP challenge. `scheme` is the scheme the client
// used; `binding` is what the route requires; `resource_metadata` (when not
// empty) is the RFC 9728 metadata URL added to every challenge.
HeaderList ChallengeHeaders(Reason reason, Scheme scheme, BindingRequirement binding,
                            std::span<const std::string> scopes, std::string_view dpop_algs,
                            std::string_view resource_metadata = {});
// UnavailableDecision is what a request gets when popguard cannot take it
// (overloaded, or shutting down): a denial, HTTP 503 with Retry-After: 1,
// reason overloaded. On Check it goes inside an OK gRPC answer (a gRPC error
// would be turned into ALLOW by an Envoy with failure_mode_allow: true; a
// denied CheckResponse never is); the forward-auth listener answers it as is.
Decision UnavailableDecision();

// GrpcStatusCodeFor returns the google.rpc code for an ext_authz denial:
// 16 UNAUTHENTICATED (401, 400), 7 PERMISSION_DENIED (403), 8 RESOURCE_EXHAUSTED (429),
// 14 UNAVAILABLE (503), 13 INTERNAL.
int GrpcStatusCodeFor(Reason reason);

}  // namespace popguard

#endif  // POPGUARD_SERVICE_DECISION_H_
