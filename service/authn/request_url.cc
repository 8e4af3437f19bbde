#include "service/authn/request_url.h"

#include <string_view>

#include "absl/strings/str_cat.h"
#include "service/common/strings.h"

namespace popguard {
namespace {

// SingleForwardedValue reads a trusted forwarded header into *value (left
// alone when the header is absent). Security: a proxy that appends to
// X-Forwarded-* (the usual default) puts the client's own value first and its
// own last, and Envoy ext_authz joins repeated headers with ","; which element
// the trusted proxy added cannot be told from here. So a repeated header or a
// list value is refused rather than guessed: operators with a proxy chain
// make the trusted proxy overwrite the header (docs/config.md).
bool SingleForwardedValue(const HttpRequestInfo& request, std::string_view name, std::string* value,
                          std::string* detail) {
  auto values = request.HeaderValues(name);
  if (values.empty()) return true;
  if (values.size() > 1 || values[0].find(',') != std::string_view::npos) {
    *detail = absl::StrCat(AV(name), " holds more than one value (repeated or a list)");
    return false;
  }
  *value = std::string(StripWhitespace(values[0]));
  return true;
}

}  // namespace

Reason RequestUrl(const HttpRequestInfo& request, bool trust_forwarded_headers,
                  const NormalizedUrl* external_origin, NormalizedUrl* url, std::string* route_host,
                  std::string* detail) {
  absl::StatusOr<NormalizedUrl> parsed =
      !request.url.empty()
          ? NormalizeAbsoluteUrl(request.url)
          : NormalizeRequestTarget(request.scheme, request.authority, request.path);
  if (!parsed.ok()) {
    *detail = absl::StrCat("request URL: ", parsed.status().message());
    return Reason::kRequestInvalid;
  }
  *url = *std::move(parsed);
  *route_host = url->host;
  if (external_origin != nullptr) {
    url->scheme = external_origin->scheme;
    url->host = external_origin->host;
    url->port = external_origin->port;
    return Reason::kOk;
  }
  if (!trust_forwarded_headers) return Reason::kOk;
  std::string scheme = url->scheme;
  std::string host = url->Origin().substr(url->scheme.size() + 3);
  if (!SingleForwardedValue(request, "x-forwarded-proto", &scheme, detail) ||
      !SingleForwardedValue(request, "x-forwarded-host", &host, detail)) {
    return Reason::kForwardedHeaderInvalid;
  }
  parsed = NormalizeRequestTarget(scheme, host, url->path);
  if (!parsed.ok()) {
    *detail = absl::StrCat("request URL: ", parsed.status().message());
    return Reason::kRequestInvalid;
  }
  *url = *std::move(parsed);
  *route_host = url->host;
  return Reason::kOk;
}

}  // namespace popguard
