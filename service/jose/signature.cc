#include "service/jose/signature.h"

#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/obj_mac.h>
#include <openssl/rsa.h>

#include <algorithm>
#include <cstring>
#include <string>

#include "service/common/openssl_util.h"
#include "service/jose/jwk.h"

namespace popguard {
namespace {

struct AlgName {
  JwsAlg alg;
  std::string_view name;
};
constexpr AlgName kAlgNames[] = {
    {JwsAlg::kRS256, "RS256"}, {JwsAlg::kRS384, "RS384"},     {JwsAlg::kRS512, "RS512"},
    {JwsAlg::kPS256, "PS256"}, {JwsAlg::kPS384, "PS384"},     {JwsAlg::kPS512, "PS512"},
    {JwsAlg::kES256, "ES256"}, {JwsAlg::kES384, "ES384"},     {JwsAlg::kES512, "ES512"},
    {JwsAlg::kEdDSA, "EdDSA"}, {JwsAlg::kEd25519, "Ed25519"},
};

enum class Family { kRsaPkcs1, kRsaPss, kEcdsa, kEdDSA };
enum Hash { kSha256, kSha384, kSha512, kNumHashes };

struct AlgInfo {
  Family family;
  Hash hash;            // unused for EdDSA (Ed25519 hashes internally)
  int curve_nid;        // ECDSA only
  size_t scalar_bytes;  // ECDSA only: length of r and of s
};

AlgInfo Info(JwsAlg alg) {
  switch (alg) {
    case JwsAlg::kRS256:
      return {Family::kRsaPkcs1, kSha256, 0, 0};
    case JwsAlg::kRS384:
      return {Family::kRsaPkcs1, kSha384, 0, 0};
    case JwsAlg::kRS512:
      return {Family::kRsaPkcs1, kSha512, 0, 0};
    case JwsAlg::kPS256:
      return {Family::kRsaPss, kSha256, 0, 0};
    case JwsAlg::kPS384:
      return {Family::kRsaPss, kSha384, 0, 0};
    case JwsAlg::kPS512:
      return {Family::kRsaPss, kSha512, 0, 0};
    case JwsAlg::kES256:
      return {Family::kEcdsa, kSha256, NID_X9_62_prime256v1, 32};
    case JwsAlg::kES384:
      return {Family::kEcdsa, kSha384, NID_secp384r1, 48};
    case JwsAlg::kES512:
      return {Family::kEcdsa, kSha512, NID_secp521r1, 66};
    case JwsAlg::kEdDSA:
    case JwsAlg::kEd25519:
      return {Family::kEdDSA, kSha512, 0, 0};
  }
  return {Family::kEdDSA, kSha512, 0, 0};
}

bool IsZero(std::string_view bytes) {
  return std::all_of(bytes.begin(), bytes.end(), [](char c) { return c == '\0'; });
}

// LessThan compares two big-endian integers of the same length.
bool LessThan(std::string_view a, std::string_view b) {
  return std::memcmp(a.data(), b.data(), a.size()) < 0;
}

// The longest DER ECDSA-Sig-Value: P-521, 66-byte r and s, each with a 0x00
// sign byte: SEQUENCE (3 header bytes) of two INTEGERs of 2 + 67 bytes.
constexpr size_t kMaxEcdsaDerBytes = 3 + 2 * (2 + 67);

// AppendDerInteger writes the DER INTEGER of the unsigned big-endian `bytes`
// (not all zero, at most 66 bytes) at `out` and returns the bytes written:
// leading zero octets dropped, a 0x00 octet added when the top bit is set.
size_t AppendDerInteger(std::string_view bytes, unsigned char* out) {
  size_t skip = 0;
  while (skip + 1 < bytes.size() && bytes[skip] == '\0') ++skip;
  bytes.remove_prefix(skip);
  const bool sign_byte = static_cast<unsigned char>(bytes[0]) >= 0x80;
  size_t n = 0;
  out[n++] = 0x02;
  out[n++] = static_cast<unsigned char>(bytes.size() + (sign_byte ? 1 : 0));  // < 128
  if (sign_byte) out[n++] = 0x00;
  std::memcpy(out + n, bytes.data(), bytes.size());
  return n + bytes.size();
}

// EcdsaJoseToDer writes SEQUENCE { INTEGER r, INTEGER s } for r and s in
// [1, n-1] into `out` (kMaxEcdsaDerBytes) and returns its length. Done by hand
// rather than through ECDSA_SIG and BIGNUMs: no allocation on the hot path.
size_t EcdsaJoseToDer(std::string_view r, std::string_view s, unsigned char* out) {
  unsigned char body[2 * (2 + 67)];
  size_t len = AppendDerInteger(r, body);
  len += AppendDerInteger(s, body + len);
  size_t n = 0;
  out[n++] = 0x30;
  if (len >= 128) out[n++] = 0x81;  // long form; len <= 138 fits one octet
  out[n++] = static_cast<unsigned char>(len);
  std::memcpy(out + n, body, len);
  return n + len;
}

class OpenSslVerifier final : public SignatureVerifier {
 public:
  OpenSslVerifier() {
    // Fetch the digests once: implicit fetching by EVP_sha256() on every
    // verification costs a provider lookup each time.
    static constexpr const char* kNames[kNumHashes] = {"SHA2-256", "SHA2-384", "SHA2-512"};
    for (int h = 0; h < kNumHashes; ++h) mds_[h].reset(EVP_MD_fetch(nullptr, kNames[h], nullptr));
    for (JwsAlg alg : {JwsAlg::kES256, JwsAlg::kES384, JwsAlg::kES512}) {
      AlgInfo info = Info(alg);
      std::string order(info.scalar_bytes, '\0');
      EcGroupPtr group(EC_GROUP_new_by_curve_name(info.curve_nid));
      if (group != nullptr) {
        BN_bn2binpad(EC_GROUP_get0_order(group.get()),
                     reinterpret_cast<unsigned char*>(order.data()),
                     static_cast<int>(order.size()));
      }
      // If OpenSSL failed, the order stays 0 and every signature is malformed:
      // failing closed.
      orders_[static_cast<int>(alg) - static_cast<int>(JwsAlg::kES256)] = std::move(order);
    }
    ERR_clear_error();
  }

