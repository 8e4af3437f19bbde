#include "service/server/verifier_factory.h"

#include <memory>

#include "service/jose/native_verifier.h"
#include "service/ops/popguard_metrics.h"

namespace popguard {

SignatureVerifierPtr CreateVerifier(const CryptoConfig& crypto) {
  if (crypto.force_openssl) return CreateOpenSslVerifier();
  NativeVerifier::Options options;
  options.client_key_cache_entries = crypto.key_table_cache_entries;
  return NativeVerifier::Create(options);
}

SignatureVerifierPtr CreateCountedVerifier(const CryptoConfig& crypto) {
  return std::make_unique<CountingVerifier>(CreateVerifier(crypto));
}

}  // namespace popguard
