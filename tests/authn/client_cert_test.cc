// Tests for service/authn/client_cert.h: RFC 8705 section 3.1 x5t#S256 thumbprints
// from PEM/DER, Envoy's URL-encoded certificate and x-forwarded-client-cert.
// Certificates are generated at test time (self-signed EC P-256); expected
// thumbprints are computed independently with OpenSSL's SHA256 over
// i2d_X509 output and EVP_EncodeBlock, not with popguard's helpers. Also
// ClientThumbprint: which forwarded certificate a request's binding is proven
// with.
#include "service/authn/client_cert.h"

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/sha.h>
#include <openssl/x509.h>

#include <cctype>
#include <cstdio>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_replace.h"
#include "gtest/gtest.h"
#include "service/authn/cert_thumbprint_cache.h"
#include "service/common/openssl_util.h"

namespace popguard {
namespace {

// A generated certificate in every form the tests need.
struct TestCert {
  std::string der;
  std::string pem;
  std::string key_pem;     // PKCS#8 private key, to test a non-certificate block
  std::string thumbprint;  // expected x5t#S256
  std::string sha256_hex;  // lower-case hex of SHA-256(der), as Envoy's Hash
};

std::string BioContents(BIO* bio) {
  char* data = nullptr;
  long len = BIO_get_mem_data(bio, &data);
  return std::string(data, static_cast<size_t>(len));
}

// IndependentThumbprint computes base64url(SHA-256(der)) with OpenSSL only.
std::string IndependentThumbprint(const std::string& der, std::string* hex) {
  unsigned char digest[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(der.data()), der.size(), digest);
  unsigned char b64[64] = {};
  int n = EVP_EncodeBlock(b64, digest, sizeof(digest));
  std::string out(reinterpret_cast<char*>(b64), static_cast<size_t>(n));
  out = absl::StrReplaceAll(out, {{"+", "-"}, {"/", "_"}, {"=", ""}});
  hex->clear();
  for (unsigned char c : digest) {
    char buf[3];
    std::snprintf(buf, sizeof(buf), "%02x", c);
    hex->append(buf);
  }
  return out;
}

TestCert MakeCert(const char* common_name, long serial) {
  PkeyPtr key(EVP_EC_gen("P-256"));
  EXPECT_NE(key, nullptr);
  X509Ptr cert(X509_new());
  EXPECT_EQ(X509_set_version(cert.get(), 2), 1);
  EXPECT_EQ(ASN1_INTEGER_set(X509_get_serialNumber(cert.get()), serial), 1);
  EXPECT_NE(X509_gmtime_adj(X509_getm_notBefore(cert.get()), 0), nullptr);
  EXPECT_NE(X509_gmtime_adj(X509_getm_notAfter(cert.get()), 3600), nullptr);
  X509_NAME* name = X509_get_subject_name(cert.get());
  EXPECT_EQ(
      X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                                 reinterpret_cast<const unsigned char*>(common_name), -1, -1, 0),
      1);
  EXPECT_EQ(X509_set_issuer_name(cert.get(), name), 1);
  EXPECT_EQ(X509_set_pubkey(cert.get(), key.get()), 1);
  EXPECT_GT(X509_sign(cert.get(), key.get(), EVP_sha256()), 0);

  TestCert out;
  unsigned char* der = nullptr;
  int len = i2d_X509(cert.get(), &der);
  EXPECT_GT(len, 0);
  out.der.assign(reinterpret_cast<char*>(der), static_cast<size_t>(len));
  OPENSSL_free(der);

