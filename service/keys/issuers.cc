#include "service/keys/issuers.h"

#include <algorithm>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "service/common/file.h"
#include "service/common/strings.h"
#include "service/keys/jwks_fetcher.h"
#include "service/keys/remote_key_source.h"

namespace popguard {

namespace {

RemoteKeySource::Options RemoteOptions(const IssuerConfig& ic) {
  RemoteKeySource::Options o;
  o.issuer = ic.issuer;
  o.jwks_uri = ic.jwks_uri;  // empty with discovery: true
  o.fetch.timeout = ic.fetch_timeout;
  o.fetch.ca_file = ic.ca_file;  // already absolute (LoadConfig resolves paths)
  o.fetch.allow_http = ic.allow_http;
  o.min_refresh = ic.min_refresh;
  o.max_refresh = ic.max_refresh;
  o.max_stale = ic.max_stale;
  o.kid_refetch_interval = ic.kid_refetch_interval;
  // Retrying a failed fetch faster than the regular refresh, but never more
  // often than the refresh itself would be allowed to run.
  o.retry_max = std::min(o.retry_max, ic.min_refresh);
  return o;
}

}  // namespace

bool Issuer::AllowsAlg(JwsAlg alg) const {
  for (JwsAlg a : algorithms) {
    if (a == alg) return true;
  }
  return false;
}

absl::StatusOr<std::unique_ptr<IssuerRegistry>> IssuerRegistry::Create(
    const Config& config, std::vector<std::string>* warnings, const RemoteKeyDeps& deps) {
  static const RealClock kRealClock;
  auto registry = std::unique_ptr<IssuerRegistry>(new IssuerRegistry());
  for (const IssuerConfig& ic : config.issuers) {
    auto issuer = std::make_unique<Issuer>();
    issuer->config = ic;
    for (const std::string& name : ic.algorithms) {
      std::optional<JwsAlg> alg = ParseJwsAlg(name);
      if (!alg) {
        return absl::InvalidArgumentError(
            absl::StrCat("issuer ", ic.issuer, ": algorithm ", name, " is not supported"));
      }
      issuer->algorithms.push_back(*alg);
    }
    if (!ic.jwks_uri.empty() || ic.discovery) {
      auto source = RemoteKeySource::Create(
          RemoteOptions(ic), deps.fetcher != nullptr ? deps.fetcher : JwksFetcher::Shared(),
          deps.clock != nullptr ? deps.clock : &kRealClock);
      if (!source.ok()) return source.status();
      issuer->keys = *std::move(source);
      registry->by_iss_[ic.issuer] = issuer.get();
      registry->issuers_.push_back(std::move(issuer));
      continue;
    }
    std::string jwks = ic.jwks_inline;
    if (!ic.jwks_file.empty()) {
      absl::StatusOr<std::string> text =
          ReadFileToString(ResolvePath(config.base_dir, ic.jwks_file), 16 << 20);
      if (!text.ok()) {
        return absl::NotFoundError(
            absl::StrCat("issuer ", ic.issuer, ": cannot read jwks_file ", ic.jwks_file));
      }
      jwks = *std::move(text);
    }
    std::vector<std::string> key_warnings;
    auto keys = KeySet::Parse(jwks, &key_warnings);
    if (!keys.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat("issuer ", ic.issuer, ": JWKS: ", keys.status().message()));
    }
    for (auto& w : key_warnings) warnings->push_back(absl::StrCat("issuer ", ic.issuer, ": ", w));
    if (keys->size() == 0) {
      return absl::InvalidArgumentError(
          absl::StrCat("issuer ", ic.issuer, ": JWKS has no usable key"));
    }
    issuer->keys =
        std::make_unique<StaticKeySource>(std::make_shared<const KeySet>(*std::move(keys)));
    registry->by_iss_[ic.issuer] = issuer.get();
    registry->issuers_.push_back(std::move(issuer));
  }
  return registry;
}

bool IssuerRegistry::Ready(std::string* why) const {
  std::vector<std::string> causes;
  for (const auto& issuer : issuers_) {
    if (!issuer->config.required) continue;
    std::string cause;
    if (!issuer->keys->Ready(&cause)) {
      causes.push_back(absl::StrCat("issuer ", issuer->config.issuer, ": ", cause));
    }
  }
  if (causes.empty()) return true;
  *why = absl::StrJoin(causes, "; ");
  return false;
}

const Issuer* IssuerRegistry::Find(std::string_view iss) const {
  auto it = by_iss_.find(AV(iss));
  return it == by_iss_.end() ? nullptr : it->second;
}

}  // namespace popguard
