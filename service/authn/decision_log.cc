#include "service/authn/decision_log.h"

#include <algorithm>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "service/authn/route_path.h"
#include "service/common/log_sampling.h"

namespace popguard {
namespace {

// The one value of header `name`, or "" when it is absent or repeated (a
// repeated id names no single request).
std::string_view OneHeaderValue(const HttpRequestInfo& request, std::string_view name) {
  auto values = request.HeaderValues(name);
  return values.size() == 1 ? values[0] : std::string_view();
}

// TraceId returns the trace-id of a W3C traceparent ("00-<32 hex>-<16 hex>-<2
// hex>"), or "" for anything else, including the invalid all-zero id.
std::string TraceId(std::string_view traceparent) {
  if (traceparent.size() < 55 || traceparent[2] != '-' || traceparent[35] != '-') return "";
  std::string_view id = traceparent.substr(3, 32);
  bool nonzero = false;
  for (char c : id) {
    if (!absl::ascii_isxdigit(static_cast<unsigned char>(c)) || absl::ascii_isupper(c)) return "";
    nonzero = nonzero || c != '0';
  }
  return nonzero ? std::string(id) : "";
}

std::string_view PathWithoutQuery(const HttpRequestInfo& request) {
  if (!request.url.empty()) return PathAsSent(request.url);
  std::string_view path = request.path;
  return path.substr(0, path.find_first_of("?#"));
}

}  // namespace

std::string LogSafe(std::string_view value, size_t max_bytes) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  static constexpr std::string_view kCut = "...";
  auto plain = [](unsigned char c) { return c > 0x20 && c < 0x7f && c != '%'; };
  size_t encoded_size = 0;
  for (unsigned char c : value) encoded_size += plain(c) ? 1 : 3;
  // A value that does not fit keeps what fits beside the cut marker; an
  // escape is never split.
  const size_t budget =
      encoded_size <= max_bytes ? max_bytes : max_bytes - std::min(max_bytes, kCut.size());
  std::string out;
  out.reserve(std::min(encoded_size, max_bytes));
  for (unsigned char c : value) {
    if (out.size() + (plain(c) ? 1 : 3) > budget) break;
    if (plain(c)) {
      out.push_back(static_cast<char>(c));
    } else {
      out.push_back('%');
      out.push_back(kHex[c >> 4]);
      out.push_back(kHex[c & 0xf]);
    }
  }
  if (encoded_size > max_bytes) out.append(kCut.substr(0, max_bytes - out.size()));
  return out;
}

RequestLogContext RequestLogContextFor(const HttpRequestInfo& request) {
  RequestLogContext context;
  context.request_id = LogSafe(OneHeaderValue(request, "x-request-id"), kMaxLogIdBytes);
  context.trace_id = TraceId(OneHeaderValue(request, "traceparent"));
  context.method = LogSafe(request.method, kMaxLogIdBytes);
  context.path = LogSafe(PathWithoutQuery(request), kMaxLogPathBytes);
  return context;
}

DecisionLogKind DecisionLogKindFor(const Decision& decision, bool report_only_route) {
  if (decision.allow) return DecisionLogKind::kAllow;
  return report_only_route ? DecisionLogKind::kWouldDeny : DecisionLogKind::kDeny;
}

LogFields DecisionLogFields(DecisionLogKind kind, const Decision& decision,
                            const RequestLogContext& request) {
  LogFields fields;
  if (kind == DecisionLogKind::kAllow) {
    fields = {{"route", decision.route},
              {"issuer", decision.issuer},
              {"client_id", decision.client_id},
              {"binding", std::string(ProvenBindingName(decision.binding))},
              {"token_id", decision.token_id}};
    return fields;
  }
  fields.emplace_back("reason", std::string(ReasonCode(decision.reason)));
  if (kind == DecisionLogKind::kDeny) {
    fields.emplace_back("status", absl::StrCat(decision.http_status));
  }
  fields.insert(fields.end(), {{"route", decision.route},
                               {"issuer", decision.issuer},
                               {"client_id", decision.client_id},
                               {"principal", LogSafe(decision.principal, kMaxLogPathBytes)},
                               {"jkt", decision.jkt},
                               {"token_id", decision.token_id},
                               {"request_id", request.request_id},
                               {"trace_id", request.trace_id},
                               {"method", request.method},
                               {"path", request.path},
                               {"detail", decision.message}});
  return fields;
}

void LogDecision(DecisionLogKind kind, const Decision& decision, const RequestLogContext& request,
                 double allow_sample_rate) {
  LogLevel level = LogLevel::kInfo;
  std::string_view event = "deny";
  if (kind == DecisionLogKind::kWouldDeny) {
    level = LogLevel::kWarn;
    event = "would_deny";
  } else if (kind == DecisionLogKind::kAllow) {
    level = SampleAllow(allow_sample_rate) ? LogLevel::kInfo : LogLevel::kDebug;
    event = "allow";
  }
  if (!LogEnabled(level)) return;
  LogLine line(level, event);
  for (const auto& [key, value] : DecisionLogFields(kind, decision, request)) {
    // "status" is a number in the line, as it always was.
    if (key == "status") {
      line.Add(key, static_cast<int64_t>(decision.http_status));
    } else {
      line.Add(key, value);
    }
  }
}

}  // namespace popguard