  BioPtr pem(BIO_new(BIO_s_mem()));
  EXPECT_EQ(PEM_write_bio_X509(pem.get(), cert.get()), 1);
  out.pem = BioContents(pem.get());
  BioPtr key_pem(BIO_new(BIO_s_mem()));
  EXPECT_EQ(
      PEM_write_bio_PrivateKey(key_pem.get(), key.get(), nullptr, nullptr, 0, nullptr, nullptr), 1);
  out.key_pem = BioContents(key_pem.get());
  out.thumbprint = IndependentThumbprint(out.der, &out.sha256_hex);
  return out;
}

// UrlEncodeAll percent-encodes every byte but unreserved ones (upper-case hex,
// or lower-case with `lower`).
std::string UrlEncodeAll(std::string_view in, bool lower = false) {
  std::string out;
  for (unsigned char c : in) {
    if (std::isalnum(c) || c == '-' || c == '.' || c == '_' || c == '~') {
      out.push_back(static_cast<char>(c));
    } else {
      char buf[4];
      std::snprintf(buf, sizeof(buf), lower ? "%%%02x" : "%%%02X", c);
      out.append(buf);
    }
  }
  return out;
}

// UrlEncodeMinimal encodes only newlines and spaces, leaving '+', '/' and '='
// literal, as some gateways do.
std::string UrlEncodeMinimal(const std::string& in) {
  return absl::StrReplaceAll(in, {{"\n", "%0A"}, {" ", "%20"}});
}

// PemBlock wraps `body` (any bytes) as a PEM block with 64-column base64.
std::string PemBlock(const char* label, const std::string& body, const char* headers = "") {
  std::string b64(4 * ((body.size() + 2) / 3) + 1, '\0');
  int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(b64.data()),
                          reinterpret_cast<const unsigned char*>(body.data()),
                          static_cast<int>(body.size()));
  b64.resize(static_cast<size_t>(n));
  std::string out = std::string("-----BEGIN ") + label + "-----\n" + headers;
  for (size_t i = 0; i < b64.size(); i += 64) out += b64.substr(i, 64) + "\n";
  return out + "-----END " + label + "-----\n";
}

class ClientCertTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    cert1_ = new TestCert(MakeCert("client-one", 1));
    cert2_ = new TestCert(MakeCert("client-two", 2));
  }
  static void TearDownTestSuite() {
    delete cert1_;
    delete cert2_;
  }
  void TearDown() override {
    // Failure paths must leave OpenSSL's thread error queue empty.
    EXPECT_EQ(ERR_peek_error(), 0u);
  }
  static TestCert* cert1_;
  static TestCert* cert2_;
};
TestCert* ClientCertTest::cert1_ = nullptr;
TestCert* ClientCertTest::cert2_ = nullptr;

struct DerCase {
  std::string name;
  std::string input;
  std::string expected_der;  // empty when an error is expected
  std::string error;         // exact message of the InvalidArgument
};

TEST_F(ClientCertTest, CertificateDer) {
  const TestCert& c1 = *cert1_;
  const TestCert& c2 = *cert2_;
  std::string truncated = c1.der.substr(0, c1.der.size() - 1);
  const DerCase kCases[] = {
      {"pem", c1.pem, c1.der, ""},
      {"pem with text before", "subject=CN = client-one\nissuer=x\n" + c1.pem, c1.der, ""},
      {"pem crlf", absl::StrReplaceAll(c1.pem, {{"\n", "\r\n"}}), c1.der, ""},
      {"pem re-wrapped", PemBlock("CERTIFICATE", c1.der), c1.der, ""},
      {"chain: first cert used", c1.pem + c2.pem, c1.der, ""},
      {"chain: other order", c2.pem + c1.pem, c2.der, ""},
      {"der", c1.der, c1.der, ""},
      {"empty", "", "", "certificate: empty input"},
      {"garbage", "hello world", "", "certificate: not a DER X.509 certificate"},
      {"truncated der", truncated, "", "certificate: not a DER X.509 certificate"},
      {"der with trailing byte", c1.der + std::string(1, '\0'), "",
       "certificate: trailing bytes after the DER certificate"},
      {"der followed by another", c1.der + c2.der, "",
       "certificate: trailing bytes after the DER certificate"},
      {"pem with truncated der", PemBlock("CERTIFICATE", truncated), "",
       "certificate: not a DER X.509 certificate"},
      {"pem with trailing bytes", PemBlock("CERTIFICATE", c1.der + "xyz"), "",
       "certificate: trailing bytes after the DER certificate"},
      {"pem garbage body", PemBlock("CERTIFICATE", "not a certificate at all"), "",
       "certificate: not a DER X.509 certificate"},
      {"pem bad base64", "-----BEGIN CERTIFICATE-----\n!!!!\n-----END CERTIFICATE-----\n", "",
       "certificate: no valid PEM block"},
      {"pem without end", c1.pem.substr(0, c1.pem.find("-----END")), "",
       "certificate: no valid PEM block"},
      {"private key first", c1.key_pem + c1.pem, "",
       "certificate: first PEM block is not a CERTIFICATE"},
      {"trusted certificate label", PemBlock("TRUSTED CERTIFICATE", c1.der), "",
       "certificate: first PEM block is not a CERTIFICATE"},
      {"pem with encryption headers",
       PemBlock(
           "CERTIFICATE", c1.der,
           "Proc-Type: 4,ENCRYPTED\nDEK-Info: AES-128-CBC,00112233445566778899AABBCCDDEEFF\n\n"),
       "", "certificate: PEM headers are not supported"},
      {"too large", c1.pem + std::string(kMaxCertificateInputBytes, '\n'), "",
       "certificate: input too large"},
  };
  for (const DerCase& c : kCases) {
    SCOPED_TRACE(c.name);
    absl::StatusOr<std::string> der = CertificateDer(c.input);
    if (c.error.empty()) {
      ASSERT_TRUE(der.ok()) << der.status();
      EXPECT_EQ(*der, c.expected_der);
    } else {
      ASSERT_FALSE(der.ok());
      EXPECT_EQ(der.status().code(), absl::StatusCode::kInvalidArgument);
      EXPECT_EQ(der.status().message(), c.error);
    }
    EXPECT_EQ(ERR_peek_error(), 0u);
  }
}

