// ConfigRiskWarnings: configurations that load and work, but are risky or
// partly dead, said in one line each. `popguard --check_config` prints them
// on stderr (and exits 1 with --strict); the server logs them as
// config_warning at start and at every reload. (Routes that an earlier route
// shadows are found by policy.h's AppendRouteWarnings, which
// Authenticator::Create runs.)
#ifndef POPGUARD_SERVICE_CONFIG_WARNINGS_H_
#define POPGUARD_SERVICE_CONFIG_WARNINGS_H_

#include <string>
#include <vector>

#include "service/config/config.h"

namespace popguard {

// ConfigRiskWarnings returns, in this order:
//   - a catch-all route (no host, path_prefix "" or "/", no route_key) with
//     routes after it: they can never match;
//   - a bearer route that matches every path (of its host, if it names one);
//   - default_binding: bearer (requests no route names accept unbound tokens);
//   - trusted_xfcc: true (the gateway must own x-forwarded-client-cert).
std::vector<std::string> ConfigRiskWarnings(const Config& config);

}  // namespace popguard

#endif  // POPGUARD_SERVICE_CONFIG_WARNINGS_H_
