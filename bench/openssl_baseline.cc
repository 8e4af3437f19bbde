#include "bench/openssl_baseline.h"

#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>

#include "absl/status/status.h"
#include "service/common/openssl_util.h"

namespace popguard::bench {
namespace {

const char* DigestName(JwsAlg alg) {
  switch (alg) {
    case JwsAlg::kRS256:
    case JwsAlg::kPS256:
    case JwsAlg::kES256:
      return "SHA2-256";
    case JwsAlg::kRS384:
    case JwsAlg::kPS384:
    case JwsAlg::kES384:
      return "SHA2-384";
    case JwsAlg::kRS512:
    case JwsAlg::kPS512:
    case JwsAlg::kES512:
      return "SHA2-512";
    case JwsAlg::kEdDSA:
    case JwsAlg::kEd25519:
      return nullptr;
  }
  return nullptr;
}

size_t EcScalarBytes(JwsAlg alg) {
  switch (alg) {
    case JwsAlg::kES256:
      return 32;
    case JwsAlg::kES384:
      return 48;
    case JwsAlg::kES512:
      return 66;
    default:
      return 0;
  }
}

bool IsPss(JwsAlg alg) {
  return alg == JwsAlg::kPS256 || alg == JwsAlg::kPS384 || alg == JwsAlg::kPS512;
}
bool IsPkcs1(JwsAlg alg) {
  return alg == JwsAlg::kRS256 || alg == JwsAlg::kRS384 || alg == JwsAlg::kRS512;
}

}  // namespace

absl::StatusOr<std::unique_ptr<OpenSslBaseline>> OpenSslBaseline::Create(
    JwsAlg alg, const PublicKey& key, std::string_view jose_signature) {
  auto b = std::unique_ptr<OpenSslBaseline>(new OpenSslBaseline());
  b->alg_ = alg;
  if (const char* name = DigestName(alg)) {
    b->md_ = EVP_MD_fetch(nullptr, name, nullptr);
    if (b->md_ == nullptr) return absl::InternalError("cannot fetch digest");
  }
  // Round-trip the key through SubjectPublicKeyInfo DER: the same key, in the
  // form a direct OpenSSL user would load it from.
  unsigned char* der = nullptr;
  int der_len = i2d_PUBKEY(key.pkey(), &der);
  if (der_len <= 0) return absl::InternalError("cannot encode key");
  b->spki_der_.assign(reinterpret_cast<char*>(der), static_cast<size_t>(der_len));
  OPENSSL_free(der);
  const unsigned char* p = reinterpret_cast<const unsigned char*>(b->spki_der_.data());
  b->pkey_ = d2i_PUBKEY(nullptr, &p, static_cast<long>(b->spki_der_.size()));
  if (b->pkey_ == nullptr) return absl::InternalError("cannot decode key");

  if (size_t n = EcScalarBytes(alg); n != 0) {
    if (jose_signature.size() != 2 * n) return absl::InvalidArgumentError("signature length");
    ECDSA_SIG* sig = ECDSA_SIG_new();
    BIGNUM* r = BN_bin2bn(reinterpret_cast<const unsigned char*>(jose_signature.data()),
                          static_cast<int>(n), nullptr);
    BIGNUM* s = BN_bin2bn(reinterpret_cast<const unsigned char*>(jose_signature.data() + n),
                          static_cast<int>(n), nullptr);
    if (sig == nullptr || r == nullptr || s == nullptr || ECDSA_SIG_set0(sig, r, s) != 1) {
      ECDSA_SIG_free(sig);
      return absl::InternalError("cannot build ECDSA_SIG");
    }
    unsigned char* buf = nullptr;
    int len = i2d_ECDSA_SIG(sig, &buf);
    ECDSA_SIG_free(sig);
    if (len <= 0) return absl::InternalError("cannot encode ECDSA_SIG");
    b->signature_.assign(reinterpret_cast<char*>(buf), static_cast<size_t>(len));
    OPENSSL_free(buf);
  } else {
    b->signature_ = std::string(jose_signature);
  }
  ERR_clear_error();
  return b;
}

OpenSslBaseline::~OpenSslBaseline() {
  EVP_MD_free(md_);
  EVP_PKEY_free(pkey_);
}

bool OpenSslBaseline::VerifyWith(EVP_PKEY* pkey, std::string_view signing_input) const {
  MdCtxPtr ctx(EVP_MD_CTX_new());
  EVP_PKEY_CTX* pctx = nullptr;
  if (ctx == nullptr || EVP_DigestVerifyInit(ctx.get(), &pctx, md_, nullptr, pkey) != 1) {
    return false;
  }
  if (IsPss(alg_)) {
    if (EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING) != 1 ||
        EVP_PKEY_CTX_set_rsa_mgf1_md(pctx, md_) != 1 ||
        EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, RSA_PSS_SALTLEN_DIGEST) != 1) {
      return false;
    }
  } else if (IsPkcs1(alg_)) {
    if (EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PADDING) != 1) return false;
  }
  return EVP_DigestVerify(ctx.get(), reinterpret_cast<const unsigned char*>(signature_.data()),
                          signature_.size(),
                          reinterpret_cast<const unsigned char*>(signing_input.data()),
                          signing_input.size()) == 1;
}

bool OpenSslBaseline::VerifyPreparsed(std::string_view signing_input) const {
  return VerifyWith(pkey_, signing_input);
}

bool OpenSslBaseline::VerifyParsingKey(std::string_view signing_input) const {
  const unsigned char* p = reinterpret_cast<const unsigned char*>(spki_der_.data());
  EVP_PKEY* pkey = d2i_PUBKEY(nullptr, &p, static_cast<long>(spki_der_.size()));
  if (pkey == nullptr) return false;
  bool ok = VerifyWith(pkey, signing_input);
  EVP_PKEY_free(pkey);
  return ok;
}

}  // namespace popguard::bench