TEST_F(ClientCertTest, CertificateDerRejectsEveryTruncation) {
  for (size_t len = 0; len < cert1_->der.size(); ++len) {
    SCOPED_TRACE(len);
    absl::StatusOr<std::string> der = CertificateDer(cert1_->der.substr(0, len));
    ASSERT_FALSE(der.ok());
    EXPECT_EQ(der.status().code(), absl::StatusCode::kInvalidArgument);
  }
}

TEST_F(ClientCertTest, CertificateThumbprint) {
  EXPECT_EQ(CertificateThumbprint(cert1_->der), cert1_->thumbprint);
  EXPECT_EQ(CertificateThumbprint(cert2_->der), cert2_->thumbprint);
  EXPECT_NE(cert1_->thumbprint, cert2_->thumbprint);
  // SHA-256 of the empty string (FIPS 180-4 test value), base64url.
  EXPECT_EQ(CertificateThumbprint(""), "47DEQpj8HBSa-_TImW-5JCeuQeRkm5NMpJWZG3hSuFU");
  EXPECT_TRUE(IsValidThumbprint(cert1_->thumbprint));
}

struct ThumbprintCase {
  std::string name;
  std::string input;
  std::string expected;  // thumbprint; empty when an error is expected
  std::string error;     // exact InvalidArgument message
};

void RunThumbprintCases(const std::vector<ThumbprintCase>& cases,
                        absl::StatusOr<std::string> (*fn)(std::string_view)) {
  for (const ThumbprintCase& c : cases) {
    SCOPED_TRACE(c.name);
    absl::StatusOr<std::string> thumbprint = fn(c.input);
    if (c.error.empty()) {
      ASSERT_TRUE(thumbprint.ok()) << thumbprint.status();
      EXPECT_EQ(*thumbprint, c.expected);
    } else {
      ASSERT_FALSE(thumbprint.ok()) << *thumbprint;
      EXPECT_EQ(thumbprint.status().code(), absl::StatusCode::kInvalidArgument);
      EXPECT_EQ(thumbprint.status().message(), c.error);
    }
    EXPECT_EQ(ERR_peek_error(), 0u);
  }
}

