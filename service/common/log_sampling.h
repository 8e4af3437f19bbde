// SampleAllow: the decision to log one ALLOW line (config log.allow_sample_rate).
//
// Denials are always logged; allows are the bulk of the traffic, so only a
// fraction is logged at info (all of them at debug). The choice uses a
// per-thread xorshift generator: cheap, lock-free and not security relevant.
#ifndef POPGUARD_SERVICE_LOG_SAMPLING_H_
#define POPGUARD_SERVICE_LOG_SAMPLING_H_

#include <cstdint>

namespace popguard {

// SampleAllow returns true with probability `rate` (0: never, >= 1: always).
inline bool SampleAllow(double rate) {
  if (rate <= 0) return false;
  if (rate >= 1) return true;
  thread_local uint64_t state = 0x9E3779B97F4A7C15ull ^ reinterpret_cast<uintptr_t>(&state);
  state ^= state << 13;
  state ^= state >> 7;
  state ^= state << 17;
  return static_cast<double>(state >> 11) * (1.0 / 9007199254740992.0) < rate;
}

}  // namespace popguard

#endif  // POPGUARD_SERVICE_LOG_SAMPLING_H_
