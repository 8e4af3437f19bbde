// RequestUrl: the URL the client addressed, rebuilt from what the gateway
// forwarded, and the host routes match.
//
// The DPoP htu check (RFC 9449 4.3 (9)) compares the proof's htu with the URL
// the client sent the request to. Behind a proxy that terminates TLS or
// rewrites the host, the URL the gateway reports is not that one; the
// configured external origin or (when trusted) X-Forwarded-Proto/-Host give it
// back. Route selection reads only the host here; its path readings are in
// route_path.h.
#ifndef POPGUARD_SERVICE_REQUEST_URL_H_
#define POPGUARD_SERVICE_REQUEST_URL_H_

#include <string>

#include "service/authn/reason.h"
#include "service/authn/request.h"
#include "service/common/url.h"

namespace popguard {

// RequestUrl sets *url to the URL the client addressed (for htu) and
// *route_host to the host routes match, and returns kOk; or returns
// kRequestInvalid / kForwardedHeaderInvalid with *detail.
//
// - `external_origin` (null: none) replaces scheme, host and port of every
//   request; *route_host stays the request's own host, because one fixed
//   origin would make routes with match.host select nothing.
// - Otherwise, with `trust_forwarded_headers`, X-Forwarded-Proto and
//   X-Forwarded-Host (one value each) replace scheme and host, and the
//   forwarded host is also the route host.
Reason RequestUrl(const HttpRequestInfo& request, bool trust_forwarded_headers,
                  const NormalizedUrl* external_origin, NormalizedUrl* url, std::string* route_host,
                  std::string* detail);

}  // namespace popguard

#endif  // POPGUARD_SERVICE_REQUEST_URL_H_