TEST_F(ClientCertTest, ThumbprintFromEnvoyCertificate) {
  const TestCert& c1 = *cert1_;
  const TestCert& c2 = *cert2_;
  std::vector<ThumbprintCase> cases = {
      {"all encoded", UrlEncodeAll(c1.pem), c1.thumbprint, ""},
      {"lower-case hex", UrlEncodeAll(c1.pem, /*lower=*/true), c1.thumbprint, ""},
      {"minimal encoding keeps '+' literal", UrlEncodeMinimal(c1.pem), c1.thumbprint, ""},
      {"chain", UrlEncodeAll(c1.pem + c2.pem), c1.thumbprint, ""},
      {"other cert", UrlEncodeAll(c2.pem), c2.thumbprint, ""},
      {"empty", "", "", "certificate: empty input"},
      {"bad percent-encoding", UrlEncodeAll(c1.pem) + "%0", "",
       "certificate: invalid percent-encoding"},
      {"bad hex digit", "-----BEGIN%2GCERTIFICATE", "", "certificate: invalid percent-encoding"},
      {"not a certificate", UrlEncodeAll(c1.key_pem), "",
       "certificate: first PEM block is not a CERTIFICATE"},
      {"garbage", "abc", "", "certificate: not a DER X.509 certificate"},
  };
  RunThumbprintCases(cases, &ThumbprintFromEnvoyCertificate);
}

TEST_F(ClientCertTest, ThumbprintFromXfcc) {
  const TestCert& c1 = *cert1_;
  const TestCert& c2 = *cert2_;
  const std::string cert1 = UrlEncodeAll(c1.pem);
  const std::string hash1 = c1.sha256_hex;
  const std::string hash1_upper = absl::AsciiStrToUpper(hash1);
  const std::string hash2 = c2.sha256_hex;
  const std::string& t1 = c1.thumbprint;
  std::vector<ThumbprintCase> cases = {
      {"envoy full element",
       "By=spiffe://cluster.local/ns/default/sa/api;Hash=" + hash1 + ";Cert=\"" + cert1 +
           "\";Chain=\"" + UrlEncodeAll(c1.pem + c2.pem) +
           "\";Subject=\"/C=US/ST=CA/L=San Francisco/OU=Lyft/CN=Test Client\";"
           "URI=spiffe://client;DNS=a.example;DNS=b.example",
       t1, ""},
      {"cert quoted", "Cert=\"" + cert1 + "\"", t1, ""},
      {"cert unquoted", "Cert=" + cert1, t1, ""},
      {"cert other", "Cert=\"" + UrlEncodeAll(c2.pem) + "\"", c2.thumbprint, ""},
      {"hash lower-case", "Hash=" + hash1, t1, ""},
      {"hash upper-case", "Hash=" + hash1_upper, t1, ""},
      {"hash quoted", "Hash=\"" + hash1 + "\"", t1, ""},
      {"hash and cert agree", "Hash=" + hash1_upper + ";Cert=" + cert1, t1, ""},
      {"keys are case-insensitive", "by=x;HASH=" + hash1 + ";cErT=\"" + cert1 + "\"", t1, ""},
      {"quoted values with , and ;",
       "Subject=\"CN=a,O=b;c=d\";By=\"x,y;z\";Hash=" + hash1 + ";URI=\"u,v\"", t1, ""},
      {"escaped quotes", "Subject=\"say \\\"hi\\\", ok;\";Hash=" + hash1, t1, ""},
      {"whitespace around pairs", "  By=x ; Hash = " + hash1 + " ", t1, ""},
      {"unknown keys ignored", "Foo=bar;Hash=" + hash1, t1, ""},
      {"hash and cert disagree", "Hash=" + hash2 + ";Cert=\"" + cert1 + "\"", "",
       "xfcc: Hash does not match Cert"},
      {"two elements", "Hash=" + hash1 + ",Hash=" + hash2, "",
       "xfcc: more than one element (several proxy hops); the client certificate is ambiguous"},
      {"two identical elements", "Hash=" + hash1 + ",Hash=" + hash1, "",
       "xfcc: more than one element (several proxy hops); the client certificate is ambiguous"},
      {"two elements with quoted commas", "By=\"a,b\";Hash=" + hash1 + ",By=\"c,d\"", "",
       "xfcc: more than one element (several proxy hops); the client certificate is ambiguous"},
      {"by only", "By=spiffe://cluster.local/ns/default/sa/api", "", "xfcc: no Cert or Hash"},
      {"chain only", "Chain=\"" + UrlEncodeAll(c1.pem) + "\"", "", "xfcc: no Cert or Hash"},
      {"empty", "", "", "xfcc: empty header"},
      {"blank", "  ", "", "xfcc: empty header"},
      {"hash too short", "Hash=" + hash1.substr(1), "", "xfcc: Hash is not 64 hex digits"},
      {"hash too long", "Hash=" + hash1 + "0", "", "xfcc: Hash is not 64 hex digits"},
      {"hash not hex", "Hash=" + std::string(64, 'g'), "", "xfcc: Hash is not 64 hex digits"},
      {"hash empty", "Hash=", "", "xfcc: Hash is not 64 hex digits"},
      {"hash base64url", "Hash=" + t1, "", "xfcc: Hash is not 64 hex digits"},
      {"duplicate hash", "Hash=" + hash1 + ";Hash=" + hash1, "", "xfcc: duplicate Hash"},
      {"duplicate cert", "Cert=" + cert1 + ";cert=" + cert1, "", "xfcc: duplicate Cert"},
      {"bad cert", "Cert=\"garbage\";Hash=" + hash1, "",
       "xfcc: Cert: certificate: not a DER X.509 certificate"},
      {"bad cert percent-encoding", "Cert=\"%zz\"", "",
       "xfcc: Cert: certificate: invalid percent-encoding"},
      {"unterminated quote", "Hash=" + hash1 + ";Subject=\"abc", "",
       "xfcc: unterminated quoted value"},
      {"escape at end", "Subject=\"abc\\", "", "xfcc: unterminated quoted value"},
      {"text after quoted value", "Subject=\"a\"b;Hash=" + hash1, "",
       "xfcc: unexpected character after quoted value"},
      {"stray quote", "Hash=" + hash1 + ";By=a\"b", "", "xfcc: stray '\"' in value"},
      {"pair without '='", "Hash", "", "xfcc: pair without '='"},
      {"key without value separator", "By;Hash=" + hash1, "", "xfcc: pair without '='"},
      {"empty pair", "Hash=" + hash1 + ";;By=x", "", "xfcc: empty key or empty pair"},
      {"trailing ;", "Hash=" + hash1 + ";", "", "xfcc: empty key or empty pair"},
      {"empty key", "=x;Hash=" + hash1, "", "xfcc: empty key or empty pair"},
      {"trailing ,", "Hash=" + hash1 + ",", "", "xfcc: empty key or empty pair"},
      {"too large",
       "Hash=" + hash1 + ";By=\"" + std::string(4 * kMaxCertificateInputBytes, 'a') + "\"", "",
       "xfcc: header too large"},
  };
  RunThumbprintCases(cases, &ThumbprintFromXfcc);
}

