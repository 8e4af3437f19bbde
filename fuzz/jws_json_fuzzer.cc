// libFuzzer target: the strict JSON parser (service/common/json.h) and compact JWS
// parsing (service/jose/jws.h), which every access token and DPoP proof meets
// first. Each input is read three ways:
//
//   1. as JSON text. Accepted documents re-serialise to a fixed point
//      (parse(serialise(v)) serialises identically), nest no deeper than the
//      limit, hold no object with two members of the same name, and the
//      serialised object with a copy of its first member name appended is
//      always rejected (RFC 7515 section 5.2). A document accepted with a
//      smaller depth limit is accepted with a larger one.
//   2. as a compact JWS. When accepted: exactly three non-empty segments,
//      signing_input and payload_b64 are views of the right segments, the
//      signature re-encodes to the third segment, the header is the JSON of
//      the first segment with a non-empty string alg and no b64/crit/zip.
//   3. split at the first two 0xFF bytes (never part of valid UTF-8, so of valid JSON) into
//      header JSON, payload JSON and signature bytes, encoded into a compact
//      JWS: the verdict must be the one the rules in jws.h give for the parts.
#include <algorithm>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "fuzz/fuzz_check.h"
#include "service/common/json.h"
#include "service/jose/base64url.h"
#include "service/jose/jws.h"

