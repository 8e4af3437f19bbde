#include "service/tools/cli/rollout_fleet.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <map>
#include <optional>
#include <string_view>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "service/authn/diagnostics.h"
#include "service/authn/reason.h"
#include "service/authn/rollout_report.h"
#include "service/authn/rollout_stats.h"
#include "service/tools/cli/prometheus_text.h"

namespace popguard {
namespace {

constexpr char kRequests[] = "popguard_rollout_requests_total";
constexpr char kRouteInfo[] = "popguard_route_info";
constexpr char kDecisions[] = "popguard_decisions_total";

struct RouteFacts {
  BindingRequirement binding;
  bool report_only;
  std::string source;  // where it was first seen, for a disagreement
};

// Sums is the fleet so far.
struct Sums {
  std::vector<std::string> order;  // routes by first route_info, "default" excluded
  std::map<std::string, RouteFacts, std::less<>> facts;
  struct Route {
    ArrivalCounts counts{};
    ArrivalCounts others{};
    std::map<std::string, ArrivalCounts> clients;  // "" is (unidentified)
    std::map<Reason, uint64_t> failures;
  };
  std::map<std::string, Route, std::less<>> routes;
};

absl::Status SampleError(const std::string& source, const PromSample& s, const std::string& why) {
  return absl::InvalidArgumentError(
      absl::StrCat(source, ": line ", s.line, ": ", SeriesText(s), ": ", why));
}

// Count reads a counter value: a whole number a double holds exactly.
absl::StatusOr<uint64_t> Count(const std::string& source, const PromSample& s) {
  if (!std::isfinite(s.value) || s.value < 0 || s.value != std::floor(s.value) ||
      s.value > 9007199254740992.0) {
    return SampleError(source, s, "the value is not a count");
  }
  return static_cast<uint64_t>(s.value);
}

// Labels returns the values of the labels `names` of `s`, or an error naming
// the first one it lacks.
template <size_t N>
absl::StatusOr<std::array<std::string, N>> Labels(const std::string& source, const PromSample& s,
                                                  const char* const (&names)[N]) {
  std::array<std::string, N> values;
  for (size_t i = 0; i < N; ++i) {
    std::optional<std::string_view> v = s.Label(names[i]);
    if (!v) return SampleError(source, s, absl::StrCat("no ", names[i], " label"));
    values[i] = std::string(*v);
  }
  return values;
}

std::optional<Arrival> ParseArrival(std::string_view name) {
  for (Arrival a : kAllArrivals) {
    if (ArrivalName(a) == name) return a;
  }
  return std::nullopt;
}

std::optional<Reason> ParseReason(std::string_view code) {
  for (Reason r : kAllReasons) {
    if (ReasonCode(r) == code) return r;
  }
  return std::nullopt;
}

absl::Status AddRouteInfo(const std::string& source, const PromSample& s, Sums* sums) {
  static constexpr const char* kNames[] = {"route", "binding", "report_only"};
  absl::StatusOr<std::array<std::string, 3>> labels = Labels(source, s, kNames);
  if (!labels.ok()) return labels.status();
  const auto& [route, binding_name, report_only] = *labels;
  std::optional<BindingRequirement> binding = ParseBindingRequirement(binding_name);
  if (!binding) return SampleError(source, s, "unknown binding");
  if (report_only != "true" && report_only != "false") {
    return SampleError(source, s, "report_only is neither true nor false");
  }
  RouteFacts facts{*binding, report_only == "true", source};
  auto [it, fresh] = sums->facts.emplace(route, facts);
  if (fresh) {
    if (route != "default") sums->order.push_back(route);
  } else if (it->second.binding != facts.binding || it->second.report_only != facts.report_only) {
    // A config change reaching the replicas one by one: the binding a route's
    // readiness is judged against differs between them.
    return SampleError(
        source, s,
        absl::StrCat("route ", route, " has binding ",
                     std::string(BindingRequirementName(it->second.binding)), ", report_only ",
                     it->second.report_only ? "true" : "false", " in ", it->second.source,
                     "; wait until every replica runs the same config"));
  }
  return absl::OkStatus();
}

absl::Status AddRequests(const std::string& source, const PromSample& s, Sums* sums) {
  static constexpr const char* kNames[] = {"route", "client", "arrival"};
  absl::StatusOr<std::array<std::string, 3>> labels = Labels(source, s, kNames);
  if (!labels.ok()) return labels.status();
  const auto& [route, client, arrival_name] = *labels;
  std::optional<Arrival> arrival = ParseArrival(arrival_name);
  if (!arrival) return SampleError(source, s, "unknown arrival");
  absl::StatusOr<uint64_t> n = Count(source, s);
  if (!n.ok()) return n.status();
  const size_t a = static_cast<size_t>(*arrival);
  Sums::Route& r = sums->routes[route];
  r.counts[a] += *n;
  if (client == "(others)") {
    r.others[a] += *n;
  } else {
    r.clients[client == "(unidentified)" ? std::string() : client][a] += *n;
  }
  return absl::OkStatus();
}

absl::Status AddDecisions(const std::string& source, const PromSample& s, Sums* sums) {
  static constexpr const char* kNames[] = {"result", "reason", "route"};
  absl::StatusOr<std::array<std::string, 3>> labels = Labels(source, s, kNames);
  if (!labels.ok()) return labels.status();
  const auto& [result, code, route] = *labels;
  if (result == "allow") return absl::OkStatus();
  std::optional<Reason> reason = ParseReason(code);
  if (!reason) {
    return SampleError(source, s, "unknown reason code (a popguard-cli older than the server?)");
  }
  absl::StatusOr<uint64_t> n = Count(source, s);
  if (!n.ok()) return n.status();
  if (*reason == Reason::kOk || *reason == Reason::kBindingRequired ||
      IsDiagnosticsReason(*reason) || *n == 0) {
    return absl::OkStatus();
  }
  sums->routes[route].failures[*reason] += *n;
  return absl::OkStatus();
}

absl::Status Add(const Exposition& e, Sums* sums) {
  absl::StatusOr<PromText> text = ParsePrometheusText(e.text);
  if (!text.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat(e.source, ": not Prometheus text (", text.status().message(), ")"));
  }
  bool requests = text->types.contains(kRequests);
  bool route_info = false;
  for (const PromSample& s : text->samples) {
    absl::Status status;
    if (s.name == kRequests) {
      requests = true;
      status = AddRequests(e.source, s, sums);
    } else if (s.name == kRouteInfo) {
      route_info = true;
      status = AddRouteInfo(e.source, s, sums);
    } else if (s.name == kDecisions) {
      status = AddDecisions(e.source, s, sums);
    }
    if (!status.ok()) return status;
  }
  if (!requests) {
    return absl::InvalidArgumentError(absl::StrCat(
        e.source, ": no ", kRequests, " family; not a popguard /metrics (or its federation)?"));
  }
  if (!route_info) {
    return absl::InvalidArgumentError(absl::StrCat(e.source, ": no ", kRouteInfo,
                                                   " series; a popguard older than popguard-cli?"));
  }
  return absl::OkStatus();
}

RolloutStats::ClientCounts Client(std::string name, const ArrivalCounts& counts) {
  RolloutStats::ClientCounts c;
  c.client = std::move(name);
  c.counts = counts;
  return c;
}

}  // namespace

