// CircuitBreaker state machine, driven with explicit times (no sleeping).
#include "storage/circuit_breaker.h"

#include <atomic>
#include <thread>
#include <vector>

#include "gtest/gtest.h"

namespace popguard {
namespace {

using Clock = CircuitBreaker::Clock;
using State = CircuitBreaker::State;
using Transition = CircuitBreaker::Transition;
constexpr auto kOpenFor = std::chrono::seconds(1);

TEST(CircuitBreakerTest, OpensAfterConsecutiveFailuresOnly) {
  CircuitBreaker b(/*failure_threshold=*/3, kOpenFor);
  const Clock::time_point t0 = Clock::now();
  EXPECT_EQ(b.OnFailure(t0), Transition::kNone);
  EXPECT_EQ(b.OnFailure(t0), Transition::kNone);
  EXPECT_EQ(b.OnSuccess(), Transition::kNone);  // resets the count
  EXPECT_EQ(b.OnFailure(t0), Transition::kNone);
  EXPECT_EQ(b.OnFailure(t0), Transition::kNone);
  EXPECT_EQ(b.state(), State::kClosed);
  EXPECT_TRUE(b.Allow(t0));
  EXPECT_EQ(b.OnFailure(t0), Transition::kOpened);
  EXPECT_EQ(b.state(), State::kOpen);
  EXPECT_EQ(b.opens(), 1u);
}

TEST(CircuitBreakerTest, OpenRefusesUntilIntervalThenOneProbe) {
  CircuitBreaker b(1, kOpenFor);
  const Clock::time_point t0 = Clock::now();
  ASSERT_EQ(b.OnFailure(t0), Transition::kOpened);
  EXPECT_FALSE(b.Allow(t0));
  EXPECT_FALSE(b.Allow(t0 + kOpenFor - std::chrono::milliseconds(1)));
  // Past the interval exactly one caller is let through.
  EXPECT_TRUE(b.Allow(t0 + kOpenFor));
  EXPECT_EQ(b.state(), State::kHalfOpen);
  EXPECT_FALSE(b.Allow(t0 + kOpenFor));
  EXPECT_FALSE(b.Allow(t0 + 10 * kOpenFor));
}

TEST(CircuitBreakerTest, ProbeOutcomeDecides) {
  struct Case {
    const char* name;
    bool probe_succeeds;
    State after;
  };
  for (const Case& c : {Case{"success closes", true, State::kClosed},
                        Case{"failure reopens", false, State::kOpen}}) {
    SCOPED_TRACE(c.name);
    CircuitBreaker b(2, kOpenFor);
    const Clock::time_point t0 = Clock::now();
    b.OnFailure(t0);
    ASSERT_EQ(b.OnFailure(t0), Transition::kOpened);
    const Clock::time_point t1 = t0 + kOpenFor;
    ASSERT_TRUE(b.Allow(t1));
    if (c.probe_succeeds) {
      EXPECT_EQ(b.OnSuccess(), Transition::kClosed);
      EXPECT_TRUE(b.Allow(t1));
    } else {
      // One failed probe is enough to reopen, whatever the threshold.
      EXPECT_EQ(b.OnFailure(t1), Transition::kOpened);
      EXPECT_FALSE(b.Allow(t1 + kOpenFor - std::chrono::milliseconds(1)));
      EXPECT_EQ(b.opens(), 2u);
    }
    EXPECT_EQ(b.state(), c.after);
  }
}

TEST(CircuitBreakerTest, FailuresWhileOpenDoNotExtendIt) {
  CircuitBreaker b(1, kOpenFor);
  const Clock::time_point t0 = Clock::now();
  ASSERT_EQ(b.OnFailure(t0), Transition::kOpened);
  // Calls that started before it opened report late.
  EXPECT_EQ(b.OnFailure(t0 + kOpenFor / 2), Transition::kNone);
  EXPECT_TRUE(b.Allow(t0 + kOpenFor));
}

TEST(CircuitBreakerTest, ConcurrentFailuresOpenOnce) {
  CircuitBreaker b(100, kOpenFor);
  const Clock::time_point t0 = Clock::now();
  std::atomic<int> opened{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 50; ++i) {
        if (b.OnFailure(t0) == Transition::kOpened) opened.fetch_add(1);
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(opened.load(), 1);
  EXPECT_EQ(b.state(), State::kOpen);
}

TEST(CircuitBreakerTest, StateNames) {
  EXPECT_EQ(CircuitBreakerStateName(State::kClosed), "closed");
  EXPECT_EQ(CircuitBreakerStateName(State::kOpen), "open");
  EXPECT_EQ(CircuitBreakerStateName(State::kHalfOpen), "half_open");
}

}  // namespace
}  // namespace popguard
