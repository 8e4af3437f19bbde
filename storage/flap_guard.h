// Damping for states that flap (issue 11.5): a Redis node that is failing but
// not yet declared failed answers some commands and not others, so a raw
// "can Redis answer?" flips many times a second.
//
// ReadinessHysteresis turns periodic raw samples into a stable verdict: not
// ready only after `down_after` bad samples in a row, ready again only after
// `up_after` good ones in a row. The first good sample makes a store that has
// never been ready ready at once (start-up has no flapping to hide).
//
// FlapLog rate-limits a pair of log lines for entering and leaving a state
// (e.g. replay_store_degraded / replay_store_recovered) to at most one pair
// per `interval`: entering is logged at once unless a pair began less than
// `interval` ago, and then only counted; leaving is logged at once when the
// entering was, else counted. Flush (called periodically) logs the current
// state, with the number of changes not logged, once the interval has passed
// and the state differs from the last one logged. So the last line logged
// tells the current state within `interval`, however fast the state flaps.
//
// Neither reads a clock or is thread-safe; the caller serialises calls.
#ifndef POPGUARD_STORAGE_FLAP_GUARD_H_
#define POPGUARD_STORAGE_FLAP_GUARD_H_

#include <chrono>
#include <cstdint>
#include <functional>
#include <utility>

namespace popguard {

class ReadinessHysteresis {
 public:
  ReadinessHysteresis(int down_after, int up_after)
      : down_after_(down_after < 1 ? 1 : down_after), up_after_(up_after < 1 ? 1 : up_after) {}

  // Observe records one raw sample and returns the verdict after it.
  bool Observe(bool raw_ok) {
    if (raw_ok) {
      bad_ = 0;
      ++good_;
      if (!ready_ && (!ever_ready_ || good_ >= up_after_)) ready_ = ever_ready_ = true;
    } else {
      good_ = 0;
      ++bad_;
      if (ready_ && bad_ >= down_after_) ready_ = false;
    }
    return ready_;
  }
  bool ready() const { return ready_; }

 private:
  const int down_after_, up_after_;
  int good_ = 0, bad_ = 0;
  bool ready_ = false, ever_ready_ = false;
};

class FlapLog {
 public:
  using Clock = std::chrono::steady_clock;
  // Emit writes one line: the state entered and how many changes since the
  // previous line were not logged.
  using Emit = std::function<void(bool on, uint64_t unlogged_changes)>;

  FlapLog(Clock::duration interval, Emit emit) : interval_(interval), emit_(std::move(emit)) {}

  // Set records that the state is now `on` (no-op when it already is).
  void Set(bool on, Clock::time_point now) {
    if (on == state_) return;
    state_ = on;
    const bool log = on ? !logged_ever_ || now - pair_start_ >= interval_ : logged_state_;
    if (log) {
      Log(now);
    } else {
      ++unlogged_;
    }
  }

  // Flush logs the current state if it differs from the last one logged and
  // the last pair began at least `interval` ago.
  void Flush(Clock::time_point now) {
    if (state_ != logged_state_ && now - pair_start_ >= interval_) Log(now);
  }

 private:
  void Log(Clock::time_point now) {
    emit_(state_, unlogged_);
    unlogged_ = 0;
    logged_state_ = state_;
    if (state_) pair_start_ = now;
    logged_ever_ = true;
  }

  const Clock::duration interval_;
  const Emit emit_;
  bool state_ = false, logged_state_ = false, logged_ever_ = false;
  uint64_t unlogged_ = 0;
  Clock::time_point pair_start_;  // when the last logged pair was entered
};

}  // namespace popguard

#endif  // POPGUARD_STORAGE_FLAP_GUARD_H_
