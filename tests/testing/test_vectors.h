// Test vector reader: files under POPGUARD_SHARED_DIR (../shared), which hold
// third-party vectors with their provenance in each folder's README.
#ifndef POPGUARD_TESTS_TESTING_TEST_VECTORS_H_
#define POPGUARD_TESTS_TESTING_TEST_VECTORS_H_

#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "service/common/json.h"

namespace popguard::testdata {

// SharedPath returns POPGUARD_SHARED_DIR + "/" + `relpath`.
std::string SharedPath(std::string_view relpath);

// ReadSharedFile returns the contents of the shared file `relpath`
// (e.g. "testvectors/rfc/rfc7638_example.txt"). Records a gtest failure and
// returns "" when the file cannot be read.
std::string ReadSharedFile(std::string_view relpath);

// ReadFileOrEmpty returns the contents of `path` (at most 64 MiB), or "" when
// it cannot be read: for logs and outputs a test inspects, which may not exist
// (yet). A test expecting content fails on the comparison that follows.
std::string ReadFileOrEmpty(const std::string& path);

// ReadSharedJson parses the shared file `relpath` as JSON (nesting up to 64).
// Records a gtest failure and returns null when it cannot be read or parsed.
JsonValue ReadSharedJson(std::string_view relpath);

// HexDecode returns the bytes of the hex string `hex` (either case), or
// nullopt when it has odd length or a non-hex character.
std::optional<std::string> HexDecode(std::string_view hex);

// KeyValueCase is one block of a "KEY: value" file.
using KeyValueCase = std::map<std::string, std::string, std::less<>>;

// ParseKeyValueCases splits `text` into cases separated by blank lines; each
// line "KEY: value" becomes an entry; lines starting with '#' are comments.
std::vector<KeyValueCase> ParseKeyValueCases(std::string_view text);

}  // namespace popguard::testdata

#endif  // POPGUARD_TESTS_TESTING_TEST_VECTORS_H_
