// Helpers shared by the Ed25519 core tests (ed25519_field_test.cc,
// ed25519_point_test.cc, ed25519_test.cc, one binary ed25519_test): the
// OpenSSL BIGNUM reference, encodings, test keys and the OpenSSL signer.
// Test-only; the using-directive below names the internals under test.
#ifndef POPGUARD_TESTS_CRYPTO_ED25519_TEST_UTIL_H_
#define POPGUARD_TESTS_CRYPTO_ED25519_TEST_UTIL_H_

#include "service/crypto/ed25519/ed25519.h"

#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/sha.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <iostream>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "service/common/json.h"
#include "service/common/openssl_util.h"
#include "service/crypto/ed25519/ed25519_field.h"
#include "service/crypto/ed25519/ed25519_msm.h"
#include "service/crypto/ed25519/ed25519_point.h"
#include "service/crypto/ed25519/ed25519_scalar.h"
#include "service/jose/base64url.h"
#include "service/jose/jwk.h"
#include "service/jose/native_verifier.h"
#include "service/jose/signature.h"
#include "tests/testing/test_seed.h"
#include "tests/testing/test_vectors.h"

namespace popguard::ed25519_testing {

using namespace ::popguard::ed25519;            // NOLINT(build/namespaces): the API under test
using namespace ::popguard::ed25519::internal;  // NOLINT(build/namespaces): and its internals

using testing_support::TestSeed;
inline bool LongMode() { return testing_support::LongTests(); }

// ---------------------------------------------------------------------------
// OpenSSL BIGNUM reference.

using Bn = BnPtr;

inline BN_CTX* Ctx() {
  thread_local BnCtxPtr ctx(BN_CTX_new());
  return ctx.get();
}

inline Bn NewBn() { return Bn(BN_new()); }

inline Bn BnFromLe(const uint8_t* bytes, size_t n) {
  return Bn(BN_lebin2bn(bytes, static_cast<int>(n), nullptr));
}

// P and L as BIGNUMs.
inline const BIGNUM* BnP() {
  static BIGNUM* p = [] {
    BIGNUM* r = BN_new();
    BN_set_bit(r, 255);
    BN_sub_word(r, 19);
    return r;
  }();
  return p;
}

inline const BIGNUM* BnL() {
  static BIGNUM* l = [] {
    BIGNUM* r = nullptr;
    BN_dec2bn(&r, "7237005577332262213973186563042994240857116359379907606001950938285454250989");
    return r;
  }();
  return l;
}

// FeValue returns the integer value of the limbs (not reduced).
inline Bn FeValue(const uint64_t v[5]) {
  Bn r = NewBn();
  BN_zero(r.get());
  for (int i = 4; i >= 0; --i) {
    BN_lshift(r.get(), r.get(), 51);
    BN_add_word(r.get(), v[i]);
  }
  return r;
}

inline Bn ModP(const BIGNUM* a) {
  Bn r = NewBn();
  BN_nnmod(r.get(), a, BnP(), Ctx());
  return r;
}

inline Bn FeModP(const Fe& a) { return ModP(FeValue(a.v).get()); }
inline Bn FeModP(const FeLoose& a) { return ModP(FeValue(a.v).get()); }

inline bool BnEq(const BIGNUM* a, const BIGNUM* b) { return BN_cmp(a, b) == 0; }

// ---------------------------------------------------------------------------
// Points: a reference decoder, encodings, test keys and OpenSSL's signer.

// RefDecode is RFC 8032 section 5.1.3 over BIGNUM, strict like the code under
// test: y < p, a square root must exist, x = 0 only with sign 0.
inline bool RefDecode(const uint8_t in[32], Bn* x_out, Bn* y_out) {
  uint8_t bytes[32];
  std::memcpy(bytes, in, 32);
  const bool sign = (bytes[31] & 0x80) != 0;
  bytes[31] &= 0x7f;
  Bn y = BnFromLe(bytes, 32);
  if (BN_cmp(y.get(), BnP()) >= 0) return false;
  Bn d = FeModP(Constants().d);
  Bn y2 = NewBn(), u = NewBn(), v = NewBn(), x2 = NewBn();
  BN_mod_sqr(y2.get(), y.get(), BnP(), Ctx());
  BN_copy(u.get(), y2.get());
  BN_sub_word(u.get(), 1);
  BN_nnmod(u.get(), u.get(), BnP(), Ctx());
  BN_mod_mul(v.get(), d.get(), y2.get(), BnP(), Ctx());
  BN_add_word(v.get(), 1);
  BN_mod_inverse(v.get(), v.get(), BnP(), Ctx());
  BN_mod_mul(x2.get(), u.get(), v.get(), BnP(), Ctx());
  Bn x = NewBn();
  if (BN_is_zero(x2.get())) {
    if (sign) return false;
    BN_zero(x.get());
  } else {
    BIGNUM* root = BN_mod_sqrt(nullptr, x2.get(), BnP(), Ctx());
    ERR_clear_error();
    if (root == nullptr) return false;
    x.reset(root);
    Bn check = NewBn();
    BN_mod_sqr(check.get(), x.get(), BnP(), Ctx());
    if (!BnEq(check.get(), x2.get())) return false;
    if ((BN_is_odd(x.get()) == 1) != sign) BN_sub(x.get(), BnP(), x.get());
  }
  *x_out = std::move(x);
  *y_out = std::move(y);
  return true;
}

inline std::string Encode(const P3& p) {
  std::string out(32, '\0');
  EncodePoint(p, reinterpret_cast<uint8_t*>(out.data()));
  return out;
}

inline const uint8_t* U8(std::string_view s) { return reinterpret_cast<const uint8_t*>(s.data()); }

inline std::string Hex(std::string_view bytes) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out;
  for (unsigned char c : bytes) {
    out.push_back(kDigits[c >> 4]);
    out.push_back(kDigits[c & 15]);
  }
  return out;
}

