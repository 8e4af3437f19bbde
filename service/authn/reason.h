// Reason: every outcome of a popguard decision, with a stable string code.
//
// The string codes are an API: gateways, dashboards and alerts key on them, so
// a code never changes meaning and is never reused. The proto enum
// popguard.v1.Reason mirrors this list (REASON_ + upper-cased code); a test
// keeps the two in step. HTTP status, WWW-Authenticate error and gRPC status
// are derived from a Reason only at the edge (decision.h).
#ifndef POPGUARD_SERVICE_REASON_H_
#define POPGUARD_SERVICE_REASON_H_

#include <string_view>

namespace popguard {

enum class Reason {
  // The request is allowed.
  kOk,

  // --- The request as the gateway described it ---
  // The gateway's request has no method or no usable absolute URL.
  kRequestInvalid,
  // No Authorization header carrying a Bearer or DPoP credential.
  kTokenMissing,
  // The Bearer/DPoP credential is empty or contains whitespace (an unknown
  // scheme is token_missing: RFC 6750 3.1 gives it no error code).
  kAuthorizationMalformed,
  // More than one credential: two Authorization headers, or Bearer and DPoP at once.
  kAuthorizationMultiple,
  // Readings of the request path that a proxy or an upstream could act on
  // select different routes.
  kPathAmbiguous,
  // A trusted forwarded header (x-forwarded-*, forwarded) is repeated or holds a list, or a
  // forward-auth request's description of the original request is missing, repeated or untrusted.
  kForwardedHeaderInvalid,
  // A request header popguard reads holds bytes that are not valid UTF-8 or
  // not allowed in a header.
  kRequestHeaderInvalid,

  // --- The access token as a JWS ---
  // The token is longer than limits.max_token_bytes.
  kTokenTooLarge,
  // The token is not three non-empty dot-separated segments.
  kTokenMalformed,
  // A token segment is not strict unpadded base64url.
  kTokenBadBase64,
  // The token header or payload is not a strict JSON object (duplicate names,
  // invalid UTF-8, nesting too deep, trailing data).
  kTokenBadJson,
  // The token header lacks alg, or a header member has the wrong type.
  kTokenHeaderInvalid,
  // The token header has a crit member (popguard understands no extensions).
  kTokenCritUnsupported,
  // The token header has b64 (RFC 7797 unencoded payload).
  kTokenUnencodedPayload,
  // The token header has zip (compressed payloads are refused).
  kTokenZipUnsupported,
  // The token header names a key source (jku, x5u, x5c, jwk); keys come only from configuration.
  kTokenEmbeddedKey,
  // The token's alg is "none".
  kTokenAlgNone,
  // The token's alg is not in the issuer's allowlist (HMAC is never allowed).
  kTokenAlgNotAllowed,
  // The token's typ is not at+jwt although the issuer requires it, or names another JWT kind.
  kTokenTypInvalid,
  // The token's iss is missing or is not a configured issuer.
  kTokenIssuerUnknown,
  // No key of the issuer has the token's kid (or, without kid, no single key fits alg).
  kTokenKeyNotFound,
  // The key selected by kid does not fit alg (kty, crv, alg or use differ).
  kTokenKeyAlgMismatch,
  // The signature has the wrong length or, for ECDSA, r or s is outside [1, n-1].
  kTokenSignatureMalformed,
  // The signature does not verify with the issuer's key.
  kTokenSignatureInvalid,
  // A registered claim has the wrong type (e.g. exp not a number, aud not a string).
  kTokenClaimsInvalid,
  // The token has no exp claim.
  kTokenExpMissing,
  // now >= exp + clock skew.
  kTokenExpired,
  // now < nbf - clock skew.
  kTokenNotYetValid,
  // iat is later than now + clock skew.
  kTokenIatInFuture,
  // exp - iat exceeds the issuer's max_lifetime.
  kTokenLifetimeTooLong,
  // No aud value is one of the issuer's configured audiences.
  kTokenAudienceMismatch,
  // The token's issuer is configured but not among the route's accepted issuers.
  kTokenIssuerNotAllowed,
  // The token's cnf is empty or holds a confirmation method popguard cannot
  // prove (jwk, kid, jku, x5t, or an unknown member).
  kTokenBindingUnsupported,

  // --- Scheme and binding ---
  // A token bound with cnf.jkt was presented with the Bearer scheme.
  kBearerDowngrade,
  // The DPoP scheme was used with a token that has no cnf.jkt.
  kDpopTokenUnbound,
  // The route requires a binding (dpop, mtls or bound) that the token does not carry.
  kBindingRequired,