// ClientThumbprint: the certificate the gateway passed and, when trusted, the
// one x-forwarded-client-cert names; two different ones are a conflict.
TEST_F(ClientCertTest, ClientThumbprint) {
  const TestCert& c1 = *cert1_;
  const TestCert& c2 = *cert2_;
  const std::string xfcc1 = "Hash=" + c1.sha256_hex;
  struct Case {
    std::string why;
    HttpRequestInfo::CertKind kind;
    std::string cert;
    std::vector<std::string> xfcc;
    bool trust_xfcc;
    Reason want;
    std::string thumbprint;
  };
  using K = HttpRequestInfo::CertKind;
  const std::vector<Case> cases = {
      {"nothing forwarded", K::kNone, "", {}, true, Reason::kOk, ""},
      {"gateway PEM", K::kPemOrDer, c1.pem, {}, false, Reason::kOk, c1.thumbprint},
      {"gateway DER", K::kPemOrDer, c1.der, {}, false, Reason::kOk, c1.thumbprint},
      {"gateway Envoy URL-encoded PEM",
       K::kEnvoyUrlEncodedPem,
       UrlEncodeAll(c1.pem),
       {},
       false,
       Reason::kOk,
       c1.thumbprint},
      {"gateway thumbprint", K::kThumbprint, c1.thumbprint, {}, false, Reason::kOk, c1.thumbprint},
      {"gateway thumbprint not base64url SHA-256",
       K::kThumbprint,
       c1.sha256_hex,
       {},
       false,
       Reason::kMtlsCertInvalid,
       ""},
      {"gateway PEM unparsable",
       K::kPemOrDer,
       "not a certificate",
       {},
       false,
       Reason::kMtlsCertInvalid,
       ""},
      {"untrusted xfcc is ignored", K::kNone, "", {xfcc1}, false, Reason::kOk, ""},
      {"trusted xfcc alone", K::kNone, "", {xfcc1}, true, Reason::kOk, c1.thumbprint},
      {"trusted xfcc agreeing with the gateway",
       K::kThumbprint,
       c1.thumbprint,
       {xfcc1},
       true,
       Reason::kOk,
       c1.thumbprint},
      {"trusted xfcc naming another certificate",
       K::kThumbprint,
       c2.thumbprint,
       {xfcc1},
       true,
       Reason::kMtlsCertConflict,
       ""},
      {"two xfcc headers", K::kNone, "", {xfcc1, xfcc1}, true, Reason::kMtlsCertInvalid, ""},
      {"xfcc without a certificate",
       K::kNone,
       "",
       {"By=spiffe://x"},
       true,
       Reason::kMtlsCertInvalid,
       ""},
  };
  CertThumbprintCache cache;
  for (const Case& c : cases) {
    SCOPED_TRACE(c.why);
    HttpRequestInfo request;
    request.cert_kind = c.kind;
    request.cert = c.cert;
    for (const std::string& value : c.xfcc) {
      request.headers.emplace_back("x-forwarded-client-cert", value);
    }
    std::string thumbprint;
    std::string detail;
    EXPECT_EQ(ReasonCode(ClientThumbprint(request, c.trust_xfcc, XfccPolicy(), &cache, &thumbprint,
                                          &detail)),
              ReasonCode(c.want))
        << detail;
    if (c.want == Reason::kOk) {
      EXPECT_EQ(thumbprint, c.thumbprint);
    }
  }
}

