#include "service/authn/route_path.h"

#include <algorithm>
#include <array>
#include <optional>
#include <utility>

#include "service/common/url.h"

namespace popguard {
namespace {

std::string_view WithoutQuery(std::string_view path) {
  return path.substr(0, std::min(path.find_first_of("?#"), path.size()));
}

// kPlainChars: the URL path characters (RFC 3986 pchar and "/") that no
// reading changes: all but '%' and ';'. Anything else ('\\', controls,
// non-ASCII) goes the slow way, where NormalizePath refuses what it must.
constexpr auto kPlainChars = [] {
  std::array<bool, 256> table{};
  for (unsigned char c : std::string_view("-._~!$&'()*+,=:@/")) table[c] = true;
  for (int c = '0'; c <= '9'; ++c) table[c] = true;
  for (int c = 'a'; c <= 'z'; ++c) table[c] = table[c - 'a' + 'A'] = true;
  return table;
}();

// IsPlainPath: every reading of `path` is `path` itself. Only '%' (decoding),
// ';' (params), '\\' (separator), "//" (merging) and dot segments make the
// readings differ; one scan, no allocation.
bool IsPlainPath(std::string_view path) {
  for (size_t i = 0; i < path.size(); ++i) {
    const char c = path[i];
    if (!kPlainChars[static_cast<unsigned char>(c)]) return false;
    if (c != '/') continue;
    const std::string_view rest = path.substr(i + 1);
    if (rest.starts_with('/')) return false;
    if (rest == "." || rest == ".." || rest.starts_with("./") || rest.starts_with("../")) {
      return false;
    }
  }
  return true;
}

// IsEncodedSeparator: "%2F" or "%5C" in any hex case at path[i].
bool IsEncodedSeparator(std::string_view path, size_t i) {
  if (path.size() - i < 3 || path[i] != '%') return false;
  const char h = path[i + 1], l = path[i + 2];
  return (h == '2' && (l == 'F' || l == 'f')) || (h == '5' && (l == 'C' || l == 'c'));
}

std::string DecodeSeparators(std::string_view path) {
  std::string out;
  out.reserve(path.size());
  for (size_t i = 0; i < path.size(); ++i) {
    if (IsEncodedSeparator(path, i)) {
      out.push_back('/');
      i += 2;
    } else {
      out.push_back(path[i] == '\\' ? '/' : path[i]);
    }
  }
  return out;
}

// DropParams removes ";..." up to the next '/' from every segment.
std::string DropParams(std::string_view path) {
  std::string out;
  out.reserve(path.size());
  bool in_params = false;
  for (char c : path) {
    if (c == '/') in_params = false;
    if (c == ';') in_params = true;
    if (!in_params) out.push_back(c);
  }
  return out;
}

std::string MergeSlashes(std::string_view path) {
  std::string out;
  out.reserve(path.size());
  for (char c : path) {
    if (c == '/' && !out.empty() && out.back() == '/') continue;
    out.push_back(c);
  }
  return out;
}

}  // namespace

RoutePathReadings::RoutePathReadings(std::string_view path_as_sent) {
  const std::string_view path = WithoutQuery(path_as_sent);
  if (IsPlainPath(path)) {
    plain_ = path.empty() ? std::string_view("/") : path;
    return;
  }
  // Which readings: see the top of route_path.h. Each is a way some proxy or
  // upstream in common use reads the path; the caller requires them all to
  // select one route, so a reading added here can only make matching
  // stricter, never let a request through that one reading alone would stop.
  const std::string separators = MergeSlashes(DecodeSeparators(path));
  std::optional<std::string> rfc3986 = NormalizePath(path);
  const std::optional<std::string> readings[] = {
      rfc3986.has_value() ? std::optional<std::string>(path) : std::nullopt,
      std::move(rfc3986),
      NormalizePath(separators),
      NormalizePath(DropParams(path)),
      NormalizePath(MergeSlashes(DropParams(separators))),
  };
  computed_.reserve(std::size(readings));
  for (const std::optional<std::string>& r : readings) {
    if (!r.has_value()) {
      valid_ = false;
      computed_.clear();
      plain_ = "/";
      return;
    }
    if (std::find(computed_.begin(), computed_.end(), *r) == computed_.end()) {
      computed_.push_back(*r);
    }
  }
}

std::string_view PathAsSent(std::string_view absolute_url) {
  const std::optional<HttpUrlParts> parts = ParseHttpUrl(absolute_url);
  if (!parts.has_value()) return {};
  return parts->path;
}

}  // namespace popguard
