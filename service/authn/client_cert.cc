#include "service/authn/client_cert.h"

#include <openssl/bio.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include <memory>
#include <optional>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "service/authn/cert_thumbprint_cache.h"
#include "service/common/crypto_util.h"
#include "service/common/openssl_util.h"
#include "service/common/url.h"
#include "service/jose/base64url.h"

namespace popguard {
namespace {

// An x-forwarded-client-cert value carries the certificate URL-encoded (up to
// three bytes per byte) plus, optionally, a chain; bound it generously.
constexpr size_t kMaxXfccBytes = 4 * kMaxCertificateInputBytes;

struct OpenSslFree {
  void operator()(void* p) const { OPENSSL_free(p); }
};
template <typename T>
using OpenSslPtr = std::unique_ptr<T, OpenSslFree>;

// Fail returns InvalidArgument(message) after clearing OpenSSL's error queue,
// so a failed parse leaves nothing behind for the next caller on this thread.
absl::Status Fail(const char* message) {
  ERR_clear_error();
  return absl::InvalidArgumentError(message);
}

// ParseDer checks that `der` (at most kMaxCertificateInputBytes) is exactly
// one X.509 certificate.
absl::Status ParseDer(std::string_view der) {
  const auto* p = reinterpret_cast<const unsigned char*>(der.data());
  const unsigned char* const end = p + der.size();
  X509Ptr cert(d2i_X509(nullptr, &p, static_cast<long>(der.size())));
  if (cert == nullptr) return Fail("certificate: not a DER X.509 certificate");
  // Bytes after the certificate would not be covered by the thumbprint the
  // TLS stack computes: reject rather than hash something else.
  if (p != end) return Fail("certificate: trailing bytes after the DER certificate");
  return absl::OkStatus();
}

// FirstPemCertificate returns the body of the first PEM block, which must be
// a CERTIFICATE without headers.
absl::StatusOr<std::string> FirstPemCertificate(std::string_view pem) {
  BioPtr bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  if (bio == nullptr) return Fail("certificate: out of memory");
  char* raw_name = nullptr;
  char* raw_header = nullptr;
  unsigned char* raw_data = nullptr;
  long len = 0;
  // PEM_read_bio (not PEM_read_bio_X509) so that we get the encoded bytes
  // themselves and no password callback can ever be invoked.
  int ok = PEM_read_bio(bio.get(), &raw_name, &raw_header, &raw_data, &len);
  OpenSslPtr<char> name(raw_name);
  OpenSslPtr<char> header(raw_header);
  OpenSslPtr<unsigned char> data(raw_data);
  if (ok != 1) return Fail("certificate: no valid PEM block");
  if (std::string_view(name.get()) != "CERTIFICATE") {
    return Fail("certificate: first PEM block is not a CERTIFICATE");
  }
  if (header != nullptr && header.get()[0] != '\0') {
    return Fail("certificate: PEM headers are not supported");
  }
  return std::string(reinterpret_cast<const char*>(data.get()), static_cast<size_t>(len));
}

// LooksLikeDer: a DER certificate is a SEQUENCE (0x30) with a long-form length
// (second byte >= 0x80), which PEM text can never start with.
bool LooksLikeDer(std::string_view in) {
  return in.size() >= 2 && static_cast<unsigned char>(in[0]) == 0x30 &&
         static_cast<unsigned char>(in[1]) >= 0x80;
}

std::optional<std::string> HexDecode(std::string_view hex) {
  if (hex.size() % 2 != 0) return std::nullopt;
  std::string out;
  out.reserve(hex.size() / 2);
  auto value = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  };
  for (size_t i = 0; i < hex.size(); i += 2) {
    int h = value(hex[i]), l = value(hex[i + 1]);
    if (h < 0 || l < 0) return std::nullopt;
    out.push_back(static_cast<char>(h << 4 | l));
  }
  return out;
}

struct XfccPair {
  std::string key;
  std::string value;
};
using XfccElement = std::vector<XfccPair>;

bool IsOws(char c) { return c == ' ' || c == '\t'; }

std::string_view StripTrailingOws(std::string_view s) {
  while (!s.empty() && IsOws(s.back())) s.remove_suffix(1);
  return s;
}

// ParseXfcc splits a header value into elements of Key=Value pairs (quotes
// removed, \x unescaped to x). Optional whitespace around pairs is ignored.
absl::StatusOr<std::vector<XfccElement>> ParseXfcc(std::string_view in) {
  std::vector<XfccElement> elements(1);
  size_t pos = 0;
  auto skip_ows = [&] {
    while (pos < in.size() && IsOws(in[pos])) ++pos;
  };
  while (true) {
    skip_ows();
    size_t key_start = pos;
    while (pos < in.size() && in[pos] != '=' && in[pos] != ';' && in[pos] != ',') ++pos;
    std::string_view key = StripTrailingOws(in.substr(key_start, pos - key_start));
    if (key.empty()) return absl::InvalidArgumentError("xfcc: empty key or empty pair");
    if (pos == in.size() || in[pos] != '=') {
      return absl::InvalidArgumentError("xfcc: pair without '='");
    }
    ++pos;  // '='
    skip_ows();
    XfccPair pair{std::string(key), ""};
    if (pos < in.size() && in[pos] == '"') {
      ++pos;
      bool closed = false;
      while (pos < in.size()) {
        char c = in[pos++];
        if (c == '"') {
          closed = true;
          break;
        }
        if (c == '\\') {
          if (pos == in.size()) break;
          c = in[pos++];
        }
        pair.value.push_back(c);
      }
      if (!closed) return absl::InvalidArgumentError("xfcc: unterminated quoted value");
      skip_ows();
      if (pos < in.size() && in[pos] != ';' && in[pos] != ',') {
        return absl::InvalidArgumentError("xfcc: unexpected character after quoted value");
      }
    } else {
      size_t value_start = pos;
      while (pos < in.size() && in[pos] != ';' && in[pos] != ',') {
        if (in[pos] == '"') return absl::InvalidArgumentError("xfcc: stray '\"' in value");
        ++pos;
      }
      pair.value = std::string(StripTrailingOws(in.substr(value_start, pos - value_start)));
    }
    elements.back().push_back(std::move(pair));
    if (pos == in.size()) break;
    if (in[pos] == ',') elements.emplace_back();
    ++pos;  // ';' or ','
  }
  return elements;
}

}  // namespace

