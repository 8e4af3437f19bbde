#include "service/common/crypto_util.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>
#include <openssl/sha.h>

#include <cstdlib>

namespace popguard {

std::string Sha256(std::string_view data) {
  // OpenSSL 3's one-shot SHA256() fetches the algorithm from the provider
  // store (a locked lookup) on every call; fetch it once instead. Sha256 runs
  // several times per request (access token cache key, replay key).
  static EVP_MD* const kSha256 = EVP_MD_fetch(nullptr, "SHA2-256", nullptr);
  std::string out(SHA256_DIGEST_LENGTH, '\0');
  unsigned int len = 0;
  if (kSha256 == nullptr ||
      EVP_Digest(data.data(), data.size(), reinterpret_cast<unsigned char*>(out.data()), &len,
                 kSha256, nullptr) != 1 ||
      len != SHA256_DIGEST_LENGTH) {
    std::abort();  // SHA-256 unavailable: nothing popguard hashes could be trusted
  }
  return out;
}

std::string HmacSha256(std::string_view key, std::string_view data) {
  std::string out(32, '\0');
  unsigned int len = 0;
  HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()),
       reinterpret_cast<const unsigned char*>(data.data()), data.size(),
       reinterpret_cast<unsigned char*>(out.data()), &len);
  out.resize(len);
  return out;
}

bool ConstantTimeEquals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  if (a.empty()) return true;
  return CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

std::string RandomBytes(size_t n) {
  std::string out(n, '\0');
  if (RAND_bytes(reinterpret_cast<unsigned char*>(out.data()), static_cast<int>(n)) != 1) {
    std::abort();  // no randomness: nothing secure can be done
  }
  return out;
}

std::string HexEncode(std::string_view data) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  out.reserve(data.size() * 2);
  for (unsigned char c : data) {
    out.push_back(kHex[c >> 4]);
    out.push_back(kHex[c & 15]);
  }
  return out;
}

std::string ShortHashOfDigest(std::string_view sha256) { return HexEncode(sha256.substr(0, 8)); }

std::string ShortHash(std::string_view data) { return ShortHashOfDigest(Sha256(data)); }

}  // namespace popguard
