#include "service/config/resource_metadata.h"

#include <set>
#include <string_view>
#include <vector>

#include "absl/strings/str_cat.h"
#include "service/common/json.h"
#include "service/common/url.h"

namespace popguard {
namespace {

// SplitResource splits resource_metadata.resource (validated by the config
// as https://authority[/path], no query or fragment) into origin and path.
void SplitResource(const std::string& resource, std::string* origin, std::string* path) {
  const std::optional<HttpUrlParts> parts = ParseHttpUrl(resource);
  if (!parts.has_value()) {  // not reached: the config checked it
    origin->clear();
    path->clear();
    return;
  }
  *origin = parts->origin;
  *path = parts->path;
  while (!path->empty() && path->back() == '/') path->pop_back();
}

std::string JsonList(const std::vector<std::string>& items) {
  std::string out = "[";
  for (size_t i = 0; i < items.size(); ++i) {
    absl::StrAppend(&out, i == 0 ? "" : ",", JsonQuote(items[i]));
  }
  return out + "]";
}

}  // namespace

std::string ResourceMetadataPath(const Config& config) {
  if (config.resource_metadata.resource.empty()) return "";
  std::string origin, path;
  SplitResource(config.resource_metadata.resource, &origin, &path);
  return kResourceMetadataWellKnown + path;
}

std::string ResourceMetadataUrl(const Config& config) {
  if (config.resource_metadata.resource.empty()) return "";
  std::string origin, path;
  SplitResource(config.resource_metadata.resource, &origin, &path);
  return origin + kResourceMetadataWellKnown + path;
}

std::string ResourceMetadataDocument(const Config& config) {
  std::vector<std::string> issuers;
  for (const IssuerConfig& i : config.issuers) issuers.push_back(i.issuer);
  std::set<std::string> scopes;
  // What clients must or may bring, over every route and the default.
  bool all_dpop = config.default_binding == BindingRequirement::kDpop;
  bool any_mtls = config.default_binding != BindingRequirement::kDpop;
  for (const RouteConfig& r : config.routes) {
    scopes.insert(r.scopes.begin(), r.scopes.end());
    all_dpop = all_dpop && r.binding == BindingRequirement::kDpop;
    // A bearer route accepts a bound token when it proves its binding.
    any_mtls = any_mtls || r.binding != BindingRequirement::kDpop;
  }
  std::string doc = absl::StrCat("{\"resource\":", JsonQuote(config.resource_metadata.resource),
                                 ",\"authorization_servers\":", JsonList(issuers));
  if (!scopes.empty()) {
    absl::StrAppend(&doc, ",\"scopes_supported\":",
                    JsonList(std::vector<std::string>(scopes.begin(), scopes.end())));
  }
  absl::StrAppend(&doc, ",\"bearer_methods_supported\":[\"header\"]",
                  ",\"dpop_signing_alg_values_supported\":", JsonList(config.dpop.algorithms),
                  ",\"dpop_bound_access_tokens_required\":", all_dpop ? "true" : "false",
                  ",\"tls_client_certificate_bound_access_tokens\":", any_mtls ? "true" : "false",
                  "}");
  return doc;
}

}  // namespace popguard
