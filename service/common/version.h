// The version of this build: the CMake project version and the git revision
// of the source tree (`git describe --always --dirty`), both fixed when the
// binary is built (cmake/popguard_version.cmake writes them at every build,
// and the file changes only when they do). A build from a tree without git
// history (a source tarball, the image's build stage) has no revision.
//
// Only the executables link this (library popguard_version), so a new commit
// relinks them and not every test.
#ifndef POPGUARD_SERVICE_VERSION_H_
#define POPGUARD_SERVICE_VERSION_H_

#include <string>

#include "absl/strings/string_view.h"

namespace popguard {

// PopguardVersion returns the project version, e.g. "0.1.0".
absl::string_view PopguardVersion();

// PopguardRevision returns `git describe --always --dirty` of the source
// tree at build time (e.g. "6799209-dirty"), or "" for a build outside git.
absl::string_view PopguardRevision();

// VersionLine returns what `--version` prints for `program`:
// "popguard 0.1.0 (6799209)", or
// "popguard 0.1.0 (no git revision: built outside a git checkout)".
std::string VersionLine(absl::string_view program);

}  // namespace popguard

#endif  // POPGUARD_SERVICE_VERSION_H_
