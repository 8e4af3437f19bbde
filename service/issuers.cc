#include "service/issuers.h"

#include <fstream>
#include <sstream>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "service/strings.h"

namespace popguard {

bool Issuer::AllowsAlg(JwsAlg alg) const {
  for (JwsAlg a : algorithms) {
    if (a == alg) return true;
  }
  return false;
}

absl::StatusOr<std::unique_ptr<IssuerRegistry>> IssuerRegistry::Create(
    const Config& config, std::vector<std::string>* warnings) {
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
    std::string jwks = ic.jwks_inline;
    if (!ic.jwks_file.empty()) {
      std::ifstream in(ResolvePath(config.base_dir, ic.jwks_file), std::ios::binary);
      if (!in) {
        return absl::NotFoundError(
            absl::StrCat("issuer ", ic.issuer, ": cannot read jwks_file ", ic.jwks_file));
      }
      std::stringstream ss;
      ss << in.rdbuf();
      jwks = ss.str();
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
    issuer->keys = std::make_unique<StaticKeySource>(
        std::make_shared<const KeySet>(*std::move(keys)));
    registry->by_iss_[ic.issuer] = issuer.get();
    registry->issuers_.push_back(std::move(issuer));
  }
  return registry;
}

const Issuer* IssuerRegistry::Find(std::string_view iss) const {
  auto it = by_iss_.find(AV(iss));
  return it == by_iss_.end() ? nullptr : it->second;
}

}  // namespace popguard
