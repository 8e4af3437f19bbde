// The log line of one decision: "deny", "would_deny" (a report-only route let
// a denied request through) or a sampled "allow".
//
// Denial lines name the request well enough to find it in the gateway's own
// logs: its request id (x-request-id) and W3C trace id (traceparent), method,
// route, path without the query, principal, and the proof key thumbprint
// (jkt) once a proof was parsed. Header values are copied length-capped with
// every byte outside printable ASCII percent-encoded, so a header cannot
// forge or break a line. Never a token, a proof or a key: the token appears
// only as its short hash (token_id).
#ifndef POPGUARD_SERVICE_DECISION_LOG_H_
#define POPGUARD_SERVICE_DECISION_LOG_H_

#include <cstddef>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "service/authn/decision.h"
#include "service/authn/request.h"
#include "service/common/log.h"

namespace popguard {

// RequestLogContext is what a decision's log line says about its request,
// read when the request arrives: the request itself is borrowed only until
// the decision's first asynchronous step.
struct RequestLogContext {
  std::string request_id;  // x-request-id (one value), LogSafe-capped at kMaxLogIdBytes
  std::string trace_id;    // traceparent's trace-id: 32 lower-case hex digits, else ""
  std::string method;      // LogSafe-capped at kMaxLogIdBytes
  std::string path;        // as sent, without query and fragment; capped at kMaxLogPathBytes
};

inline constexpr size_t kMaxLogIdBytes = 64;
inline constexpr size_t kMaxLogPathBytes = 256;

// RequestLogContextFor reads the log context of `request`.
RequestLogContext RequestLogContextFor(const HttpRequestInfo& request);

// LogSafe returns `value` with every byte outside visible ASCII (0x21-0x7e)
// and '%' written as %XX, cut to at most `max_bytes` of output (a cut value
// ends in "...").
std::string LogSafe(std::string_view value, size_t max_bytes);

enum class DecisionLogKind { kAllow, kDeny, kWouldDeny };

// DecisionLogKindFor: kWouldDeny for a denial on a report-only route.
DecisionLogKind DecisionLogKindFor(const Decision& decision, bool report_only_route);

using LogFields = std::vector<std::pair<std::string_view, std::string>>;

// DecisionLogFields returns the fields of the line, in order ("event" and the
// level excluded). `decision` is the decision before report-only clears its
// identity.
LogFields DecisionLogFields(DecisionLogKind kind, const Decision& decision,
                            const RequestLogContext& request);

// LogDecision writes the line: deny at info, would_deny at warn, allow at
// info when SampleAllow(allow_sample_rate) picks it and at debug otherwise.
// Nothing is built when the level is off.
void LogDecision(DecisionLogKind kind, const Decision& decision, const RequestLogContext& request,
                 double allow_sample_rate);

}  // namespace popguard

#endif  // POPGUARD_SERVICE_DECISION_LOG_H_
