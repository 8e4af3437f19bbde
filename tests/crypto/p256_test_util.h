// Helpers shared by the P-256 core tests (p256_field_test.cc,
// p256_point_test.cc, p256_test.cc, one binary p256_test): OpenSSL as the
// reference (BIGNUM, EC_POINT_mul), random and edge values, and the fixture
// that runs a case on both field backends (MULX/ADX assembly and portable).
#ifndef POPGUARD_TESTS_CRYPTO_P256_TEST_UTIL_H_
#define POPGUARD_TESTS_CRYPTO_P256_TEST_UTIL_H_

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/ecdsa.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/obj_mac.h>
#include <openssl/sha.h>

#include <cstdlib>
#include <cstring>
#include <iostream>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <tuple>
#include <vector>

#include "gtest/gtest.h"
#include "service/common/crypto_util.h"
#include "service/common/json.h"
#include "service/common/openssl_util.h"
#include "service/crypto/p256/p256.h"
#include "service/crypto/p256/p256_field.h"
#include "service/crypto/p256/p256_point.h"
#include "service/jose/base64url.h"
#include "service/jose/jwk.h"
#include "service/jose/native_verifier.h"
#include "service/jose/signature.h"
#include "service/tools/mint/signer.h"
#include "tests/testing/test_seed.h"
#include "tests/testing/test_vectors.h"

namespace popguard::p256_testing {

using p256::AffinePoint;
using p256::CombTable;
using p256::EcdsaPublicKey;
using p256::EcdsaVerdict;
using p256::Fe;
using p256::JacobianPoint;
using p256::Sc;

// ---- OpenSSL helpers ----

inline const uint8_t* U8(std::string_view s) { return reinterpret_cast<const uint8_t*>(s.data()); }

inline BnPtr Bn(std::string_view be) {
  return BnPtr(BN_bin2bn(U8(be), static_cast<int>(be.size()), nullptr));
}

inline BnPtr BnHex(const char* hex) {
  BIGNUM* b = nullptr;
  BN_hex2bn(&b, hex);
  return BnPtr(b);
}

inline std::string Bytes32(const BIGNUM* b) {
  std::string out(32, '\0');
  EXPECT_EQ(BN_bn2binpad(b, reinterpret_cast<unsigned char*>(out.data()), 32), 32);
  return out;
}

// Fixed context: the P-256 group and its constants from OpenSSL.
struct Curve {
  EcGroupPtr group{EC_GROUP_new_by_curve_name(NID_X9_62_prime256v1)};
  BnCtxPtr ctx{BN_CTX_new()};
  BnPtr p{BN_new()}, a{BN_new()}, b{BN_new()}, n{BN_new()};
  Curve() {
    EC_GROUP_get_curve(group.get(), p.get(), a.get(), b.get(), ctx.get());
    BN_copy(n.get(), EC_GROUP_get0_order(group.get()));
  }
};

inline const Curve& TheCurve() {
  static const Curve* curve = new Curve();
  return *curve;
}

inline std::string LimbsToBytes(const uint64_t v[4]) {
  std::string out(32, '\0');
  for (int i = 0; i < 4; ++i) {
    for (int j = 0; j < 8; ++j) out[(3 - i) * 8 + j] = static_cast<char>(v[i] >> (56 - 8 * j));
  }
  return out;
}

inline std::string FeBytes(const Fe& a) {
  uint8_t out[32];
  p256::FeToBytes(out, a);
  return std::string(reinterpret_cast<char*>(out), 32);
}

inline std::string OsslAffineBytes(const EC_POINT* p) {
  const Curve& c = TheCurve();
  if (EC_POINT_is_at_infinity(c.group.get(), p)) return "inf";
  BnPtr x(BN_new()), y(BN_new());
  EXPECT_EQ(EC_POINT_get_affine_coordinates(c.group.get(), p, x.get(), y.get(), c.ctx.get()), 1);
  return Bytes32(x.get()) + Bytes32(y.get());
}

// OsslMul returns a*G + b*Q (Q given as x || y, may be empty for none).
inline std::string OsslMul(std::string_view a, std::string_view b, std::string_view q_xy) {
  const Curve& c = TheCurve();
  EcPointPtr r(EC_POINT_new(c.group.get()));
  BnPtr ba = Bn(a);
  if (q_xy.empty()) {
    EXPECT_EQ(EC_POINT_mul(c.group.get(), r.get(), ba.get(), nullptr, nullptr, c.ctx.get()), 1);
  } else {
    EcPointPtr q(EC_POINT_new(c.group.get()));
    BnPtr x = Bn(q_xy.substr(0, 32)), y = Bn(q_xy.substr(32));
    EXPECT_EQ(
        EC_POINT_set_affine_coordinates(c.group.get(), q.get(), x.get(), y.get(), c.ctx.get()), 1);
    BnPtr bb = Bn(b);
    EXPECT_EQ(EC_POINT_mul(c.group.get(), r.get(), ba.get(), q.get(), bb.get(), c.ctx.get()), 1);
  }
  return OsslAffineBytes(r.get());
}

inline Sc ScPlain(std::string_view be32) {
  Sc r;
  p256::ScFromBytesReduce(&r, U8(be32));
  return r;
}

inline std::string Hex(std::string_view s) { return HexEncode(s); }

// ---- Random and edge values ----

class Rng {
 public:
  explicit Rng(uint64_t seed) : gen_(seed) {}
  std::string Bytes(size_t n) {
    std::string out(n, '\0');
    for (char& c : out) c = static_cast<char>(gen_());
    return out;
  }
  // Below returns a uniform value in [0, bound) as 32 bytes.
  std::string Below(const BIGNUM* bound) {
    BnPtr v = Bn(Bytes(40));
    BN_mod(v.get(), v.get(), bound, TheCurve().ctx.get());
    return Bytes32(v.get());
  }
  uint64_t Next() { return gen_(); }
  size_t Index(size_t n) { return static_cast<size_t>(gen_() % n); }

