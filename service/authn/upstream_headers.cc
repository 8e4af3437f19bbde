#include "service/authn/upstream_headers.h"

namespace popguard {

HeaderList UpstreamHeadersFor(std::span<const UpstreamHeader> configured, const Decision& decision,
                              std::string_view route, const VerifiedToken& token) {
  HeaderList headers;
  for (const UpstreamHeader& header : configured) {
    std::string value;
    if (header.value == "@binding") {
      value = std::string(ProvenBindingName(decision.binding));
    } else if (header.value == "@issuer") {
      value = decision.issuer;
    } else if (header.value == "@principal") {
      value = decision.principal;
    } else if (header.value == "@route") {
      value = std::string(route);
    } else if (header.value == "@jkt") {
      value = decision.jkt;
    } else if (const std::string* claim = token.ClaimValue(header.value)) {
      value = *claim;
    }
    if (!value.empty()) headers.emplace_back(header.header, std::move(value));
  }
  return headers;
}

std::vector<std::string> UpstreamHeadersToRemove(std::span<const UpstreamHeader> configured,
                                                 const HeaderList& set) {
  std::vector<std::string> remove;
  for (const UpstreamHeader& header : configured) {
    bool is_set = false;
    for (const auto& [name, value] : set) is_set = is_set || name == header.header;
    if (!is_set) remove.push_back(header.header);
  }
  return remove;
}

}  // namespace popguard
