// CircuitBreaker: stops calling a backend that keeps failing, so that a dead
// dependency costs a few atomic loads per request instead of a timeout.
//
//   kClosed   --failure_threshold consecutive failures-->  kOpen
//   kOpen     --open_interval has passed, next Allow()-->  kHalfOpen (that
//                                                          caller is the probe)
//   kHalfOpen --success--> kClosed;  --failure--> kOpen (for another interval)
//
// Any success closes the breaker (the backend answered, whichever call it
// was). While kHalfOpen every caller but the probe is refused.
//
// Thread-safe. Allow() on a closed breaker, or on an open one inside its
// interval, takes no lock. Time is passed in; the breaker never reads a clock.
#ifndef POPGUARD_STORAGE_CIRCUIT_BREAKER_H_
#define POPGUARD_STORAGE_CIRCUIT_BREAKER_H_

#include <atomic>
#include <chrono>
#include <cstdint>
#include <string_view>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"

namespace popguard {

class CircuitBreaker {
 public:
  using Clock = std::chrono::steady_clock;
  enum class State { kClosed, kOpen, kHalfOpen };

  // Transition is the state change a call caused, if any.
  enum class Transition { kNone, kOpened, kClosed };

  // `failure_threshold` >= 1 consecutive failures open the breaker for
  // `open_interval`.
  CircuitBreaker(int failure_threshold, Clock::duration open_interval);

  // Allow reports whether a call may go to the backend at `now`. A caller
  // that is allowed must report the outcome with OnSuccess or OnFailure.
  bool Allow(Clock::time_point now);

  // OnSuccess records a successful call; kClosed when it closed the breaker.
  Transition OnSuccess();
  // OnFailure records a failed call at `now`; kOpened when it opened the breaker.
  Transition OnFailure(Clock::time_point now);

  State state() const { return state_.load(std::memory_order_acquire); }
  // opens counts the times the breaker opened (re-opening after a failed
  // probe included).
  uint64_t opens() const { return opens_.load(std::memory_order_relaxed); }

 private:
  Transition OpenLocked(Clock::time_point now) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const int failure_threshold_;
  const Clock::duration open_interval_;

  std::atomic<State> state_{State::kClosed};
  std::atomic<int> consecutive_failures_{0};
  std::atomic<int64_t> open_until_{0};  // Clock ticks since epoch; valid in kOpen
  std::atomic<uint64_t> opens_{0};
  absl::Mutex mu_;  // serialises state changes
};

// CircuitBreakerStateName returns "closed", "open" or "half_open".
std::string_view CircuitBreakerStateName(CircuitBreaker::State state);

}  // namespace popguard

#endif  // POPGUARD_STORAGE_CIRCUIT_BREAKER_H_
