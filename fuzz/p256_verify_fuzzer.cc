// libFuzzer target: arbitrary (key, message, signature) through the native
// P-256 ECDSA core (cold and with a key table) and through OpenSSL; every
// verdict must agree, and the core must never crash or read out of bounds.
//
// Input layout: mode (1 byte) || key material (64) || signature (64) || message.
//   mode bit 0: the key is k*G for k = the first 32 key bytes (always a valid
//               key), else the 64 bytes are taken as raw x || y (mostly off
//               the curve: both sides must refuse the key);
//   mode bit 1: the signature is a fresh valid signature by k over the
//               message, XORed with the 64 signature bytes (zeros keep it
//               valid; a few set bits probe near-valid signatures);
//   mode bit 2: the key table is built with window bits 2..8 taken from
//               the mode's high bits instead of kKeyWindowBits.
//
// Built and run like every target in fuzz/CMakeLists.txt (README, Testing):
// `make fuzz`, corpus fuzz/corpus/p256_verify_fuzzer/.
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/ecdsa.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/obj_mac.h>
#include <openssl/param_build.h>
#include <openssl/sha.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <memory>
#include <optional>
#include <string>

#include "service/crypto/p256/p256.h"

namespace {

using popguard::p256::CombTable;
using popguard::p256::EcdsaPublicKey;
using popguard::p256::EcdsaVerdict;

EC_GROUP* Group() {
  static EC_GROUP* group = EC_GROUP_new_by_curve_name(NID_X9_62_prime256v1);
  return group;
}

// PublicFromScalar writes x || y of k*G (k reduced mod n, 0 -> 1).
void PublicFromScalar(const uint8_t k_bytes[32], uint8_t xy[64], BIGNUM* k) {
  BN_CTX* ctx = BN_CTX_new();
  BN_bin2bn(k_bytes, 32, k);
  BN_mod(k, k, EC_GROUP_get0_order(Group()), ctx);
  if (BN_is_zero(k)) BN_one(k);
  EC_POINT* q = EC_POINT_new(Group());
  EC_POINT_mul(Group(), q, k, nullptr, nullptr, ctx);
  uint8_t encoded[65];
  EC_POINT_point2oct(Group(), q, POINT_CONVERSION_UNCOMPRESSED, encoded, sizeof(encoded), ctx);
  std::memcpy(xy, encoded + 1, 64);
  EC_POINT_free(q);
  BN_CTX_free(ctx);
}

// OpenSslKey builds an EVP_PKEY from x || y (and the private k if given);
// null when OpenSSL refuses the point.
EVP_PKEY* OpenSslKey(const uint8_t xy[64], const BIGNUM* k) {
  uint8_t encoded[65];
  encoded[0] = 0x04;
  std::memcpy(encoded + 1, xy, 64);
  OSSL_PARAM_BLD* bld = OSSL_PARAM_BLD_new();
  OSSL_PARAM_BLD_push_utf8_string(bld, OSSL_PKEY_PARAM_GROUP_NAME, "prime256v1", 0);
  OSSL_PARAM_BLD_push_octet_string(bld, OSSL_PKEY_PARAM_PUB_KEY, encoded, sizeof(encoded));
  if (k != nullptr) OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_PRIV_KEY, k);
  OSSL_PARAM* params = OSSL_PARAM_BLD_to_param(bld);
  EVP_PKEY_CTX* ctx = EVP_PKEY_CTX_new_from_name(nullptr, "EC", nullptr);
  EVP_PKEY* pkey = nullptr;
  if (EVP_PKEY_fromdata_init(ctx) != 1 ||
      EVP_PKEY_fromdata(ctx, &pkey, k != nullptr ? EVP_PKEY_KEYPAIR : EVP_PKEY_PUBLIC_KEY,
                        params) != 1) {
    pkey = nullptr;
  }
  if (pkey != nullptr) {
    // Same acceptance rule as service/jose/jwk.cc: the public key check.
    EVP_PKEY_CTX* check = EVP_PKEY_CTX_new_from_pkey(nullptr, pkey, nullptr);
    if (EVP_PKEY_public_check_quick(check) != 1) {
      EVP_PKEY_free(pkey);
      pkey = nullptr;
    }
    EVP_PKEY_CTX_free(check);
  }
  EVP_PKEY_CTX_free(ctx);
  OSSL_PARAM_free(params);
  OSSL_PARAM_BLD_free(bld);
  ERR_clear_error();
  return pkey;
}

