// Command-line flags for popguard and popguard-cli, declared once in a table
// that both the parser and the --help text read.
//
//   const FlagSpec kFlags[] = {{"config", FlagKind::kString, true, false, "FILE", "..."}};
//   FlagValues values;
//   absl::Status s = ParseFlags(kFlags, {argv + 1, argv + argc}, "popguard --help", &values);
//
// Flags are `--name value` or `--name=value` (switches: `--name` only). A
// mistake is an error naming the flag: an unknown flag, a value that does not
// parse, a single-valued flag given twice, a missing required flag, a
// positional argument. The argument itself is never echoed: it may be a token
// or a proof.
#ifndef POPGUARD_SERVICE_COMMAND_LINE_H_
#define POPGUARD_SERVICE_COMMAND_LINE_H_

#include <cstdint>
#include <map>
#include <ostream>
#include <span>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"

namespace popguard {

// How a flag's value is read. kSwitch flags take no value.
enum class FlagKind { kString, kInt, kSwitch };

struct FlagSpec {
  absl::string_view name;  // without the leading "--"
  FlagKind kind;
  bool required;
  bool repeatable;
  absl::string_view value_name;  // shown in help, e.g. FILE
  absl::string_view help;
};

// FlagValues holds parsed flags; every value has already been checked
// against its FlagSpec (kind, repetition, required).
class FlagValues {
 public:
  void Add(absl::string_view name, std::string value) {
    values_[std::string(name)].push_back(std::move(value));
  }
  bool Has(absl::string_view name) const { return values_.count(std::string(name)) > 0; }
  std::string Get(absl::string_view name, std::string def = "") const;
  std::vector<std::string> GetAll(absl::string_view name) const;
  // GetInt returns the flag's value (validated as an integer by the parser).
  int64_t GetInt(absl::string_view name, int64_t def) const;

 private:
  std::map<std::string, std::vector<std::string>> values_;
};

// ParseFlags reads `args` (the arguments after the program or subcommand
// name) against `specs` into *values. `help_command` (e.g. "popguard --help")
// is named in the error for an unknown flag.
absl::Status ParseFlags(std::span<const FlagSpec> specs, std::span<char* const> args,
                        absl::string_view help_command, FlagValues* values);

// AsksFor reports whether `args` holds `--name` or any of `aliases` as a
// whole argument (for --help and --version, honoured before parsing).
bool AsksFor(std::span<char* const> args, absl::string_view name,
             std::initializer_list<absl::string_view> aliases = {});

// PrintFlagHelp writes one aligned line per flag of `specs`: "--name VALUE",
// the help text, "(required)" / "(repeatable)".
void PrintFlagHelp(std::ostream& os, std::span<const FlagSpec> specs);

// PrintHelpLine writes one line in PrintFlagHelp's layout (e.g. for --help).
void PrintHelpLine(std::ostream& os, absl::string_view left, absl::string_view help);

}  // namespace popguard

#endif  // POPGUARD_SERVICE_COMMAND_LINE_H_
