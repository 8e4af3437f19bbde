// HttpRequestInfo: the gateway's description of one HTTP request, in the one
// shape the Authenticator reads, whichever API it arrived through.
#ifndef POPGUARD_SERVICE_REQUEST_H_
#define POPGUARD_SERVICE_REQUEST_H_

#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/container/inlined_vector.h"
#include "service/authn/reason.h"

namespace popguard {

struct HttpRequestInfo {
  std::string method;
  // Either an absolute URL (Verify API)...
  std::string url;
  // ...or the pieces a proxy gives (ext_authz): scheme, authority, request target.
  std::string scheme;
  std::string authority;
  std::string path;

  // Header lines with lower-cased names, in arrival order.
  std::vector<std::pair<std::string, std::string>> headers;
  // True when repeated headers were merged into one value with "," (Envoy's
  // headers map). A DPoP proof or a credential never contains a comma, so a
  // comma then means two of them.
  bool merged_headers = false;

  enum class CertKind {
    kNone,
    kPemOrDer,            // Verify API: certificate bytes
    kEnvoyUrlEncodedPem,  // ext_authz: attributes.source.certificate
    kThumbprint,          // Verify API: pre-computed x5t#S256
  };
  CertKind cert_kind = CertKind::kNone;
  std::string cert;

  std::string route_key;
  std::string correlation_id;
  // The API it arrived through: "verify", "check", "forward_auth" (a static
  // string; diagnostics name the hops by it), or "" when not said.
  std::string_view api;

  // Set by an adapter that could not rebuild the request it was asked about
  // (service/server/forward_auth.h: a peer outside forward_auth.trusted_sources, a missing
  // or repeated X-Original-URI): the Authenticator denies with this reason
  // before reading anything else, so the refusal is logged and counted like
  // every other denial.
  Reason rebuild_failure = Reason::kOk;
  std::string rebuild_detail;

  // Set by the Verify and Check adapters only: with
  // resource_metadata.answer_checks, a GET or HEAD of a metadata path is
  // answered with the document (Reason::kResourceMetadata, status 200).
  // Security: never set on the forward-auth listener, whose gateways read a
  // 200 as "forward the request".
  bool metadata_answer = false;

  // HeaderValues returns every value of the (lower-case) header `name`. Inline
  // storage for two: the usual zero or one value never allocates.
  absl::InlinedVector<std::string_view, 2> HeaderValues(std::string_view name) const {
    absl::InlinedVector<std::string_view, 2> out;
    for (const auto& [k, v] : headers) {
      if (k == name) out.push_back(v);
    }
    return out;
  }
};

// FirstUnacceptableHeader returns the name of the first header popguard reads
// (authorization, dpop, x-forwarded-proto, x-forwarded-host,
// x-forwarded-client-cert) whose value holds a byte other than visible ASCII,
// space or tab, or "" when there is none. ext_authz carries header bytes
// as they arrived (popguard's copy of Envoy's proto declares them `bytes`), so
// this, not the message parser, is where such a request is refused.
std::string_view FirstUnacceptableHeader(const HttpRequestInfo& req);

}  // namespace popguard

#endif  // POPGUARD_SERVICE_REQUEST_H_
