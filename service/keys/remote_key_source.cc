#include "service/keys/remote_key_source.h"

#include <algorithm>
#include <atomic>
#include <random>
#include <utility>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/synchronization/mutex.h"
#include "service/common/crypto_util.h"
#include "service/common/json.h"
#include "service/common/log.h"
#include "service/common/strings.h"
#include "service/common/url.h"

namespace popguard {
namespace {

// Discovery documents are small; deeper nesting than this is not one.
constexpr int kMaxDiscoveryDepth = 16;

const std::shared_ptr<const KeySet>& EmptyKeySet() {
  static const auto* const empty = new std::shared_ptr<const KeySet>(std::make_shared<KeySet>());
  return *empty;
}

// SplitHttpUrl splits "http(s)://authority/path?query" (url.h ParseHttpUrl)
// into origin and the rest (empty or starting with '/' or '?'). False for
// other schemes, an empty authority, userinfo, a fragment, whitespace or
// control characters.
bool SplitHttpUrl(std::string_view url, std::string_view* origin, std::string_view* path) {
  const std::optional<HttpUrlParts> parts = ParseHttpUrl(url);
  if (!parts.has_value() || parts->fragment.has_value() || parts->authority.empty() ||
      parts->has_userinfo) {
    return false;
  }
  for (char c : url) {
    if (static_cast<unsigned char>(c) <= 0x20 || c == 0x7f) return false;
  }
  *origin = parts->origin;
  *path = url.substr(parts->origin.size());
  return true;
}

std::string Truncated(std::string_view s) { return JsonQuote(s.substr(0, 200)); }

}  // namespace

// State is everything a fetch in flight may touch, shared between the source,
// its scheduler thread and fetch callbacks (which can outlive the source).
class RemoteKeySource::State : public std::enable_shared_from_this<State> {
 public:
  State(Options options, JwksFetcher* fetcher, const Clock* clock)
      : options_(std::move(options)),
        fetcher_(fetcher),
        clock_(clock),
        discovery_urls_(options_.jwks_uri.empty() ? DiscoveryUrls(options_.issuer)
                                                  : std::vector<std::string>()),
        rng_(std::random_device()()) {}

  // --- Called by RemoteKeySource ---

  // StartInitialFetch begins the first fetch; called once before the scheduler runs.
  void StartInitialFetch() {
    {
      absl::MutexLock lock(&mu_);
      in_flight_ = true;
    }
    BeginFetch();
  }

  void SchedulerLoop() {
    while (true) {
      {
        absl::MutexLock lock(&mu_);
        // Sleep until the refresh is due by the real clock, but look at the
        // injected clock at least every poll_interval (tests move it).
        absl::Duration wait = options_.poll_interval;
        const absl::Time now = clock_->Now();
        if (!in_flight_ && next_attempt_ > now) wait = std::min(wait, next_attempt_ - now);
        mu_.AwaitWithTimeout(absl::Condition(&stopping_), std::max(wait, absl::Milliseconds(1)));
        if (stopping_) return;
        const absl::Time t = clock_->Now();
        if (keys_ != nullptr && !stale_reported_ && t - last_success_ > options_.max_stale) {
          stale_reported_ = true;
          LogLine(LogLevel::kError, "jwks_stale")
              .Add("issuer", options_.issuer)
              .Add("detail", absl::StrCat("no successful fetch for more than ",
                                          absl::FormatDuration(options_.max_stale),
                                          "; keys are no longer trusted"))
              .Add("last_error", last_error_);
        }
        if (in_flight_ || t < next_attempt_) continue;
        in_flight_ = true;
      }
      BeginFetch();
    }
  }

  void Stop() {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
  }

  std::shared_ptr<const KeySet> Current() const {
    absl::ReaderMutexLock lock(&mu_);
    if (keys_ == nullptr || clock_->Now() - last_success_ > options_.max_stale) {
      return EmptyKeySet();
    }
    return keys_;
  }

  bool Ready(std::string* why) const {
    absl::ReaderMutexLock lock(&mu_);
    const std::string last_error =
        last_error_.empty() ? std::string() : absl::StrCat("; last error: ", last_error_);
    if (keys_ == nullptr) {
      *why = absl::StrCat("no key set fetched yet", last_error);
      return false;
    }
    const absl::Duration age = clock_->Now() - last_success_;
    if (age > options_.max_stale) {
      *why = absl::StrCat("keys are stale: last successful fetch ", absl::FormatDuration(age),
                          " ago, max_stale ", absl::FormatDuration(options_.max_stale), last_error);
      return false;
    }
    return true;
  }

