#include "service/tools/cli/rollout.h"

#include <cstdio>
#include <iostream>
#include <memory>
#include <optional>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/notification.h"
#include "service/keys/jwks_fetcher.h"
#include "service/tools/cli/rollout_fleet.h"

namespace popguard {
namespace {

// Thousands renders 12410 as "12,410".
std::string Thousands(uint64_t n) {
  std::string digits = absl::StrCat(n);
  std::string out;
  for (size_t i = 0; i < digits.size(); ++i) {
    if (i > 0 && (digits.size() - i) % 3 == 0) out += ',';
    out += digits[i];
  }
  return out;
}

// Printable replaces control characters: a client_id is whatever the issuer
// put in a token, and must not drive the operator's terminal.
std::string Printable(std::string s) {
  for (char& c : s) {
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) c = '?';
  }
  return s;
}

// Requests renders "1 request", "12,410 requests".
std::string Requests(uint64_t n) {
  return absl::StrCat(Thousands(n), n == 1 ? " request" : " requests");
}

// Percent renders a ratio with one decimal ("3.2 %"); a share too small for
// that is "<0.1 %", never "0.0 %", so a denial never looks like none.
std::string Percent(double ratio) {
  if (ratio > 0 && ratio < 0.0005) return "<0.1 %";
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%.1f %%", ratio * 100);
  return buf;
}

// Reader pulls typed members out of the report and remembers the first one
// that is missing, so a foreign JSON document gets one clear error.
class Reader {
 public:
  const JsonValue& Member(const JsonValue& v, std::string_view key, JsonValue::Type type) {
    const JsonValue* m = v.Find(key);
    if (m != nullptr && m->type() == type) return *m;
    if (missing_.empty()) missing_ = std::string(key);
    static const JsonValue* const kEmpty = new JsonValue();
    return *kEmpty;
  }
  uint64_t Count(const JsonValue& v, std::string_view key) {
    return static_cast<uint64_t>(Member(v, key, JsonValue::Type::kNumber).AsInt64().value_or(0));
  }
  double Number(const JsonValue& v, std::string_view key) {
    return Member(v, key, JsonValue::Type::kNumber).number_value();
  }
  const std::string& String(const JsonValue& v, std::string_view key) {
    return Member(v, key, JsonValue::Type::kString).string_value();
  }
  const std::string& missing() const { return missing_; }

 private:
  std::string missing_;
};

std::string RequireLine(Reader& r, absl::string_view binding, const JsonValue& require,
                        uint64_t requests) {
  const JsonValue& b =
      r.Member(require, std::string_view(binding.data(), binding.size()), JsonValue::Type::kObject);
  const uint64_t denied = r.Count(b, "would_deny");
  std::string line = absl::StrCat("  requiring ", binding, " now would deny ");
  if (denied == 0) return absl::StrCat(line, "none of ", Requests(requests), "\n");
  absl::StrAppend(&line, Percent(r.Number(b, "ratio")), " of ", Requests(requests));
  std::vector<std::string> clients;
  for (const JsonValue& c : r.Member(b, "clients", JsonValue::Type::kArray).array_items()) {
    clients.push_back(absl::StrCat(Printable(r.String(c, "client")), " (",
                                   Thousands(r.Count(c, "requests")), ")"));
  }
  if (clients.size() == 1) {
    absl::StrAppend(&line, ", from 1 client: ", clients[0]);
  } else if (!clients.empty()) {
    absl::StrAppend(&line, ", from these ", clients.size(),
                    " clients: ", absl::StrJoin(clients, ", "));
  }
  if (const uint64_t others = r.Count(b, "other_clients"); others > 0) {
    absl::StrAppend(&line, clients.empty() ? ", from" : " and", " other clients (",
                    Thousands(others), ")");
  }
  return line + "\n";
}

}  // namespace

