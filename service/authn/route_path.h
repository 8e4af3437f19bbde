// RoutePathReadings: the readings of a request path that a proxy in front of
// popguard or the upstream behind it could act on, for route selection.
//
// Routes protect resources, but which resource a path names depends on who
// reads it: Envoy's prefix routing matches the path as sent; RFC 3986
// normalisation decodes %41-style triplets and removes dot segments; many
// upstreams also decode %2F and %5C (and '\' on some platforms) into
// separators and merge "//" (Go, nginx, IIS), or drop ";params" from each
// segment (Tomcat, Spring, Jetty). A route chosen from one reading only can be
// weaker than the route another reading selects, e.g. "/admin/..%2Fpublic/x"
// is "/admin/..." to Envoy and "/public/x" after decoding. Policy::MatchAll
// therefore matches every reading and refuses a path whose readings pick
// different routes (Reason::kPathAmbiguous).
//
// The readings, each computed from the path as sent (query and fragment
// dropped):
//   raw         the path itself ("" is read as "/");
//   rfc3986     NormalizePath (service/common/url.h): unreserved triplets decoded,
//               dot segments removed; "%2F" stays encoded;
//   separators  %2F, %5C (any hex case) and '\' turned into '/', "//" runs
//               merged, then NormalizePath;
//   params      ";..." removed from every segment, then NormalizePath;
//   both        separators, then params removed, "//" merged, NormalizePath.
// Duplicates are kept once. A path of URL path characters without '%', ';', "//" or a dot
// segment has one reading, the path itself, and nothing is allocated for it.
#ifndef POPGUARD_SERVICE_ROUTE_PATH_H_
#define POPGUARD_SERVICE_ROUTE_PATH_H_

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

namespace popguard {

class RoutePathReadings {
 public:
  // `path_as_sent` (a query or fragment is dropped here) must outlive this
  // object on the common path, whose one reading views it.
  explicit RoutePathReadings(std::string_view path_as_sent);

  // valid is false when a reading cannot be computed (invalid
  // percent-encoding or characters NormalizePath refuses); such a path
  // cannot be read the same way by everyone.
  bool valid() const { return valid_; }
  // size is the number of distinct readings (at least 1 when valid).
  size_t size() const { return computed_.empty() ? 1 : computed_.size(); }
  std::string_view operator[](size_t i) const {
    return computed_.empty() ? plain_ : std::string_view(computed_[i]);
  }

 private:
  bool valid_ = true;
  std::string_view plain_;             // the only reading of a plain path
  std::vector<std::string> computed_;  // the readings of any other path
};

// PathAsSent returns the path of an absolute URL exactly as written (no
// normalisation; query and fragment dropped): "" when there is no path or
// it is not an http(s) URL (url.h ParseHttpUrl splits it).
std::string_view PathAsSent(std::string_view absolute_url);

}  // namespace popguard

#endif  // POPGUARD_SERVICE_ROUTE_PATH_H_
