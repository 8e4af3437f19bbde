// The revocation check on the request path (service/authn/revocation.h):
// what every request whose token verified pays, with N live entries spread
// over the five kinds.
//
//   BM_Revocation_Miss/<entries>          a token on no list (the normal case):
//                                         five hash lookups on the live set
//   BM_Revocation_Hit/<entries>           a token whose client_id is revoked
//   BM_Revocation_Miss/100000/threads:2   two request threads at once (the
//                                         per-thread snapshot: no shared count)
//   BM_Revocation_Empty                   no entries at all: one size check
//   BM_Revocation_Add/<entries>           an announcement merged into the set
//                                         (the subscriber thread, not requests)
#include <benchmark/benchmark.h>

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "service/authn/revocation.h"

namespace popguard::bench {
namespace {

const absl::Time kNow = absl::FromUnixSeconds(1'800'000'000);
const std::string kIssuer = "https://issuer.example";

// Entries returns n entries, the kinds in turn, each with a 22-byte value
// (the length of a base64url jti or a 43-byte thumbprint's half).
std::vector<RevocationEntry> Entries(int64_t n) {
  std::vector<RevocationEntry> out;
  out.reserve(n);
  for (int64_t i = 0; i < n; ++i) {
    const RevocationKind kind = kAllRevocationKinds[i % std::size(kAllRevocationKinds)];
    out.push_back({kind, RevocationKindScoped(kind) ? kIssuer : "",
                   absl::StrCat("revoked-value-", 100000000 + i), kNow + absl::Hours(1)});
  }
  return out;
}

VerifiedToken Token(const std::string& client_id) {
  VerifiedToken t;
  t.issuer = kIssuer;
  t.subject = "alice-not-revoked-000";
  t.client_id = client_id;
  t.jti = "Jq5x2cT0Wd8yQ3Lm9pA7bB";
  t.cnf_jkt = "0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I";
  t.kid = "es256-1";
  return t;
}

LiveRevocations& Live(int64_t n) {
  static auto* lists = new std::map<int64_t, std::unique_ptr<LiveRevocations>>();
  auto& list = (*lists)[n];
  if (list == nullptr) {
    list = std::make_unique<LiveRevocations>();
    list->Add(Entries(n), kNow);
  }
  return *list;
}

void BM_Revocation_Miss(benchmark::State& state) {
  LiveRevocations& live = Live(state.range(0));
  const VerifiedToken token = Token("client-not-revoked");
  std::string detail;
  for (auto _ : state) {
    const Reason r = live.Check(token, kNow, &detail);
    // Checked before DoNotOptimize, and passed as const: benchmark 1.7.1's
    // DoNotOptimize(T&) for GCC is asm "+m,r", which GCC may honour with a
    // register it does not write back; under -fsanitize=address the check
    // after it read a garbage Reason (make test-asan, 2026-12-03).
    if (r != Reason::kOk) state.SkipWithError("a token on no list was denied");
    benchmark::DoNotOptimize(r);
  }
}
BENCHMARK(BM_Revocation_Miss)->Arg(1000)->Arg(100000);
BENCHMARK(BM_Revocation_Miss)->Arg(100000)->Threads(2);

void BM_Revocation_Hit(benchmark::State& state) {
  LiveRevocations& live = Live(state.range(0));
  // Entry 2 is a client_id (kinds in turn: jti, sub, client_id, ...).
  const VerifiedToken token = Token("revoked-value-100000002");
  std::string detail;
  for (auto _ : state) {
    const Reason r = live.Check(token, kNow, &detail);
    if (r != Reason::kTokenRevoked) state.SkipWithError("the revoked client was not denied");
    benchmark::DoNotOptimize(r);  // const: see BM_Revocation_Miss
  }
}
BENCHMARK(BM_Revocation_Hit)->Arg(100000);

void BM_Revocation_Empty(benchmark::State& state) {
  LiveRevocations live;
  const VerifiedToken token = Token("client-1");
  std::string detail;
  for (auto _ : state) benchmark::DoNotOptimize(live.Check(token, kNow, &detail));
}
BENCHMARK(BM_Revocation_Empty);

void BM_Revocation_Add(benchmark::State& state) {
  LiveRevocations live;
  live.Add(Entries(state.range(0)), kNow);
  int64_t i = 0;
  for (auto _ : state) {
    live.Add({{RevocationKind::kJti, "", absl::StrCat("announced-", i++), kNow + absl::Hours(1)}},
             kNow);
  }
}
BENCHMARK(BM_Revocation_Add)->Arg(100000)->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace popguard::bench

BENCHMARK_MAIN();