  bool RequestKidRefresh(absl::AnyInvocable<void() &&> done) {
    {
      absl::MutexLock lock(&mu_);
      if (stopping_) return false;
      if (in_flight_) {
        // Joining costs no extra request; only the number of waiters is capped.
        if (waiters_.size() >= options_.max_waiters) {
          kid_miss_rate_limited_.fetch_add(1, std::memory_order_relaxed);
          return false;
        }
        waiters_.push_back(std::move(done));
        kid_miss_coalesced_.fetch_add(1, std::memory_order_relaxed);
        return true;
      }
      // kid values are chosen by whoever sends the token, so they cannot be
      // what paces fetches: one fetch per interval per issuer, whatever the
      // kids, bounds the load an attacker can put on the issuer through us.
      const absl::Time now = clock_->Now();
      if (now < last_kid_fetch_ + options_.kid_refetch_interval) {
        kid_miss_rate_limited_.fetch_add(1, std::memory_order_relaxed);
        return false;
      }
      last_kid_fetch_ = now;
      in_flight_ = true;
      waiters_.push_back(std::move(done));
      kid_miss_refreshes_.fetch_add(1, std::memory_order_relaxed);
    }
    BeginFetch();
    return true;
  }

  Stats GetStats() const {
    Stats s;
    s.fetches = fetches_.load();
    s.http_requests = http_requests_.load();
    s.successes = successes_.load();
    s.failures = failures_.load();
    s.not_modified = not_modified_.load();
    s.kid_miss_refreshes = kid_miss_refreshes_.load();
    s.kid_miss_coalesced = kid_miss_coalesced_.load();
    s.kid_miss_rate_limited = kid_miss_rate_limited_.load();
    absl::ReaderMutexLock lock(&mu_);
    if (keys_ != nullptr) {
      s.keys = keys_->size();
      s.age = clock_->Now() - last_success_;
    }
    s.next_refresh = next_attempt_;
    s.last_error = last_error_;
    return s;
  }

  bool AwaitCompleted(uint64_t n, absl::Duration timeout) const {
    absl::MutexLock lock(&mu_);
    auto done = [this, n]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return completed_ >= n; };
    return mu_.AwaitWithTimeout(absl::Condition(&done), timeout);
  }

 private:
  // --- One fetch: [discovery →] JWKS → Finish. in_flight_ is set throughout. ---

  void BeginFetch() {
    fetches_.fetch_add(1, std::memory_order_relaxed);
    std::string uri = options_.jwks_uri;
    if (uri.empty()) {
      absl::MutexLock lock(&mu_);
      uri = discovered_uri_;
    }
    if (uri.empty()) {
      FetchDiscovery(0);
    } else {
      FetchJwks(std::move(uri));
    }
  }

  void Get(const std::string& url, const std::string& if_none_match,
           absl::AnyInvocable<void(FetchResult) &&> next) {
    http_requests_.fetch_add(1, std::memory_order_relaxed);
    FetchOptions fo = options_.fetch;
    fo.if_none_match = if_none_match;
    fetcher_->Fetch(url, std::move(fo), std::move(next));
  }

  void FetchDiscovery(size_t index) {
    const std::string& url = discovery_urls_[index];
    Get(url, "", [self = shared_from_this(), index](FetchResult r) {
      self->OnDiscovery(index, std::move(r));
    });
  }

