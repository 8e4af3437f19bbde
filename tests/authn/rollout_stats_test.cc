// RolloutStats (exact counts, bounded tables) and RolloutJson (would-deny,
// readiness): service/authn/rollout_stats.h, rollout_report.h.
#include "service/authn/rollout_stats.h"

#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "service/authn/rollout_report.h"
#include "service/common/json.h"

namespace popguard {
namespace {

ArrivalCounts Counts(uint64_t bearer, uint64_t dpop, uint64_t mtls, uint64_t both,
                     uint64_t failed) {
  return {bearer, dpop, mtls, both, failed};
}

const RolloutStats::RouteCounts* FindRoute(const std::vector<RolloutStats::RouteCounts>& all,
                                           const std::string& name) {
  for (const auto& rc : all) {
    if (rc.route == name) return &rc;
  }
  return nullptr;
}

VerifiedToken Token(std::string client_id, std::string azp, std::string jkt, std::string x5t) {
  VerifiedToken t;
  t.client_id = std::move(client_id);
  t.azp = std::move(azp);
  t.cnf_jkt = std::move(jkt);
  t.cnf_x5t = std::move(x5t);
  return t;
}

class RolloutStatsTest : public ::testing::Test {};

TEST_F(RolloutStatsTest, RecordDecisionClassifiesByTheTokensBindingAndReason) {
  struct Case {
    std::string name;
    Reason reason;
    std::optional<VerifiedToken> token;
    Arrival arrival;
    std::string client;
  };
  const std::vector<Case> cases = {
      {"unbound allow", Reason::kOk, Token("c", "", "", ""), Arrival::kBearer, "c"},
      {"dpop allow", Reason::kOk, Token("c", "", "jkt", ""), Arrival::kDpop, "c"},
      {"mtls allow", Reason::kOk, Token("c", "", "", "x5t"), Arrival::kMtls, "c"},
      {"both allow", Reason::kOk, Token("c", "", "jkt", "x5t"), Arrival::kDpopMtls, "c"},
      {"binding_required counts by cnf", Reason::kBindingRequired, Token("c", "", "", ""),
       Arrival::kBearer, "c"},
      {"binding_required mtls token", Reason::kBindingRequired, Token("c", "", "", "x5t"),
       Arrival::kMtls, "c"},
      {"proof failure", Reason::kDpopProofMissing, Token("c", "", "jkt", ""), Arrival::kFailed,
       "c"},
      {"scope failure", Reason::kInsufficientScope, Token("c", "", "", ""), Arrival::kFailed, "c"},
      {"azp when no client_id", Reason::kOk, Token("", "azp-app", "", ""), Arrival::kBearer,
       "azp-app"},
      {"client_id before azp", Reason::kOk, Token("cid", "azp-app", "", ""), Arrival::kBearer,
       "cid"},
      {"no token", Reason::kTokenMissing, std::nullopt, Arrival::kFailed, ""},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    RolloutStats stats(RolloutLimits{});
    stats.RecordDecision("r", c.reason, c.token ? &*c.token : nullptr);
    const auto snapshot = stats.Snapshot();
    ASSERT_EQ(snapshot.size(), 1u);
    ArrivalCounts want{};
    want[static_cast<size_t>(c.arrival)] = 1;
    EXPECT_EQ(snapshot[0].counts, want);
    ASSERT_EQ(snapshot[0].top.size(), 1u);
    EXPECT_EQ(snapshot[0].top[0].client, c.client);
    if (c.arrival == Arrival::kFailed) {
      ASSERT_EQ(snapshot[0].failures.size(), 1u);
      EXPECT_EQ(snapshot[0].failures[0], std::make_pair(c.reason, uint64_t{1}));
    } else {
      EXPECT_TRUE(snapshot[0].failures.empty());
    }
  }
}

TEST_F(RolloutStatsTest, CountsAreExactPerRouteArrivalReasonAndClient) {
  RolloutStats stats(RolloutLimits{.top_clients = 4, .metric_clients = 4});
  struct Event {
    std::string route;
    Arrival arrival;
    Reason reason;
    std::string client;
    int times;
  };
  const std::vector<Event> events = {
      {"orders", Arrival::kBearer, Reason::kOk, "shop", 5},
      {"orders", Arrival::kDpop, Reason::kOk, "shop", 7},
      {"orders", Arrival::kFailed, Reason::kDpopSignatureInvalid, "shop", 2},
      {"orders", Arrival::kMtls, Reason::kOk, "pay", 3},
      {"orders", Arrival::kFailed, Reason::kTokenMissing, "", 4},
      {"orders", Arrival::kFailed, Reason::kDpopSignatureInvalid, "pay", 1},
      {"admin", Arrival::kDpopMtls, Reason::kOk, "ops", 2},
  };
  for (const Event& e : events) {
    for (int i = 0; i < e.times; ++i) stats.Record(e.route, e.arrival, e.reason, e.client);
  }
  const auto snapshot = stats.Snapshot();
  ASSERT_EQ(snapshot.size(), 2u);
  const auto* orders = FindRoute(snapshot, "orders");
  ASSERT_NE(orders, nullptr);
  EXPECT_EQ(orders->counts, Counts(5, 7, 3, 0, 7));
  EXPECT_EQ(orders->Total(), 22u);
  EXPECT_EQ(orders->failures, (std::vector<std::pair<Reason, uint64_t>>{
                                  {Reason::kTokenMissing, 4}, {Reason::kDpopSignatureInvalid, 3}}));
  ASSERT_EQ(orders->top.size(), 3u);
  EXPECT_EQ(orders->top[0].client, "shop");
  EXPECT_EQ(orders->top[0].counts, Counts(5, 7, 0, 0, 2));
  EXPECT_EQ(orders->top[1].client, "");
  EXPECT_EQ(orders->top[1].counts, Counts(0, 0, 0, 0, 4));
  EXPECT_EQ(orders->top[2].client, "pay");
  EXPECT_EQ(orders->top[2].counts, Counts(0, 0, 3, 0, 1));
  for (const auto& c : orders->top) EXPECT_EQ(c.max_missed, 0u) << c.client;
  EXPECT_EQ(orders->top_others.counts, Counts(0, 0, 0, 0, 0));
  // Labels in admission order.
  ASSERT_EQ(orders->labelled.size(), 3u);
  EXPECT_EQ(orders->labelled[0].client, "shop");
  EXPECT_EQ(orders->labelled[1].client, "pay");
  EXPECT_EQ(orders->labelled[2].client, "");
  const auto* admin = FindRoute(snapshot, "admin");
  ASSERT_NE(admin, nullptr);
  EXPECT_EQ(admin->counts, Counts(0, 0, 0, 2, 0));
}

// An attacker (or a big estate) with a million client ids: both tables stay at
// their size, the route totals stay exact, the heavy client keeps its slot and
// the labels given first are never taken back.
TEST_F(RolloutStatsTest, TablesStayBoundedUnderAMillionClientIds) {
  constexpr size_t kTop = 8, kLabels = 3;
  constexpr int kClients = 1000000;
  RolloutStats stats(RolloutLimits{.top_clients = kTop, .metric_clients = kLabels});
  for (int i = 0; i < 3; ++i) stats.Record("r", Arrival::kDpop, Reason::kOk, "early");
  uint64_t heavy = 0;
  for (int i = 0; i < kClients; ++i) {
    stats.Record("r", Arrival::kBearer, Reason::kOk, absl::StrCat("minted-", i));
    if (i % 4 == 0) {
      stats.Record("r", Arrival::kDpop, Reason::kOk, "heavy");
      ++heavy;
    }
  }
  const auto snapshot = stats.Snapshot();
  ASSERT_EQ(snapshot.size(), 1u);
  const auto& rc = snapshot[0];
  EXPECT_EQ(rc.counts, Counts(kClients, heavy + 3, 0, 0, 0));
  EXPECT_EQ(rc.top.size(), kTop);
  EXPECT_EQ(rc.labelled.size(), kLabels);
  // A client with more than 1/kTop of the requests is always in the table;
  // "heavy" has 1/5. It entered on its first request with nothing inherited
  // only if a slot was free; either way its counts plus max_missed cover all
  // of its requests.
  const RolloutStats::ClientCounts* h = nullptr;
  for (const auto& c : rc.top) {
    if (c.client == "heavy") h = &c;
  }
  ASSERT_NE(h, nullptr);
  EXPECT_EQ(rc.top[0].client, "heavy");
  EXPECT_GE(h->counts[static_cast<size_t>(Arrival::kDpop)] + h->max_missed, heavy);
  EXPECT_LE(h->counts[static_cast<size_t>(Arrival::kDpop)], heavy);
  // Others is the exact remainder.
  uint64_t tracked = 0;
  for (const auto& c : rc.top) tracked += c.Total();
  EXPECT_EQ(tracked + rc.top_others.Total(), rc.Total());
  // First come, first labelled: "early", then the first two minted ids.
  EXPECT_EQ(rc.labelled[0].client, "early");
  EXPECT_EQ(rc.labelled[0].counts, Counts(0, 3, 0, 0, 0));
  EXPECT_EQ(rc.labelled[1].client, "minted-0");
  EXPECT_EQ(rc.labelled[2].client, "heavy");
  EXPECT_EQ(rc.labelled[2].counts, Counts(0, heavy, 0, 0, 0));
  EXPECT_EQ(rc.labelled_others.counts, Counts(kClients - 1, 0, 0, 0, 0));
}

// Metric labels only grow: a later flood of new clients never moves a
// labelled client's counter back, and "others" only grows too.
TEST_F(RolloutStatsTest, LabelledCountersAreMonotonic) {
  RolloutStats stats(RolloutLimits{.top_clients = 1, .metric_clients = 1});
  stats.Record("r", Arrival::kBearer, Reason::kOk, "a");
  uint64_t last_a = 1, last_others = 0;
  for (int round = 0; round < 50; ++round) {
    stats.Record("r", Arrival::kBearer, Reason::kOk, absl::StrCat("x", round));
    if (round % 3 == 0) stats.Record("r", Arrival::kBearer, Reason::kOk, "a");
    const auto rc = stats.Snapshot()[0];
    ASSERT_EQ(rc.labelled.size(), 1u);
    ASSERT_EQ(rc.labelled[0].client, "a");
    EXPECT_GE(rc.labelled[0].Total(), last_a);
    EXPECT_GE(rc.labelled_others.Total(), last_others);
    last_a = rc.labelled[0].Total();
    last_others = rc.labelled_others.Total();
  }
  EXPECT_EQ(last_a, 18u);
  EXPECT_EQ(last_others, 50u);
}

TEST_F(RolloutStatsTest, SatisfiesTable) {
  struct Case {
    BindingRequirement binding;
    Arrival arrival;
    bool want;
  };
  const std::vector<Case> cases = {
      {BindingRequirement::kBearer, Arrival::kBearer, true},
      {BindingRequirement::kBearer, Arrival::kFailed, false},
      {BindingRequirement::kDpop, Arrival::kBearer, false},
      {BindingRequirement::kDpop, Arrival::kDpop, true},
      {BindingRequirement::kDpop, Arrival::kMtls, false},
      {BindingRequirement::kDpop, Arrival::kDpopMtls, true},
      {BindingRequirement::kMtls, Arrival::kDpop, false},
      {BindingRequirement::kMtls, Arrival::kMtls, true},
      {BindingRequirement::kMtls, Arrival::kDpopMtls, true},
      {BindingRequirement::kBound, Arrival::kBearer, false},
      {BindingRequirement::kBound, Arrival::kDpop, true},
      {BindingRequirement::kBound, Arrival::kMtls, true},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(std::string(BindingRequirementName(c.binding)) + " / " +
                 std::string(ArrivalName(c.arrival)));
    EXPECT_EQ(Satisfies(c.binding, c.arrival), c.want);
  }
}

RouteConfig Route(std::string name, BindingRequirement binding, bool report_only) {
  RouteConfig r;
  r.name = std::move(name);
  r.binding = binding;
  r.report_only = report_only;
  return r;
}

TEST_F(RolloutStatsTest, ReportSaysWhatEachBindingWouldDenyAndWhichRoutesAreReady) {
  Config config;
  config.routes = {Route("orders", BindingRequirement::kDpop, true),
                   Route("legacy", BindingRequirement::kBearer, true),
                   Route("few", BindingRequirement::kBound, true),
                   Route("strict", BindingRequirement::kMtls, false)};
  config.default_binding = BindingRequirement::kBound;
  config.rollout.ready_min_requests = 10;
  config.rollout.ready_max_deny_ratio = 0.1;
  RolloutStats stats(RolloutLimits{.top_clients = 3, .metric_clients = 3});
  auto record = [&stats](const char* route, Arrival a, const char* client, int n,
                         Reason reason = Reason::kOk) {
    for (int i = 0; i < n; ++i) stats.Record(route, a, reason, client);
  };
  record("orders", Arrival::kDpop, "shop", 36);
  record("orders", Arrival::kBearer, "legacy-app", 3);
  record("orders", Arrival::kMtls, "pay", 1);
  record("legacy", Arrival::kBearer, "batch", 12);
  record("few", Arrival::kDpop, "shop", 2);
  record("strict", Arrival::kMtls, "pay", 4);
  record("strict", Arrival::kFailed, "", 1, Reason::kMtlsCertMissing);
  record("none", Arrival::kFailed, "", 2, Reason::kPathAmbiguous);
  absl::StatusOr<JsonValue> report = ParseJson(RolloutJson(stats.Snapshot(), config));
  ASSERT_TRUE(report.ok()) << report.status();
  const auto& routes = report->Find("routes")->array_items();
  ASSERT_EQ(routes.size(), 5u);  // four routes and "default"
  auto route_json = [&routes](const std::string& name) {
    for (const JsonValue& r : routes) {
      if (*r.FindString("route") == name) return SerializeJson(r);
    }
    return std::string("missing");
  };
  const std::string arrivals_zero = R"("bearer":0,"dpop":0,"mtls":0,"dpop_mtls":0,"failed":0)";
  EXPECT_EQ(
      route_json("orders"),
      R"({"route":"orders","mode":"report_only","binding":"dpop","requests":40,)"
      R"("arrivals":{"bearer":3,"dpop":36,"mtls":1,"dpop_mtls":0,"failed":0},"failures":{},)"
      R"("clients":[{"client":"shop","requests":36,"max_missed":0,"arrivals":{"bearer":0,"dpop":36,"mtls":0,"dpop_mtls":0,"failed":0}},)"
      R"({"client":"legacy-app","requests":3,"max_missed":0,"arrivals":{"bearer":3,"dpop":0,"mtls":0,"dpop_mtls":0,"failed":0}},)"
      R"({"client":"pay","requests":1,"max_missed":0,"arrivals":{"bearer":0,"dpop":0,"mtls":1,"dpop_mtls":0,"failed":0}}],)"
      R"("other_clients":{"requests":0,"arrivals":{)" +
          arrivals_zero +
          R"(}},)"
          R"("require":{"dpop":{"would_deny":4,"ratio":0.1,"clients":[{"client":"legacy-app","requests":3},{"client":"pay","requests":1}],"other_clients":0},)"
          R"("mtls":{"would_deny":39,"ratio":0.975,"clients":[{"client":"shop","requests":36},{"client":"legacy-app","requests":3}],"other_clients":0},)"
          R"("bound":{"would_deny":3,"ratio":0.075,"clients":[{"client":"legacy-app","requests":3}],"other_clients":0}},)"
          R"("enforce":{"would_deny":4,"ratio":0.1,"status":"ready"}})");
  const std::string legacy = route_json("legacy");
  EXPECT_NE(legacy.find(R"("enforce":{"would_deny":0,"ratio":0,"status":"ready"})"),
            std::string::npos)
      << legacy;
  const std::string few = route_json("few");
  EXPECT_NE(
      few.find(
          R"("enforce":{"would_deny":0,"ratio":0,"status":"not_ready","why":"too_few_requests"})"),
      std::string::npos)
      << few;
  const std::string strict = route_json("strict");
  EXPECT_NE(strict.find(R"("failures":{"mtls_cert_missing":1})"), std::string::npos) << strict;
  EXPECT_NE(strict.find(R"("enforce":{"would_deny":1,"ratio":0.2,"status":"enforcing"})"),
            std::string::npos)
      << strict;
  EXPECT_EQ(route_json("default"),
            R"({"route":"default","mode":"enforce","binding":"bound","requests":0,"arrivals":{)" +
                arrivals_zero +
                R"(},"failures":{},"clients":[],"other_clients":{"requests":0,)"
                R"("arrivals":{)" +
                arrivals_zero +
                R"(}},"require":{)"
                R"("dpop":{"would_deny":0,"ratio":0,"clients":[],"other_clients":0},)"
                R"("mtls":{"would_deny":0,"ratio":0,"clients":[],"other_clients":0},)"
                R"("bound":{"would_deny":0,"ratio":0,"clients":[],"other_clients":0}},)"
                R"("enforce":{"would_deny":0,"ratio":0,"status":"enforcing"}})");
  EXPECT_EQ(SerializeJson(*report->Find("unrouted")),
            R"({"requests":2,"failures":{"path_ambiguous":2}})");
  EXPECT_EQ(SerializeJson(*report->Find("readiness")),
            R"({"min_requests":10,"max_deny_ratio":0.1})");
  // Past the threshold: one more would-deny makes orders not ready.
  record("orders", Arrival::kBearer, "legacy-app", 1);
  report = ParseJson(RolloutJson(stats.Snapshot(), config));
  ASSERT_TRUE(report.ok());
  EXPECT_NE(
      SerializeJson(*report).find(
          R"("enforce":{"would_deny":5,"ratio":0.12195121951219512,"status":"not_ready","why":"would_deny_too_many"})"),
      std::string::npos);
}

}  // namespace
}  // namespace popguard
