// ConfigReloader: applies a changed config file without a restart.
//
//   SIGHUP ──► Trigger() ─┐
//   file watch (poll) ────┴► reload thread: LoadConfigFile → Authenticator::Create
//                             → wait for its remote issuers' keys → holder->Set
//
// A config that fails to load or validate, or whose remote issuers have no
// keys within `key_wait`, is rejected with a "config_reload_failed" log line
// and the running Authenticator keeps serving. In-flight requests finish on
// the Authenticator they started with (AuthenticatorHolder hands out
// shared_ptrs). The replay store is created once in main and passed to every
// new Authenticator, so the DPoP replay window survives a reload; per-config
// caches (verified access tokens, parsed proof keys, certificate
// thumbprints) and JWKS key sources are rebuilt, because what they hold was
// validated against the old config.
//
// The watch polls the file every `poll_interval`: its resolved path
// (Kubernetes ConfigMap volumes swap the `..data` symlink), inode, size and
// mtime. A change is applied once two consecutive polls agree, so a file
// caught half-written is not loaded. Keys that only take effect at start-up
// (listen, tls, metrics.listen, replay, limits.max_inflight,
// limits.max_grpc_message_bytes, access_token_cache_entries,
// crypto.batch_verification, crypto.verify_threads, crypto.max_batch,
// revocation's Redis keys; revocation.file is re-read on every reload) are
// logged as "config_reload_needs_restart".
#ifndef POPGUARD_SERVICE_CONFIG_RELOADER_H_
#define POPGUARD_SERVICE_CONFIG_RELOADER_H_

#include <string>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "service/common/clock.h"
#include "service/config/config.h"
#include "service/server/server.h"
#include "storage/replay_store.h"

namespace popguard {

class ConfigReloader {
 public:
  struct Options {
    std::string path;           // the --config file
    ConfigOverrides overrides;  // --listen, --log_level: re-applied to every reload
    bool watch = true;          // poll the file; false: SIGHUP only
    absl::Duration poll_interval = absl::Milliseconds(500);
    absl::Duration key_wait = absl::Seconds(15);
    // The process-wide verified-token cache handed to every new
    // Authenticator, so it stays warm across reloads (may be null).
    BoundedCache<VerifiedToken>* token_cache = nullptr;
    // The process-wide signature scheduler (may be null: verify inline).
    VerifyScheduler* scheduler = nullptr;
    // The process-wide Redis revocation list (may be null).
    const LiveRevocations* live_revocations = nullptr;
    // The process-wide rollout counters (authn/rollout_stats.h; may be null).
    RolloutStats* rollout = nullptr;
  };

  // `running` is the config the process started with; `clock`, `replay` and
  // `holder` must outlive the reloader. Starts the reload thread.
  ConfigReloader(Options options, Config running, const Clock* clock, ReplayStore* replay,
                 AuthenticatorHolder* holder);
  ~ConfigReloader();  // stops the thread (an ongoing reload finishes first)

  // Trigger asks the reload thread to reload now (SIGHUP); returns at once.
  void Trigger();

  // ReloadNow loads and applies the file on the calling thread.
  absl::Status ReloadNow(std::string_view trigger);

  // RestartOnlyChanges names the start-up-only keys that differ.
  static std::vector<std::string> RestartOnlyChanges(const Config& before, const Config& after);

 private:
  struct Fingerprint {
    std::string resolved;
    uint64_t dev = 0, ino = 0, size = 0;
    int64_t mtime_ns = 0;
    bool ok = false;
    bool operator==(const Fingerprint& o) const {
      return resolved == o.resolved && dev == o.dev && ino == o.ino && size == o.size &&
             mtime_ns == o.mtime_ns && ok == o.ok;
    }
  };
  static Fingerprint Stat(const std::string& path);
  void Loop();

  const Options options_;
  const Clock* clock_;
  ReplayStore* replay_;
  AuthenticatorHolder* holder_;

  absl::Mutex reload_mu_;  // one reload at a time
  const Config startup_;   // restart-only keys keep these values

  absl::Mutex mu_;
  bool stop_ ABSL_GUARDED_BY(mu_) = false;
  bool triggered_ ABSL_GUARDED_BY(mu_) = false;
  std::thread thread_;
};

}  // namespace popguard

#endif  // POPGUARD_SERVICE_CONFIG_RELOADER_H_
