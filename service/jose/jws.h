// Compact JWS (RFC 7515 section 7.1) parsing shared by access tokens and DPoP
// proofs: structure, strict base64url, strict JSON, and the header members
// popguard refuses for every JWS it sees. Algorithm and key rules differ
// between tokens and proofs, so callers apply them (access_token.h, dpop.h).
#ifndef POPGUARD_SERVICE_JWS_H_
#define POPGUARD_SERVICE_JWS_H_

#include <string>
#include <string_view>

#include "service/common/json.h"

namespace popguard {

enum class JwsError {
  kOk,
  kMalformed,         // not exactly three non-empty dot-separated segments
  kBadBase64,         // a segment is not strict base64url
  kBadJson,           // header or payload is not a strict JSON object
  kHeaderInvalid,     // alg missing or not a string; typ/kid/cty not strings
  kCritUnsupported,   // crit present: popguard implements no JWS extension
  kUnencodedPayload,  // b64 present (RFC 7797)
  kZipUnsupported,    // zip present
};

struct Jws {
  JsonValue header;
  JsonValue payload;
  std::string signature;           // decoded signature bytes
  std::string_view signing_input;  // "header.payload", a view into the input
  std::string_view payload_b64;    // a view into the input
  std::string alg;                 // header alg (present and a string when parsed)
};

// ParseCompactJws parses `compact` into `*out`. On failure returns the error
// and sets `*detail` to a message without input data. `out->signing_input`
// points into `compact`, which must outlive it.
JwsError ParseCompactJws(std::string_view compact, const JsonLimits& limits, Jws* out,
                         std::string* detail);

}  // namespace popguard

#endif  // POPGUARD_SERVICE_JWS_H_
