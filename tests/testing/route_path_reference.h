// An independent, deliberately naive model of route selection over the
// readings of a request path (service/authn/route_path.h, service/authn/policy.h), for
// the property test (tests/authn/route_path_test.cc) and the libFuzzer target
// (fuzz/route_path_fuzzer.cc). It shares no code with the service: segments
// are split and stacked instead of RFC 3986's string algorithm, and decoding
// is a plain table. Header-only so that the fuzzer, built by hand, can use it.
#ifndef POPGUARD_TESTS_TESTING_ROUTE_PATH_REFERENCE_H_
#define POPGUARD_TESTS_TESTING_ROUTE_PATH_REFERENCE_H_

#include <cctype>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

namespace popguard::reference {

struct Route {
  std::string name;
  std::string prefix;  // "" matches every path
  bool case_insensitive = false;
};

inline std::string ReplaceAll(std::string_view s, std::string_view from, std::string_view to) {
  std::string out;
  for (size_t i = 0; i < s.size();) {
    if (s.substr(i, from.size()) == from) {
      out += to;
      i += from.size();
    } else {
      out.push_back(s[i++]);
    }
  }
  return out;
}

// Split "/a/b" into {"a", "b"}; "/" into {""}.
inline std::vector<std::string> Segments(std::string_view path) {
  std::vector<std::string> out;
  std::string cur;
  for (char c : path.substr(1)) {
    if (c == '/') {
      out.push_back(cur);
      cur.clear();
    } else {
      cur.push_back(c);
    }
  }
  out.push_back(cur);
  return out;
}

inline std::string Join(const std::vector<std::string>& segments) {
  std::string out;
  for (const std::string& s : segments) out += "/" + s;
  return out.empty() ? "/" : out;
}

// RFC 3986 normalisation of a path beginning with "/": unreserved triplets
// decoded, other triplets upper-cased, dot segments resolved on a stack.
// nullopt for a byte that is not a URL path character or a bad triplet.
inline std::optional<std::string> Normalize(std::string_view path) {
  static const std::string kUnreserved =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~";
  static const std::string kPathChars = kUnreserved + "!$&'()*+,;=:@/";
  std::string decoded;
  for (size_t i = 0; i < path.size(); ++i) {
    if (path[i] != '%') {
      if (kPathChars.find(path[i]) == std::string::npos) return std::nullopt;
      decoded.push_back(path[i]);
      continue;
    }
    if (i + 2 >= path.size() || !std::isxdigit(static_cast<unsigned char>(path[i + 1])) ||
        !std::isxdigit(static_cast<unsigned char>(path[i + 2]))) {
      return std::nullopt;
    }
    const char c = static_cast<char>(std::stoi(std::string(path.substr(i + 1, 2)), nullptr, 16));
    if (kUnreserved.find(c) != std::string::npos) {
      decoded.push_back(c);
    } else {
      decoded += "%";
      decoded.push_back(static_cast<char>(std::toupper(static_cast<unsigned char>(path[i + 1]))));
      decoded.push_back(static_cast<char>(std::toupper(static_cast<unsigned char>(path[i + 2]))));
    }
    i += 2;
  }
  const std::vector<std::string> in = Segments(decoded);
  std::vector<std::string> out;
  for (size_t i = 0; i < in.size(); ++i) {
    const bool last = i + 1 == in.size();
    if (in[i] == "." || in[i] == "..") {
      if (in[i] == ".." && !out.empty()) out.pop_back();
      if (last) out.push_back("");  // "/a/b/.." is "/a/"
      continue;
    }
    out.push_back(in[i]);
  }
  return Join(out);
}

inline std::string DecodeSeparators(std::string path) {
  for (std::string_view sep : {"%2F", "%2f", "%5C", "%5c", "\\"}) path = ReplaceAll(path, sep, "/");
  return path;
}

inline std::string MergeSlashes(std::string path) {
  while (path.find("//") != std::string::npos) path = ReplaceAll(path, "//", "/");
  return path;
}

inline std::string DropParams(std::string_view path) {
  std::vector<std::string> segments = Segments(path);
  for (std::string& s : segments) s = s.substr(0, s.find(';'));
  return Join(segments);
}

// The readings of a path beginning with "/" (no query); nullopt when one of
// them cannot be computed (such a path must be refused).
inline std::optional<std::vector<std::string>> Readings(const std::string& path) {
  const std::string separators = MergeSlashes(DecodeSeparators(path));
  const std::optional<std::string> readings[] = {
      path,
      Normalize(path),
      Normalize(separators),
      Normalize(DropParams(path)),
      Normalize(MergeSlashes(DropParams(separators))),
  };
  std::vector<std::string> out;
  for (const auto& r : readings) {
    if (!r.has_value() || !Normalize(path).has_value()) return std::nullopt;
    out.push_back(*r);
  }
  return out;
}

inline std::string Lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

// The first route whose prefix covers `path` at a segment boundary.
inline std::string RouteOf(const std::vector<Route>& routes, const std::string& path) {
  for (const Route& r : routes) {
    if (r.prefix.empty() || r.prefix == "/") return r.name;
    const std::string p = r.case_insensitive ? Lower(path) : path;
    const std::string want = r.case_insensitive ? Lower(r.prefix) : r.prefix;
    if (p.compare(0, want.size(), want) != 0) continue;
    if (want.back() == '/' || p.size() == want.size() || p[want.size()] == '/') return r.name;
  }
  return "default";
}

// The route every reading selects, or nullopt when they differ (or the path
// cannot be read): the request must then be refused as ambiguous.
inline std::optional<std::string> ExpectedRoute(const std::vector<Route>& routes,
                                                const std::string& path) {
  const std::optional<std::vector<std::string>> readings = Readings(path);
  if (!readings.has_value()) return std::nullopt;
  std::set<std::string> selected;
  for (const std::string& r : *readings) selected.insert(RouteOf(routes, r));
  if (selected.size() != 1) return std::nullopt;
  return *selected.begin();
}

}  // namespace popguard::reference

#endif  // POPGUARD_TESTS_TESTING_ROUTE_PATH_REFERENCE_H_