// EncodingOf builds a 32-byte encoding from a y value (BIGNUM, may be >= p)
// and a sign bit.
inline std::string EncodingOf(const BIGNUM* y, bool sign) {
  std::string out(32, '\0');
  BN_bn2lebinpad(y, reinterpret_cast<uint8_t*>(out.data()), 32);
  if (sign) out[31] = static_cast<char>(out[31] | 0x80);
  return out;
}

inline Scalar RandomScalar(std::mt19937_64& rng) {  // uniform-ish below 2^252 < L
  return Scalar{{rng(), rng(), rng(), rng() >> 4}};
}

// Seed to key the RFC 8032 way (section 5.1.5): clamp the low half of
// SHA-512(seed); A = [a]B.
struct TestKey {
  std::string seed;
  std::string pk;
  Scalar a;  // the secret scalar mod L
  P3 point;
};

inline TestKey KeyFromSeed(const std::string& seed) {
  uint8_t h[64];
  SHA512(U8(seed), seed.size(), h);
  h[0] &= 248;
  h[31] &= 127;
  h[31] |= 64;
  Scalar clamped;
  std::memcpy(clamped.v, h, 32);
  TestKey k;
  k.seed = seed;
  k.point = ScalarMulSlow_vartime(clamped, BasePoint());
  k.pk = Encode(k.point);
  k.a = ScalarFromBytesModL(h);
  return k;
}

inline std::string RandomBytes(std::mt19937_64& rng, size_t n) {
  std::string s(n, '\0');
  for (char& c : s) c = static_cast<char>(rng());
  return s;
}

inline std::string OpenSslPublicKey(const std::string& seed) {
  PkeyPtr key(EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, nullptr, U8(seed), seed.size()));
  std::string pk(32, '\0');
  size_t len = 32;
  EVP_PKEY_get_raw_public_key(key.get(), reinterpret_cast<unsigned char*>(pk.data()), &len);
  return pk;
}

}  // namespace popguard::ed25519_testing

#endif  // POPGUARD_TESTS_CRYPTO_ED25519_TEST_UTIL_H_