absl::StatusOr<std::string> FleetRolloutJson(const std::vector<Exposition>& expositions,
                                             const RolloutConfig& readiness) {
  Sums sums;
  for (const Exposition& e : expositions) {
    if (absl::Status s = Add(e, &sums); !s.ok()) return s;
  }
  auto fallback = sums.facts.find("default");
  if (fallback == sums.facts.end()) {
    return absl::InvalidArgumentError(
        absl::StrCat("no ", kRouteInfo, "{route=\"default\"} in any input"));
  }
  Config config;
  config.rollout = readiness;
  config.default_binding = fallback->second.binding;
  config.default_report_only = fallback->second.report_only;
  for (const std::string& name : sums.order) {
    RouteConfig route;
    route.name = name;
    route.binding = sums.facts[name].binding;
    route.report_only = sums.facts[name].report_only;
    config.routes.push_back(std::move(route));
  }
  std::vector<RolloutStats::RouteCounts> counts;
  for (const auto& [name, r] : sums.routes) {
    RolloutStats::RouteCounts rc;
    rc.route = name;
    rc.counts = r.counts;
    for (Reason reason : kAllReasons) {
      if (auto it = r.failures.find(reason); it != r.failures.end()) {
        rc.failures.emplace_back(reason, it->second);
      }
    }
    for (const auto& [client, c] : r.clients) rc.top.push_back(Client(client, c));
    // By volume, then by name: the order the report lists clients in.
    std::stable_sort(rc.top.begin(), rc.top.end(),
                     [](const auto& x, const auto& y) { return x.Total() > y.Total(); });
    rc.top_others = Client("", r.others);
    rc.labelled = rc.top;
    rc.labelled_others = rc.top_others;
    counts.push_back(std::move(rc));
  }
  return RolloutJson(counts, config);
}

}  // namespace popguard
