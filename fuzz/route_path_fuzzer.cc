// libFuzzer target: route selection over the readings of a request path
// (service/authn/route_path.h, Policy::MatchAll) against the naive reference model
// of tests/testing/route_path_reference.h. For any path, popguard must pick
// exactly the route that every reading selects in the model, or refuse the
// path as ambiguous exactly when the model's readings disagree; it must never
// crash or read out of bounds.
//
// Input: the bytes after a leading "/" are the path (a query, if any, is cut
// by both sides). Routes: public, admin, a case-insensitive "/Secure" and a
// "/"-ended "/static/".
//
// Built and replayed like every target in fuzz/CMakeLists.txt (corpus in
// fuzz/corpus/route_path_fuzzer/); `make fuzz` runs it with libFuzzer. The
// dictionary fuzz/route_path.dict helps: -dict=fuzz/route_path.dict.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "service/authn/policy.h"
#include "service/authn/route_path.h"
#include "tests/testing/route_path_reference.h"

namespace {

using popguard::Config;
using popguard::Policy;
using popguard::RouteConfig;
using popguard::RoutePathReadings;

const std::vector<popguard::reference::Route>& Routes() {
  static const auto* routes = new std::vector<popguard::reference::Route>{
      {"public", "/public", false},
      {"admin", "/admin", false},
      {"secure", "/Secure", true},
      {"static", "/static/", false},
  };
  return *routes;
}

const Policy& ThePolicy() {
  static const Policy* policy = [] {
    Config config;
    for (const auto& r : Routes()) {
      RouteConfig route;
      route.name = r.name;
      route.match.path_prefix = r.prefix;
      route.match.case_insensitive = r.case_insensitive;
      config.routes.push_back(route);
    }
    return new Policy(config);
  }();
  return *policy;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size > 2048) return 0;
  const std::string path = "/" + std::string(reinterpret_cast<const char*>(data), size);
  const RouteConfig* got = ThePolicy().MatchAll("api.example", RoutePathReadings(path), "");
  // The model sees the path without its query, as the service does.
  const std::optional<std::string> want =
      popguard::reference::ExpectedRoute(Routes(), path.substr(0, path.find_first_of("?#")));
  const std::string got_name = got == nullptr ? "path_ambiguous" : got->name;
  if (got_name != want.value_or("path_ambiguous")) {
    std::fprintf(stderr, "path %s: popguard chose %s, the model %s\n", path.c_str(),
                 got_name.c_str(), want.value_or("path_ambiguous").c_str());
    std::abort();
  }
  return 0;
}
