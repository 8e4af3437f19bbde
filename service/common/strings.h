// String helpers bridging std::string_view and Abseil.
//
// Debian's Abseil is built with ABSL_OPTION_USE_STD_STRING_VIEW=0, so
// absl::string_view is its own type and absl::StrCat & co. do not take a
// std::string_view. popguard's APIs use std::string_view; AV() adapts at the
// call site without copying.
#ifndef POPGUARD_SERVICE_STRINGS_H_
#define POPGUARD_SERVICE_STRINGS_H_

#include <string>
#include <string_view>

#include "absl/strings/string_view.h"

namespace popguard {

// AV views a std::string_view as an absl::string_view (no copy).
inline absl::string_view AV(std::string_view s) { return absl::string_view(s.data(), s.size()); }

// SV views an absl::string_view as a std::string_view (no copy).
inline std::string_view SV(absl::string_view s) { return std::string_view(s.data(), s.size()); }

// EqualsIgnoreCase compares ASCII case-insensitively.
bool EqualsIgnoreCase(std::string_view a, std::string_view b);

// StripWhitespace removes leading and trailing ASCII whitespace.
std::string_view StripWhitespace(std::string_view s);

// ToLower / ToUpper return ASCII-lower/upper-cased copies.
std::string ToLower(std::string_view s);
std::string ToUpper(std::string_view s);

// PercentEncode encodes every byte but RFC 3986 unreserved ones as %XX
// (upper-case hex), the way Envoy forwards a client certificate in ext_authz
// attributes.source.certificate.
std::string PercentEncode(std::string_view s);

}  // namespace popguard

#endif  // POPGUARD_SERVICE_STRINGS_H_
