// OpenSslBaseline: the yardstick every popguard figure is divided by. It
// verifies one JWS signature the way a careful direct OpenSSL 3 EVP user would:
// digest fetched once, ECDSA signature converted to DER once, key parsed once
// (VerifyPreparsed) or parsed from its SubjectPublicKeyInfo DER on every call
// (VerifyParsingKey). No JOSE parsing, no checks beyond what EVP does.
#ifndef POPGUARD_BENCH_OPENSSL_BASELINE_H_
#define POPGUARD_BENCH_OPENSSL_BASELINE_H_

#include <openssl/types.h>

#include <memory>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "service/jose/jwk.h"
#include "service/jose/signature.h"

namespace popguard::bench {

class OpenSslBaseline {
 public:
  // Create prepares verification of `jose_signature` (JOSE encoding) over any
  // input with `key` and `alg`.
  static absl::StatusOr<std::unique_ptr<OpenSslBaseline>> Create(JwsAlg alg, const PublicKey& key,
                                                                 std::string_view jose_signature);
  ~OpenSslBaseline();

  // VerifyPreparsed verifies with the key parsed once; true when valid.
  bool VerifyPreparsed(std::string_view signing_input) const;
  // VerifyParsingKey decodes the key from DER first (d2i_PUBKEY), then verifies.
  bool VerifyParsingKey(std::string_view signing_input) const;

 private:
  OpenSslBaseline() = default;
  bool VerifyWith(EVP_PKEY* pkey, std::string_view signing_input) const;

  JwsAlg alg_ = JwsAlg::kES256;
  EVP_MD* md_ = nullptr;      // owned; null for EdDSA
  EVP_PKEY* pkey_ = nullptr;  // owned
  std::string spki_der_;
  std::string signature_;  // DER for ECDSA, raw otherwise
};

}  // namespace popguard::bench

#endif  // POPGUARD_BENCH_OPENSSL_BASELINE_H_
