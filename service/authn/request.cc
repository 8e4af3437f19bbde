#include "service/authn/request.h"

#include <algorithm>
#include <array>

namespace popguard {
namespace {

// Every header popguard interprets. A header added to the Authenticator's
// reads belongs here too.
constexpr std::array<std::string_view, 5> kHeadersRead = {
    "authorization", "dpop", "x-forwarded-proto", "x-forwarded-host", "x-forwarded-client-cert"};

// RFC 9110 5.5 allows obs-text (0x80-0xFF) in field values, but none of the
// headers popguard reads can hold it (tokens, proofs, host names, schemes and
// URL-encoded certificates are ASCII), and control characters (NUL, CR, LF,
// DEL, ...) are never valid. Refusing them up front gives a clear reason and
// keeps such bytes out of every later parser and out of the logs.
bool AcceptableValue(std::string_view v) {
  return std::all_of(v.begin(), v.end(), [](char ch) {
    const auto c = static_cast<unsigned char>(ch);
    return (c >= 0x20 && c < 0x7f) || c == '\t';
  });
}

}  // namespace

std::string_view FirstUnacceptableHeader(const HttpRequestInfo& req) {
  for (const auto& [name, value] : req.headers) {
    if (std::find(kHeadersRead.begin(), kHeadersRead.end(), name) != kHeadersRead.end() &&
        !AcceptableValue(value)) {
      return name;
    }
  }
  return {};
}

}  // namespace popguard
