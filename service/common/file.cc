#include "service/common/file.h"

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <memory>

#include "absl/strings/str_cat.h"

namespace popguard {

absl::StatusOr<std::string> ReadFileToString(const std::string& path, size_t max_bytes) {
  std::unique_ptr<FILE, int (*)(FILE*)> f(std::fopen(path.c_str(), "rb"), &std::fclose);
  if (f == nullptr) {
    return absl::NotFoundError(absl::StrCat("cannot read ", path, ": ", std::strerror(errno)));
  }
  std::string out;
  char buf[16384];
  // Reads in chunks up to one byte past the bound instead of trusting a size
  // from stat: a FIFO or /proc file reports 0, a growing file lies.
  while (true) {
    size_t n = std::fread(buf, 1, sizeof(buf), f.get());
    if (n > 0) {
      if (out.size() + n > max_bytes) {
        return absl::FailedPreconditionError(
            absl::StrCat(path, " is larger than ", max_bytes, " bytes"));
      }
      out.append(buf, n);
    }
    if (n < sizeof(buf)) break;
  }
  if (std::ferror(f.get())) {
    // fopen succeeds on a directory; the read fails with EISDIR.
    if (errno == EISDIR) {
      return absl::NotFoundError(absl::StrCat("cannot read ", path, ": is a directory"));
    }
    return absl::InternalError(absl::StrCat("error reading ", path, ": ", std::strerror(errno)));
  }
  return out;
}

}  // namespace popguard
