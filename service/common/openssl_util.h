// RAII owners for OpenSSL objects, shared by every file that talks to OpenSSL.
// Each is a std::unique_ptr whose deleter is the matching *_free function, so
// no OpenSSL object outlives its scope on any path, error paths included.
#ifndef POPGUARD_SERVICE_OPENSSL_UTIL_H_
#define POPGUARD_SERVICE_OPENSSL_UTIL_H_

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/crypto.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include <memory>

namespace popguard {

// OpenSslDeleter calls `Free` on a non-null pointer.
template <auto Free>
struct OpenSslDeleter {
  template <typename T>
  void operator()(T* p) const {
    Free(p);
  }
};

using BnPtr = std::unique_ptr<BIGNUM, OpenSslDeleter<BN_free>>;
// SecretBnPtr zeroes the number before freeing it (private key material).
using SecretBnPtr = std::unique_ptr<BIGNUM, OpenSslDeleter<BN_clear_free>>;
using ParamBldPtr = std::unique_ptr<OSSL_PARAM_BLD, OpenSslDeleter<OSSL_PARAM_BLD_free>>;
using ParamPtr = std::unique_ptr<OSSL_PARAM, OpenSslDeleter<OSSL_PARAM_free>>;
using PkeyCtxPtr = std::unique_ptr<EVP_PKEY_CTX, OpenSslDeleter<EVP_PKEY_CTX_free>>;
using MdPtr = std::unique_ptr<EVP_MD, OpenSslDeleter<EVP_MD_free>>;
using MdCtxPtr = std::unique_ptr<EVP_MD_CTX, OpenSslDeleter<EVP_MD_CTX_free>>;
using EcdsaSigPtr = std::unique_ptr<ECDSA_SIG, OpenSslDeleter<ECDSA_SIG_free>>;
using EcGroupPtr = std::unique_ptr<EC_GROUP, OpenSslDeleter<EC_GROUP_free>>;
using BioPtr = std::unique_ptr<BIO, OpenSslDeleter<BIO_free>>;
using X509Ptr = std::unique_ptr<X509, OpenSslDeleter<X509_free>>;
using X509ExtensionPtr = std::unique_ptr<X509_EXTENSION, OpenSslDeleter<X509_EXTENSION_free>>;
using PkeyPtr = std::unique_ptr<EVP_PKEY, OpenSslDeleter<EVP_PKEY_free>>;
// EvpPkeyPtr is PkeyPtr's former name (it lived in jwk.h), kept while
// branches written against it merge.
using EvpPkeyPtr = PkeyPtr;
using BnCtxPtr = std::unique_ptr<BN_CTX, OpenSslDeleter<BN_CTX_free>>;
using EcPointPtr = std::unique_ptr<EC_POINT, OpenSslDeleter<EC_POINT_free>>;
using SslCtxPtr = std::unique_ptr<SSL_CTX, OpenSslDeleter<SSL_CTX_free>>;
using SslPtr = std::unique_ptr<SSL, OpenSslDeleter<SSL_free>>;

// ErrorQueueGuard empties OpenSSL's thread-local error queue when it goes out
// of scope, so a failed operation leaves nothing behind for unrelated code.
struct ErrorQueueGuard {
  ~ErrorQueueGuard() { ERR_clear_error(); }
};

}  // namespace popguard

#endif  // POPGUARD_SERVICE_OPENSSL_UTIL_H_