// Istio with the policy on a workload: the ingress gateway sets the client's
// element, the workload's sidecar appends its own (By: the workload, Hash and
// URI: the gateway it received the request from).
TEST_F(ClientCertTest, ClientCertFromXfccBeforeTrustedPeer) {
  const TestCert& c1 = *cert1_;
  const TestCert& c2 = *cert2_;  // plays the gateway's mesh certificate
  const std::string gw = "spiffe://cluster.local/ns/istio-system/sa/istio-ingressgateway";
  const std::string other = "spiffe://cluster.local/ns/shop/sa/frontend";
  const std::string client =
      "Hash=" + c1.sha256_hex + ";Cert=\"" + UrlEncodeAll(c1.pem) + "\";Subject=\"CN=client-one\"";
  const std::string sidecar =
      "By=spiffe://cluster.local/ns/shop/sa/api;Hash=" + c2.sha256_hex + ";Subject=\"\";URI=";
  XfccPolicy policy;
  policy.element = XfccPolicy::Element::kBeforeTrustedPeer;
  policy.trusted_peers = {"spiffe://cluster.local/ns/istio-system/sa/other-gateway", gw};
  struct Case {
    std::string name;
    std::string input;
    std::string client;  // expected client thumbprint
    std::string hop;     // expected hop thumbprint
    std::string error;   // exact InvalidArgument message; empty: success
  };
  const std::vector<Case> cases = {
      {"gateway element then sidecar element", client + "," + sidecar + gw, c1.thumbprint,
       c2.thumbprint, ""},
      {"URI key in another case",
       client + "," + sidecar.substr(0, sidecar.size() - 4) + "uri=" + gw, c1.thumbprint,
       c2.thumbprint, ""},
      {"client element with Hash only", "Hash=" + c1.sha256_hex + "," + sidecar + gw, c1.thumbprint,
       c2.thumbprint, ""},
      {"sidecar element without Hash", client + ",By=x;URI=" + gw, c1.thumbprint, "", ""},
      {"only the sidecar element: the client sent no certificate", sidecar + gw, "", c2.thumbprint,
       ""},
      {"hop is a workload, not a gateway", client + "," + sidecar + other, "", "",
       "xfcc: last element's URI is not one of xfcc.trusted_peers (the request did not come "
       "through a trusted gateway)"},
      {"lone element from an untrusted hop", sidecar + other, "", "",
       "xfcc: last element's URI is not one of xfcc.trusted_peers (the request did not come "
       "through a trusted gateway)"},
      {"trusted URI only in the client's element", sidecar + gw + "," + sidecar + other, "", "",
       "xfcc: last element's URI is not one of xfcc.trusted_peers (the request did not come "
       "through a trusted gateway)"},
      {"gateway identity with a trailing slash", client + "," + sidecar + gw + "/", "", "",
       "xfcc: last element's URI is not one of xfcc.trusted_peers (the request did not come "
       "through a trusted gateway)"},
      {"sidecar element without URI", client + ",By=x;Hash=" + c2.sha256_hex, "", "",
       "xfcc: last element has no URI (the hop is unknown)"},
      {"sidecar element with two URI", client + "," + sidecar + gw + ";URI=" + gw, "", "",
       "xfcc: last element has several URI"},
      {"three elements (a forged one in front)", client + "," + client + "," + sidecar + gw, "", "",
       "xfcc: more than two elements (expected the gateway's and the sidecar's)"},
      {"client element without a certificate", "Subject=\"CN=x\"," + sidecar + gw, "", "",
       "xfcc: no Cert or Hash"},
      {"client element Hash and Cert disagree",
       "Hash=" + c2.sha256_hex + ";Cert=\"" + UrlEncodeAll(c1.pem) + "\"," + sidecar + gw, "", "",
       "xfcc: Hash does not match Cert"},
      {"sidecar element Hash malformed", client + ",Hash=abc;URI=" + gw, "", "",
       "xfcc: Hash is not 64 hex digits"},
      {"empty", "", "", "", "xfcc: empty header"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    absl::StatusOr<XfccCertificates> certs = ClientCertFromXfcc(c.input, policy);
    if (c.error.empty()) {
      ASSERT_TRUE(certs.ok()) << certs.status();
      EXPECT_EQ(certs->client, c.client);
      EXPECT_EQ(certs->hop, c.hop);
    } else {
      ASSERT_FALSE(certs.ok());
      EXPECT_EQ(certs.status().code(), absl::StatusCode::kInvalidArgument);
      EXPECT_EQ(certs.status().message(), c.error);
    }
    EXPECT_EQ(ERR_peek_error(), 0u);
  }
  // The default policy keeps today's strictness for the same Istio header.
  EXPECT_EQ(ClientCertFromXfcc(client + "," + sidecar + gw, XfccPolicy()).status().message(),
            "xfcc: more than one element (several proxy hops); the client certificate is "
            "ambiguous");
}

TEST(IsValidThumbprintTest, Table) {
  struct Case {
    std::string input;
    bool valid;
  };
  const Case kCases[] = {
      {"47DEQpj8HBSa-_TImW-5JCeuQeRkm5NMpJWZG3hSuFU", true},
      {"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", true},
      {"", false},
      {"47DEQpj8HBSa-_TImW-5JCeuQeRkm5NMpJWZG3hSuF", false},    // 42 chars
      {"47DEQpj8HBSa-_TImW-5JCeuQeRkm5NMpJWZG3hSuFU=", false},  // padded
      {"47DEQpj8HBSa-_TImW-5JCeuQeRkm5NMpJWZG3hSuFUA", false},  // 44 chars
      {"47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU", false},   // standard alphabet
      {"47DEQpj8HBSa-_TImW-5JCeuQeRkm5NMpJWZG3hSuFV", false},   // non-zero trailing bits
      {"47DEQpj8HBSa-_TImW-5JCeuQeRkm5NMpJWZG3hSu U", false},   // space
      {"e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855", false},  // hex
  };
  for (const Case& c : kCases) {
    SCOPED_TRACE(c.input);
    EXPECT_EQ(IsValidThumbprint(c.input), c.valid);
  }
}

}  // namespace
}  // namespace popguard
