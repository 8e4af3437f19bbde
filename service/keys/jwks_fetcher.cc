#include "service/keys/jwks_fetcher.h"

#include <curl/curl.h>

#include <algorithm>
#include <atomic>
#include <deque>
#include <mutex>
#include <optional>
#include <thread>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/synchronization/mutex.h"
#include "service/common/strings.h"
#include "service/common/url.h"

namespace popguard {
namespace {

// Response headers are a few hundred bytes; the cap only bounds memory when a
// hostile or broken server streams headers forever.
constexpr size_t kMaxHeaderBytes = 64 << 10;
// Cache-Control max-age values beyond this (about 31 years) are capped.
constexpr int64_t kMaxAgeCapSeconds = 1000000000;

struct CurlEasyFree {
  void operator()(CURL* c) const { curl_easy_cleanup(c); }
};
using CurlEasyPtr = std::unique_ptr<CURL, CurlEasyFree>;

struct CurlMultiFree {
  void operator()(CURLM* m) const { curl_multi_cleanup(m); }
};
using CurlMultiPtr = std::unique_ptr<CURLM, CurlMultiFree>;

struct CurlSlistFree {
  void operator()(curl_slist* l) const { curl_slist_free_all(l); }
};
using CurlSlistPtr = std::unique_ptr<curl_slist, CurlSlistFree>;

void GlobalInit() {
  static std::once_flag once;
  std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

// Transfer is the state one transfer's curl callbacks write into.
struct Transfer {
  size_t max_body_bytes = 0;
  std::string body;
  bool body_too_large = false;
  size_t header_bytes = 0;
  bool headers_too_large = false;
  std::string cache_control;
  std::string etag;
};

size_t OnBody(char* data, size_t size, size_t nmemb, void* user) {
  auto* t = static_cast<Transfer*>(user);
  const size_t n = size * nmemb;
  if (t->body.size() + n > t->max_body_bytes) {
    t->body_too_large = true;
    return 0;  // aborts the transfer with CURLE_WRITE_ERROR
  }
  t->body.append(data, n);
  return n;
}

size_t OnHeader(char* data, size_t size, size_t nmemb, void* user) {
  auto* t = static_cast<Transfer*>(user);
  const size_t n = size * nmemb;
  t->header_bytes += n;
  if (t->header_bytes > kMaxHeaderBytes) {
    t->headers_too_large = true;
    return 0;
  }
  std::string_view line(data, n);
  if (line.starts_with("HTTP/")) {
    // A new response (after a 1xx): forget the previous one's headers.
    t->cache_control.clear();
    t->etag.clear();
    return n;
  }
  const size_t colon = line.find(':');
  if (colon == std::string_view::npos) return n;
  const std::string name = ToLower(StripWhitespace(line.substr(0, colon)));
  const std::string_view value = StripWhitespace(line.substr(colon + 1));
  if (name == "cache-control") {
    // Repeated Cache-Control headers form one list (RFC 9110 5.3).
    if (!t->cache_control.empty()) t->cache_control.push_back(',');
    t->cache_control.append(value);
  } else if (name == "etag") {
    t->etag = std::string(value);
  }
  return n;
}

// CheckScheme refuses anything but https://, and http:// unless allowed: keys
// fetched in the clear could be replaced by anyone on the path.
absl::Status CheckScheme(std::string_view url, bool allow_http) {
  const std::optional<HttpUrlParts> parts = ParseHttpUrl(url);
  if (parts.has_value() && EqualsIgnoreCase(parts->scheme, "https")) return absl::OkStatus();
  if (parts.has_value()) {  // http://
    if (allow_http) return absl::OkStatus();
    return absl::InvalidArgumentError(
        absl::StrCat("refusing plain http:// URL ", AV(url), " (allow_http is false)"));
  }
  return absl::InvalidArgumentError(absl::StrCat("URL ", AV(url), " is not https://"));
}

class CurlJwksFetcher final : public JwksFetcher {
 public:
  explicit CurlJwksFetcher(int threads) {
    GlobalInit();
    if (threads < 1) threads = 1;
    // Each worker runs its transfers on a multi handle of its own, so Shutdown
    // can wake a worker that waits on a silent server (curl_multi_wakeup);
    // a progress callback would only notice about once a second.
    for (int i = 0; i < threads; ++i) multis_.emplace_back(curl_multi_init());
    for (int i = 0; i < threads; ++i) {
      workers_.emplace_back([this, m = multis_[i].get()] { WorkerLoop(m); });
    }
  }

  ~CurlJwksFetcher() override {
    Shutdown();
    for (std::thread& t : workers_) t.join();
  }

  void Shutdown() override {
    absl::MutexLock lock(&mu_);
    if (stopping_) return;
    stopping_ = true;
    stopping_flag_.store(true);
    for (const CurlMultiPtr& m : multis_) {
      if (m != nullptr) curl_multi_wakeup(m.get());
    }
  }

  void Fetch(std::string url, FetchOptions options, Callback done) override {
    {
      absl::MutexLock lock(&mu_);
      if (!stopping_) {
        queue_.push_back(Job{std::move(url), std::move(options), std::move(done)});
        return;
      }
    }
    // Never inline (the caller may hold its own locks): one short-lived thread.
    std::thread([done = std::move(done)]() mutable {
      FetchResult result;
      result.status = absl::CancelledError("fetcher is shutting down");
      std::move(done)(std::move(result));
    }).detach();
  }

 private:
  struct Job {
    std::string url;
    FetchOptions options;
    Callback done;
  };

  bool HasWork() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return stopping_ || !queue_.empty(); }

  void WorkerLoop(CURLM* multi) {
    while (true) {
      Job job;
      bool cancelled;
      {
        absl::MutexLock lock(&mu_);
        mu_.Await(absl::Condition(this, &CurlJwksFetcher::HasWork));
        if (queue_.empty()) return;  // stopping, nothing left to fail
        job = std::move(queue_.front());
        queue_.pop_front();
        cancelled = stopping_;
      }
      FetchResult result;
      if (cancelled) {
        result.status = absl::CancelledError("fetcher is shutting down");
      } else {
        result = Perform(multi, job.url, job.options);
      }
      std::move(job.done)(std::move(result));
    }
  }

  FetchResult Perform(CURLM* multi, const std::string& url, const FetchOptions& options) {
    FetchResult result;
    result.status = CheckScheme(url, options.allow_http);
    if (!result.status.ok()) return result;

    CurlEasyPtr curl(curl_easy_init());
    if (curl == nullptr || multi == nullptr) {
      result.status = absl::ResourceExhaustedError("curl_easy_init failed");
      return result;
    }
    Transfer t;
    t.max_body_bytes = options.max_body_bytes;
    char errbuf[CURL_ERROR_SIZE] = {0};
    const long timeout_ms =
        static_cast<long>(std::max<int64_t>(1, absl::ToInt64Milliseconds(options.timeout)));

    CurlSlistPtr headers(
        curl_slist_append(nullptr, "Accept: application/json, application/jwk-set+json"));
    std::string inm;
    if (!options.if_none_match.empty()) {
      inm = absl::StrCat("If-None-Match: ", options.if_none_match);
      curl_slist* l = curl_slist_append(headers.get(), inm.c_str());
      if (l != nullptr) {
        headers.release();
        headers.reset(l);
      }
    }

    CURL* c = curl.get();
    curl_easy_setopt(c, CURLOPT_URL, url.c_str());
    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);  // threads: no SIGALRM-based DNS timeouts
    // Defence in depth for CheckScheme, and no protocol change on redirect.
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, options.allow_http ? "http,https" : "https");
    // Redirects are not followed: the configured (or discovered) URL is the
    // one the keys come from, and a redirect could lead anywhere, including to
    // http:// or an internal address.
    curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
    // "" disables every proxy, including those named by environment variables:
    // no surprise middlebox sees or alters key fetches.
    curl_easy_setopt(c, CURLOPT_PROXY, "");
    curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 1L);
    curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 2L);
    curl_easy_setopt(c, CURLOPT_SSLVERSION, static_cast<long>(CURL_SSLVERSION_TLSv1_2));
    if (!options.ca_file.empty()) curl_easy_setopt(c, CURLOPT_CAINFO, options.ca_file.c_str());
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, timeout_ms);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, timeout_ms);
    curl_easy_setopt(c, CURLOPT_MAXFILESIZE_LARGE, static_cast<curl_off_t>(options.max_body_bytes));
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers.get());
    curl_easy_setopt(c, CURLOPT_USERAGENT, "popguard");
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, OnBody);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &t);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, OnHeader);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, &t);

    const CURLcode rc = RunTransfer(multi, c);
    if (rc != CURLE_OK) {
      const std::string why =
          absl::StrCat(curl_easy_strerror(rc), errbuf[0] != 0 ? ": " : "", errbuf);
      if (t.body_too_large || rc == CURLE_FILESIZE_EXCEEDED) {
        result.status = absl::ResourceExhaustedError(
            absl::StrCat("response body exceeds ", options.max_body_bytes, " bytes"));
      } else if (t.headers_too_large) {
        result.status = absl::ResourceExhaustedError(
            absl::StrCat("response headers exceed ", kMaxHeaderBytes, " bytes"));
      } else if (rc == CURLE_OPERATION_TIMEDOUT) {
        result.status = absl::DeadlineExceededError(
            absl::StrCat("no complete response within ", absl::FormatDuration(options.timeout)));
      } else if (rc == CURLE_ABORTED_BY_CALLBACK) {  // RunTransfer: Shutdown was called
        result.status = absl::CancelledError("fetcher is shutting down");
      } else if (rc == CURLE_UNSUPPORTED_PROTOCOL || rc == CURLE_URL_MALFORMAT) {
        result.status = absl::InvalidArgumentError(why);
      } else {
        result.status = absl::UnavailableError(why);
      }
      return result;
    }
    long code = 0;
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code);
    result.http_status = static_cast<int>(code);
    result.body = std::move(t.body);
    result.etag = std::move(t.etag);
    if (!t.cache_control.empty()) result.max_age = ParseCacheControlMaxAge(t.cache_control);
    return result;
  }

  // RunTransfer performs `easy` on `multi` until it completes or Shutdown is
  // called (then CURLE_ABORTED_BY_CALLBACK). The transfer's own timeouts
  // (CURLOPT_TIMEOUT_MS, CURLOPT_CONNECTTIMEOUT_MS) still bound it.
  CURLcode RunTransfer(CURLM* multi, CURL* easy) {
    if (curl_multi_add_handle(multi, easy) != CURLM_OK) return CURLE_FAILED_INIT;
    CURLcode rc = CURLE_ABORTED_BY_CALLBACK;
    while (!stopping_flag_.load(std::memory_order_acquire)) {
      int running = 0;
      if (curl_multi_perform(multi, &running) != CURLM_OK) {
        rc = CURLE_FAILED_INIT;
        break;
      }
      int queued = 0;
      bool done = false;
      while (CURLMsg* msg = curl_multi_info_read(multi, &queued)) {
        if (msg->msg == CURLMSG_DONE && msg->easy_handle == easy) {
          rc = msg->data.result;
          done = true;
        }
      }
      if (done) break;
      // Wakes on socket activity, curl's own timers, or curl_multi_wakeup.
      curl_multi_poll(multi, nullptr, 0, 1000, nullptr);
    }
    curl_multi_remove_handle(multi, easy);
    return rc;
  }

  absl::Mutex mu_;
  std::deque<Job> queue_ ABSL_GUARDED_BY(mu_);
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  std::atomic<bool> stopping_flag_{false};  // read by transfers in progress
  std::vector<CurlMultiPtr> multis_;        // one per worker, fixed after construction
  std::vector<std::thread> workers_;
};

}  // namespace