absl::StatusOr<std::string> CertificateDer(std::string_view pem_or_der) {
  if (pem_or_der.empty()) return Fail("certificate: empty input");
  if (pem_or_der.size() > kMaxCertificateInputBytes) {
    return Fail("certificate: input too large");
  }
  std::string der;
  if (!LooksLikeDer(pem_or_der) && pem_or_der.find("-----BEGIN") != std::string_view::npos) {
    absl::StatusOr<std::string> body = FirstPemCertificate(pem_or_der);
    if (!body.ok()) return body.status();
    der = *std::move(body);
  } else {
    der = std::string(pem_or_der);
  }
  if (absl::Status s = ParseDer(der); !s.ok()) return s;
  return der;
}

std::string CertificateThumbprint(std::string_view der) { return Base64UrlEncode(Sha256(der)); }

absl::StatusOr<std::string> ThumbprintFromEnvoyCertificate(std::string_view url_encoded_pem) {
  if (url_encoded_pem.size() > 3 * kMaxCertificateInputBytes) {
    return absl::InvalidArgumentError("certificate: input too large");
  }
  std::optional<std::string> pem = PercentDecode(url_encoded_pem);
  if (!pem.has_value()) return absl::InvalidArgumentError("certificate: invalid percent-encoding");
  absl::StatusOr<std::string> der = CertificateDer(*pem);
  if (!der.ok()) return der.status();
  return CertificateThumbprint(*der);
}

