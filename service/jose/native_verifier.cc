#include "service/jose/native_verifier.h"

#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/sha.h>

#include <array>
#include <cstring>
#include <optional>

#include "service/crypto/ed25519/ed25519.h"
#include "service/crypto/p256/p256.h"
#include "service/jose/jwk.h"

namespace popguard {

// P256KeyEntry is what the verifier remembers about an ES256 key: the point
// (validated) and, once the key has proven to repeat, its comb table.
struct P256KeyEntry {
  p256::EcdsaPublicKey key;
  std::shared_ptr<const p256::CombTable> table;  // null until built
};

namespace {

// Cache entries never expire by time; only LRU eviction removes them.
const absl::Time kNoExpiry = absl::InfiniteFuture();
const absl::Time kLookupTime = absl::UnixEpoch();

// ReadP256Point copies the affine x || y of an EC P-256 EVP_PKEY into `xy`.
// Costs ~5 us (OpenSSL converts its internal point back to bytes), which is
// why the result is cached per key.
bool ReadP256Point(EVP_PKEY* pkey, uint8_t xy[64]) {
  uint8_t encoded[65];
  size_t len = 0;
  if (EVP_PKEY_get_octet_string_param(pkey, OSSL_PKEY_PARAM_PUB_KEY, encoded, sizeof(encoded),
                                      &len) != 1 ||
      len != sizeof(encoded) || encoded[0] != 0x04) {
    ERR_clear_error();
    return false;
  }
  std::memcpy(xy, encoded + 1, 64);
  return true;
}

std::shared_ptr<const P256KeyEntry> ParseEntry(const PublicKey& key) {
  uint8_t xy[64];
  // The JWK's own x || y when the key came from a JWK (always, in popguard);
  // otherwise ask OpenSSL.
  if (key.raw_public_key().size() == sizeof(xy)) {
    std::memcpy(xy, key.raw_public_key().data(), sizeof(xy));
  } else if (!ReadP256Point(key.pkey(), xy)) {
    return nullptr;
  }
  // PublicKey::FromJwk validated the point already; checking again costs a
  // few multiplications and keeps the core's input contract local.
  std::optional<p256::EcdsaPublicKey> point = p256::EcdsaPublicKey::FromAffineBytes_vartime(xy);
  if (!point.has_value()) return nullptr;
  return std::make_shared<const P256KeyEntry>(P256KeyEntry{*point, nullptr});
}

std::shared_ptr<const P256KeyEntry> WithTable(const P256KeyEntry& entry) {
  std::shared_ptr<const p256::CombTable> table = p256::BuildKeyTable_vartime(entry.key);
  return std::make_shared<const P256KeyEntry>(P256KeyEntry{entry.key, std::move(table)});
}

SignatureResult FromVerdict(p256::EcdsaVerdict verdict) {
  switch (verdict) {
    case p256::EcdsaVerdict::kValid:
      return SignatureResult::kValid;
    case p256::EcdsaVerdict::kBadSignature:
      return SignatureResult::kInvalid;
    case p256::EcdsaVerdict::kScalarOutOfRange:
      return SignatureResult::kMalformed;
  }
  return SignatureResult::kInvalid;
}

const uint8_t* Bytes(std::string_view s) { return reinterpret_cast<const uint8_t*>(s.data()); }

using Ed25519Key = std::array<char, ed25519::kEd25519PublicKeyBytes>;

// EdDsaPrecheck applies the OpenSSL verifier's EdDSA checks in its order
// (FitsAlg, then the 64-byte length, RFC 8037 section 3.1) and copies the raw
// key A into *pk. nullopt when the native core (service/crypto/ed25519/ed25519.h) decides.
std::optional<SignatureResult> EdDsaPrecheck(JwsAlg alg, const PublicKey& key,
                                             std::string_view signature, Ed25519Key* pk) {
  if (!key.FitsAlg(alg)) return SignatureResult::kInvalid;
  if (signature.size() != ed25519::kEd25519SignatureBytes) return SignatureResult::kMalformed;
  if (key.raw_public_key().size() == pk->size()) {
    std::memcpy(pk->data(), key.raw_public_key().data(), pk->size());
    return std::nullopt;
  }
  size_t len = pk->size();
  if (EVP_PKEY_get_raw_public_key(key.pkey(), reinterpret_cast<unsigned char*>(pk->data()), &len) !=
          1 ||
      len != pk->size()) {
    ERR_clear_error();
    return SignatureResult::kInvalid;
  }
  return std::nullopt;
}

std::string_view View(const Ed25519Key& pk) { return std::string_view(pk.data(), pk.size()); }

}  // namespace

NativeVerifier::NativeVerifier(Options options)
    : options_(options),
      openssl_(CreateOpenSslVerifier()),
      client_keys_(options.client_key_cache_entries) {}

NativeVerifier::~NativeVerifier() = default;

std::unique_ptr<NativeVerifier> NativeVerifier::Create(Options options) {
  // Build G's tables now rather than inside the first request.
  (void)p256::BaseTable();
  (void)p256::BaseOddMultiples();
  return std::unique_ptr<NativeVerifier>(new NativeVerifier(options));
}

bool NativeVerifier::TableBuildAllowed() const {
  const uint64_t built = client_tables_built_.load(std::memory_order_relaxed);
  if (built < kFreeTableBuilds) return true;
  return built * kVerificationsPerTableBuild <=
         es256_verifications_.load(std::memory_order_relaxed);
}

std::shared_ptr<const P256KeyEntry> NativeVerifier::KeyEntry(const PublicKey& key) const {
  const std::string& id = key.thumbprint();
  {
    absl::ReaderMutexLock lock(&pinned_mu_);
    if (auto it = pinned_.find(id); it != pinned_.end()) return it->second;
  }
  std::shared_ptr<const P256KeyEntry> entry = client_keys_.Get(id, kLookupTime);
  if (entry == nullptr) {
    // First sight: remember the point, no table yet. Most DPoP keys are seen
    // again (one key per client session), but a table costs ~5 cold
    // verifications, so it waits for the proof that the key repeats.
    entry = ParseEntry(key);
    if (entry != nullptr) client_keys_.Put(id, entry, kNoExpiry);
    return entry;
  }
  if (entry->table != nullptr) return entry;
  if (!TableBuildAllowed()) {
    table_builds_deferred_.fetch_add(1, std::memory_order_relaxed);
    return entry;
  }
  // Two threads may both build the same table; the second Put just replaces
  // the first. Not worth a lock on this path.
  client_tables_built_.fetch_add(1, std::memory_order_relaxed);
  tables_built_.fetch_add(1, std::memory_order_relaxed);
  entry = WithTable(*entry);
  client_keys_.Put(id, entry, kNoExpiry);
  return entry;
}

SignatureResult NativeVerifier::VerifyEs256(const PublicKey& key, std::string_view signing_input,
                                            std::string_view signature) const {
  // RFC 7518 section 3.4: R || S, 32 bytes each.
  if (signature.size() != 64) return SignatureResult::kMalformed;
  // r and s in [1, n-1] first, so that the verdict does not depend on the
  // key cache (the core checks again).
  if (!p256::EcdsaScalarsInRange_vartime(Bytes(signature))) return SignatureResult::kMalformed;
  es256_verifications_.fetch_add(1, std::memory_order_relaxed);
  std::shared_ptr<const P256KeyEntry> entry = KeyEntry(key);
  if (entry == nullptr) return SignatureResult::kInvalid;
  if (entry->table == nullptr && !p256::FieldUsesAdx()) {
    es256_delegated_.fetch_add(1, std::memory_order_relaxed);
    return openssl_->Verify(JwsAlg::kES256, key, signing_input, signature);
  }
  (entry->table != nullptr ? es256_hot_ : es256_cold_).fetch_add(1, std::memory_order_relaxed);
  uint8_t digest[SHA256_DIGEST_LENGTH];
  SHA256(Bytes(signing_input), signing_input.size(), digest);
  return FromVerdict(
      p256::EcdsaVerifyDigest_vartime(entry->key, entry->table.get(), digest, Bytes(signature)));
}

SignatureResult NativeVerifier::Verify(JwsAlg alg, const PublicKey& key,
                                       std::string_view signing_input,
                                       std::string_view signature) const {
  switch (alg) {
    case JwsAlg::kES256:
      if (!key.FitsAlg(alg)) return SignatureResult::kInvalid;
      return VerifyEs256(key, signing_input, signature);
    case JwsAlg::kEdDSA:
    case JwsAlg::kEd25519: {
      Ed25519Key pk;
      if (std::optional<SignatureResult> r = EdDsaPrecheck(alg, key, signature, &pk)) return *r;
      return ed25519::Ed25519Verify_vartime(View(pk), signing_input, signature)
                 ? SignatureResult::kValid
                 : SignatureResult::kInvalid;
    }
    case JwsAlg::kRS256:
    case JwsAlg::kRS384:
    case JwsAlg::kRS512:
    case JwsAlg::kPS256:
    case JwsAlg::kPS384:
    case JwsAlg::kPS512:
    case JwsAlg::kES384:
    case JwsAlg::kES512:
      return openssl_->Verify(alg, key, signing_input, signature);
  }
  return SignatureResult::kInvalid;
}

void NativeVerifier::VerifyBatch(std::span<const SignatureCheck> checks,
                                 std::span<SignatureResult> results) const {
  std::vector<size_t> batch;  // ES256 members that reach the core
  std::vector<std::shared_ptr<const P256KeyEntry>> entries;
  std::vector<std::array<uint8_t, SHA256_DIGEST_LENGTH>> digests;
  batch.reserve(checks.size());
  entries.reserve(checks.size());
  digests.reserve(checks.size());
  std::vector<size_t> eddsa;  // EdDSA members for Ed25519VerifyBatch_vartime
  std::vector<Ed25519Key> eddsa_keys;
  for (size_t i = 0; i < checks.size(); ++i) {
    const SignatureCheck& c = checks[i];
    if (IsEd25519Signature(c.alg)) {
      Ed25519Key pk;
      if (std::optional<SignatureResult> r = EdDsaPrecheck(c.alg, *c.key, c.signature, &pk)) {
        results[i] = *r;
      } else {
        eddsa.push_back(i);
        eddsa_keys.push_back(pk);
      }
      continue;
    }
    if (c.alg != JwsAlg::kES256) {
      results[i] = Verify(c.alg, *c.key, c.signing_input, c.signature);
      continue;
    }
    // The same steps as VerifyEs256, up to the core call.
    if (!c.key->FitsAlg(c.alg)) {
      results[i] = SignatureResult::kInvalid;
      continue;
    }
    if (c.signature.size() != 64 || !p256::EcdsaScalarsInRange_vartime(Bytes(c.signature))) {
      results[i] = SignatureResult::kMalformed;
      continue;
    }
    es256_verifications_.fetch_add(1, std::memory_order_relaxed);
    std::shared_ptr<const P256KeyEntry> entry = KeyEntry(*c.key);
    if (entry == nullptr) {
      results[i] = SignatureResult::kInvalid;
      continue;
    }
    if (entry->table == nullptr && !p256::FieldUsesAdx()) {
      es256_delegated_.fetch_add(1, std::memory_order_relaxed);
      results[i] = openssl_->Verify(c.alg, *c.key, c.signing_input, c.signature);
      continue;
    }
    (entry->table != nullptr ? es256_hot_ : es256_cold_).fetch_add(1, std::memory_order_relaxed);
    batch.push_back(i);
    entries.push_back(std::move(entry));
    digests.emplace_back();
    SHA256(Bytes(c.signing_input), c.signing_input.size(), digests.back().data());
  }
  if (!eddsa.empty()) {
    std::vector<ed25519::Ed25519Item> items;
    items.reserve(eddsa.size());
    for (size_t k = 0; k < eddsa.size(); ++k) {
      items.push_back(
          {View(eddsa_keys[k]), checks[eddsa[k]].signing_input, checks[eddsa[k]].signature});
    }
    const std::vector<bool> ok = ed25519::Ed25519VerifyBatch_vartime(items);
    for (size_t k = 0; k < eddsa.size(); ++k) {
      results[eddsa[k]] = ok[k] ? SignatureResult::kValid : SignatureResult::kInvalid;
    }
  }
  if (batch.empty()) return;
  std::vector<p256::EcdsaBatchItem> items(batch.size());
  std::vector<p256::EcdsaVerdict> verdicts(batch.size());
  for (size_t k = 0; k < batch.size(); ++k) {
    items[k] = {&entries[k]->key, entries[k]->table.get(), digests[k].data(),
                Bytes(checks[batch[k]].signature)};
  }
  p256::EcdsaVerifyDigestBatch_vartime(items, verdicts);
  for (size_t k = 0; k < batch.size(); ++k) results[batch[k]] = FromVerdict(verdicts[k]);
}

void NativeVerifier::PrepareKeys(std::span<const std::shared_ptr<const PublicKey>> keys) const {
  for (const std::shared_ptr<const PublicKey>& key : keys) {
    if (key == nullptr || key->kty() != KeyType::kEc || key->crv() != "P-256") continue;
    {
      absl::ReaderMutexLock lock(&pinned_mu_);
      if (pinned_.contains(key->thumbprint()) || pinned_.size() >= options_.max_pinned_keys) {
        continue;
      }
    }
    std::shared_ptr<const P256KeyEntry> entry = ParseEntry(*key);
    if (entry == nullptr) continue;
    entry = WithTable(*entry);  // outside the lock: ~0.3 ms
    tables_built_.fetch_add(1, std::memory_order_relaxed);
    absl::MutexLock lock(&pinned_mu_);
    if (pinned_.size() < options_.max_pinned_keys) pinned_.emplace(key->thumbprint(), entry);
  }
}

NativeVerifier::Stats NativeVerifier::stats() const {
  Stats s;
  s.es256_hot = es256_hot_.load(std::memory_order_relaxed);
  s.es256_cold = es256_cold_.load(std::memory_order_relaxed);
  s.es256_delegated = es256_delegated_.load(std::memory_order_relaxed);
  s.tables_built = tables_built_.load(std::memory_order_relaxed);
  s.table_builds_deferred = table_builds_deferred_.load(std::memory_order_relaxed);
  return s;
}

void PrepareVerifierKeys(const SignatureVerifier& verifier,
                         std::span<const std::shared_ptr<const PublicKey>> keys) {
  const SignatureVerifier* v = &verifier;
  while (const auto* wrapper = dynamic_cast<const VerifierWrapper*>(v)) v = &wrapper->inner();
  if (const auto* native = dynamic_cast<const NativeVerifier*>(v)) {
    native->PrepareKeys(keys);
  }
}

}  // namespace popguard
