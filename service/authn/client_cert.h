// RFC 8705 certificate thumbprints from what gateways forward.
//
// A certificate-bound access token carries cnf {"x5t#S256": T} where T is the
// base64url SHA-256 of the DER of the client certificate used on the mutual-TLS
// connection (RFC 8705 section 3.1). popguard does not terminate TLS itself:
// the gateway forwards the certificate, either as Envoy's
// attributes.source.certificate (URL-encoded PEM) or in an
// x-forwarded-client-cert header. The functions here turn those into T.
//
// Trust note: these values are only as trustworthy as the hop that set them;
// the gateway must strip any client-supplied x-forwarded-client-cert header.
#ifndef POPGUARD_SERVICE_CLIENT_CERT_H_
#define POPGUARD_SERVICE_CLIENT_CERT_H_

#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "service/authn/reason.h"
#include "service/authn/request.h"

namespace popguard {

class CertThumbprintCache;  // service/cert_thumbprint_cache.h

// kMaxCertificateInputBytes bounds the PEM/DER/header inputs accepted here.
inline constexpr size_t kMaxCertificateInputBytes = 64 * 1024;

// CertificateDer returns the DER bytes of a certificate given as PEM (the first
// "CERTIFICATE" block if a chain is given; text around blocks is ignored) or as
// raw DER. The bytes returned are exactly the ones encoded in the input (not a
// re-encoding), and they must parse as an X.509 certificate with nothing left
// over. Returns InvalidArgument otherwise.
absl::StatusOr<std::string> CertificateDer(std::string_view pem_or_der);

// CertificateThumbprint returns base64url(SHA-256(der)): the cnf "x5t#S256"
// value. `der` is not parsed.
std::string CertificateThumbprint(std::string_view der);

// ThumbprintFromEnvoyCertificate decodes Envoy's attributes.source.certificate
// (the percent-encoded PEM of the peer certificate; '+' is literal), parses it
// and returns its thumbprint. InvalidArgument on bad encoding or certificate.
absl::StatusOr<std::string> ThumbprintFromEnvoyCertificate(std::string_view url_encoded_pem);

// XfccPolicy says which element of x-forwarded-client-cert carries the client
// certificate (config key `xfcc`, docs/config.md).
struct XfccPolicy {
  enum class Element {
    // Exactly one element: a gateway that terminates the client's mTLS sets
    // the header itself (Envoy SANITIZE_SET) and calls popguard directly.
    kOnly,
    // Istio with the policy on a workload: the ingress gateway sets one
    // element for the client, and the workload's sidecar, which asks
    // popguard, appends its own describing the hop it received the request
    // from. Exactly two elements; the second one's URI (the hop's
    // mTLS-verified identity) must be one of `trusted_peers`; the first one
    // carries the client certificate.
    kBeforeTrustedPeer,
  };
  Element element = Element::kOnly;
  std::vector<std::string> trusted_peers;  // kBeforeTrustedPeer: SPIFFE IDs, exact match
};

// XfccCertificates is what ClientCertFromXfcc read.
struct XfccCertificates {
  std::string client;  // the client certificate's thumbprint; "" when the client sent none
  std::string hop;     // kBeforeTrustedPeer: the trusted hop's certificate thumbprint, if given
};

// ClientCertFromXfcc parses `header_value` (see ThumbprintFromXfcc for the
// format) and picks the client certificate's element by `policy`. With
// kBeforeTrustedPeer, a lone element appended by a trusted hop means the client
// presented no certificate to the gateway (`client` empty). InvalidArgument
// with a message naming the problem (never the header) otherwise.
absl::StatusOr<XfccCertificates> ClientCertFromXfcc(std::string_view header_value,
                                                    const XfccPolicy& policy);

// ThumbprintFromXfcc returns the client certificate thumbprint from an
// x-forwarded-client-cert header value in Envoy's format: elements separated by
// ',', each a ';'-separated list of Key=Value pairs, a value optionally in
// double quotes (where ',', ';' and '=' are literal and \" is a quote); keys
// By, Hash, Cert, Chain, Subject, URI, DNS are case-insensitive, unknown keys
// are ignored. Exactly one element is required. The thumbprint comes from Cert
// (URL-encoded PEM) when present, else from Hash (64 hex digits of the DER's
// SHA-256, any case); when both are present they must agree. Returns
// InvalidArgument with a message naming the problem.
absl::StatusOr<std::string> ThumbprintFromXfcc(std::string_view header_value);

// IsValidThumbprint reports whether `thumbprint` is 43 characters of strict
// base64url that decode to 32 bytes (a SHA-256 thumbprint).
bool IsValidThumbprint(std::string_view thumbprint);

// ClientThumbprint sets *thumbprint to the thumbprint of the client
// certificate of `request` (empty when no certificate reached popguard) and
// returns kOk, or returns kMtlsCertInvalid / kMtlsCertConflict with *detail.
// The certificate comes from the gateway (VerifyRequest certificate or
// certificate_thumbprint, ext_authz source.certificate) and, only with
// `trust_xfcc`, from one x-forwarded-client-cert header; when both name a
// certificate they must be the same one; `policy` says which element of that
// header is the client's (behind an Istio sidecar: the one before the trusted
// hop's). Parsed certificates are cached in `cache` (thread-safe).
Reason ClientThumbprint(const HttpRequestInfo& request, bool trust_xfcc, const XfccPolicy& policy,
                        CertThumbprintCache* cache, std::string* thumbprint, std::string* detail);

}  // namespace popguard

#endif  // POPGUARD_SERVICE_CLIENT_CERT_H_
