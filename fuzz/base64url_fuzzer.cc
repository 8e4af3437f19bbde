// libFuzzer target: strict base64url (service/jose/base64url.h), the decoder every
// JWS segment and JWK member goes through first.
//
// Invariants, on every input x:
//   - Base64UrlDecode(Base64UrlEncode(x)) == x, and the encoding is unpadded
//     URL-safe alphabet of length ceil(4 * |x| / 3);
//   - strict decode rejects any '=' or byte outside the URL-safe alphabet;
//   - when strict decode of x succeeds, re-encoding gives x back (one
//     accepted encoding per byte string), and both overloads agree;
//   - the lenient standard-base64 decoder reads the padded standard-alphabet
//     form of x's encoding back to x, and never crashes on x itself.
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "fuzz/fuzz_check.h"
#include "service/jose/base64url.h"

namespace {

bool InUrlAlphabet(char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
         c == '_';
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using popguard::Base64DecodeLenient;
  using popguard::Base64UrlDecode;
  using popguard::Base64UrlEncode;
  const std::string_view x = popguard::fuzz::AsView(data, size);

  const std::string encoded = Base64UrlEncode(x);
  FUZZ_CHECK(encoded.size() == (x.size() * 4 + 2) / 3, "encoding has the wrong length");
  for (char c : encoded) FUZZ_CHECK(InUrlAlphabet(c), "encoding left the URL-safe alphabet");
  std::string decoded;
  FUZZ_CHECK(Base64UrlDecode(encoded, &decoded), "an encoding does not decode");
  FUZZ_CHECK(decoded == x, "decode(encode(x)) != x");

  std::string strict;
  const bool strict_ok = Base64UrlDecode(x, &strict);
  const std::optional<std::string> strict_opt = Base64UrlDecode(x);
  FUZZ_CHECK(strict_ok == strict_opt.has_value(), "the two decode overloads disagree");
  bool alphabet_only = true;
  for (char c : x) alphabet_only = alphabet_only && InUrlAlphabet(c);
  if (!alphabet_only) FUZZ_CHECK(!strict_ok, "strict decode accepted padding or a foreign byte");
  if (strict_ok) {
    FUZZ_CHECK(*strict_opt == strict, "the two decode overloads decode differently");
    FUZZ_CHECK(Base64UrlEncode(strict) == x, "an accepted input is not the canonical encoding");
  }

  std::string standard = encoded;
  for (char& c : standard) {
    if (c == '-') c = '+';
    if (c == '_') c = '/';
  }
  while (standard.size() % 4 != 0) standard.push_back('=');
  const std::optional<std::string> lenient = Base64DecodeLenient(standard);
  FUZZ_CHECK(lenient.has_value() && *lenient == x, "lenient decode of padded base64 != x");
  (void)Base64DecodeLenient(x);
  return 0;
}
