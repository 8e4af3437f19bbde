#include "service/authn/decision.h"

namespace popguard {

std::string_view ProvenBindingName(ProvenBinding b) {
  switch (b) {
    case ProvenBinding::kNone: return "none";
    case ProvenBinding::kDpop: return "dpop";
    case ProvenBinding::kMtls: return "mtls";
  }
  return "none";
}

int HttpStatusFor(Reason reason) {
  switch (reason) {
    case Reason::kOk:
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
      return 401;
  }
  return 500;
}

std::string_view OAuthErrorFor(Reason reason) {
  switch (reason) {
    case Reason::kOk:
    case Reason::kTokenMissing:
    case Reason::kReplayStoreFull:
    case Reason::kReplayStoreUnavailable:
    case Reason::kOverloaded:
    case Reason::kInternalError:
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
      return "invalid_token";
  }
  return "";
}

int GrpcStatusCodeFor(Reason reason) {
  switch (HttpStatusFor(reason)) {
    case 200: return 0;
    case 403: return 7;
    case 503: return 14;
    case 500: return 13;
    default: return 16;
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
