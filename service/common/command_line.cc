#include "service/common/command_line.h"

#include <optional>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "absl/strings/strip.h"

namespace popguard {

std::string FlagValues::Get(absl::string_view name, std::string def) const {
  auto it = values_.find(std::string(name));
  return it == values_.end() ? def : it->second.front();
}

std::vector<std::string> FlagValues::GetAll(absl::string_view name) const {
  auto it = values_.find(std::string(name));
  return it == values_.end() ? std::vector<std::string>{} : it->second;
}

int64_t FlagValues::GetInt(absl::string_view name, int64_t def) const {
  int64_t v = def;
  if (Has(name)) (void)absl::SimpleAtoi(Get(name), &v);
  return v;
}

absl::Status ParseFlags(std::span<const FlagSpec> specs, std::span<char* const> args,
                        absl::string_view help_command, FlagValues* values) {
  auto error = [](auto&&... parts) { return absl::InvalidArgumentError(absl::StrCat(parts...)); };
  for (size_t i = 0; i < args.size(); ++i) {
    absl::string_view a = args[i];
    if (!absl::ConsumePrefix(&a, "--")) {
      return error("unexpected argument #", i + 1, " (flags start with --)");
    }
    absl::string_view name = a;
    std::optional<std::string> value;
    if (size_t eq = a.find('='); eq != absl::string_view::npos) {
      name = a.substr(0, eq);
      value = std::string(a.substr(eq + 1));
    }
    const FlagSpec* spec = nullptr;
    for (const FlagSpec& f : specs) {
      if (f.name == name) spec = &f;
    }
    // The name is printed only when it is a plain flag name, never a value
    // pasted in place of one.
    if (spec == nullptr) {
      const bool printable =
          !name.empty() && name.size() <= 40 &&
          name.find_first_not_of(
              "abcdefghijklmnopqrstuvwxyz"
              "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-") == absl::string_view::npos;
      return error("unknown flag ", printable ? absl::StrCat("--", name) : "(not shown)", " (see ",
                   help_command, ")");
    }
    if (spec->kind == FlagKind::kSwitch) {
      if (value) return error("--", name, " takes no value");
      value = "";
    } else if (!value) {
      if (i + 1 >= args.size()) return error("--", name, " needs a value");
      value = args[++i];
    }
    int64_t unused;
    if (spec->kind == FlagKind::kInt && !absl::SimpleAtoi(*value, &unused)) {
      return error("--", name, ": expected an integer, got \"", *value, "\"");
    }
    if (!spec->repeatable && values->Has(name)) return error("--", name, " given more than once");
    values->Add(name, *std::move(value));
  }
  for (const FlagSpec& f : specs) {
    if (f.required && !values->Has(f.name)) return error("--", f.name, " is required");
  }
  return absl::OkStatus();
}

bool AsksFor(std::span<char* const> args, absl::string_view name,
             std::initializer_list<absl::string_view> aliases) {
  for (absl::string_view a : args) {
    if (absl::StartsWith(a, "--") && a.substr(2) == name) return true;
    for (absl::string_view alias : aliases) {
      if (a == alias) return true;
    }
  }
  return false;
}

void PrintHelpLine(std::ostream& os, absl::string_view left, absl::string_view help) {
  os << "  " << left << std::string(left.size() < 26 ? 26 - left.size() : 1, ' ') << help << "\n";
}

void PrintFlagHelp(std::ostream& os, std::span<const FlagSpec> specs) {
  for (const FlagSpec& f : specs) {
    PrintHelpLine(
        os, absl::StrCat("--", f.name, f.value_name.empty() ? "" : " ", f.value_name),
        absl::StrCat(f.help, f.required ? " (required)" : "", f.repeatable ? " (repeatable)" : ""));
  }
}

}  // namespace popguard
