// RFC 9728 OAuth 2.0 Protected Resource Metadata, generated from the config
// (resource_metadata, issuers, routes, dpop): the documents served at
// /.well-known/oauth-protected-resource with each resource's path appended
// (RFC 9728 section 3.1), and the resource_metadata challenge parameter,
// chosen per route.
#ifndef POPGUARD_SERVICE_RESOURCE_METADATA_H_
#define POPGUARD_SERVICE_RESOURCE_METADATA_H_

#include <string>
#include <string_view>
#include <vector>

#include "service/config/config.h"

namespace popguard {

inline constexpr char kResourceMetadataWellKnown[] = "/.well-known/oauth-protected-resource";

// One protected resource's metadata, built once per config.
struct ResourceMetadataDoc {
  std::string host;                 // the resource's authority, lower-case, without a port
  std::string path;                 // kResourceMetadataWellKnown + the resource's path
  std::string url;                  // the resource's origin + path
  std::string document;             // the JSON document
  std::vector<std::string> routes;  // route names; empty: every route no other lists
};

// ResourceMetadataSet is every configured resource's document.
class ResourceMetadataSet {
 public:
  ResourceMetadataSet() = default;
  explicit ResourceMetadataSet(const Config& config);

  bool empty() const { return docs_.empty(); }
  const std::vector<ResourceMetadataDoc>& docs() const { return docs_; }

  // Find returns the document served at exactly `path` (no query), or null.
  // When several resources share the path (same path, other hosts), `host`
  // (the request's, any case, optional port) picks the one of that host.
  const ResourceMetadataDoc* Find(std::string_view host, std::string_view path) const;

  // UrlForRoute returns the metadata URL the challenges of route `route_name`
  // carry: the resource listing the route, else the one for every other
  // route; "" when none applies.
  std::string_view UrlForRoute(std::string_view route_name) const;

 private:
  std::vector<ResourceMetadataDoc> docs_;
};

// ResourceMetadataKey is what tells two resources' documents apart for
// ResourceMetadataSet::Find: the host (lower case, no port) and the metadata
// path of a resource identifier (validated as the config does). Two resources
// with one key would make the document served a guess.
std::string ResourceMetadataKey(const std::string& resource);

// The first (or only) resource: its path, URL and document; "" when
// resource_metadata is off.
std::string ResourceMetadataPath(const Config& config);
std::string ResourceMetadataUrl(const Config& config);
// ResourceMetadataDocument returns the first resource's JSON document:
// resource, authorization_servers (configured, else the issuers its routes
// accept), scopes_supported (configured, else its routes' scopes, sorted; left
// out when none), bearer_methods_supported ["header"],
// dpop_signing_alg_values_supported (dpop.algorithms),
// dpop_bound_access_tokens_required (every one of its routes requires dpop)
// and tls_client_certificate_bound_access_tokens (one of its routes accepts
// an mTLS-bound token). A resource's routes are those it lists, or for the
// one that lists none, every route no other resource lists and the default.
std::string ResourceMetadataDocument(const Config& config);

}  // namespace popguard

#endif  // POPGUARD_SERVICE_RESOURCE_METADATA_H_
