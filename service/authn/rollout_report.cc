#include "service/authn/rollout_report.h"

#include <algorithm>
#include <string_view>
#include <utility>

#include "service/common/json.h"

namespace popguard {
namespace {

using Members = std::vector<JsonValue::Member>;

// The name a client has in the report ("" is a request without a verified token).
std::string ClientName(const std::string& client) {
  return client.empty() ? "(unidentified)" : client;
}

JsonValue Count(uint64_t n) { return JsonValue::Number(static_cast<double>(n)); }

JsonValue ArrivalsJson(const ArrivalCounts& counts) {
  Members m;
  for (Arrival a : kAllArrivals) {
    m.emplace_back(std::string(ArrivalName(a)), Count(counts[static_cast<size_t>(a)]));
  }
  return JsonValue::Object(std::move(m));
}

JsonValue FailuresJson(const RolloutStats::RouteCounts& rc) {
  Members m;
  for (const auto& [reason, n] : rc.failures) {
    m.emplace_back(std::string(ReasonCode(reason)), Count(n));
  }
  return JsonValue::Object(std::move(m));
}

double Ratio(uint64_t part, uint64_t whole) {
  return whole == 0 ? 0.0 : static_cast<double>(part) / static_cast<double>(whole);
}

// Denied returns how many of `counts` requiring `binding` would deny.
uint64_t Denied(BindingRequirement binding, const ArrivalCounts& counts) {
  uint64_t n = 0;
  for (Arrival a : kAllArrivals) {
    if (a != Arrival::kFailed && !Satisfies(binding, a)) n += counts[static_cast<size_t>(a)];
  }
  return n;
}

JsonValue RequireJson(BindingRequirement binding, const RolloutStats::RouteCounts& rc) {
  const uint64_t denied = Denied(binding, rc.counts);
  std::vector<std::pair<uint64_t, const std::string*>> clients;
  for (const RolloutStats::ClientCounts& c : rc.top) {
    if (uint64_t n = Denied(binding, c.counts); n > 0) clients.emplace_back(n, &c.client);
  }
  std::stable_sort(clients.begin(), clients.end(),
                   [](const auto& x, const auto& y) { return x.first > y.first; });
  std::vector<JsonValue> list;
  for (const auto& [n, client] : clients) {
    list.push_back(JsonValue::Object(
        {{"client", JsonValue::String(ClientName(*client))}, {"requests", Count(n)}}));
  }
  return JsonValue::Object({{"would_deny", Count(denied)},
                            {"ratio", JsonValue::Number(Ratio(denied, rc.Total()))},
                            {"clients", JsonValue::Array(std::move(list))},
                            {"other_clients", Count(Denied(binding, rc.top_others.counts))}});
}

JsonValue EnforceJson(const RouteConfig& route, const RolloutConfig& rollout,
                      const RolloutStats::RouteCounts& rc) {
  const uint64_t total = rc.Total();
  const uint64_t denied =
      rc.counts[static_cast<size_t>(Arrival::kFailed)] + Denied(route.binding, rc.counts);
  const double ratio = Ratio(denied, total);
  Members m = {{"would_deny", Count(denied)}, {"ratio", JsonValue::Number(ratio)}};
  if (!route.report_only) {
    m.emplace_back("status", JsonValue::String("enforcing"));
  } else if (total < rollout.ready_min_requests) {
    m.emplace_back("status", JsonValue::String("not_ready"));
    m.emplace_back("why", JsonValue::String("too_few_requests"));
  } else if (ratio > rollout.ready_max_deny_ratio) {
    m.emplace_back("status", JsonValue::String("not_ready"));
    m.emplace_back("why", JsonValue::String("would_deny_too_many"));
  } else {
    m.emplace_back("status", JsonValue::String("ready"));
  }
  return JsonValue::Object(std::move(m));
}

JsonValue RouteJson(const RouteConfig& route, const RolloutConfig& rollout,
                    const RolloutStats::RouteCounts& rc) {
  std::vector<JsonValue> clients;
  for (const RolloutStats::ClientCounts& c : rc.top) {
    clients.push_back(JsonValue::Object({{"client", JsonValue::String(ClientName(c.client))},
                                         {"requests", Count(c.Total())},
                                         {"max_missed", Count(c.max_missed)},
                                         {"arrivals", ArrivalsJson(c.counts)}}));
  }
  return JsonValue::Object(
      {{"route", JsonValue::String(route.name)},
       {"mode", JsonValue::String(route.report_only ? "report_only" : "enforce")},
       {"binding", JsonValue::String(std::string(BindingRequirementName(route.binding)))},
       {"requests", Count(rc.Total())},
       {"arrivals", ArrivalsJson(rc.counts)},
       {"failures", FailuresJson(rc)},
       {"clients", JsonValue::Array(std::move(clients))},
       {"other_clients", JsonValue::Object({{"requests", Count(rc.top_others.Total())},
                                            {"arrivals", ArrivalsJson(rc.top_others.counts)}})},
       {"require", JsonValue::Object({{"dpop", RequireJson(BindingRequirement::kDpop, rc)},
                                      {"mtls", RequireJson(BindingRequirement::kMtls, rc)},
                                      {"bound", RequireJson(BindingRequirement::kBound, rc)}})},
       {"enforce", EnforceJson(route, rollout, rc)}});
}

}  // namespace

bool Satisfies(BindingRequirement binding, Arrival arrival) {
  if (arrival == Arrival::kFailed) return false;
  const bool dpop = arrival == Arrival::kDpop || arrival == Arrival::kDpopMtls;
  const bool mtls = arrival == Arrival::kMtls || arrival == Arrival::kDpopMtls;
  switch (binding) {
    case BindingRequirement::kBearer:
      return true;
    case BindingRequirement::kDpop:
      return dpop;
    case BindingRequirement::kMtls:
      return mtls;
    case BindingRequirement::kBound:
      return dpop || mtls;
  }
  return false;
}

std::string RolloutJson(const std::vector<RolloutStats::RouteCounts>& routes,
                        const Config& config) {
  auto counts_of = [&routes](std::string_view name) {
    for (const RolloutStats::RouteCounts& rc : routes) {
      if (rc.route == name) return rc;
    }
    RolloutStats::RouteCounts none;
    none.route = std::string(name);
    return none;
  };
  std::vector<RouteConfig> configured = config.routes;
  RouteConfig fallback;  // what Policy gives a request no route matches
  fallback.name = "default";
  fallback.binding = config.default_binding;
  fallback.report_only = config.default_report_only;
  configured.push_back(std::move(fallback));
  std::vector<JsonValue> list;
  for (const RouteConfig& route : configured) {
    list.push_back(RouteJson(route, config.rollout, counts_of(route.name)));
  }
  const RolloutStats::RouteCounts unrouted = counts_of("none");
  JsonValue report = JsonValue::Object(
      {{"readiness", JsonValue::Object({{"min_requests", Count(config.rollout.ready_min_requests)},
                                        {"max_deny_ratio",
                                         JsonValue::Number(config.rollout.ready_max_deny_ratio)}})},
       {"routes", JsonValue::Array(std::move(list))},
       {"unrouted", JsonValue::Object({{"requests", Count(unrouted.Total())},
                                       {"failures", FailuresJson(unrouted)}})}});
  return SerializeJson(report) + "\n";
}

}  // namespace popguard
