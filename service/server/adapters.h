// Conversions between the wire APIs and popguard's own request/decision
// types: popguard.v1.Verifier and Envoy's envoy.service.auth.v3 ext_authz.
#ifndef POPGUARD_SERVICE_ADAPTERS_H_
#define POPGUARD_SERVICE_ADAPTERS_H_

#include "envoy/service/auth/v3/external_auth.pb.h"
#include "popguard/v1/verifier.pb.h"
#include "service/authn/decision.h"
#include "service/authn/request.h"

namespace popguard {

// FromVerifyRequest reads a Verify request; header names are lower-cased.
HttpRequestInfo FromVerifyRequest(const popguard::v1::VerifyRequest& req);

// ToVerifyResponse writes `d` as a VerifyResponse echoing `correlation_id`.
void ToVerifyResponse(const Decision& d, const std::string& correlation_id,
                      popguard::v1::VerifyResponse* resp);

// FromCheckRequest reads Envoy's CheckRequest: method, scheme, host, path,
// headers (the merged map, or header_map when Envoy sends raw headers; their
// bytes as they arrived, checked by the Authenticator), the
// URL-encoded PEM peer certificate, and context extension popguard_route.
HttpRequestInfo FromCheckRequest(const envoy::service::auth::v3::CheckRequest& req);

// ToCheckResponse writes `d` as ext_authz expects: status 0 + ok_response with
// upstream headers, or a non-zero status + denied_response with the HTTP
// status and WWW-Authenticate / DPoP-Nonce headers.
void ToCheckResponse(const Decision& d, envoy::service::auth::v3::CheckResponse* resp);

// ProtoReasonFor maps a Reason to the proto enum (REASON_ + upper-cased code),
// from a table built once.
popguard::v1::Reason ProtoReasonFor(Reason reason);

}  // namespace popguard

#endif  // POPGUARD_SERVICE_ADAPTERS_H_
