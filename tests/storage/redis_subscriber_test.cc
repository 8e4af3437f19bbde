// RedisSubscriber (storage/redis_subscriber.h) against real redis-server
// processes: the full read at connect, announcements, the re-read after a
// killed connection, a frozen server noticed by PING, and Redis Cluster (the
// read follows MOVED; PUBLISH on any node arrives).
#include "storage/redis_subscriber.h"

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "gtest/gtest.h"
#include "storage/redis_key_slot.h"
#include "tests/testing/redis_server.h"

namespace popguard {
namespace {

using redis_testing::RedisCluster;
using redis_testing::RedisServer;

constexpr char kKey[] = "{revocation-test}:entries";
constexpr char kChannel[] = "revocation-test";

// Recorder collects what the subscriber reports; Wait* block (bounded) until
// a condition on it holds.
class Recorder {
 public:
  void Snapshot(std::vector<std::pair<std::string, int64_t>> members) {
    absl::MutexLock lock(&mu_);
    snapshots_.push_back(std::move(members));
  }
  void Messages(std::vector<std::string> messages) {
    absl::MutexLock lock(&mu_);
    messages_.insert(messages_.end(), messages.begin(), messages.end());
  }
  void State(bool connected, std::string_view why) {
    absl::MutexLock lock(&mu_);
    states_.push_back(absl::StrCat(connected ? "up" : "down", ": ", std::string(why)));
  }
  // WaitFor waits up to `timeout` until `done` (called under the lock) is true.
  template <typename Fn>
  bool WaitFor(Fn done, absl::Duration timeout) {
    absl::MutexLock lock(&mu_);
    auto cond = [this, &done] {
      mu_.AssertHeld();
      return done(*this);
    };
    return mu_.AwaitWithTimeout(absl::Condition(&cond), timeout);
  }
  // Ups counts "up" states.
  int Ups() const {
    int n = 0;
    for (const std::string& s : states_) n += s.rfind("up", 0) == 0;
    return n;
  }
  bool SnapshotHas(const std::string& member) const {
    for (const auto& snapshot : snapshots_) {
      for (const auto& [m, score] : snapshot) {
        if (m == member) return true;
      }
    }
    return false;
  }

  mutable absl::Mutex mu_;
  std::vector<std::vector<std::pair<std::string, int64_t>>> snapshots_;
  std::vector<std::string> messages_;
  std::vector<std::string> states_;
};

class RedisSubscriberTest : public ::testing::Test {
 protected:
  std::unique_ptr<RedisSubscriber> Start(std::vector<RedisEndpoint> seeds) {
    RedisSubscriberOptions o;
    o.redis.seeds = std::move(seeds);
    o.channel = kChannel;
    o.key = kKey;
    o.ping_interval = absl::Milliseconds(200);
    o.read_timeout = absl::Milliseconds(500);
    o.on_snapshot = [this](auto m) { recorder_.Snapshot(std::move(m)); };
    o.on_messages = [this](auto m) { recorder_.Messages(std::move(m)); };
    o.on_state = [this](bool up, std::string_view why) { recorder_.State(up, why); };
    return RedisSubscriber::Start(std::move(o));
  }
  static std::string Later() { return absl::StrCat(absl::ToUnixSeconds(absl::Now()) + 600); }

