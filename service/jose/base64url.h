// Strict base64url (RFC 4648 section 5) as JWS requires (RFC 7515 section 2):
// no padding, no whitespace, no characters outside the URL-safe alphabet, and
// canonical trailing bits (the unused low bits of the last character are zero),
// so every byte string has exactly one accepted encoding.
#ifndef POPGUARD_SERVICE_BASE64URL_H_
#define POPGUARD_SERVICE_BASE64URL_H_

#include <optional>
#include <string>
#include <string_view>

namespace popguard {

// Base64UrlEncode returns the unpadded base64url encoding of `data`.
std::string Base64UrlEncode(std::string_view data);

// Base64UrlDecode decodes `in` strictly into `*out` (replacing its contents).
// Returns false on any non-canonical input; `*out` is then unspecified.
bool Base64UrlDecode(std::string_view in, std::string* out);

// Base64UrlDecode returns the decoded bytes, or nullopt on non-canonical input.
std::optional<std::string> Base64UrlDecode(std::string_view in);

// Base64DecodeLenient decodes standard base64 (with optional padding and
// whitespace), for PEM bodies. Returns nullopt on bad characters.
std::optional<std::string> Base64DecodeLenient(std::string_view in);

}  // namespace popguard

#endif  // POPGUARD_SERVICE_BASE64URL_H_