  void OnDiscovery(size_t index, FetchResult r) {
    const std::string& url = discovery_urls_[index];
    if (!r.status.ok()) {
      return Fail(absl::StrCat("discovery ", url, ": ", r.status.message()));
    }
    if (r.http_status != 200) {
      // Issuers publish one of the two documents; a 404 on the first is normal.
      if (index + 1 < discovery_urls_.size()) return FetchDiscovery(index + 1);
      return Fail(absl::StrCat("discovery ", absl::StrJoin(discovery_urls_, " and "),
                               ": HTTP status ", r.http_status));
    }
    absl::StatusOr<JsonValue> doc = ParseJson(r.body, JsonLimits{kMaxDiscoveryDepth});
    if (!doc.ok()) {
      return Fail(absl::StrCat("discovery ", url, ": not valid JSON: ", doc.status().message()));
    }
    if (!doc->is_object()) return Fail(absl::StrCat("discovery ", url, ": not a JSON object"));
    // OpenID Connect Discovery 1.0 section 4.3 and RFC 8414 section 3.3: the
    // issuer in the document must be exactly the one we asked for, or a
    // document served for (or planted by) another issuer would hand us its keys.
    const std::string* iss = doc->FindString("issuer");
    if (iss == nullptr) return Fail(absl::StrCat("discovery ", url, ": no issuer string"));
    if (*iss != options_.issuer) {
      return Fail(absl::StrCat("discovery ", url, ": issuer ", Truncated(*iss),
                               " differs from the configured ", Truncated(options_.issuer)));
    }
    const std::string* jwks_uri = doc->FindString("jwks_uri");
    if (jwks_uri == nullptr || jwks_uri->empty()) {
      return Fail(absl::StrCat("discovery ", url, ": no jwks_uri string"));
    }
    std::string_view origin, path;
    if (!SplitHttpUrl(*jwks_uri, &origin, &path)) {
      return Fail(absl::StrCat("discovery ", url, ": jwks_uri ", Truncated(*jwks_uri),
                               " is not an http(s) URL without userinfo or fragment"));
    }
    {
      absl::MutexLock lock(&mu_);
      discovered_uri_ = *jwks_uri;
    }
    FetchJwks(*jwks_uri);
  }

  void FetchJwks(std::string uri) {
    std::string etag;
    {
      absl::MutexLock lock(&mu_);
      // A conditional GET only helps when we hold the set the ETag names.
      if (keys_ != nullptr && etag_uri_ == uri) etag = etag_;
    }
    Get(uri, etag,
        [self = shared_from_this(), uri](FetchResult r) { self->OnJwks(uri, std::move(r)); });
  }

  void OnJwks(const std::string& uri, FetchResult r) {
    if (!r.status.ok()) return Fail(absl::StrCat("jwks ", uri, ": ", r.status.message()));
    bool have_keys;
    std::string held_hash;
    {
      absl::ReaderMutexLock lock(&mu_);
      have_keys = keys_ != nullptr;
      held_hash = body_hash_;
    }
    if (r.http_status == 304) {
      if (!have_keys) {
        return Fail(absl::StrCat("jwks ", uri, ": 304 Not Modified for a set we do not hold"));
      }
      not_modified_.fetch_add(1, std::memory_order_relaxed);
      return Succeed(nullptr, uri, r.etag, r.max_age);
    }
    if (r.http_status != 200) {
      return Fail(absl::StrCat("jwks ", uri, ": HTTP status ", r.http_status));
    }
    std::string body_hash = Sha256(r.body);
    if (have_keys && body_hash == held_hash) {
      not_modified_.fetch_add(1, std::memory_order_relaxed);
      return Succeed(nullptr, uri, r.etag, r.max_age);
    }
    std::vector<std::string> warnings;
    absl::StatusOr<KeySet> keys = KeySet::Parse(r.body, &warnings);
    if (!keys.ok()) return Fail(absl::StrCat("jwks ", uri, ": ", keys.status().message()));
    // Keys of a type popguard does not verify (or broken ones) are skipped one
    // by one: an issuer adding, say, an X25519 key must not take down the rest.
    for (const std::string& w : warnings) {
      LogLine(LogLevel::kWarn, "jwks_key_skipped").Add("issuer", options_.issuer).Add("detail", w);
    }
    // An empty usable set is treated as a failed fetch: serving it would turn
    // a publishing mistake at the issuer into an outage here at once; the last
    // good set stays until it is re-confirmed or max_stale passes.
    if (keys->empty()) {
      return Fail(absl::StrCat("jwks ", uri, ": no usable key (", warnings.size(), " skipped)"));
    }
    Succeed(std::make_shared<const KeySet>(*std::move(keys)), uri, r.etag, r.max_age,
            std::move(body_hash));
  }