absl::StatusOr<std::string> FormatRolloutReport(const JsonValue& report) {
  Reader r;
  const JsonValue& readiness = r.Member(report, "readiness", JsonValue::Type::kObject);
  const uint64_t min_requests = r.Count(readiness, "min_requests");
  const double max_ratio = r.Number(readiness, "max_deny_ratio");
  std::string out;
  std::vector<std::string> ready;
  for (const JsonValue& route : r.Member(report, "routes", JsonValue::Type::kArray).array_items()) {
    const std::string& name = r.String(route, "route");
    const uint64_t requests = r.Count(route, "requests");
    absl::StrAppend(&out, "route ", name, " (", r.String(route, "mode"), ", binding ",
                    r.String(route, "binding"), "): ", Requests(requests));
    const JsonValue& arrivals = r.Member(route, "arrivals", JsonValue::Type::kObject);
    std::vector<std::string> parts;
    for (const auto& [arrival, n] : arrivals.object_members()) {
      parts.push_back(absl::StrCat(arrival, " ", Thousands(n.AsInt64().value_or(0))));
    }
    absl::StrAppend(&out, " (", absl::StrJoin(parts, ", "), ")\n");
    const JsonValue& failures = r.Member(route, "failures", JsonValue::Type::kObject);
    if (!failures.object_members().empty()) {
      std::vector<std::string> reasons;
      for (const auto& [reason, n] : failures.object_members()) {
        reasons.push_back(absl::StrCat(reason, " ", Thousands(n.AsInt64().value_or(0))));
      }
      absl::StrAppend(&out, "  failing now: ", absl::StrJoin(reasons, ", "), "\n");
    }
    const JsonValue& require = r.Member(route, "require", JsonValue::Type::kObject);
    for (absl::string_view binding : {"dpop", "mtls", "bound"}) {
      out += RequireLine(r, binding, require, requests);
    }
    const JsonValue& enforce = r.Member(route, "enforce", JsonValue::Type::kObject);
    const std::string& status = r.String(enforce, "status");
    const std::string share =
        absl::StrCat(Percent(r.Number(enforce, "ratio")), " of ", Requests(requests));
    if (status == "enforcing") {
      out += "  enforcing already\n";
    } else if (status == "ready") {
      ready.push_back(name);
      absl::StrAppend(&out, "  ready to enforce: enforcing now would deny ", share, "\n");
    } else if (r.String(enforce, "why") == "too_few_requests") {
      absl::StrAppend(&out, "  not ready: only ", Requests(requests), " (needs ",
                      Thousands(min_requests), ")\n");
    } else {
      absl::StrAppend(&out, "  not ready: enforcing now would deny ", share, " (limit ",
                      Percent(max_ratio), ")\n");
    }
  }
  const JsonValue& unrouted = r.Member(report, "unrouted", JsonValue::Type::kObject);
  if (const uint64_t n = r.Count(unrouted, "requests"); n > 0) {
    absl::StrAppend(&out, "denied before a route was chosen: ", Requests(n), "\n");
  }
  if (!r.missing().empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("not a popguard rollout report (no valid \"", r.missing(), "\")"));
  }
  absl::StrAppend(&out, "ready to enforce: ", ready.empty() ? "none" : absl::StrJoin(ready, ", "),
                  "\n");
  return out;
}

namespace {

// Get fetches `url` with the key fetcher's HTTP client (curl); plain http is
// allowed: the admin port does not speak TLS (service/ops/http_endpoint.h).
FetchResult Get(const std::string& url, size_t max_body_bytes) {
  std::unique_ptr<JwksFetcher> fetcher = JwksFetcher::CreateCurl(1);
  FetchResult result;
  absl::Notification done;
  fetcher->Fetch(
      url,
      FetchOptions{
          .timeout = absl::Seconds(5), .max_body_bytes = max_body_bytes, .allow_http = true},
      [&](FetchResult r) {
        result = std::move(r);
        done.Notify();
      });
  done.WaitForNotification();
  fetcher->Shutdown();
  return result;
}

// Fail prints "popguard-cli: rollout: SOURCE: why" (no SOURCE when empty):
// control characters replaced, since `why` may quote a label value.
int Fail(absl::string_view source, absl::string_view why) {
  std::cerr << "popguard-cli: rollout: "
            << Printable(source.empty() ? std::string(why) : absl::StrCat(source, ": ", why))
            << "\n";
  return 2;
}

// Print formats the GET /rollout JSON `json` to stdout.
int Print(absl::string_view source, const std::string& json) {
  absl::StatusOr<JsonValue> report = ParseJson(json, JsonLimits{.max_depth = 8});
  if (!report.ok())
    return Fail(source, "GET /rollout did not answer JSON; not a popguard admin port?");
  absl::StatusOr<std::string> text = FormatRolloutReport(*report);
  if (!text.ok()) return Fail(source, text.status().message());
  std::cout << *text;
  return 0;
}

}  // namespace

int RunRollout(const std::string& admin) {
  auto fail = [&admin](absl::string_view why) { return Fail(admin, why); };
  if (!absl::StartsWith(admin, "http://") || admin.find_first_of("/?#", 7) != std::string::npos) {
    return fail("--admin must be http://HOST:PORT (popguard's metrics.listen)");
  }
  const FetchResult result = Get(admin + "/rollout", 1 << 20);
  if (!result.status.ok()) {
    return fail(absl::StrCat("cannot read it: ", result.status.message(),
                             "; is popguard's metrics.listen there?"));
  }
  if (result.http_status != 200) {
    return fail(absl::StrCat("GET /rollout answered HTTP ", result.http_status,
                             "; not a popguard admin port (of this version)?"));
  }
  return Print(admin, result.body);
}

int RunFleetRollout(const std::vector<std::string>& metrics, const RolloutConfig& readiness) {
  std::vector<Exposition> expositions;
  for (const std::string& url : metrics) {
    for (const Exposition& e : expositions) {
      // The same replica twice would count its requests twice.
      if (e.source == url) return Fail(url, "--metrics given twice");
    }
    if (!absl::StartsWith(url, "http://") && !absl::StartsWith(url, "https://")) {
      return Fail(url,
                  "--metrics must be an http:// or https:// URL (e.g. http://HOST:9090/metrics)");
    }
    // A /federate answer of a large fleet is bigger than one replica's page.
    FetchResult result = Get(url, size_t{64} << 20);
    if (!result.status.ok()) {
      return Fail(url, absl::StrCat("cannot read it: ", result.status.message()));
    }
    if (result.http_status != 200) {
      return Fail(url, absl::StrCat("answered HTTP ", result.http_status));
    }
    expositions.push_back({url, std::move(result.body)});
  }
  absl::StatusOr<std::string> json = FleetRolloutJson(expositions, readiness);
  if (!json.ok()) return Fail("", json.status().message());  // it names the URL
  return Print("--metrics", *json);
}

}  // namespace popguard