  SignatureResult Verify(JwsAlg alg, const PublicKey& key, std::string_view signing_input,
                         std::string_view signature) const override {
    ErrorQueueGuard clear_errors;
    if (!key.FitsAlg(alg)) return SignatureResult::kInvalid;
    const AlgInfo info = Info(alg);
    const EVP_MD* md = info.family == Family::kEdDSA ? nullptr : mds_[info.hash].get();
    if (info.family != Family::kEdDSA && md == nullptr) return SignatureResult::kInvalid;

    unsigned char der[kMaxEcdsaDerBytes];  // the DER ECDSA-Sig-Value OpenSSL verifies
    std::string_view to_verify = signature;
    switch (info.family) {
      case Family::kRsaPkcs1:
      case Family::kRsaPss:
        // RFC 7518 section 3.3/3.5: exactly the modulus length.
        if (signature.size() != static_cast<size_t>(EVP_PKEY_get_size(key.pkey()))) {
          return SignatureResult::kMalformed;
        }
        break;
      case Family::kEdDSA:
        if (signature.size() != 64) return SignatureResult::kMalformed;
        break;
      case Family::kEcdsa: {
        // RFC 7518 section 3.4: R || S, each exactly the scalar length.
        const size_t len = info.scalar_bytes;
        if (signature.size() != 2 * len) return SignatureResult::kMalformed;
        std::string_view r = signature.substr(0, len);
        std::string_view s = signature.substr(len);
        // r and s must lie in [1, n-1] (SEC 1 section 4.1.4 step 1). Checked
        // here, not left to the library: r = s = 0 verified for every message
        // in Java 15-18 (CVE-2022-21449), and a reimplemented core must not be
        // able to regress on it.
        const std::string& order =
            orders_[static_cast<int>(alg) - static_cast<int>(JwsAlg::kES256)];
        if (IsZero(r) || IsZero(s) || !LessThan(r, order) || !LessThan(s, order)) {
          return SignatureResult::kMalformed;
        }
        const size_t der_len = EcdsaJoseToDer(r, s, der);
        to_verify = std::string_view(reinterpret_cast<const char*>(der), der_len);
        break;
      }
    }

    MdCtxPtr ctx(EVP_MD_CTX_new());
    EVP_PKEY_CTX* pctx = nullptr;  // owned by ctx
    if (ctx == nullptr || EVP_DigestVerifyInit(ctx.get(), &pctx, md, nullptr, key.pkey()) != 1) {
      return SignatureResult::kInvalid;
    }
    if (info.family == Family::kRsaPss) {
      // RFC 7518 section 3.5: MGF1 with the same hash, salt as long as the hash.
      if (EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING) != 1 ||
          EVP_PKEY_CTX_set_rsa_mgf1_md(pctx, md) != 1 ||
          EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, RSA_PSS_SALTLEN_DIGEST) != 1) {
        return SignatureResult::kInvalid;
      }
    } else if (info.family == Family::kRsaPkcs1) {
      if (EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PADDING) != 1) {
        return SignatureResult::kInvalid;
      }
    }
    int rc = EVP_DigestVerify(
        ctx.get(), reinterpret_cast<const unsigned char*>(to_verify.data()), to_verify.size(),
        reinterpret_cast<const unsigned char*>(signing_input.data()), signing_input.size());
    // 1 is success; 0 is a bad signature and a negative value an error: both
    // are a refusal.
    return rc == 1 ? SignatureResult::kValid : SignatureResult::kInvalid;
  }

 private:
  MdPtr mds_[kNumHashes];
  std::string orders_[3];  // group orders of P-256, P-384, P-521, big-endian, scalar length
};

}  // namespace

std::optional<JwsAlg> ParseJwsAlg(std::string_view name) {
  for (const AlgName& entry : kAlgNames) {
    if (entry.name == name) return entry.alg;
  }
  return std::nullopt;
}

std::string_view JwsAlgName(JwsAlg alg) {
  for (const AlgName& entry : kAlgNames) {
    if (entry.alg == alg) return entry.name;
  }
  return "";
}

void SignatureVerifier::VerifyBatch(std::span<const SignatureCheck> checks,
                                    std::span<SignatureResult> results) const {
  for (size_t i = 0; i < checks.size(); ++i) {
    const SignatureCheck& c = checks[i];
    results[i] = Verify(c.alg, *c.key, c.signing_input, c.signature);
  }
}

SignatureVerifierPtr CreateOpenSslVerifier() { return std::make_unique<OpenSslVerifier>(); }

}  // namespace popguard
