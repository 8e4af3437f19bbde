// Reading a whole file into memory, bounded.
//
//   absl::StatusOr<std::string> pem = ReadFileToString(path, 1 << 20);
//
// Every file popguard reads (config, keys, certificates, CA bundles, JWKS
// files) is small; the bound keeps a wrong path (a device, /dev/zero, a huge
// log) from exhausting memory, and the caller names the bound it expects.
#ifndef POPGUARD_SERVICE_COMMON_FILE_H_
#define POPGUARD_SERVICE_COMMON_FILE_H_

#include <cstddef>
#include <string>

#include "absl/status/statusor.h"

namespace popguard {

// ReadFileToString returns the contents of `path`. NotFoundError when it
// cannot be opened (missing, unreadable, a directory), FailedPreconditionError
// when it holds more than `max_bytes`, InternalError on a read error. Messages
// name the path, never the contents.
absl::StatusOr<std::string> ReadFileToString(const std::string& path, size_t max_bytes);

}  // namespace popguard

#endif  // POPGUARD_SERVICE_COMMON_FILE_H_
