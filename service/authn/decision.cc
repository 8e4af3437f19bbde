#include "service/authn/decision.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "service/common/strings.h"

namespace popguard {

std::string_view ProvenBindingName(ProvenBinding b) {
  switch (b) {
    case ProvenBinding::kNone:
      return "none";
    case ProvenBinding::kDpop:
      return "dpop";
    case ProvenBinding::kMtls:
      return "mtls";
  }
  return "none";
}

int HttpStatusFor(Reason reason) {
  switch (reason) {
    case Reason::kOk:
      return 200;
    // The metadata document is the answer (GrpcStatusCodeFor keeps it a
    // denial, so it is never forwarded).
    case Reason::kResourceMetadata:
      return 200;
    // RFC 6750 3.1: a malformed request (several credentials, an unusable
    // Authorization header, or a request popguard cannot describe) is 400.
    case Reason::kRequestInvalid:
    case Reason::kAuthorizationMalformed:
    case Reason::kAuthorizationMultiple:
    case Reason::kPathAmbiguous:
    case Reason::kForwardedHeaderInvalid:
    case Reason::kRequestHeaderInvalid:
      return 400;
    case Reason::kInsufficientScope:
      return 403;
    // A diagnostics probe is answered, never forwarded: 403 carries its
    // report through every gateway (nginx auth_request passes 401/403 on).
    case Reason::kDiagnosticsProbe:
      return 403;
    case Reason::kDiagnosticsProbeInvalid:
      return 400;
    case Reason::kDiagnosticsRateLimited:
      return 429;
    // Infrastructure failures are retryable, not the client's fault.
    case Reason::kReplayStoreFull:
    case Reason::kReplayStoreUnavailable:
    case Reason::kOverloaded:
      return 503;
    case Reason::kInternalError:
      return 500;
    // Every token, scheme, binding and proof failure: the credential did not
    // authenticate. No default: -Wswitch names a new reason left out here.
    case Reason::kTokenMissing:
    case Reason::kTokenTooLarge:
    case Reason::kTokenMalformed:
    case Reason::kTokenBadBase64:
    case Reason::kTokenBadJson:
    case Reason::kTokenHeaderInvalid:
    case Reason::kTokenCritUnsupported:
    case Reason::kTokenUnencodedPayload:
    case Reason::kTokenZipUnsupported:
    case Reason::kTokenEmbeddedKey:
    case Reason::kTokenAlgNone:
    case Reason::kTokenAlgNotAllowed:
    case Reason::kTokenTypInvalid:
    case Reason::kTokenIssuerUnknown:
    case Reason::kTokenKeyNotFound:
    case Reason::kTokenKeyAlgMismatch:
    case Reason::kTokenSignatureMalformed:
    case Reason::kTokenSignatureInvalid:
    case Reason::kTokenClaimsInvalid:
    case Reason::kTokenExpMissing:
    case Reason::kTokenExpired:
    case Reason::kTokenNotYetValid:
    case Reason::kTokenIatInFuture:
    case Reason::kTokenLifetimeTooLong:
    case Reason::kTokenAudienceMismatch:
    case Reason::kTokenIssuerNotAllowed:
    case Reason::kTokenBindingUnsupported:
    case Reason::kBearerDowngrade:
    case Reason::kDpopTokenUnbound:
    case Reason::kBindingRequired:
    case Reason::kDpopProofMissing:
    case Reason::kDpopProofMultiple:
    case Reason::kDpopProofTooLarge:
    case Reason::kDpopProofMalformed:
    case Reason::kDpopProofBadBase64:
    case Reason::kDpopProofBadJson:
    case Reason::kDpopHeaderInvalid:
    case Reason::kDpopTypInvalid:
    case Reason::kDpopAlgNotAllowed:
    case Reason::kDpopJwkInvalid:
    case Reason::kDpopJwkPrivate:
    case Reason::kDpopSignatureMalformed:
    case Reason::kDpopSignatureInvalid:
    case Reason::kDpopClaimsInvalid:
    case Reason::kDpopHtmMismatch:
    case Reason::kDpopHtuInvalid:
    case Reason::kDpopHtuMismatch:
    case Reason::kDpopIatStale:
    case Reason::kDpopIatFuture:
    case Reason::kDpopJtiInvalid:
    case Reason::kDpopReplayed:
    case Reason::kDpopAthMissing:
    case Reason::kDpopAthMismatch:
    case Reason::kDpopJktMismatch:
    case Reason::kDpopNonceMissing:
    case Reason::kDpopNonceInvalid:
    case Reason::kDpopJwkSizeUnsupported:
    case Reason::kDpopReplayWindowReset:
    case Reason::kMtlsCertMissing:
    case Reason::kMtlsCertInvalid:
    case Reason::kMtlsThumbprintMismatch:
    case Reason::kMtlsCertConflict:
    case Reason::kTokenRevoked:
    case Reason::kKeyRevoked:
      return 401;
  }
  return 500;
}

std::string_view OAuthErrorFor(Reason reason) {
  switch (reason) {
    case Reason::kOk:
    case Reason::kResourceMetadata:
    case Reason::kTokenMissing:
    case Reason::kReplayStoreFull:
    case Reason::kReplayStoreUnavailable:
    case Reason::kOverloaded:
    case Reason::kInternalError:
    // Probes carry no credential: no OAuth error applies.
    case Reason::kDiagnosticsProbe:
    case Reason::kDiagnosticsProbeInvalid:
    case Reason::kDiagnosticsRateLimited:
      return "";
    case Reason::kRequestInvalid:
    case Reason::kAuthorizationMalformed:
    case Reason::kAuthorizationMultiple:
    case Reason::kPathAmbiguous:
    case Reason::kForwardedHeaderInvalid:
    case Reason::kRequestHeaderInvalid:
      return "invalid_request";
    case Reason::kInsufficientScope:
      return "insufficient_scope";
    case Reason::kDpopNonceMissing:
    case Reason::kDpopNonceInvalid:
      return "use_dpop_nonce";
    case Reason::kDpopProofMissing:
    case Reason::kDpopProofMultiple:
    case Reason::kDpopProofTooLarge:
    case Reason::kDpopProofMalformed:
    case Reason::kDpopProofBadBase64:
    case Reason::kDpopProofBadJson:
    case Reason::kDpopHeaderInvalid:
    case Reason::kDpopTypInvalid:
    case Reason::kDpopAlgNotAllowed:
    case Reason::kDpopJwkInvalid:
    case Reason::kDpopJwkPrivate:
    case Reason::kDpopSignatureMalformed:
    case Reason::kDpopSignatureInvalid:
    case Reason::kDpopClaimsInvalid:
    case Reason::kDpopHtmMismatch:
    case Reason::kDpopHtuInvalid:
    case Reason::kDpopHtuMismatch:
    case Reason::kDpopIatStale:
    case Reason::kDpopIatFuture:
    case Reason::kDpopJtiInvalid:
    case Reason::kDpopReplayed:
    case Reason::kDpopAthMissing:
    case Reason::kDpopAthMismatch:
    case Reason::kDpopJktMismatch:
    case Reason::kDpopJwkSizeUnsupported:
    case Reason::kDpopReplayWindowReset:
      return "invalid_dpop_proof";
    case Reason::kTokenTooLarge:
    case Reason::kTokenMalformed:
    case Reason::kTokenBadBase64:
    case Reason::kTokenBadJson:
    case Reason::kTokenHeaderInvalid:
    case Reason::kTokenCritUnsupported:
    case Reason::kTokenUnencodedPayload:
    case Reason::kTokenZipUnsupported:
    case Reason::kTokenEmbeddedKey:
    case Reason::kTokenAlgNone:
    case Reason::kTokenAlgNotAllowed:
    case Reason::kTokenTypInvalid:
    case Reason::kTokenIssuerUnknown:
    case Reason::kTokenKeyNotFound:
    case Reason::kTokenKeyAlgMismatch:
    case Reason::kTokenSignatureMalformed:
    case Reason::kTokenSignatureInvalid:
    case Reason::kTokenClaimsInvalid:
    case Reason::kTokenExpMissing:
    case Reason::kTokenExpired:
    case Reason::kTokenNotYetValid:
    case Reason::kTokenIatInFuture:
    case Reason::kTokenLifetimeTooLong:
    case Reason::kTokenAudienceMismatch:
    case Reason::kTokenIssuerNotAllowed:
    case Reason::kTokenBindingUnsupported:
    case Reason::kBearerDowngrade:
    case Reason::kDpopTokenUnbound:
    case Reason::kBindingRequired:
    case Reason::kMtlsCertMissing:
    case Reason::kMtlsCertInvalid:
    case Reason::kMtlsThumbprintMismatch:
    case Reason::kMtlsCertConflict:
    case Reason::kTokenRevoked:
    case Reason::kKeyRevoked:
      return "invalid_token";
  }
  return "";
}

HeaderList ChallengeHeaders(Reason reason, Scheme scheme, BindingRequirement binding,
                            std::span<const std::string> scopes, std::string_view dpop_algs,
                            std::string_view resource_metadata) {
  HeaderList challenges;
  if (HttpStatusFor(reason) >= 500) return challenges;  // not the credential's fault
  if (reason == Reason::kOk || reason == Reason::kResourceMetadata) return challenges;
  // Which challenges to send (RFC 9449 7.1, RFC 6750 3): the scheme the
  // client used; with no usable credential, every scheme the route accepts.
  bool dpop = scheme == Scheme::kDpop;
  bool bearer = scheme == Scheme::kBearer;
  if (scheme == Scheme::kNone) {
    dpop = binding != BindingRequirement::kMtls;
    bearer = binding != BindingRequirement::kDpop;
  }
  // A token lacking the binding the route needs: challenge with the schemes
  // that route accepts, so the client learns to switch (RFC 9449 7.1).
  if (reason == Reason::kBindingRequired) {
    dpop = binding != BindingRequirement::kMtls;
    bearer = binding == BindingRequirement::kMtls || binding == BindingRequirement::kBearer;
  }
  // A bound token presented as Bearer is told to use DPoP.
  if (reason == Reason::kBearerDowngrade) {
    dpop = true;
    bearer = false;
  }
  const std::string_view error = OAuthErrorFor(reason);
  auto challenge = [&](std::string_view auth_scheme, bool with_algs) {
    std::vector<std::string> params;
    if (!error.empty()) {
      params.push_back(absl::StrCat("error=\"", AV(error), "\""));
      params.push_back(absl::StrCat("error_description=\"", AV(ReasonCode(reason)), "\""));
    }
    if (reason == Reason::kInsufficientScope && !scopes.empty()) {
      params.push_back(absl::StrCat("scope=\"", absl::StrJoin(scopes, " "), "\""));
    }
    if (with_algs) params.push_back(absl::StrCat("algs=\"", AV(dpop_algs), "\""));
    // RFC 9728 section 5.1: where the client finds this resource's metadata.
    if (!resource_metadata.empty()) {
      params.push_back(absl::StrCat("resource_metadata=\"", AV(resource_metadata), "\""));
    }
    std::string value(auth_scheme);
    if (!params.empty()) absl::StrAppend(&value, " ", absl::StrJoin(params, ", "));
    return value;
  };
  if (dpop) challenges.emplace_back("www-authenticate", challenge("DPoP", true));
  if (bearer) challenges.emplace_back("www-authenticate", challenge("Bearer", false));
  return challenges;
}

int GrpcStatusCodeFor(Reason reason) {
  // Security: the metadata answer has HTTP status 200 but must stay a
  // denial on the wire (Envoy forwards the request on an OK status); as
  // PERMISSION_DENIED Envoy answers the client with the document itself.
  if (reason == Reason::kResourceMetadata) return 7;
  switch (HttpStatusFor(reason)) {
    case 200:
      return 0;
    case 403:
      return 7;
    case 429:
      return 8;  // RESOURCE_EXHAUSTED
    case 503:
      return 14;
    case 500:
      return 13;
    default:
      return 16;
  }
}

Decision UnavailableDecision() {
  Decision d;
  d.allow = false;
  d.reason = Reason::kOverloaded;
  d.http_status = HttpStatusFor(Reason::kOverloaded);
  d.message = "popguard is overloaded or shutting down; retry";
  d.response_headers.emplace_back("retry-after", "1");
  return d;
}

}  // namespace popguard