void SignDigest(EVP_PKEY* pkey, const uint8_t digest[32], uint8_t sig[64]) {
  EVP_PKEY_CTX* ctx = EVP_PKEY_CTX_new(pkey, nullptr);
  uint8_t der[80];
  size_t len = sizeof(der);
  if (EVP_PKEY_sign_init(ctx) != 1 || EVP_PKEY_sign(ctx, der, &len, digest, 32) != 1) abort();
  EVP_PKEY_CTX_free(ctx);
  const uint8_t* p = der;
  ECDSA_SIG* s = d2i_ECDSA_SIG(nullptr, &p, static_cast<long>(len));
  BN_bn2binpad(ECDSA_SIG_get0_r(s), sig, 32);
  BN_bn2binpad(ECDSA_SIG_get0_s(s), sig + 32, 32);
  ECDSA_SIG_free(s);
}

bool OpenSslVerify(EVP_PKEY* pkey, const uint8_t digest[32], const uint8_t sig[64]) {
  ECDSA_SIG* s = ECDSA_SIG_new();
  ECDSA_SIG_set0(s, BN_bin2bn(sig, 32, nullptr), BN_bin2bn(sig + 32, 32, nullptr));
  uint8_t* der = nullptr;
  const int der_len = i2d_ECDSA_SIG(s, &der);
  ECDSA_SIG_free(s);
  EVP_PKEY_CTX* ctx = EVP_PKEY_CTX_new(pkey, nullptr);
  const bool ok = EVP_PKEY_verify_init(ctx) == 1 &&
                  EVP_PKEY_verify(ctx, der, static_cast<size_t>(der_len), digest, 32) == 1;
  EVP_PKEY_CTX_free(ctx);
  OPENSSL_free(der);
  ERR_clear_error();
  return ok;
}

// TableFor returns the key table for (point, window), built once per pair
// while at most kMaxTables are kept. Building a table is deterministic in its
// key and window, and was 82 % of an execution (perf): most mutations change
// only the signature or the message, so rebuilding the same table again and
// again spent the fuzzer's time where no new input could reach. Every new
// (key, window) pair is still built, and checked, the first time it is seen.
const CombTable& TableFor(const EcdsaPublicKey& key, const uint8_t xy[64], int window) {
  constexpr size_t kMaxTables = 256;
  static std::map<std::string, std::unique_ptr<const CombTable>> tables;
  std::string id(reinterpret_cast<const char*>(xy), 64);
  id.push_back(static_cast<char>(window));
  auto it = tables.find(id);
  if (it == tables.end()) {
    if (tables.size() >= kMaxTables) tables.clear();
    it = tables.emplace(std::move(id), CombTable::Build_vartime(key.point(), window)).first;
  }
  return *it->second;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1 + 64 + 64) return 0;
  const uint8_t mode = data[0];
  const uint8_t* key_bytes = data + 1;
  const uint8_t* sig_bytes = data + 65;
  const uint8_t* msg = data + 129;
  const size_t msg_len = size - 129;

  uint8_t xy[64];
  BIGNUM* k = BN_new();
  const bool from_scalar = (mode & 1) != 0;
  if (from_scalar) {
    PublicFromScalar(key_bytes, xy, k);
  } else {
    std::memcpy(xy, key_bytes, 64);
  }
  EVP_PKEY* pkey = OpenSslKey(xy, from_scalar ? k : nullptr);
  const std::optional<EcdsaPublicKey> native = EcdsaPublicKey::FromAffineBytes_vartime(xy);
  // Both accept exactly the same keys.
  if (native.has_value() != (pkey != nullptr)) abort();

  uint8_t digest[32];
  SHA256(msg, msg_len, digest);
  uint8_t sig[64];
  std::memcpy(sig, sig_bytes, 64);
  if (pkey != nullptr && from_scalar && (mode & 2) != 0) {
    SignDigest(pkey, digest, sig);
    for (int i = 0; i < 64; ++i) sig[i] ^= sig_bytes[i];
  }

  if (native.has_value()) {
    const int window = (mode & 4) != 0 ? 2 + (mode >> 3) % 7 : popguard::p256::kKeyWindowBits;
    const CombTable& table = TableFor(*native, xy, window);
    const EcdsaVerdict cold =
        popguard::p256::EcdsaVerifyDigest_vartime(*native, nullptr, digest, sig);
    const EcdsaVerdict hot =
        popguard::p256::EcdsaVerifyDigest_vartime(*native, &table, digest, sig);
    const bool expected = OpenSslVerify(pkey, digest, sig);
    if (cold != hot || (cold == EcdsaVerdict::kValid) != expected) {
      std::fprintf(stderr, "verdicts differ: cold %d hot %d openssl %d\n", static_cast<int>(cold),
                   static_cast<int>(hot), expected ? 1 : 0);
      abort();
    }
    if ((cold == EcdsaVerdict::kScalarOutOfRange) !=
        !popguard::p256::EcdsaScalarsInRange_vartime(sig)) {
      abort();
    }
  }
  EVP_PKEY_free(pkey);
  BN_free(k);
  return 0;
}