  // Succeed records a good fetch. `keys` null: the held set was re-confirmed
  // (304 or an identical body); otherwise `body_hash` is its document's hash.
  void Succeed(std::shared_ptr<const KeySet> keys, const std::string& uri, const std::string& etag,
               std::optional<absl::Duration> max_age, std::string body_hash = "") {
    const absl::Duration lifetime =
        std::clamp(max_age.value_or(options_.min_refresh), options_.min_refresh,
                   std::max(options_.min_refresh, options_.max_refresh));
    const bool changed = keys != nullptr;
    std::vector<absl::AnyInvocable<void() &&>> waiters;
    size_t count;
    {
      absl::MutexLock lock(&mu_);
      const absl::Time now = clock_->Now();
      if (changed) {
        keys_ = std::move(keys);
        body_hash_ = std::move(body_hash);
        etag_ = etag;
      } else if (!etag.empty()) {
        etag_ = etag;
      }
      etag_uri_ = uri;
      last_success_ = now;
      last_error_.clear();
      stale_reported_ = false;
      failures_in_row_ = 0;
      next_attempt_ = now + Jittered(lifetime);
      count = keys_->size();
      successes_.fetch_add(1, std::memory_order_relaxed);
      waiters = FinishLocked();
    }
    LogLine(changed ? LogLevel::kInfo : LogLevel::kDebug,
            changed ? "jwks_updated" : "jwks_unchanged")
        .Add("issuer", options_.issuer)
        .Add("uri", uri)
        .Add("keys", static_cast<int64_t>(count))
        .Add("next_refresh_s", absl::ToInt64Seconds(lifetime));
    Release(std::move(waiters));
  }

  void Fail(std::string why) {
    std::vector<absl::AnyInvocable<void() &&>> waiters;
    absl::Duration delay;
    bool have_keys;
    {
      absl::MutexLock lock(&mu_);
      ++failures_in_row_;
      delay = options_.retry_initial;
      for (int i = 1; i < failures_in_row_ && delay < options_.retry_max; ++i) delay *= 2;
      delay = Jittered(std::min(delay, options_.retry_max));
      next_attempt_ = clock_->Now() + delay;
      last_error_ = why;
      // The discovered jwks_uri may be what broke (the issuer moved it): look
      // it up again next time.
      discovered_uri_.clear();
      have_keys = keys_ != nullptr;
      failures_.fetch_add(1, std::memory_order_relaxed);
      waiters = FinishLocked();
    }
    LogLine(have_keys ? LogLevel::kWarn : LogLevel::kError, "jwks_fetch_failed")
        .Add("issuer", options_.issuer)
        .Add("detail", why)
        .Add("serving_last_good_set", have_keys)
        .Add("retry_in_ms", absl::ToInt64Milliseconds(delay));
    Release(std::move(waiters));
  }

  // FinishLocked ends the fetch in flight and hands back its waiters.
  std::vector<absl::AnyInvocable<void() &&>> FinishLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    in_flight_ = false;
    std::vector<absl::AnyInvocable<void() &&>> waiters;
    waiters.swap(waiters_);
    return waiters;
  }

  // Release runs the waiters (outside the lock: they re-enter Current) and
  // only then counts the attempt as completed, for AwaitCompleted.
  void Release(std::vector<absl::AnyInvocable<void() &&>> waiters) {
    for (auto& w : waiters) std::move(w)();
    absl::MutexLock lock(&mu_);
    ++completed_;
  }

  absl::Duration Jittered(absl::Duration d) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    if (options_.jitter <= 0) return d;
    std::uniform_real_distribution<double> u(0.0, std::min(options_.jitter, 1.0));
    return d * (1.0 - u(rng_));
  }

  const Options options_;
  JwksFetcher* const fetcher_;
  const Clock* const clock_;
  const std::vector<std::string> discovery_urls_;

  std::atomic<uint64_t> fetches_{0};
  std::atomic<uint64_t> http_requests_{0};
  std::atomic<uint64_t> successes_{0};
  std::atomic<uint64_t> failures_{0};
  std::atomic<uint64_t> not_modified_{0};
  std::atomic<uint64_t> kid_miss_refreshes_{0};
  std::atomic<uint64_t> kid_miss_coalesced_{0};
  std::atomic<uint64_t> kid_miss_rate_limited_{0};

  mutable absl::Mutex mu_;
  std::shared_ptr<const KeySet> keys_ ABSL_GUARDED_BY(mu_);  // last good; null before any
  std::string body_hash_ ABSL_GUARDED_BY(mu_);               // SHA-256 of keys_' document
  std::string etag_ ABSL_GUARDED_BY(mu_);
  std::string etag_uri_ ABSL_GUARDED_BY(mu_);
  std::string discovered_uri_ ABSL_GUARDED_BY(mu_);
  absl::Time last_success_ ABSL_GUARDED_BY(mu_) = absl::InfinitePast();
  absl::Time next_attempt_ ABSL_GUARDED_BY(mu_) = absl::InfinitePast();
  absl::Time last_kid_fetch_ ABSL_GUARDED_BY(mu_) = absl::InfinitePast();
  int failures_in_row_ ABSL_GUARDED_BY(mu_) = 0;
  std::string last_error_ ABSL_GUARDED_BY(mu_);
  bool in_flight_ ABSL_GUARDED_BY(mu_) = false;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  bool stale_reported_ ABSL_GUARDED_BY(mu_) = false;
  uint64_t completed_ ABSL_GUARDED_BY(mu_) = 0;
  std::vector<absl::AnyInvocable<void() &&>> waiters_ ABSL_GUARDED_BY(mu_);
  std::mt19937_64 rng_ ABSL_GUARDED_BY(mu_);
};