namespace {

// ElementThumbprint returns the thumbprint of the certificate one XFCC element
// names: from Cert (URL-encoded PEM) when present, else from Hash (64 hex
// digits of the DER's SHA-256); when both are present they must agree. With
// neither: "" if `optional`, else InvalidArgument.
absl::StatusOr<std::string> ElementThumbprint(const XfccElement& element, bool optional) {
  const XfccPair* cert = nullptr;
  const XfccPair* hash = nullptr;
  for (const XfccPair& pair : element) {
    if (absl::EqualsIgnoreCase(pair.key, "Cert")) {
      if (cert != nullptr) return absl::InvalidArgumentError("xfcc: duplicate Cert");
      cert = &pair;
    } else if (absl::EqualsIgnoreCase(pair.key, "Hash")) {
      if (hash != nullptr) return absl::InvalidArgumentError("xfcc: duplicate Hash");
      hash = &pair;
    }
    // By, Chain, Subject, URI, DNS and unknown keys do not affect the binding.
  }
  if (cert == nullptr && hash == nullptr) {
    if (optional) return std::string();
    return absl::InvalidArgumentError("xfcc: no Cert or Hash");
  }
  std::optional<std::string> from_cert;
  if (cert != nullptr) {
    absl::StatusOr<std::string> thumbprint = ThumbprintFromEnvoyCertificate(cert->value);
    if (!thumbprint.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat("xfcc: Cert: ", thumbprint.status().message()));
    }
    from_cert = *std::move(thumbprint);
  }
  std::optional<std::string> from_hash;
  if (hash != nullptr) {
    std::optional<std::string> digest =
        hash->value.size() == 64 ? HexDecode(hash->value) : std::nullopt;
    if (!digest.has_value()) {
      return absl::InvalidArgumentError("xfcc: Hash is not 64 hex digits");
    }
    from_hash = Base64UrlEncode(*digest);
  }
  if (from_cert.has_value() && from_hash.has_value() &&
      !ConstantTimeEquals(*from_cert, *from_hash)) {
    return absl::InvalidArgumentError("xfcc: Hash does not match Cert");
  }
  return from_cert.has_value() ? *from_cert : *from_hash;
}

// HopIsTrusted checks the element a sidecar appended: exactly one URI (the
// mTLS-verified identity of the hop it received the request from), and that
// URI is one of `trusted_peers`.
absl::Status HopIsTrusted(const XfccElement& element,
                          const std::vector<std::string>& trusted_peers) {
  const XfccPair* uri = nullptr;
  for (const XfccPair& pair : element) {
    if (!absl::EqualsIgnoreCase(pair.key, "URI")) continue;
    if (uri != nullptr) return absl::InvalidArgumentError("xfcc: last element has several URI");
    uri = &pair;
  }
  if (uri == nullptr) {
    return absl::InvalidArgumentError("xfcc: last element has no URI (the hop is unknown)");
  }
  for (const std::string& peer : trusted_peers) {
    if (uri->value == peer) return absl::OkStatus();
  }
  return absl::InvalidArgumentError(
      "xfcc: last element's URI is not one of xfcc.trusted_peers (the request did not come "
      "through a trusted gateway)");
}

}  // namespace

