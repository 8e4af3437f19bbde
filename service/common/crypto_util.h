// Small hashing and comparison helpers over OpenSSL.
#ifndef POPGUARD_SERVICE_CRYPTO_UTIL_H_
#define POPGUARD_SERVICE_CRYPTO_UTIL_H_

#include <string>
#include <string_view>

namespace popguard {

// Sha256 returns the 32-byte SHA-256 digest of `data`.
std::string Sha256(std::string_view data);

// HmacSha256 returns the 32-byte HMAC-SHA-256 of `data` under `key`.
std::string HmacSha256(std::string_view key, std::string_view data);

// ConstantTimeEquals compares two byte strings in time that depends only on
// their lengths (lengths are public: thumbprints, hashes and nonces have fixed
// sizes). Use it for every comparison against an expected secret-derived or
// binding value (ath, cnf.jkt, x5t#S256, nonces).
bool ConstantTimeEquals(std::string_view a, std::string_view b);

// RandomBytes returns `n` bytes from OpenSSL's CSPRNG; aborts if it fails.
std::string RandomBytes(size_t n);

// HexEncode returns lower-case hex of `data`.
std::string HexEncode(std::string_view data);

// ShortHash returns the first 16 hex characters of SHA-256(data): an
// identifier safe to log in place of a token, proof or key.
std::string ShortHash(std::string_view data);
// ShortHashOfDigest is ShortHash for data whose SHA-256 `sha256` (raw) is
// already known.
std::string ShortHashOfDigest(std::string_view sha256);

}  // namespace popguard

#endif  // POPGUARD_SERVICE_CRYPTO_UTIL_H_
