// libFuzzer target: the x-forwarded-client-cert header (ThumbprintFromXfcc)
// and the certificate readers under it (Envoy's URL-encoded PEM, PEM or DER),
// which bind mTLS tokens (RFC 8705) to what the gateway forwards.
//
// Invariants:
//   - an accepted header yields a valid SHA-256 thumbprint (43 base64url
//     characters);
//   - an accepted header repeated as two elements ("h,h") is refused: with
//     several proxy hops the certificate is ambiguous;
//   - a leading Subject pair does not change an accepted header's thumbprint
//     (only Cert and Hash bind);
//   - CertificateDer of the input, when accepted, returns DER that reads back
//     as itself, and ThumbprintFromEnvoyCertificate agrees with
//     CertificateThumbprint of that DER.
#include <cstdint>
#include <string>
#include <string_view>

#include "fuzz/fuzz_check.h"
#include "service/authn/client_cert.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view input = popguard::fuzz::AsView(data, size);

  auto thumbprint = popguard::ThumbprintFromXfcc(input);
  if (thumbprint.ok()) {
    FUZZ_CHECK(popguard::IsValidThumbprint(*thumbprint), "an invalid thumbprint was returned");
    const std::string twice = std::string(input) + "," + std::string(input);
    FUZZ_CHECK(!popguard::ThumbprintFromXfcc(twice).ok(), "two elements were accepted");
    const char first = input.empty() ? ' ' : input[0];
    if ((first >= 'A' && first <= 'Z') || (first >= 'a' && first <= 'z')) {
      auto with_subject =
          popguard::ThumbprintFromXfcc("Subject=\"CN=x,O=y\";" + std::string(input));
      FUZZ_CHECK(with_subject.ok() && *with_subject == *thumbprint,
                 "a Subject pair changed the thumbprint");
    }
  } else {
    FUZZ_CHECK(absl::IsInvalidArgument(thumbprint.status()), "a refusal is not InvalidArgument");
  }

  auto der = popguard::CertificateDer(input);
  if (der.ok()) {
    auto again = popguard::CertificateDer(*der);
    FUZZ_CHECK(again.ok() && *again == *der, "the DER of a certificate does not read back");
    FUZZ_CHECK(popguard::IsValidThumbprint(popguard::CertificateThumbprint(*der)),
               "a certificate thumbprint is invalid");
  }
  auto envoy = popguard::ThumbprintFromEnvoyCertificate(input);
  if (envoy.ok()) {
    FUZZ_CHECK(popguard::IsValidThumbprint(*envoy), "an invalid Envoy certificate thumbprint");
  }
  // Without '%' the URL decoding is the identity, so both readers see the same bytes.
  if (der.ok() && input.find('%') == std::string_view::npos) {
    FUZZ_CHECK(envoy.ok() && *envoy == popguard::CertificateThumbprint(*der),
               "the Envoy reader and CertificateDer disagree");
  }
  return 0;
}
