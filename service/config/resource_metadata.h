// RFC 9728 OAuth 2.0 Protected Resource Metadata, generated from the config
// (resource_metadata.resource, issuers, routes, dpop): the document served at
// /.well-known/oauth-protected-resource (with the resource's path appended,
// RFC 9728 section 3.1) and the resource_metadata challenge parameter.
#ifndef POPGUARD_SERVICE_RESOURCE_METADATA_H_
#define POPGUARD_SERVICE_RESOURCE_METADATA_H_

#include <string>

#include "service/config/config.h"

namespace popguard {

inline constexpr char kResourceMetadataWellKnown[] = "/.well-known/oauth-protected-resource";

// ResourceMetadataPath returns the path the document is served at:
// kResourceMetadataWellKnown + the resource's path (without a trailing
// slash), or "" when resource_metadata is off.
std::string ResourceMetadataPath(const Config& config);

// ResourceMetadataUrl returns the resource's origin + ResourceMetadataPath,
// or "" when resource_metadata is off.
std::string ResourceMetadataUrl(const Config& config);

// ResourceMetadataDocument returns the JSON document: resource,
// authorization_servers (the issuers), scopes_supported (every route's
// scopes, sorted; left out when none), bearer_methods_supported ["header"],
// dpop_signing_alg_values_supported (dpop.algorithms),
// dpop_bound_access_tokens_required (every route and the default require
// dpop) and tls_client_certificate_bound_access_tokens (some route or the
// default accepts an mTLS-bound token).
std::string ResourceMetadataDocument(const Config& config);

}  // namespace popguard

#endif  // POPGUARD_SERVICE_RESOURCE_METADATA_H_
