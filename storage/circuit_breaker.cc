#include "storage/circuit_breaker.h"

#include <algorithm>

namespace popguard {

CircuitBreaker::CircuitBreaker(int failure_threshold, Clock::duration open_interval)
    : failure_threshold_(std::max(failure_threshold, 1)), open_interval_(open_interval) {}

bool CircuitBreaker::Allow(Clock::time_point now) {
  const State s = state_.load(std::memory_order_acquire);
  if (s == State::kClosed) return true;
  if (s == State::kHalfOpen) return false;  // the probe is out
  if (now.time_since_epoch().count() < open_until_.load(std::memory_order_acquire)) return false;
  absl::MutexLock lock(&mu_);
  // Only the first caller past the interval becomes the probe.
  if (state_.load(std::memory_order_relaxed) != State::kOpen) {
    return state_.load(std::memory_order_relaxed) == State::kClosed;
  }
  if (now.time_since_epoch().count() < open_until_.load(std::memory_order_relaxed)) return false;
  state_.store(State::kHalfOpen, std::memory_order_release);
  return true;
}

CircuitBreaker::Transition CircuitBreaker::OnSuccess() {
  // The common case, a closed breaker with no failures, writes nothing.
  if (state_.load(std::memory_order_acquire) == State::kClosed) {
    if (consecutive_failures_.load(std::memory_order_relaxed) != 0) {
      consecutive_failures_.store(0, std::memory_order_relaxed);
    }
    return Transition::kNone;
  }
  absl::MutexLock lock(&mu_);
  consecutive_failures_.store(0, std::memory_order_relaxed);
  if (state_.load(std::memory_order_relaxed) == State::kClosed) return Transition::kNone;
  state_.store(State::kClosed, std::memory_order_release);
  return Transition::kClosed;
}

CircuitBreaker::Transition CircuitBreaker::OnFailure(Clock::time_point now) {
  const State s = state_.load(std::memory_order_acquire);
  if (s == State::kOpen) return Transition::kNone;  // calls that started before it opened
  if (s == State::kClosed &&
      consecutive_failures_.fetch_add(1, std::memory_order_relaxed) + 1 < failure_threshold_) {
    return Transition::kNone;
  }
  absl::MutexLock lock(&mu_);
  const State now_state = state_.load(std::memory_order_relaxed);
  if (now_state == State::kOpen) return Transition::kNone;
  if (now_state == State::kClosed &&
      consecutive_failures_.load(std::memory_order_relaxed) < failure_threshold_) {
    return Transition::kNone;  // a success reset the count meanwhile
  }
  return OpenLocked(now);
}

CircuitBreaker::Transition CircuitBreaker::OpenLocked(Clock::time_point now) {
  open_until_.store((now + open_interval_).time_since_epoch().count(), std::memory_order_relaxed);
  consecutive_failures_.store(0, std::memory_order_relaxed);
  opens_.fetch_add(1, std::memory_order_relaxed);
  state_.store(State::kOpen, std::memory_order_release);
  return Transition::kOpened;
}

std::string_view CircuitBreakerStateName(CircuitBreaker::State state) {
  switch (state) {
    case CircuitBreaker::State::kClosed:
      return "closed";
    case CircuitBreaker::State::kOpen:
      return "open";
    case CircuitBreaker::State::kHalfOpen:
      return "half_open";
  }
  return "unknown";
}

}  // namespace popguard
