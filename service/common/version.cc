#include "service/common/version.h"

#include "absl/strings/str_cat.h"

namespace popguard {

// Defined in the file cmake/popguard_version.cmake generates in the build tree.
extern const char kPopguardVersion[];
extern const char kPopguardRevision[];

absl::string_view PopguardVersion() { return kPopguardVersion; }

absl::string_view PopguardRevision() { return kPopguardRevision; }

std::string VersionLine(absl::string_view program) {
  const absl::string_view revision = PopguardRevision();
  return absl::StrCat(program, " ", PopguardVersion(), " (",
                      revision.empty() ? "no git revision: built outside a git checkout" : revision,
                      ")");
}

}  // namespace popguard