 private:
  std::mt19937_64 gen_;
};

// EdgeValues returns interesting 256-bit values reduced below `bound`.
inline std::vector<std::string> EdgeValues(const BIGNUM* bound) {
  const char* hex[] = {
      "0",
      "1",
      "2",
      "3",
      "8000000000000000000000000000000000000000000000000000000000000000",  // 2^255
      "100000000000000000000000000000000000000000000000000000000",         // 2^224
      "1000000000000000000000000000000000000000000000000",                 // 2^192
      "100000000000000000000000000000000",                                 // 2^128
      "1000000000000000000000000",                                         // 2^96
      "FFFFFFFFFFFFFFFF",                                                  // 2^64 - 1
      "FFFFFFFF",
      "FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF",  // 2^256 - 1
      "FFFFFFFF00000001000000000000000000000000FFFFFFFFFFFFFFFFFFFFFFFE",  // p - 1
      "FFFFFFFF00000001000000000000000000000000FFFFFFFFFFFFFFFFFFFFFFFD",  // p - 2
      "FFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632550",  // n - 1
      "FFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551",  // n
      "7FFFFFFF800000008000000000000000000000007FFFFFFFFFFFFFFFFFFFFFFF",  // (p-1)/2
  };
  std::vector<std::string> out;
  for (const char* h : hex) {
    BnPtr v = BnHex(h);
    BN_mod(v.get(), v.get(), bound, TheCurve().ctx.get());
    out.push_back(Bytes32(v.get()));
  }
  return out;
}

using testing_support::LongTests;
using testing_support::TestSeed;

// ---- Backend parameterization ----

// Runs a test with the assembly (true) or the portable code (false), and
// restores the default afterwards.
class BackendTest : public ::testing::TestWithParam<bool> {
 protected:
  void SetUp() override {
    if (p256::SetFieldAdxForTesting(GetParam()) != GetParam()) {
      p256::SetFieldAdxForTesting(true);
      GTEST_SKIP() << "this CPU has no BMI2/ADX";
    }
  }
  void TearDown() override { p256::SetFieldAdxForTesting(true); }
};

inline std::string BackendName(const ::testing::TestParamInfo<bool>& info) {
  return info.param ? "Adx" : "Portable";
}
}  // namespace popguard::p256_testing

#endif  // POPGUARD_TESTS_CRYPTO_P256_TEST_UTIL_H_
