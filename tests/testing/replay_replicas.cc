#include "tests/testing/replay_replicas.h"

#include <atomic>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "gtest/gtest.h"
#include "service/common/crypto_util.h"
#include "tests/testing/popguard_process.h"

namespace popguard::e2e {

bool WaitForHealth(RunningServer& server, int want, absl::Duration timeout) {
  const absl::Time deadline = absl::Now() + timeout;
  for (;;) {
    absl::StatusOr<int> h = HealthCheck(server.channel(), "");
    if (h.ok() && *h == want) return true;
    if (absl::Now() > deadline) return false;
    absl::SleepFor(absl::Milliseconds(20));
  }
}

std::unique_ptr<RunningServer> StartServingReplica(const std::string& name,
                                                   const ConfigOptions& options,
                                                   absl::Duration timeout) {
  std::unique_ptr<RunningServer> server = RunningServer::Start(name, options);
  if (!server->ok()) {
    ADD_FAILURE() << name << ": " << server->error();
    return nullptr;
  }
  if (!WaitForHealth(*server, kServing, timeout)) {
    ADD_FAILURE() << name << " never became ready:\n" << server->process().LogText();
    return nullptr;
  }
  return server;
}

HealthWatch::HealthWatch(std::vector<RunningServer*> servers, absl::Duration interval)
    : servers_(std::move(servers)), counts_(servers_.size()) {
  thread_ = std::thread([this, interval] {
    std::vector<int> last(servers_.size(), 0);
    while (!stop_.load()) {
      for (size_t i = 0; i < servers_.size(); ++i) {
        absl::StatusOr<int> h = HealthCheck(servers_[i]->channel(), "");
        const int now = h.ok() ? *h : -1;
        Counts& c = counts_[i];
        if (c.samples > 0 && now != last[i]) ++c.transitions;
        ++c.samples;
        c.serving += now == kServing ? 1 : 0;
        last[i] = now;
      }
      absl::SleepFor(interval);
    }
  });
}

HealthWatch::~HealthWatch() { Stop(); }

void HealthWatch::Stop() {
  stop_.store(true);
  if (thread_.joinable()) thread_.join();
}

std::string RedisReplayYaml(const std::vector<std::string>& addresses,
                            const std::string& failure_policy, const std::string& extra) {
  std::string list;
  for (const std::string& a : addresses) {
    absl::StrAppend(&list, list.empty() ? "" : ", ", "\"", a, "\"");
  }
  return absl::StrCat("replay:\n", "  backend: redis\n", "  redis:\n", "    addresses: [", list,
                      "]\n", "    failure_policy: ", failure_policy, "\n",
                      "    breaker_open: 200ms\n", extra);
}

ReplayProof MintReplayProof(absl::Time iat, const std::string& key_prefix) {
  static std::atomic<int> counter{0};
  TestEnv& env = TestEnv::Get();
  const PrivateKey& key = env.client_key(JwsAlg::kES256);
  const std::string url = TestEnv::Url("/dpop/orders");
  const std::string token = env.issuer().MintToken({.jkt = key.Thumbprint()});
  const std::string jti =
      absl::StrCat("replay-", absl::ToUnixNanos(absl::Now()), "-", counter.fetch_add(1));
  const std::string proof = MintProof(key, {.url = url, .token = token, .iat = iat, .jti = jti});
  std::string material = key.Thumbprint();
  material.push_back('\0');
  material += jti;
  return ReplayProof{{.url = url, .headers = {{"Authorization", "DPoP " + token}, {"DPoP", proof}}},
                     key_prefix + absl::BytesToHexString(Sha256(material).substr(0, 16))};
}

void ReasonTally::Add(const popguard::v1::VerifyResponse& r) {
  ++by_reason_[r.reason_code()];
  if (r.decision() == popguard::v1::ALLOW) ++allowed_;
}

int ReasonTally::Count(const std::string& reason) const {
  auto it = by_reason_.find(reason);
  return it == by_reason_.end() ? 0 : it->second;
}

std::string ReasonTally::Text() const {
  std::string out;
  for (const auto& [reason, n] : by_reason_) absl::StrAppend(&out, reason, "=", n, " ");
  return out;
}

}  // namespace popguard::e2e