std::unique_ptr<JwksFetcher> JwksFetcher::CreateCurl(int threads) {
  return std::make_unique<CurlJwksFetcher>(threads);
}

JwksFetcher* JwksFetcher::Shared() {
  static JwksFetcher* const shared = CreateCurl(2).release();
  return shared;
}

std::optional<absl::Duration> ParseCacheControlMaxAge(std::string_view value) {
  std::optional<absl::Duration> max_age;
  bool no_cache = false;
  for (absl::string_view part : absl::StrSplit(AV(value), ',')) {
    const std::string directive = ToLower(StripWhitespace(SV(part)));
    if (directive == "no-store" || directive == "no-cache") {
      no_cache = true;
      continue;
    }
    if (!directive.starts_with("max-age=")) continue;
    std::string_view n = std::string_view(directive).substr(8);
    if (n.size() >= 2 && n.front() == '"' && n.back() == '"') n = n.substr(1, n.size() - 2);
    // A malformed max-age is ignored (RFC 9111 4.2.1: treat as stale is for
    // caches; here it only means "no lifetime given", so the default applies).
    if (n.empty() || !std::all_of(n.begin(), n.end(), absl::ascii_isdigit)) continue;
    int64_t secs = kMaxAgeCapSeconds;
    if (n.size() > 10 || !absl::SimpleAtoi(AV(n), &secs)) secs = kMaxAgeCapSeconds;
    max_age = absl::Seconds(std::min(secs, kMaxAgeCapSeconds));
  }
  if (no_cache) return absl::ZeroDuration();
  return max_age;
}

}  // namespace popguard
