// The identity headers an ALLOW sets on the forwarded request (config
// upstream_headers), and the ones it removes.
#ifndef POPGUARD_SERVICE_UPSTREAM_HEADERS_H_
#define POPGUARD_SERVICE_UPSTREAM_HEADERS_H_

#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "service/authn/access_token.h"
#include "service/authn/decision.h"
#include "service/config/config.h"

namespace popguard {

// UpstreamHeadersFor returns, for each configured header in order, its value:
// @binding, @issuer, @principal, @jkt from `decision`, @route `route`, any
// other name the claim of `token` (VerifiedToken::ClaimValue). A header whose
// value is empty or whose claim is absent is not set.
HeaderList UpstreamHeadersFor(std::span<const UpstreamHeader> configured, const Decision& decision,
                              std::string_view route, const VerifiedToken& token);

// UpstreamHeadersToRemove returns every configured header name `set` does
// not set. Security: the gateway removes them from the forwarded request, so a
// client cannot smuggle its own x-popguard-sub to the upstream.
std::vector<std::string> UpstreamHeadersToRemove(std::span<const UpstreamHeader> configured,
                                                 const HeaderList& set);

}  // namespace popguard

#endif  // POPGUARD_SERVICE_UPSTREAM_HEADERS_H_
