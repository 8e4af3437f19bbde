// NodeBreakers: one circuit breaker per Redis node that owns slots (issue
// 11.5), driven with explicit slot maps and times (no Redis, no sleeping).
#include "storage/node_breakers.h"

#include <memory>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "storage/redis_key_slot.h"

namespace popguard {
namespace {

using Clock = CircuitBreaker::Clock;
using State = CircuitBreaker::State;
constexpr auto kOpenFor = std::chrono::seconds(1);
constexpr int kThreshold = 3;

// ThreeMasters returns the usual 3-master split: 0-5460, 5461-10922, 10923-16383.
std::vector<int16_t> ThreeMasters() {
  std::vector<int16_t> owner(kRedisClusterSlots);
  for (int s = 0; s < kRedisClusterSlots; ++s) owner[s] = s <= 5460 ? 0 : s <= 10922 ? 1 : 2;
  return owner;
}

const std::vector<std::string> kNames = {"10.0.0.1:6379", "10.0.0.2:6379", "10.0.0.3:6379"};

void Open(NodeBreakers::Node& node, Clock::time_point now) {
  for (int i = 0; i < kThreshold; ++i) node.breaker.OnFailure(now);
  ASSERT_EQ(node.breaker.state(), State::kOpen) << node.name;
}

class NodeBreakersTest : public ::testing::Test {
 protected:
  NodeBreakers breakers_{kThreshold, kOpenFor, "popguard:dpop:"};
  const Clock::time_point t0_ = Clock::now();
};

TEST_F(NodeBreakersTest, BeforeAnyMapEverySlotSharesTheUnmappedBreaker) {
  for (int slot : {0, 5000, 16383}) {
    SCOPED_TRACE(slot);
    EXPECT_EQ(breakers_.For(slot)->name, "");
    EXPECT_EQ(breakers_.For(slot), breakers_.For(0));
  }
  ASSERT_EQ(breakers_.All().size(), 1u);
  EXPECT_EQ(breakers_.All()[0]->name, "");
  const NodeBreakers::Census c = breakers_.Count();
  EXPECT_EQ(c.nodes, 1);
  EXPECT_EQ(c.closed, 1);
}

TEST_F(NodeBreakersTest, SlotsRouteToTheirOwnersBreaker) {
  breakers_.SetTopology(kNames, ThreeMasters());
  struct Case {
    int slot;
    const char* owner;
  };
  for (const Case& c :
       {Case{0, "10.0.0.1:6379"}, Case{5460, "10.0.0.1:6379"}, Case{5461, "10.0.0.2:6379"},
        Case{10922, "10.0.0.2:6379"}, Case{10923, "10.0.0.3:6379"}, Case{16383, "10.0.0.3:6379"}}) {
    SCOPED_TRACE(c.slot);
    EXPECT_EQ(breakers_.For(c.slot)->name, c.owner);
  }
  EXPECT_EQ(breakers_.All().size(), 3u);  // every slot covered: no unmapped breaker
}

TEST_F(NodeBreakersTest, AnOpenNodeLeavesTheOthersClosed) {
  breakers_.SetTopology(kNames, ThreeMasters());
  ASSERT_NO_FATAL_FAILURE(Open(*breakers_.For(6000), t0_));
  struct Case {
    int slot;
    bool allowed;
  };
  for (const Case& c : {Case{0, true}, Case{5461, false}, Case{10922, false}, Case{16383, true}}) {
    SCOPED_TRACE(c.slot);
    EXPECT_EQ(breakers_.For(c.slot)->breaker.Allow(t0_), c.allowed);
  }
  const NodeBreakers::Census census = breakers_.Count();
  EXPECT_EQ(census.nodes, 3);
  EXPECT_EQ(census.closed, 2);
  EXPECT_EQ(census.open, 1);
  const std::vector<bool> closed = breakers_.ClosedSlots();
  EXPECT_TRUE(closed[5460]);
  EXPECT_FALSE(closed[5461]);
  EXPECT_FALSE(closed[10922]);
  EXPECT_TRUE(closed[10923]);
  EXPECT_EQ(breakers_.opens(), 1u);
}

TEST_F(NodeBreakersTest, ANewMapKeepsTheStateOfNodesThatStayAndDropsTheRest) {
  breakers_.SetTopology(kNames, ThreeMasters());
  std::shared_ptr<NodeBreakers::Node> second = breakers_.For(6000);
  ASSERT_NO_FATAL_FAILURE(Open(*second, t0_));
  ASSERT_NO_FATAL_FAILURE(Open(*breakers_.For(0), t0_));
  // A failover: 10.0.0.1 is gone, 10.0.0.4 (its replica) owns its slots.
  breakers_.SetTopology({"10.0.0.4:6379", "10.0.0.2:6379", "10.0.0.3:6379"}, ThreeMasters());
  EXPECT_EQ(breakers_.For(0)->name, "10.0.0.4:6379");
  EXPECT_EQ(breakers_.For(0)->breaker.state(), State::kClosed);  // a new node starts closed
  EXPECT_EQ(breakers_.For(6000), second);                        // the same breaker, still open
  EXPECT_EQ(breakers_.For(6000)->breaker.state(), State::kOpen);
  std::vector<std::string> names;
  for (const auto& n : breakers_.All()) names.push_back(n->name);
  EXPECT_EQ(names, (std::vector<std::string>{"10.0.0.4:6379", "10.0.0.2:6379", "10.0.0.3:6379"}));
  EXPECT_EQ(breakers_.opens(), 2u);  // the dropped node's opening still counts
  // A caller that took a breaker before the change still reports to it.
  second->breaker.OnSuccess();
  EXPECT_EQ(breakers_.For(6000)->breaker.state(), State::kClosed);
}

TEST_F(NodeBreakersTest, SlotsWithoutOwnerUseTheUnmappedBreaker) {
  std::vector<int16_t> owner = ThreeMasters();
  for (int s = 100; s < 200; ++s) owner[s] = -1;
  breakers_.SetTopology(kNames, owner);
  EXPECT_EQ(breakers_.For(150)->name, "");
  EXPECT_EQ(breakers_.For(99)->name, "10.0.0.1:6379");
  EXPECT_EQ(breakers_.All().size(), 4u);
  EXPECT_EQ(breakers_.For(-1)->name, "");
  EXPECT_EQ(breakers_.For(kRedisClusterSlots)->name, "");
}

TEST_F(NodeBreakersTest, EachProbeKeyLivesOnItsNode) {
  std::vector<int16_t> owner = ThreeMasters();
  owner[42] = 2;  // a single slot elsewhere
  breakers_.SetTopology(kNames, owner);
  const std::vector<NodeBreakers::Probe> probes = breakers_.Probes();
  ASSERT_EQ(probes.size(), 3u);
  for (const NodeBreakers::Probe& p : probes) {
    SCOPED_TRACE(p.node->name);
    EXPECT_EQ(p.key.rfind("popguard:dpop:probe:{", 0), 0u) << p.key;
    EXPECT_EQ(breakers_.For(RedisKeySlot(p.key)), p.node) << p.key;
  }
  // A prefix with its own hash tag puts every key in one slot: the probe
  // keys cannot be steered, and need not be.
  NodeBreakers tagged(kThreshold, kOpenFor, "{popguard}:");
  tagged.SetTopology(kNames, ThreeMasters());
  for (const NodeBreakers::Probe& p : tagged.Probes()) {
    SCOPED_TRACE(p.node->name);
    EXPECT_EQ(RedisKeySlot(p.key), RedisKeySlot("{popguard}:"));
  }
}

}  // namespace
}  // namespace popguard
