#include "tests/testing/admin_port.h"

#include <regex>
#include <string_view>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"

namespace popguard::e2e {

HttpReply HttpGet(int port, const std::string& path) {
  return HttpExchange(port, absl::StrCat("GET ", path, " HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"),
                      absl::Seconds(2));
}

int64_t LoggedInt(const PopguardProcess& p, const std::string& event, const std::string& key) {
  const std::regex re(absl::StrCat("\"", key, "\":([0-9]+)"));
  for (const std::string& line : p.Logs()) {
    if (line.find(event) == std::string::npos) continue;
    std::smatch m;
    if (std::regex_search(line, m, re)) return std::stoll(m[1]);
  }
  return -1;
}

}  // namespace popguard::e2e
