#include "service/tools/mint/probe.h"

#include <utility>
#include <vector>

#include "absl/strings/numbers.h"
#include "service/authn/diagnostics.h"
#include "service/common/crypto_util.h"
#include "service/common/json.h"
#include "service/common/url.h"
#include "service/jose/base64url.h"

namespace popguard {

absl::StatusOr<ProbeHeaderValues> MintProbe(const PrivateKey& key, const ProbeOptions& o) {
  absl::StatusOr<NormalizedUrl> url = NormalizeAbsoluteUrl(o.url);
  if (!url.ok()) return url.status();
  int port = url->scheme == "https" ? 443 : 80;
  if (!url->port.empty() && !absl::SimpleAtoi(url->port, &port)) {
    return absl::InvalidArgumentError("URL port is not a number");
  }
  const std::string_view before_fragment = std::string_view(o.url).substr(0, o.url.find('#'));
  const bool query = before_fragment.find('?') != std::string_view::npos;
  const JwsAlg alg = key.alg().value_or(JwsAlg::kES256);
  const JsonValue iat = JsonValue::Number(static_cast<double>(absl::ToUnixSeconds(o.now)));
  // htu without query and fragment (RFC 9449 4.2); no ath: no access token.
  const JsonValue proof_claims = JsonValue::Object({
      {"jti", JsonValue::String(Base64UrlEncode(RandomBytes(16)))},
      {"htm", JsonValue::String(o.method)},
      {"htu", JsonValue::String(url->ToString())},
      {"iat", iat},
  });
  std::vector<JsonValue::Member> statement = {
      {"htm", JsonValue::String(o.method)},
      {"scheme", JsonValue::String(url->scheme)},
      {"host", JsonValue::String(url->host)},
      {"port", JsonValue::Number(port)},
      {"path", JsonValue::String(url->path)},
      {"query", JsonValue::Bool(query)},
      {"cert", JsonValue::Bool(!o.cert_thumbprint.empty())},
  };
  if (!o.cert_thumbprint.empty()) {
    statement.emplace_back("x5t#S256", JsonValue::String(o.cert_thumbprint));
  }
  statement.emplace_back("iat", iat);
  statement.emplace_back("jti", JsonValue::String(Base64UrlEncode(RandomBytes(16))));
  auto header = [&](const char* typ) {
    return JsonValue::Object({{"typ", JsonValue::String(typ)},
                              {"alg", JsonValue::String(std::string(JwsAlgName(alg)))},
                              {"jwk", key.RequiredPublicJwk()}});
  };
  ProbeHeaderValues out;
  absl::StatusOr<std::string> proof = SignCompactJws(key, alg, header("dpop+jwt"), proof_claims);
  if (!proof.ok()) return proof.status();
  absl::StatusOr<std::string> signed_statement =
      SignCompactJws(key, alg, header(kProbeTyp), JsonValue::Object(std::move(statement)));
  if (!signed_statement.ok()) return signed_statement.status();
  out.dpop = *std::move(proof);
  out.statement = *std::move(signed_statement);
  return out;
}

}  // namespace popguard
