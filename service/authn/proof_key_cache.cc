#include "service/authn/proof_key_cache.h"

#include <cstring>
#include <utility>

#include "absl/time/time.h"

namespace popguard {
namespace {

// Type tags of the encoding; distinct per JSON type.
enum Tag : char {
  kNull = 'z',
  kBool = 'b',
  kNumber = 'n',
  kString = 's',
  kArray = 'a',
  kObject = 'o'
};

void AppendLength(size_t n, std::string* out) {
  const uint32_t v = static_cast<uint32_t>(n);
  char buf[4] = {static_cast<char>(v >> 24), static_cast<char>(v >> 16), static_cast<char>(v >> 8),
                 static_cast<char>(v)};
  out->append(buf, 4);
}

void AppendBytes(const std::string& s, std::string* out) {
  AppendLength(s.size(), out);
  out->append(s);
}

// Encode appends a prefix-free encoding of `v`: a type tag, then lengths
// before every variable-length part, so two different values can never encode
// to the same bytes (and no encoding is a prefix of another's).
bool Encode(const JsonValue& v, std::string* out) {
  if (out->size() > ProofKeyCache::kMaxKeyBytes) return false;
  switch (v.type()) {
    case JsonValue::Type::kNull:
      out->push_back(kNull);
      return true;
    case JsonValue::Type::kBool:
      out->push_back(kBool);
      out->push_back(v.bool_value() ? '1' : '0');
      return true;
    case JsonValue::Type::kNumber: {
      out->push_back(kNumber);
      double d = v.number_value();
      char buf[sizeof(double)];
      std::memcpy(buf, &d, sizeof(d));
      out->append(buf, sizeof(buf));
      return true;
    }
    case JsonValue::Type::kString:
      out->push_back(kString);
      AppendBytes(v.string_value(), out);
      return true;
    case JsonValue::Type::kArray:
      out->push_back(kArray);
      AppendLength(v.array_items().size(), out);
      for (const JsonValue& item : v.array_items()) {
        if (!Encode(item, out)) return false;
      }
      return true;
    case JsonValue::Type::kObject:
      out->push_back(kObject);
      AppendLength(v.object_members().size(), out);
      for (const auto& [name, value] : v.object_members()) {
        AppendBytes(name, out);
        if (!Encode(value, out)) return false;
      }
      return true;
  }
  return false;
}

}  // namespace

ProofKeyCache::ProofKeyCache(size_t capacity) : cache_(capacity) {}

std::optional<std::string> ProofKeyCache::CacheKey(const JsonValue& jwk) {
  if (!jwk.is_object()) return std::nullopt;
  std::string key;
  key.reserve(256);
  if (!Encode(jwk, &key) || key.size() > kMaxKeyBytes) return std::nullopt;
  return key;
}

absl::StatusOr<std::shared_ptr<const PublicKey>> ProofKeyCache::GetOrParse(const JsonValue& jwk) {
  // Security: the key is the complete, injective encoding of the jwk object,
  // not its thumbprint. A hit therefore means an identical object (every
  // member: kty, crv, x, y, n, e, and also alg, use, key_ops, kid, which
  // FromJwk validates and FitsAlg reads) was parsed successfully before, so
  // FromJwk would return the same key now: a proof can never verify with a
  // key other than the one it carries, and a jwk that FromJwk would refuse
  // (private members, a bad kid type, ...) can never ride on an entry made by
  // a valid one. Failures are not cached.
  std::optional<std::string> key = CacheKey(jwk);
  if (key) {
    // Entries never expire (they age out of the LRU), so no clock is needed.
    if (auto hit = cache_.Get(*key, absl::InfinitePast())) return hit;
  }
  auto parsed = PublicKey::FromJwk(jwk);
  if (parsed.ok() && key) cache_.Put(*key, *parsed, absl::InfiniteFuture());
  return parsed;
}

}  // namespace popguard
