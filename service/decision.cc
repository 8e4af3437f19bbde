#include "service/decision.h"

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
      return 400;
    case Reason::kInsufficientScope:
      return 403;
    // Infrastructure failures are retryable, not the client's fault.
    case Reason::kReplayStoreFull:
    case Reason::kReplayStoreUnavailable:
      return 503;
    case Reason::kInternalError:
      return 500;
    default:
      return 401;
  }
}

std::string_view OAuthErrorFor(Reason reason) {
  switch (reason) {
    case Reason::kOk:
    case Reason::kTokenMissing:
    case Reason::kReplayStoreFull:
    case Reason::kReplayStoreUnavailable:
    case Reason::kInternalError:
      return "";
    case Reason::kRequestInvalid:
    case Reason::kAuthorizationMalformed:
    case Reason::kAuthorizationMultiple:
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
      return "invalid_dpop_proof";
    default:
      return "invalid_token";
  }
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

}  // namespace popguard
