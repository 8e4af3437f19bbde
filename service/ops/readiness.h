// Readiness: the conditions under which this replica should receive traffic.
//
// Components that can make popguard unable to decide correctly (an issuer
// without keys, a required replay store that is down) register a check; the
// server polls them and reports gRPC health SERVING only while all pass.
#ifndef POPGUARD_SERVICE_READINESS_H_
#define POPGUARD_SERVICE_READINESS_H_

#include <functional>
#include <string>
#include <vector>

#include "absl/synchronization/mutex.h"

namespace popguard {

class Readiness {
 public:
  // A check returns true when ready; otherwise it sets *why (no secrets).
  using Check = std::function<bool(std::string* why)>;

  void Add(std::string name, Check check) {
    absl::MutexLock lock(&mu_);
    checks_.push_back({std::move(name), std::move(check)});
  }

  // Ready runs every check; `not_ready` (if non-null) receives "name: why" for each failure.
  bool Ready(std::vector<std::string>* not_ready = nullptr) const {
    absl::MutexLock lock(&mu_);
    bool ok = true;
    for (const auto& [name, check] : checks_) {
      std::string why;
      if (!check(&why)) {
        ok = false;
        if (not_ready != nullptr) not_ready->push_back(name + ": " + why);
      }
    }
    return ok;
  }

 private:
  mutable absl::Mutex mu_;
  std::vector<std::pair<std::string, Check>> checks_ ABSL_GUARDED_BY(mu_);
};

}  // namespace popguard

#endif  // POPGUARD_SERVICE_READINESS_H_