absl::StatusOr<XfccCertificates> ClientCertFromXfcc(std::string_view header_value,
                                                    const XfccPolicy& policy) {
  if (header_value.size() > kMaxXfccBytes) {
    return absl::InvalidArgumentError("xfcc: header too large");
  }
  if (header_value.find_first_not_of(" \t") == std::string_view::npos) {
    return absl::InvalidArgumentError("xfcc: empty header");
  }
  absl::StatusOr<std::vector<XfccElement>> elements = ParseXfcc(header_value);
  if (!elements.ok()) return elements.status();
  XfccCertificates out;
  switch (policy.element) {
    case XfccPolicy::Element::kOnly: {
      // Each proxy hop that forwards client certificates may append an
      // element; with several, which certificate the token's client used is
      // ambiguous, and picking one would let an earlier hop's (or a spoofed)
      // entry bind the token.
      if (elements->size() != 1) {
        return absl::InvalidArgumentError(
            "xfcc: more than one element (several proxy hops); the client certificate is "
            "ambiguous");
      }
      absl::StatusOr<std::string> client = ElementThumbprint(elements->front(), false);
      if (!client.ok()) return client.status();
      out.client = *std::move(client);
      return out;
    }
    case XfccPolicy::Element::kBeforeTrustedPeer: {
      // The last element is the one the sidecar that asks popguard appended
      // (a client cannot put anything after it), so its URI is the identity
      // the sidecar verified on the mTLS connection the request arrived on.
      // Only when that hop is a trusted gateway, which replaces whatever the
      // client sent (Istio gateways: SANITIZE_SET), is the element before it
      // the gateway's description of the client. A third element, or a hop
      // that is not a trusted gateway (a workload calling directly, with a
      // header it wrote itself), is refused: never an untrusted element.
      if (elements->size() > 2) {
        return absl::InvalidArgumentError(
            "xfcc: more than two elements (expected the gateway's and the sidecar's)");
      }
      const XfccElement& last = elements->back();
      if (absl::Status s = HopIsTrusted(last, policy.trusted_peers); !s.ok()) return s;
      absl::StatusOr<std::string> hop = ElementThumbprint(last, true);
      if (!hop.ok()) return hop.status();
      out.hop = *std::move(hop);
      // One element: the trusted gateway forwarded no client certificate
      // (the client presented none).
      if (elements->size() == 1) return out;
      absl::StatusOr<std::string> client = ElementThumbprint(elements->front(), false);
      if (!client.ok()) return client.status();
      out.client = *std::move(client);
      return out;
    }
  }
  return absl::InvalidArgumentError("xfcc: unknown element policy");
}

absl::StatusOr<std::string> ThumbprintFromXfcc(std::string_view header_value) {
  absl::StatusOr<XfccCertificates> certs = ClientCertFromXfcc(header_value, XfccPolicy());
  if (!certs.ok()) return certs.status();
  return std::move(certs->client);
}

bool IsValidThumbprint(std::string_view thumbprint) {
  if (thumbprint.size() != 43) return false;
  std::optional<std::string> decoded = Base64UrlDecode(thumbprint);
  return decoded.has_value() && decoded->size() == 32;
}

namespace {

// The thumbprint of the certificate the gateway passed itself (VerifyRequest
// certificate or certificate_thumbprint, ext_authz source.certificate), or
// nullopt when it passed none. Certificates are parsed once per distinct
// value (cert_thumbprint_cache.h).
absl::StatusOr<std::optional<std::string>> GatewayThumbprint(const HttpRequestInfo& request,
                                                             CertThumbprintCache* cache) {
  switch (request.cert_kind) {
    case HttpRequestInfo::CertKind::kNone:
      return std::optional<std::string>();
    case HttpRequestInfo::CertKind::kPemOrDer: {
      auto thumbprint =
          cache->GetOrCompute('p', request.cert, [&]() -> absl::StatusOr<std::string> {
            auto der = CertificateDer(request.cert);
            if (!der.ok()) return der.status();
            return CertificateThumbprint(*der);
          });
      if (!thumbprint.ok()) return thumbprint.status();
      return std::optional<std::string>(*thumbprint);
    }
    case HttpRequestInfo::CertKind::kEnvoyUrlEncodedPem: {
      auto thumbprint = cache->GetOrCompute(
          'e', request.cert, [&] { return ThumbprintFromEnvoyCertificate(request.cert); });
      if (!thumbprint.ok()) return thumbprint.status();
      return std::optional<std::string>(*thumbprint);
    }
    case HttpRequestInfo::CertKind::kThumbprint:
      if (!IsValidThumbprint(request.cert)) {
        return absl::InvalidArgumentError("certificate_thumbprint is not a base64url SHA-256");
      }
      return std::optional<std::string>(request.cert);
  }
  return std::optional<std::string>();
}

}  // namespace

