// The signature verifier the server runs with, chosen from the crypto config.
//
//   auto auth = Authenticator::Create(config, CreateCountedVerifier(config.crypto), ...);
//
// This is wiring, kept out of the layers below: jose's NativeVerifier takes
// its own Options and knows no config, and authn takes whatever verifier it
// is given and knows no metrics.
#ifndef POPGUARD_SERVICE_SERVER_VERIFIER_FACTORY_H_
#define POPGUARD_SERVICE_SERVER_VERIFIER_FACTORY_H_

#include "service/config/config.h"
#include "service/jose/signature.h"

namespace popguard {

// CreateVerifier returns the OpenSSL verifier when crypto.force_openssl
// (operators who require a validated library), else a NativeVerifier with
// crypto.key_table_cache_entries client key tables.
SignatureVerifierPtr CreateVerifier(const CryptoConfig& crypto);

// CreateCountedVerifier is CreateVerifier wrapped in a CountingVerifier, so
// each verification is counted in popguard_signature_verifications_total.
SignatureVerifierPtr CreateCountedVerifier(const CryptoConfig& crypto);

}  // namespace popguard

#endif  // POPGUARD_SERVICE_SERVER_VERIFIER_FACTORY_H_
