// popguard-cli revoke: write a revocation entry to Redis (ZADD + PUBLISH) or
// append it to a revocation file, or list the entries (README "Revocation").
#ifndef POPGUARD_SERVICE_TOOLS_CLI_REVOKE_H_
#define POPGUARD_SERVICE_TOOLS_CLI_REVOKE_H_

#include <vector>

#include "absl/strings/string_view.h"
#include "service/common/command_line.h"

namespace popguard {

inline constexpr absl::string_view kRevokeSummary = "revoke tokens, subjects, clients or keys";
inline constexpr absl::string_view kRevokeDetail =
    "Give exactly one of --jti, --sub (with --iss), --client-id, --jkt, --kid (with --iss),\n"
    "one of --until and --for (the entry needs to last until the tokens expire), and one of\n"
    "--redis (ZADD to the sorted set + PUBLISH: every replica denies within a second) and\n"
    "--file (appends a JSON line; replicas read it on their next config reload).\n"
    "--list prints the live entries of --redis or --file as JSON lines. Exit 0 on success,\n"
    "2 on errors.";

// RevokeFlags are the command's flags.
std::vector<FlagSpec> RevokeFlags();
// RunRevoke runs the command with parsed flags; returns the exit code.
int RunRevoke(const FlagValues& args);

}  // namespace popguard

#endif  // POPGUARD_SERVICE_TOOLS_CLI_REVOKE_H_
