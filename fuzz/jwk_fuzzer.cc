// libFuzzer target: public JWK parsing (PublicKey::FromJwk), RFC 7638
// thumbprints (JwkThumbprint) and JWKS parsing (KeySet::Parse), which see the
// jwk of every DPoP proof header and every fetched key set.
//
// The input is JSON text; when it is an object (the JWK):
//   - a JWK with private members is refused with FailedPrecondition, any other
//     refusal is InvalidArgument;
//   - an accepted key's thumbprint() equals JwkThumbprint(jwk), is 43
//     characters of base64url (a SHA-256), and does not change when the
//     members are reordered or an unrelated member is added (RFC 7638
//     section 3.3); its type, curve and raw key length agree;
//   - KeySet::Parse of {"keys":[jwk]} keeps the key exactly when FromJwk
//     accepts it and warns exactly when it does not;
//   - no error message or warning quotes a key member (x, y, n, d, ...).
#include <algorithm>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "fuzz/fuzz_check.h"
#include "service/authn/client_cert.h"
#include "service/common/json.h"
#include "service/common/strings.h"
#include "service/jose/jwk.h"

namespace {

using popguard::JsonValue;
using popguard::KeyType;
using popguard::PublicKey;

constexpr char kExtraMember[] = "popguard-fuzz-extra";

int Depth(const JsonValue& v) {
  int inner = 0;
  for (const JsonValue& item : v.array_items()) inner = std::max(inner, Depth(item));
  for (const auto& [name, item] : v.object_members()) inner = std::max(inner, Depth(item));
  return v.is_array() || v.is_object() ? inner + 1 : 0;
}

// KeyMaterial returns the base64url values of the members that carry key bytes
// and are long enough to recognise in a message (and not also the kid, which messages
// may name).
std::vector<std::string> KeyMaterial(const JsonValue& jwk) {
  std::vector<std::string> out;
  const std::string* kid = jwk.FindString("kid");
  for (const char* name : {"x", "y", "n", "d", "p", "q", "dp", "dq", "qi", "k"}) {
    const std::string* v = jwk.FindString(name);
    if (v == nullptr || v->size() < 12) continue;
    // Key bytes are base64url; a value with other characters (" supported
    // key", found by the long run) can be a piece of the message's own text.
    if (v->find_first_not_of("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_") !=
        std::string::npos) {
      continue;
    }
    if (kid != nullptr && kid->find(*v) != std::string::npos) continue;
    out.push_back(*v);
  }
  return out;
}

void CheckNoKeyMaterial(std::string_view message, const std::vector<std::string>& material) {
  for (const std::string& m : material) {
    FUZZ_CHECK(message.find(m) == std::string_view::npos, "a message quotes key material");
  }
}

void CheckKey(const JsonValue& jwk, const PublicKey& key) {
  auto thumbprint = popguard::JwkThumbprint(jwk);
  FUZZ_CHECK(thumbprint.ok() && *thumbprint == key.thumbprint(),
             "thumbprint() differs from JwkThumbprint");
  FUZZ_CHECK(popguard::IsValidThumbprint(key.thumbprint()), "a thumbprint is not a SHA-256");

  std::vector<JsonValue::Member> members = jwk.object_members();
  std::reverse(members.begin(), members.end());
  if (jwk.Find(kExtraMember) == nullptr) {
    members.emplace_back(kExtraMember, JsonValue::String("ignored"));
  }
  const JsonValue shuffled = JsonValue::Object(std::move(members));
  auto again = PublicKey::FromJwk(shuffled);
  FUZZ_CHECK(again.ok(), "reordering members made the key invalid");
  FUZZ_CHECK((*again)->thumbprint() == key.thumbprint(), "reordering changed the thumbprint");

  const size_t raw = key.raw_public_key().size();
  switch (key.kty()) {
    case KeyType::kEc:
      FUZZ_CHECK((key.crv() == "P-256" && raw == 64) || (key.crv() == "P-384" && raw == 96) ||
                     (key.crv() == "P-521" && raw == 132),
                 "an EC key with the wrong curve or raw length");
      break;
    case KeyType::kOkp:
      FUZZ_CHECK(key.crv() == "Ed25519" && raw == 32, "an OKP key that is not Ed25519");
      break;
    case KeyType::kRsa:
      FUZZ_CHECK(key.crv().empty() && raw == 0, "an RSA key with a curve or raw bytes");
      break;
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto parsed = popguard::ParseJson(popguard::fuzz::AsView(data, size));
  if (!parsed.ok() || !parsed->is_object()) return 0;
  const JsonValue& jwk = *parsed;
  const std::vector<std::string> material = KeyMaterial(jwk);

  auto key = PublicKey::FromJwk(jwk);
  if (popguard::JwkHasPrivateMembers(jwk)) {
    FUZZ_CHECK(absl::IsFailedPrecondition(key.status()), "a private JWK was not refused as such");
  } else if (!key.ok()) {
    FUZZ_CHECK(absl::IsInvalidArgument(key.status()), "a refusal is not InvalidArgument");
  }
  if (!key.ok()) {
    CheckNoKeyMaterial(popguard::SV(key.status().message()), material);
  } else {
    CheckKey(jwk, **key);
  }
  auto thumbprint = popguard::JwkThumbprint(jwk);
  if (!thumbprint.ok()) CheckNoKeyMaterial(popguard::SV(thumbprint.status().message()), material);

  // The wrapper adds two levels of nesting; deeper keys would fail the depth
  // limit there for that reason alone.
  if (Depth(jwk) + 2 > popguard::JsonLimits().max_depth) return 0;
  std::vector<std::string> warnings;
  auto set =
      popguard::KeySet::Parse("{\"keys\":[" + popguard::SerializeJson(jwk) + "]}", &warnings);
  FUZZ_CHECK(set.ok(), "a JWKS with one object key was refused");
  FUZZ_CHECK(set->size() == (key.ok() ? 1u : 0u), "KeySet and FromJwk disagree on the key");
  FUZZ_CHECK(warnings.empty() == key.ok(), "a skipped key without a warning, or the reverse");
  for (const std::string& w : warnings) CheckNoKeyMaterial(w, material);
  return 0;
}