  Recorder recorder_;
};

TEST_F(RedisSubscriberTest, ReadsLiveMembersThenFollowsTheChannel) {
  auto redis = RedisServer::Start();
  ASSERT_TRUE(redis.ok()) << redis.status();
  // One reading of the clock: the score read back is compared with it.
  const std::string later = Later();
  ASSERT_EQ((*redis)->CommandText({"ZADD", kKey, later, "live", "1", "expired"}), "2");
  auto subscriber = Start({(*redis)->endpoint()});
  ASSERT_TRUE(recorder_.WaitFor([](const Recorder& r) { return r.Ups() == 1; }, absl::Seconds(5)));
  {
    absl::MutexLock lock(&recorder_.mu_);
    ASSERT_EQ(recorder_.snapshots_.size(), 1u);
    ASSERT_EQ(recorder_.snapshots_[0].size(), 1u);  // "expired" (score 1) is not read
    EXPECT_EQ(recorder_.snapshots_[0][0].first, "live");
    EXPECT_EQ(std::to_string(recorder_.snapshots_[0][0].second), later);
  }
  EXPECT_TRUE(subscriber->connected());
  EXPECT_EQ((*redis)->CommandText({"PUBLISH", kChannel, "hello"}), "1");
  EXPECT_TRUE(recorder_.WaitFor(
      [](const Recorder& r) { return r.messages_ == std::vector<std::string>{"hello"}; },
      absl::Seconds(1)));
}

TEST_F(RedisSubscriberTest, AKilledConnectionIsRemadeAndTheSetReadAgain) {
  auto redis = RedisServer::Start();
  ASSERT_TRUE(redis.ok()) << redis.status();
  auto subscriber = Start({(*redis)->endpoint()});
  ASSERT_TRUE(recorder_.WaitFor([](const Recorder& r) { return r.Ups() == 1; }, absl::Seconds(5)));
  // Written while the subscription is gone, with no announcement it could see.
  EXPECT_EQ((*redis)->CommandText({"CLIENT", "KILL", "TYPE", "pubsub"}), "1");
  EXPECT_EQ((*redis)->CommandText({"ZADD", kKey, Later(), "missed"}), "1");
  ASSERT_TRUE(recorder_.WaitFor(
      [](const Recorder& r) { return r.Ups() == 2 && r.SnapshotHas("missed"); }, absl::Seconds(5)));
  absl::MutexLock lock(&recorder_.mu_);
  ASSERT_EQ(recorder_.states_.size(), 3u);
  EXPECT_EQ(recorder_.states_[1].rfind("down: connection lost", 0), 0u) << recorder_.states_[1];
}

TEST_F(RedisSubscriberTest, AFrozenServerIsNoticedByPing) {
  auto redis = RedisServer::Start();
  ASSERT_TRUE(redis.ok()) << redis.status();
  auto subscriber = Start({(*redis)->endpoint()});
  ASSERT_TRUE(recorder_.WaitFor([](const Recorder& r) { return r.Ups() == 1; }, absl::Seconds(5)));
  // No FIN, no RST: only the unanswered PING tells (ping 200 ms + answer 500 ms).
  (*redis)->Freeze();
  EXPECT_TRUE(recorder_.WaitFor(
      [](const Recorder& r) {
        return r.states_.size() >= 2 && r.states_[1] == "down: no answer to PING";
      },
      absl::Seconds(3)));
  EXPECT_FALSE(subscriber->connected());
  (*redis)->Thaw();
  EXPECT_TRUE(recorder_.WaitFor([](const Recorder& r) { return r.Ups() == 2; }, absl::Seconds(10)));
}

TEST_F(RedisSubscriberTest, ClusterReadFollowsMovedAndPublishReachesEveryNode) {
  auto cluster = RedisCluster::Start(3);
  ASSERT_TRUE(cluster.ok()) << cluster.status();
  const int owner = (*cluster)->OwnerOfSlot(RedisKeySlot(kKey));
  ASSERT_GE(owner, 0);
  const int other = (owner + 1) % 3;
  const int third = (owner + 2) % 3;
  ASSERT_EQ((*cluster)->node(owner).CommandText({"ZADD", kKey, Later(), "in-cluster"}), "1");
  // Seeded only with a node that does not own the key.
  auto subscriber = Start({(*cluster)->node(other).endpoint()});
  ASSERT_TRUE(recorder_.WaitFor([](const Recorder& r) { return r.Ups() == 1; }, absl::Seconds(5)))
      << [&] {
           absl::MutexLock lock(&recorder_.mu_);
           return recorder_.states_.empty() ? "" : recorder_.states_.back();
         }();
  {
    absl::MutexLock lock(&recorder_.mu_);
    EXPECT_TRUE(recorder_.SnapshotHas("in-cluster"));
  }
  // Published on a third node: the cluster bus carries it to the subscriber's.
  (*cluster)->node(third).CommandText({"PUBLISH", kChannel, "from-elsewhere"});
  EXPECT_TRUE(recorder_.WaitFor(
      [](const Recorder& r) { return r.messages_ == std::vector<std::string>{"from-elsewhere"}; },
      absl::Seconds(2)));
}

}  // namespace
}  // namespace popguard
