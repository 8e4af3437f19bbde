#include "service/config/resource_metadata.h"

#include <algorithm>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "service/common/json.h"
#include "service/common/url.h"

namespace popguard {
namespace {

// HostWithoutPort lower-cases an authority (a request's Host / :authority or
// a resource's) and drops its port (url.h SplitHostPort). An authority that
// does not split is returned lower-cased whole: it matches no resource.
std::string HostWithoutPort(std::string_view authority) {
  const std::optional<HostPort> split = SplitHostPort(authority);
  return absl::AsciiStrToLower(std::string(split.has_value() ? split->host : authority));
}

// SplitResource splits a resource identifier (validated by the config as
// https://authority[/path], no query or fragment) into origin, host (lower
// case, no port) and path (no trailing slash).
void SplitResource(const std::string& resource, std::string* origin, std::string* host,
                   std::string* path) {
  const std::optional<HttpUrlParts> parts = ParseHttpUrl(resource);
  if (!parts.has_value()) {  // not reached: the config checked it
    origin->clear();
    host->clear();
    path->clear();
    return;
  }
  *origin = std::string(parts->origin);
  *host = HostWithoutPort(parts->authority);
  *path = std::string(parts->path);
  while (!path->empty() && path->back() == '/') path->pop_back();
}

std::string JsonList(const std::vector<std::string>& items) {
  std::string out = "[";
  for (size_t i = 0; i < items.size(); ++i) {
    absl::StrAppend(&out, i == 0 ? "" : ",", JsonQuote(items[i]));
  }
  return out + "]";
}

// The resources of a config: `resources`, or the one `resource`.
std::vector<ProtectedResourceConfig> Resources(const Config& config) {
  if (!config.resource_metadata.resource.empty()) {
    ProtectedResourceConfig one;
    one.resource = config.resource_metadata.resource;
    return {one};
  }
  return config.resource_metadata.resources;
}

// Document builds the JSON document of `r` (see ResourceMetadataDocument).
std::string Document(const Config& config, const ProtectedResourceConfig& r,
                     const std::set<std::string>& listed_elsewhere) {
  // The routes the resource stands for: those it lists, or every route no
  // other resource lists (the default route included).
  RouteConfig default_route;
  default_route.name = "default";
  default_route.binding = config.default_binding;
  std::vector<const RouteConfig*> all;
  for (const RouteConfig& c : config.routes) all.push_back(&c);
  all.push_back(&default_route);
  std::vector<const RouteConfig*> routes;
  for (const RouteConfig* route : all) {
    const bool listed = std::find(r.routes.begin(), r.routes.end(), route->name) != r.routes.end();
    if (r.routes.empty() ? listed_elsewhere.count(route->name) == 0 : listed) {
      routes.push_back(route);
    }
  }
  std::vector<std::string> servers = r.authorization_servers;
  if (servers.empty()) {
    // The issuers its routes accept (a route without an issuers list accepts
    // every configured issuer).
    std::set<std::string> accepted;
    for (const RouteConfig* route : routes) {
      if (route->issuers.empty()) {
        for (const IssuerConfig& i : config.issuers) accepted.insert(i.issuer);
      }
      accepted.insert(route->issuers.begin(), route->issuers.end());
    }
    for (const IssuerConfig& i : config.issuers) {
      if (accepted.count(i.issuer) != 0) servers.push_back(i.issuer);  // config order
    }
  }
  std::vector<std::string> scopes = r.scopes_supported;
  bool all_dpop = !routes.empty();
  bool any_mtls = false;
  std::set<std::string> route_scopes;
  for (const RouteConfig* route : routes) {
    route_scopes.insert(route->scopes.begin(), route->scopes.end());
    all_dpop = all_dpop && route->binding == BindingRequirement::kDpop;
    // A bearer route accepts a bound token when it proves its binding.
    any_mtls = any_mtls || route->binding != BindingRequirement::kDpop;
  }
  if (scopes.empty()) scopes.assign(route_scopes.begin(), route_scopes.end());
  std::string doc = absl::StrCat("{\"resource\":", JsonQuote(r.resource),
                                 ",\"authorization_servers\":", JsonList(servers));
  if (!scopes.empty()) absl::StrAppend(&doc, ",\"scopes_supported\":", JsonList(scopes));
  absl::StrAppend(&doc, ",\"bearer_methods_supported\":[\"header\"]",
                  ",\"dpop_signing_alg_values_supported\":", JsonList(config.dpop.algorithms),
                  ",\"dpop_bound_access_tokens_required\":", all_dpop ? "true" : "false",
                  ",\"tls_client_certificate_bound_access_tokens\":", any_mtls ? "true" : "false",
                  "}");
  return doc;
}

}  // namespace

ResourceMetadataSet::ResourceMetadataSet(const Config& config) {
  const std::vector<ProtectedResourceConfig> resources = Resources(config);
  std::set<std::string> listed;
  for (const ProtectedResourceConfig& r : resources)
    listed.insert(r.routes.begin(), r.routes.end());
  for (const ProtectedResourceConfig& r : resources) {
    ResourceMetadataDoc d;
    std::string origin, path;
    SplitResource(r.resource, &origin, &d.host, &path);
    d.path = kResourceMetadataWellKnown + path;
    d.url = origin + d.path;
    d.document = Document(config, r, listed);
    d.routes = r.routes;
    docs_.push_back(std::move(d));
  }
}

const ResourceMetadataDoc* ResourceMetadataSet::Find(std::string_view host,
                                                     std::string_view path) const {
  const ResourceMetadataDoc* only = nullptr;
  int matches = 0;
  const std::string request_host = HostWithoutPort(host);
  for (const ResourceMetadataDoc& d : docs_) {
    if (d.path != path) continue;
    if (d.host == request_host) return &d;
    only = &d;
    ++matches;
  }
  // Security: the document is public; picking it by path alone only when it
  // is the one document at that path never serves another host's document
  // in its place.
  return matches == 1 ? only : nullptr;
}

std::string_view ResourceMetadataSet::UrlForRoute(std::string_view route_name) const {
  const ResourceMetadataDoc* catch_all = nullptr;
  for (const ResourceMetadataDoc& d : docs_) {
    if (d.routes.empty()) catch_all = &d;
    if (std::find(d.routes.begin(), d.routes.end(), route_name) != d.routes.end()) return d.url;
  }
  return catch_all != nullptr ? std::string_view(catch_all->url) : std::string_view();
}

std::string ResourceMetadataKey(const std::string& resource) {
  std::string origin, host, path;
  SplitResource(resource, &origin, &host, &path);
  return absl::StrCat(host, kResourceMetadataWellKnown, path);
}

std::string ResourceMetadataPath(const Config& config) {
  ResourceMetadataSet set(config);
  return set.empty() ? "" : set.docs()[0].path;
}

std::string ResourceMetadataUrl(const Config& config) {
  ResourceMetadataSet set(config);
  return set.empty() ? "" : set.docs()[0].url;
}

std::string ResourceMetadataDocument(const Config& config) {
  ResourceMetadataSet set(config);
  return set.empty() ? "" : set.docs()[0].document;
}

}  // namespace popguard