  // --- The DPoP proof (RFC 9449 section 4.3) ---
  // The DPoP scheme was used but there is no DPoP header.
  kDpopProofMissing,
  // More than one DPoP header, or one header holding several proofs.
  kDpopProofMultiple,
  // The proof is longer than limits.max_proof_bytes.
  kDpopProofTooLarge,
  // The proof is not three non-empty dot-separated segments.
  kDpopProofMalformed,
  // A proof segment is not strict unpadded base64url.
  kDpopProofBadBase64,
  // The proof header or payload is not a strict JSON object.
  kDpopProofBadJson,
  // The proof header is unusable: crit, b64, zip, or a member of the wrong type.
  kDpopHeaderInvalid,
  // The proof's typ is not dpop+jwt.
  kDpopTypInvalid,
  // The proof's alg is none, symmetric, or not in dpop.algorithms.
  kDpopAlgNotAllowed,
  // The proof's jwk is missing, malformed, unsupported, or does not fit alg.
  kDpopJwkInvalid,
  // The proof's jwk contains private key material.
  kDpopJwkPrivate,
  // The proof signature has the wrong length or, for ECDSA, r or s is out of range.
  kDpopSignatureMalformed,
  // The proof signature does not verify with its jwk.
  kDpopSignatureInvalid,
  // A proof claim is missing or of the wrong type (htm, htu, iat).
  kDpopClaimsInvalid,
  // The proof's htm differs from the request method.
  kDpopHtmMismatch,
  // The proof's htu is not an absolute http(s) URL.
  kDpopHtuInvalid,
  // The proof's htu differs from the request URL after normalisation.
  kDpopHtuMismatch,
  // The proof's iat is older than dpop.max_age.
  kDpopIatStale,
  // The proof's iat is later than now + dpop.clock_skew.
  kDpopIatFuture,
  // The proof's jti is missing, empty, not a string, or too long.
  kDpopJtiInvalid,
  // The proof's jti was already used with this key inside the replay window.
  kDpopReplayed,
  // The proof has no ath claim.
  kDpopAthMissing,
  // The proof's ath is not the hash of the presented access token.
  kDpopAthMismatch,
  // The proof key's thumbprint differs from the token's cnf.jkt.
  kDpopJktMismatch,
  // A server nonce is required and the proof has none.
  kDpopNonceMissing,
  // The proof's nonce is not a current server nonce.
  kDpopNonceInvalid,
  // The proof's RSA key has a modulus outside 2048-4096 bits or a public
  // exponent that is not small.
  kDpopJwkSizeUnsupported,
  // The replay store lost its state after the proof's iat; a fresh proof is required.
  kDpopReplayWindowReset,

  // --- mTLS-bound tokens (RFC 8705) ---
  // The token has cnf.x5t#S256 but no client certificate reached popguard.
  kMtlsCertMissing,
  // The client certificate (or trusted x-forwarded-client-cert) cannot be parsed.
  kMtlsCertInvalid,
  // The certificate's SHA-256 thumbprint differs from cnf.x5t#S256.
  kMtlsThumbprintMismatch,
  // The forwarded certificate (XFCC) differs from the certificate the gateway itself passed.
  kMtlsCertConflict,

  // --- Policy ---
  // The route requires scopes the token does not have.
  kInsufficientScope,

  // --- Revocation (service/authn/revocation.h) ---
  // The token's jti, its subject (per issuer) or its client_id is on the revocation list.
  kTokenRevoked,
  // The token's proof key (cnf.jkt) or the issuer key that signed it (iss + kid) is revoked.
  kKeyRevoked,
  // --- Path diagnostics (config diagnostics, service/authn/diagnostics.h) ---
  // A diagnostics probe was answered with its report; never an allow.
  kDiagnosticsProbe,
  // A diagnostics probe whose statement or proof is missing, malformed, unsigned or stale.
  kDiagnosticsProbeInvalid,
  // A diagnostics probe refused by diagnostics.rate_per_second / burst.
  kDiagnosticsRateLimited,
  // Not a decision on a request: a GET or HEAD of a protected resource's
  // RFC 9728 metadata path asked through Verify or Check
  // (resource_metadata.answer_checks), answered with the document and status
  // 200 instead of being forwarded.
  kResourceMetadata,