namespace {

// XfccThumbprint returns one thumbprint ClientCertFromXfcc reads from `xfcc`
// (`field`: the client's or the hop's), cached under `kind`.
absl::StatusOr<std::string> XfccThumbprint(CertThumbprintCache* cache, char kind,
                                           std::string_view xfcc, const XfccPolicy& policy,
                                           std::string XfccCertificates::*field) {
  return cache->GetOrCompute(kind, xfcc, [&]() -> absl::StatusOr<std::string> {
    absl::StatusOr<XfccCertificates> certs = ClientCertFromXfcc(xfcc, policy);
    if (!certs.ok()) return certs.status();
    return std::move(*certs.*field);
  });
}

}  // namespace

Reason ClientThumbprint(const HttpRequestInfo& request, bool trust_xfcc, const XfccPolicy& policy,
                        CertThumbprintCache* cache, std::string* thumbprint, std::string* detail) {
  auto gateway = GatewayThumbprint(request, cache);
  if (!gateway.ok()) {
    *detail = absl::StrCat("client certificate: ", gateway.status().message());
    return Reason::kMtlsCertInvalid;
  }
  // x-forwarded-client-cert is only meaningful when the operator says the
  // gateway sets it itself (and strips any client-sent copy): otherwise any
  // client could claim any certificate.
  absl::InlinedVector<std::string_view, 2> xfcc;
  if (trust_xfcc) xfcc = request.HeaderValues("x-forwarded-client-cert");
  const bool behind_sidecar = policy.element == XfccPolicy::Element::kBeforeTrustedPeer;
  if (xfcc.empty()) {
    // Behind a sidecar, the certificate it passes is the hop's, never the
    // client's: without the header no client certificate reached popguard.
    *thumbprint = behind_sidecar ? "" : gateway->value_or("");
    return Reason::kOk;
  }
  if (xfcc.size() > 1) {
    *detail = "client certificate: more than one x-forwarded-client-cert header";
    return Reason::kMtlsCertInvalid;
  }
  // Cached per form: 'x' the client's certificate, 'h' the trusted hop's
  // (the policy is fixed for one Authenticator, hence for its cache).
  auto forwarded = XfccThumbprint(cache, 'x', xfcc[0], policy, &XfccCertificates::client);
  if (!forwarded.ok()) {
    *detail = absl::StrCat("client certificate: ", forwarded.status().message());
    return Reason::kMtlsCertInvalid;
  }
  // With the policy on an Istio workload, the certificate the sidecar passes
  // itself (ext_authz source.certificate) is the peer it received the request
  // from, i.e. the gateway's, not the client's: it must be the hop's
  // certificate the sidecar wrote into its own element. Two different
  // certificates for that one connection mean something rewrote one of them.
  if (behind_sidecar && gateway->has_value()) {
    auto hop = XfccThumbprint(cache, 'h', xfcc[0], policy, &XfccCertificates::hop);
    if (!hop.ok()) {
      *detail = absl::StrCat("client certificate: ", hop.status().message());
      return Reason::kMtlsCertInvalid;
    }
    if (!hop->empty() && !ConstantTimeEquals(**gateway, *hop)) {
      *detail = absl::StrCat("the gateway passed certificate ", **gateway,
                             " but the sidecar's x-forwarded-client-cert element names ", *hop);
      return Reason::kMtlsCertConflict;
    }
    *thumbprint = *std::move(forwarded);
    return Reason::kOk;
  }
  // Two sources naming two different certificates: one of them is wrong (a
  // proxy in front rewrote XFCC, or the gateway passed another connection's
  // certificate), and popguard cannot tell which one the client holds the
  // key of. Neither is picked.
  if (gateway->has_value() && !ConstantTimeEquals(**gateway, *forwarded)) {
    *detail = absl::StrCat("x-forwarded-client-cert names certificate ", *forwarded,
                           " but the gateway passed certificate ", **gateway);
    return Reason::kMtlsCertConflict;
  }
  *thumbprint = *std::move(forwarded);
  return Reason::kOk;
}

}  // namespace popguard
