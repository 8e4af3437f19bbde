// libFuzzer target: URL normalisation (service/common/url.h), which reads the DPoP
// htu, the request URL of Verify and the pieces Envoy gives. (The route-path
// readings have their own target, route_path_fuzzer.)
//
// Invariants:
//   - NormalizeAbsoluteUrl: an accepted URL is http(s), its path begins with
//     "/", its string has no query or fragment and no default port, host and
//     scheme hold no upper-case letters (but in %XX triplets); normalising its string gives the
//     same URL (idempotent); appending a query and fragment changes nothing; its path is a fixed
//     point of NormalizePath;
//   - NormalizeRequestTarget (input split at '\n' into scheme, authority and
//     target): an accepted result is a fixed point of NormalizeAbsoluteUrl
//     and its path is NormalizePath of the target;
//   - NormalizePath: a result begins with "/", has no "." or ".." segment, is
//     a fixed point, and matches the prefixes "/" and itself;
//   - PercentDecode of input without '%' is the input.
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "fuzz/fuzz_check.h"
#include "service/common/url.h"

namespace {

using popguard::NormalizedUrl;

// HasUpperOutsideTriplets: an upper-case letter that is not a hex digit of a
// %XX triplet (RFC 3986 section 6.2.2.1 makes those upper-case).
bool HasUpperOutsideTriplets(std::string_view s) {
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '%') {
      i += 2;
    } else if (s[i] >= 'A' && s[i] <= 'Z') {
      return true;
    }
  }
  return false;
}

bool HasDotSegment(std::string_view path) {
  size_t start = 0;
  while (start <= path.size()) {
    size_t end = path.find('/', start);
    if (end == std::string_view::npos) end = path.size();
    const std::string_view segment = path.substr(start, end - start);
    if (segment == "." || segment == "..") return true;
    start = end + 1;
  }
  return false;
}

void CheckPath(std::string_view input) {
  const std::optional<std::string> path = popguard::NormalizePath(input);
  if (!path.has_value()) return;
  FUZZ_CHECK(!path->empty() && (*path)[0] == '/', "a normalised path does not begin with /");
  FUZZ_CHECK(!HasDotSegment(*path), "a normalised path kept a dot segment");
  FUZZ_CHECK(popguard::NormalizePath(*path) == path, "NormalizePath is not idempotent");
  FUZZ_CHECK(popguard::PathHasPrefixSegment(*path, "/"), "a path is not under /");
  FUZZ_CHECK(popguard::PathHasPrefixSegment(*path, *path), "a path is not under itself");
}

void CheckNormalized(const NormalizedUrl& url) {
  FUZZ_CHECK(url.scheme == "http" || url.scheme == "https", "a scheme other than http(s)");
  FUZZ_CHECK(!url.host.empty() && !HasUpperOutsideTriplets(url.host),
             "an empty or upper-case host");
  // Port 80 is kept for https and 443 for http: only the scheme's own default goes.
  const std::string_view default_port = url.scheme == "https" ? "443" : "80";
  FUZZ_CHECK(url.port != default_port && (url.port.empty() || url.port[0] != '0'),
             "a default port or a port with a leading zero was kept");
  FUZZ_CHECK(!url.path.empty() && url.path[0] == '/', "a path that does not begin with /");
  const std::string text = url.ToString();
  FUZZ_CHECK(text == url.Origin() + url.path, "ToString is not Origin + path");
  FUZZ_CHECK(text.find_first_of("?#") == std::string::npos, "a query or fragment was kept");
  auto again = popguard::NormalizeAbsoluteUrl(text);
  FUZZ_CHECK(again.ok() && *again == url, "normalisation is not idempotent");
  FUZZ_CHECK(popguard::NormalizePath(url.path) == url.path, "the path is not NormalizePath's");
}

void CheckAbsolute(std::string_view input) {
  auto url = popguard::NormalizeAbsoluteUrl(input);
  if (!url.ok()) return;
  CheckNormalized(*url);
  if (input.size() + 16 <= popguard::kMaxUrlBytes) {
    auto with_query = popguard::NormalizeAbsoluteUrl(std::string(input) + "?q=1#frag");
    FUZZ_CHECK(with_query.ok() && *with_query == *url, "a query or fragment changed the URL");
  }
}

void CheckRequestTarget(std::string_view input) {
  std::string_view scheme, authority, target;
  if (!popguard::fuzz::SplitThree(input, '\n', &scheme, &authority, &target)) return;
  auto url = popguard::NormalizeRequestTarget(scheme, authority, target);
  if (!url.ok()) return;
  CheckNormalized(*url);
  FUZZ_CHECK(popguard::NormalizePath(target) == url->path, "the path is not NormalizePath's");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view input = popguard::fuzz::AsView(data, size);
  CheckAbsolute(input);
  CheckRequestTarget(input);
  CheckPath(input);
  if (input.find('%') == std::string_view::npos) {
    FUZZ_CHECK(popguard::PercentDecode(input) == std::string(input),
               "PercentDecode changed plain text");
  }
  return 0;
}