  // --- Infrastructure ---
  // The replay window is full; the proof was refused rather than a jti forgotten.
  kReplayStoreFull,
  // The replay store could not be reached and the failure policy is fail_closed.
  kReplayStoreUnavailable,
  // The request was shed at the door or waited longer than limits.max_queue_wait to be decided.
  kOverloaded,
  // An unexpected internal failure.
  kInternalError,
};

// All reasons, in declaration order (for tests and documentation).
// The list is kept by hand, several names per line.
// clang-format off
inline constexpr Reason kAllReasons[] = {
#define POPGUARD_R(x) Reason::x,
    POPGUARD_R(kOk) POPGUARD_R(kRequestInvalid) POPGUARD_R(kTokenMissing)
    POPGUARD_R(kAuthorizationMalformed) POPGUARD_R(kAuthorizationMultiple)
    POPGUARD_R(kPathAmbiguous) POPGUARD_R(kForwardedHeaderInvalid) POPGUARD_R(kRequestHeaderInvalid)
    POPGUARD_R(kTokenTooLarge) POPGUARD_R(kTokenMalformed) POPGUARD_R(kTokenBadBase64)
    POPGUARD_R(kTokenBadJson) POPGUARD_R(kTokenHeaderInvalid) POPGUARD_R(kTokenCritUnsupported)
    POPGUARD_R(kTokenUnencodedPayload) POPGUARD_R(kTokenZipUnsupported)
    POPGUARD_R(kTokenEmbeddedKey) POPGUARD_R(kTokenAlgNone) POPGUARD_R(kTokenAlgNotAllowed)
    POPGUARD_R(kTokenTypInvalid) POPGUARD_R(kTokenIssuerUnknown) POPGUARD_R(kTokenKeyNotFound)
    POPGUARD_R(kTokenKeyAlgMismatch) POPGUARD_R(kTokenSignatureMalformed)
    POPGUARD_R(kTokenSignatureInvalid) POPGUARD_R(kTokenClaimsInvalid) POPGUARD_R(kTokenExpMissing)
    POPGUARD_R(kTokenExpired) POPGUARD_R(kTokenNotYetValid) POPGUARD_R(kTokenIatInFuture)
    POPGUARD_R(kTokenLifetimeTooLong) POPGUARD_R(kTokenAudienceMismatch)
    POPGUARD_R(kTokenIssuerNotAllowed) POPGUARD_R(kTokenBindingUnsupported)
    POPGUARD_R(kBearerDowngrade) POPGUARD_R(kDpopTokenUnbound) POPGUARD_R(kBindingRequired)
    POPGUARD_R(kDpopProofMissing) POPGUARD_R(kDpopProofMultiple) POPGUARD_R(kDpopProofTooLarge)
    POPGUARD_R(kDpopProofMalformed) POPGUARD_R(kDpopProofBadBase64) POPGUARD_R(kDpopProofBadJson)
    POPGUARD_R(kDpopHeaderInvalid) POPGUARD_R(kDpopTypInvalid) POPGUARD_R(kDpopAlgNotAllowed)
    POPGUARD_R(kDpopJwkInvalid) POPGUARD_R(kDpopJwkPrivate) POPGUARD_R(kDpopSignatureMalformed)
    POPGUARD_R(kDpopSignatureInvalid) POPGUARD_R(kDpopClaimsInvalid) POPGUARD_R(kDpopHtmMismatch)
    POPGUARD_R(kDpopHtuInvalid) POPGUARD_R(kDpopHtuMismatch) POPGUARD_R(kDpopIatStale)
    POPGUARD_R(kDpopIatFuture) POPGUARD_R(kDpopJtiInvalid) POPGUARD_R(kDpopReplayed)
    POPGUARD_R(kDpopAthMissing) POPGUARD_R(kDpopAthMismatch) POPGUARD_R(kDpopJktMismatch)
    POPGUARD_R(kDpopNonceMissing) POPGUARD_R(kDpopNonceInvalid) POPGUARD_R(kDpopJwkSizeUnsupported)
    POPGUARD_R(kDpopReplayWindowReset) POPGUARD_R(kMtlsCertMissing) POPGUARD_R(kMtlsCertInvalid)
    POPGUARD_R(kMtlsThumbprintMismatch) POPGUARD_R(kMtlsCertConflict) POPGUARD_R(kInsufficientScope)
    POPGUARD_R(kTokenRevoked) POPGUARD_R(kKeyRevoked)
    POPGUARD_R(kDiagnosticsProbe) POPGUARD_R(kDiagnosticsProbeInvalid)
    POPGUARD_R(kDiagnosticsRateLimited) POPGUARD_R(kResourceMetadata)
    POPGUARD_R(kReplayStoreFull) POPGUARD_R(kReplayStoreUnavailable) POPGUARD_R(kOverloaded)
    POPGUARD_R(kInternalError)
#undef POPGUARD_R
};
// clang-format on

// ReasonCode returns the stable snake_case code of `reason`, e.g. "dpop_replayed".
std::string_view ReasonCode(Reason reason);

}  // namespace popguard

#endif  // POPGUARD_SERVICE_REASON_H_
