// popguard-cli probe: sends a path diagnostics probe (service/authn/diagnostics.h)
// through the real gateway chain with libcurl and prints popguard's report.
#ifndef POPGUARD_SERVICE_TOOLS_CLI_PROBE_H_
#define POPGUARD_SERVICE_TOOLS_CLI_PROBE_H_

#include <string>

#include "service/common/command_line.h"
#include "service/common/json.h"

namespace popguard {

// RunProbe is the subcommand: flags url, method, cert, key, cacert, header
// (repeated), json. Exit 0: a report without differences; 1: a report with
// differences; 2: no report (the answer is described) or an error.
int RunProbe(const FlagValues& args);

// FormatProbeReport renders a report (the JSON popguard answered) for people.
std::string FormatProbeReport(const JsonValue& report);

}  // namespace popguard

#endif  // POPGUARD_SERVICE_TOOLS_CLI_PROBE_H_
