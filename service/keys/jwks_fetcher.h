// JwksFetcher: asynchronous HTTP GET of an issuer's JWKS or discovery
// document, off the request path.
//
//   fetcher->Fetch(url, options, [](FetchResult r) { ... });   // returns at once
//
// The libcurl implementation runs transfers on a few worker threads of its
// own, so a slow or dead issuer never holds a gRPC thread. Every transfer is
// bounded (connect and total timeouts, a body size cap, a header size cap),
// uses HTTPS with certificate and host name verification (system CA bundle or
// FetchOptions::ca_file), follows no redirects and uses no proxy: the
// environment's http(s)_proxy variables are ignored, so where popguard fetches
// keys from is exactly what the configuration says.
#ifndef POPGUARD_SERVICE_JWKS_FETCHER_H_
#define POPGUARD_SERVICE_JWKS_FETCHER_H_

#include <cstddef>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "absl/functional/any_invocable.h"
#include "absl/status/status.h"
#include "absl/time/time.h"

namespace popguard {

struct FetchOptions {
  absl::Duration timeout = absl::Seconds(5);  // whole transfer, connect included
  size_t max_body_bytes = 1 << 20;            // larger bodies abort the transfer
  std::string ca_file;                        // PEM CA bundle; empty: the system bundle
  bool allow_http = false;                    // plain http:// (local tests only)
  std::string if_none_match;                  // ETag of the copy we hold; empty: none
};

struct FetchResult {
  // OK when an HTTP response arrived (any status code). Otherwise:
  // InvalidArgument (URL refused, e.g. http:// without allow_http),
  // DeadlineExceeded (timeout), ResourceExhausted (body or headers too
  // large), Unavailable (DNS, connect, TLS or certificate failure), Cancelled
  // (the fetcher is shutting down).
  absl::Status status;
  int http_status = 0;
  std::string body;
  // Cache-Control max-age of the response; zero for no-store / no-cache;
  // nullopt when the response names no lifetime.
  std::optional<absl::Duration> max_age;
  std::string etag;  // empty when absent
};

class JwksFetcher {
 public:
  using Callback = absl::AnyInvocable<void(FetchResult) &&>;

  virtual ~JwksFetcher() = default;

  // Fetch GETs `url` and calls `done` exactly once, from a fetcher thread
  // (never inline), with the response or the reason there is none.
  virtual void Fetch(std::string url, FetchOptions options, Callback done) = 0;

  // Shutdown aborts the transfers in progress at once and fails them, the
  // queued ones and every later Fetch with Cancelled. For process shutdown:
  // a fetch to a slow issuer must not keep the process alive past its grace
  // period (requests waiting on it are released with the failure).
  virtual void Shutdown() = 0;

  // CreateCurl returns a libcurl fetcher with `threads` worker threads. Its
  // destructor calls Shutdown and joins the workers.
  static std::unique_ptr<JwksFetcher> CreateCurl(int threads = 2);

  // Shared returns a process-wide libcurl fetcher, created on first use and
  // never destroyed (key sources of any Authenticator generation, including
  // one released on a fetcher thread, can always reach it).
  static JwksFetcher* Shared();
};

// ParseCacheControlMaxAge returns the lifetime a Cache-Control header value
// grants: max-age=N as N seconds (values beyond 10^9 are capped), zero when
// no-store or no-cache is present, nullopt when no usable lifetime appears (a
// malformed max-age is ignored).
std::optional<absl::Duration> ParseCacheControlMaxAge(std::string_view value);

}  // namespace popguard

#endif  // POPGUARD_SERVICE_JWKS_FETCHER_H_
