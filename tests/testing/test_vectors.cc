#include "tests/testing/test_vectors.h"

#include "gtest/gtest.h"
#include "service/common/file.h"

namespace popguard::testdata {
namespace {

// Test inputs and logs are small; the bound only stops a wrong path (a
// device, a runaway log) from exhausting memory.
constexpr size_t kMaxTestFileBytes = size_t{64} << 20;

}  // namespace

std::string SharedPath(std::string_view relpath) {
  return std::string(POPGUARD_SHARED_DIR) + "/" + std::string(relpath);
}

std::string ReadSharedFile(std::string_view relpath) {
  const std::string path = SharedPath(relpath);
  absl::StatusOr<std::string> text = ReadFileToString(path, kMaxTestFileBytes);
  if (!text.ok()) {
    ADD_FAILURE() << "cannot read shared test file: " << text.status();
    return "";
  }
  return *std::move(text);
}

std::string ReadFileOrEmpty(const std::string& path) {
  return ReadFileToString(path, kMaxTestFileBytes).value_or("");
}

JsonValue ReadSharedJson(std::string_view relpath) {
  std::string text = ReadSharedFile(relpath);
  if (text.empty()) return JsonValue();
  absl::StatusOr<JsonValue> json = ParseJson(text, JsonLimits{.max_depth = 64});
  if (!json.ok()) {
    ADD_FAILURE() << "cannot parse " << relpath << ": " << json.status();
    return JsonValue();
  }
  return *std::move(json);
}

std::optional<std::string> HexDecode(std::string_view hex) {
  auto nibble = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  };
  if (hex.size() % 2 != 0) return std::nullopt;
  std::string out;
  out.reserve(hex.size() / 2);
  for (size_t i = 0; i < hex.size(); i += 2) {
    int hi = nibble(hex[i]), lo = nibble(hex[i + 1]);
    if (hi < 0 || lo < 0) return std::nullopt;
    out.push_back(static_cast<char>(hi << 4 | lo));
  }
  return out;
}

std::vector<KeyValueCase> ParseKeyValueCases(std::string_view text) {
  std::vector<KeyValueCase> cases;
  KeyValueCase current;
  while (!text.empty()) {
    size_t eol = text.find('\n');
    std::string_view line = text.substr(0, eol);
    text.remove_prefix(eol == std::string_view::npos ? text.size() : eol + 1);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (line.empty()) {
      if (!current.empty()) cases.push_back(std::move(current));
      current.clear();
      continue;
    }
    if (line.front() == '#') continue;
    size_t colon = line.find(": ");
    if (colon == std::string_view::npos) continue;
    current[std::string(line.substr(0, colon))] = std::string(line.substr(colon + 2));
  }
  if (!current.empty()) cases.push_back(std::move(current));
  return cases;
}

}  // namespace popguard::testdata
