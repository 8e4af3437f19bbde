#include "service/jose/jws.h"

#include "absl/strings/str_cat.h"
#include "service/jose/base64url.h"

namespace popguard {
namespace {

JwsError ParseSegmentJson(std::string_view b64, const JsonLimits& limits, const char* what,
                          JsonValue* out, std::string* scratch, std::string* detail) {
  if (!Base64UrlDecode(b64, scratch)) {
    *detail = absl::StrCat(what, " is not strict base64url");
    return JwsError::kBadBase64;
  }
  auto parsed = ParseJson(*scratch, limits);
  if (!parsed.ok()) {
    *detail = absl::StrCat(what, ": ", parsed.status().message());
    return JwsError::kBadJson;
  }
  if (!parsed->is_object()) {
    *detail = absl::StrCat(what, " is not a JSON object");
    return JwsError::kBadJson;
  }
  *out = *std::move(parsed);
  return JwsError::kOk;
}

}  // namespace

JwsError ParseCompactJws(std::string_view compact, const JsonLimits& limits, Jws* out,
                         std::string* detail) {
  size_t dot1 = compact.find('.');
  size_t dot2 = dot1 == std::string_view::npos ? dot1 : compact.find('.', dot1 + 1);
  if (dot1 == std::string_view::npos || dot2 == std::string_view::npos ||
      compact.find('.', dot2 + 1) != std::string_view::npos) {
    *detail = "expected exactly three dot-separated segments";
    return JwsError::kMalformed;
  }
  std::string_view h = compact.substr(0, dot1);
  std::string_view p = compact.substr(dot1 + 1, dot2 - dot1 - 1);
  std::string_view s = compact.substr(dot2 + 1);
  // An empty payload is legal JWS but never a JWT; an empty signature is
  // what alg "none" produces. Both are refused as structure errors.
  if (h.empty() || p.empty() || s.empty()) {
    *detail = "empty segment";
    return JwsError::kMalformed;
  }
  std::string scratch;
  JwsError err = ParseSegmentJson(h, limits, "header", &out->header, &scratch, detail);
  if (err != JwsError::kOk) return err;

  const JsonValue& header = out->header;
  const JsonValue* alg = header.Find("alg");
  if (alg == nullptr || !alg->is_string() || alg->string_value().empty()) {
    *detail = "header alg is missing or not a string";
    return JwsError::kHeaderInvalid;
  }
  for (const char* name : {"typ", "kid", "cty"}) {
    const JsonValue* v = header.Find(name);
    if (v != nullptr && !v->is_string()) {
      *detail = absl::StrCat("header ", name, " is not a string");
      return JwsError::kHeaderInvalid;
    }
  }
  // RFC 7797: with b64=false the payload is not base64url and the signature
  // covers raw bytes; accepting it would let the same bytes mean two things.
  if (header.Find("b64") != nullptr) {
    *detail = "header b64 (unencoded payload) is not accepted";
    return JwsError::kUnencodedPayload;
  }
  // RFC 7515 section 4.1.11: a recipient must reject a JWS whose crit lists
  // an extension it does not understand. popguard understands none, so any
  // crit is refused (a malformed crit as well).
  if (header.Find("crit") != nullptr) {
    *detail = "header crit names extensions popguard does not implement";
    return JwsError::kCritUnsupported;
  }
  // Compressed JWT payloads (zip) are a decompression-bomb vector and are not
  // defined for JWS; refuse them.
  if (header.Find("zip") != nullptr) {
    *detail = "header zip (compressed payload) is not accepted";
    return JwsError::kZipUnsupported;
  }
  err = ParseSegmentJson(p, limits, "payload", &out->payload, &scratch, detail);
  if (err != JwsError::kOk) return err;
  if (!Base64UrlDecode(s, &out->signature)) {
    *detail = "signature is not strict base64url";
    return JwsError::kBadBase64;
  }
  out->alg = alg->string_value();
  out->signing_input = compact.substr(0, dot2);
  out->payload_b64 = p;
  return JwsError::kOk;
}

}  // namespace popguard