namespace {

using popguard::JsonLimits;
using popguard::JsonValue;
using popguard::JwsError;

int Depth(const JsonValue& v) {
  int inner = 0;
  for (const JsonValue& item : v.array_items()) inner = std::max(inner, Depth(item));
  for (const auto& [name, item] : v.object_members()) inner = std::max(inner, Depth(item));
  return v.is_array() || v.is_object() ? inner + 1 : 0;
}

bool HasDuplicateName(const JsonValue& v) {
  for (const JsonValue& item : v.array_items()) {
    if (HasDuplicateName(item)) return true;
  }
  const auto& members = v.object_members();
  for (size_t i = 0; i < members.size(); ++i) {
    if (HasDuplicateName(members[i].second)) return true;
    for (size_t j = 0; j < i; ++j) {
      if (members[i].first == members[j].first) return true;
    }
  }
  return false;
}

void CheckJson(std::string_view text) {
  const JsonLimits limits;  // the default depth, as tokens and proofs use
  auto parsed = popguard::ParseJson(text, limits);
  JsonLimits shallow;
  shallow.max_depth = 4;
  auto shallow_parsed = popguard::ParseJson(text, shallow);
  FUZZ_CHECK(!shallow_parsed.ok() || parsed.ok(), "a larger depth limit rejected a document");
  if (!parsed.ok()) return;
  FUZZ_CHECK(Depth(*parsed) <= limits.max_depth, "accepted a document nested past the limit");
  FUZZ_CHECK(!HasDuplicateName(*parsed), "accepted an object with a duplicate member name");

  const std::string serialised = popguard::SerializeJson(*parsed);
  auto reparsed = popguard::ParseJson(serialised, limits);
  FUZZ_CHECK(reparsed.ok(), "the serialisation of an accepted document does not parse");
  FUZZ_CHECK(popguard::SerializeJson(*reparsed) == serialised,
             "serialisation is not a fixed point");

  if (parsed->is_object() && !parsed->object_members().empty()) {
    std::string dup = serialised.substr(0, serialised.size() - 1);
    dup.push_back(',');
    dup.append(popguard::JsonQuote(parsed->object_members()[0].first));
    dup.append(":null}");
    FUZZ_CHECK(!popguard::ParseJson(dup, limits).ok(), "a duplicate member name was accepted");
  }
}

void CheckCompact(std::string_view compact) {
  popguard::Jws jws;
  std::string detail;
  const JwsError err = popguard::ParseCompactJws(compact, JsonLimits(), &jws, &detail);
  if (err != JwsError::kOk) {
    FUZZ_CHECK(!detail.empty(), "a rejection without a detail");
    return;
  }
  const size_t dot1 = compact.find('.');
  const size_t dot2 = compact.find('.', dot1 + 1);
  FUZZ_CHECK(dot1 != std::string_view::npos && dot2 != std::string_view::npos &&
                 compact.find('.', dot2 + 1) == std::string_view::npos,
             "accepted a JWS without exactly three segments");
  FUZZ_CHECK(dot1 > 0 && dot2 > dot1 + 1 && dot2 + 1 < compact.size(), "accepted an empty segment");
  FUZZ_CHECK(jws.signing_input.data() == compact.data() && jws.signing_input.size() == dot2,
             "signing_input is not header.payload of the input");
  FUZZ_CHECK(jws.payload_b64 == compact.substr(dot1 + 1, dot2 - dot1 - 1),
             "payload_b64 is not the payload segment");
  FUZZ_CHECK(popguard::Base64UrlEncode(jws.signature) == compact.substr(dot2 + 1),
             "the signature does not re-encode to its segment");
  FUZZ_CHECK(jws.header.is_object() && jws.payload.is_object(), "a segment is not an object");
  const std::string* alg = jws.header.FindString("alg");
  FUZZ_CHECK(alg != nullptr && !alg->empty() && *alg == jws.alg, "alg is not the header's");
  for (const char* refused : {"b64", "crit", "zip"}) {
    FUZZ_CHECK(jws.header.Find(refused) == nullptr, "accepted a refused header member");
  }
  auto header_json = popguard::Base64UrlDecode(compact.substr(0, dot1));
  FUZZ_CHECK(header_json.has_value(), "accepted a header that is not base64url");
  auto header = popguard::ParseJson(*header_json);
  FUZZ_CHECK(header.ok() && popguard::SerializeJson(*header) == popguard::SerializeJson(jws.header),
             "the parsed header is not the JSON of the header segment");
}

// ExpectedFromParts states jws.h's rules for a JWS built from the given parts.
JwsError ExpectedFromParts(std::string_view header, std::string_view payload,
                           std::string_view signature) {
  if (header.empty() || payload.empty() || signature.empty()) return JwsError::kMalformed;
  auto h = popguard::ParseJson(header);
  if (!h.ok() || !h->is_object()) return JwsError::kBadJson;
  const JsonValue* alg = h->Find("alg");
  if (alg == nullptr || !alg->is_string() || alg->string_value().empty()) {
    return JwsError::kHeaderInvalid;
  }
  for (const char* name : {"typ", "kid", "cty"}) {
    const JsonValue* v = h->Find(name);
    if (v != nullptr && !v->is_string()) return JwsError::kHeaderInvalid;
  }
  if (h->Find("b64") != nullptr) return JwsError::kUnencodedPayload;
  if (h->Find("crit") != nullptr) return JwsError::kCritUnsupported;
  if (h->Find("zip") != nullptr) return JwsError::kZipUnsupported;
  auto p = popguard::ParseJson(payload);
  if (!p.ok() || !p->is_object()) return JwsError::kBadJson;
  return JwsError::kOk;
}

void CheckParts(std::string_view input) {
  std::string_view header, payload, signature;
  if (!popguard::fuzz::SplitThree(input, '\xff', &header, &payload, &signature)) return;
  const std::string compact = popguard::Base64UrlEncode(header) + "." +
                              popguard::Base64UrlEncode(payload) + "." +
                              popguard::Base64UrlEncode(signature);
  popguard::Jws jws;
  std::string detail;
  const JwsError err = popguard::ParseCompactJws(compact, JsonLimits(), &jws, &detail);
  FUZZ_CHECK(err == ExpectedFromParts(header, payload, signature),
             "the verdict differs from the rules for the parts");
  if (err == JwsError::kOk) FUZZ_CHECK(jws.signature == signature, "the signature bytes differ");
  CheckCompact(compact);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view input = popguard::fuzz::AsView(data, size);
  CheckJson(input);
  CheckCompact(input);
  CheckParts(input);
  return 0;
}
