#include "service/server/process_setup.h"

#include "absl/synchronization/mutex.h"

namespace popguard {

void ConfigureProcessForServing() {
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);
}

}  // namespace popguard
