// Tests for storage/flap_guard.h: the readiness hysteresis and the
// rate-limited enter/leave log pair, driven sample by sample and with an
// explicit time (no clock, no sleeps).
#include "storage/flap_guard.h"

#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"

namespace popguard {
namespace {

TEST(ReadinessHysteresisTest, Sequences) {
  struct Case {
    std::string name;
    std::string samples;  // '+' good, '-' bad
    std::string want;     // verdict after each sample: 'R' ready, '.' not ready
  };
  // down_after 2, up_after 4.
  const std::vector<Case> cases = {
      {"start-up: ready at the first good sample", "-+", ".R"},
      {"one bad sample is absorbed", "+-+-+-", "RRRRRR"},
      {"two bad in a row: not ready", "+--", "RR."},
      {"flapping while down stays down", "+--+-+-++-", "RR........"},
      {"ready again after four good in a row", "+--+++++", "RR....RR"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    ReadinessHysteresis h(/*down_after=*/2, /*up_after=*/4);
    std::string got;
    for (char s : c.samples) got.push_back(h.Observe(s == '+') ? 'R' : '.');
    EXPECT_EQ(got, c.want);
  }
}

TEST(FlapLogTest, AtMostOnePairPerInterval) {
  using Clock = FlapLog::Clock;
  struct Step {
    int at_ms;
    char op;  // '+' enter, '-' leave, 'f' flush
  };
  struct Case {
    std::string name;
    std::vector<Step> steps;
    std::vector<std::string> want;  // lines: "on@ms(unlogged)" / "off@ms(unlogged)"
  };
  const std::vector<Case> cases = {
      {"a pair is logged at once", {{0, '+'}, {50, '-'}}, {"on@0(0)", "off@50(0)"}},
      {"flapping inside the interval is counted, not logged",
       {{0, '+'}, {50, '-'}, {100, '+'}, {150, '-'}, {200, '+'}, {250, '-'}, {20000, 'f'}},
       {"on@0(0)", "off@50(0)"}},
      {"a state left changed is logged once the interval has passed",
       {{0, '+'}, {50, '-'}, {100, '+'}, {9999, 'f'}, {10000, 'f'}, {10001, 'f'}},
       {"on@0(0)", "off@50(0)", "on@10000(1)"}},
      {"a new pair after the interval is logged at once, with the count",
       {{0, '+'}, {50, '-'}, {100, '+'}, {150, '-'}, {10000, '+'}, {10100, '-'}},
       {"on@0(0)", "off@50(0)", "on@10000(2)", "off@10100(0)"}},
      {"a long outage: one line in, one line out",
       {{0, '+'}, {60000, 'f'}, {60001, '-'}},
       {"on@0(0)", "off@60001(0)"}},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    std::vector<std::string> lines;
    int now_ms = 0;
    FlapLog log(std::chrono::seconds(10), [&](bool on, uint64_t unlogged) {
      lines.push_back(absl::StrCat(on ? "on@" : "off@", now_ms, "(", unlogged, ")"));
    });
    for (const Step& s : c.steps) {
      now_ms = s.at_ms;
      const Clock::time_point now = Clock::time_point() + std::chrono::milliseconds(s.at_ms);
      if (s.op == 'f') {
        log.Flush(now);
      } else {
        log.Set(s.op == '+', now);
      }
    }
    EXPECT_EQ(lines, c.want);
  }
}

}  // namespace
}  // namespace popguard