std::vector<std::string> RemoteKeySource::DiscoveryUrls(const std::string& issuer) {
  std::string_view origin, path;
  if (!SplitHttpUrl(issuer, &origin, &path) || path.find('?') != std::string_view::npos) return {};
  while (path.ends_with('/')) path.remove_suffix(1);
  return {
      // OpenID Connect Discovery 1.0 section 4: issuer (without a trailing
      // "/") + "/.well-known/openid-configuration".
      absl::StrCat(AV(origin), AV(path), "/.well-known/openid-configuration"),
      // RFC 8414 section 3.1: the well-known segment goes between the host
      // and the issuer's path, any terminating "/" removed.
      absl::StrCat(AV(origin), "/.well-known/oauth-authorization-server", AV(path)),
  };
}

absl::StatusOr<std::unique_ptr<RemoteKeySource>> RemoteKeySource::Create(Options options,
                                                                         JwksFetcher* fetcher,
                                                                         const Clock* clock) {
  std::string_view origin, path;
  if (options.jwks_uri.empty()) {
    if (DiscoveryUrls(options.issuer).empty()) {
      return absl::InvalidArgumentError(
          absl::StrCat("issuer ", options.issuer,
                       ": discovery needs an http(s) issuer URL without userinfo, query or "
                       "fragment"));
    }
  } else if (!SplitHttpUrl(options.jwks_uri, &origin, &path)) {
    return absl::InvalidArgumentError(
        absl::StrCat("issuer ", options.issuer, ": jwks_uri ", options.jwks_uri,
                     " is not an http(s) URL without userinfo or fragment"));
  }
  if (fetcher == nullptr || clock == nullptr) {
    return absl::InvalidArgumentError("RemoteKeySource needs a fetcher and a clock");
  }
  auto state = std::make_shared<State>(std::move(options), fetcher, clock);
  state->StartInitialFetch();
  return std::unique_ptr<RemoteKeySource>(new RemoteKeySource(std::move(state)));
}

RemoteKeySource::RemoteKeySource(std::shared_ptr<State> state)
    : state_(std::move(state)), scheduler_([s = state_] { s->SchedulerLoop(); }) {}

RemoteKeySource::~RemoteKeySource() {
  state_->Stop();
  scheduler_.join();
}

std::shared_ptr<const KeySet> RemoteKeySource::Current() const { return state_->Current(); }

bool RemoteKeySource::RefreshForUnknownKid(absl::AnyInvocable<void() &&> done) {
  return state_->RequestKidRefresh(std::move(done));
}

bool RemoteKeySource::Ready(std::string* why) const { return state_->Ready(why); }

RemoteKeySource::Stats RemoteKeySource::stats() const { return state_->GetStats(); }

bool RemoteKeySource::AwaitCompletedFetches(uint64_t n, absl::Duration timeout) const {
  return state_->AwaitCompleted(n, timeout);
}

}  // namespace popguard
