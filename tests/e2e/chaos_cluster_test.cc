// Chaos scenarios on a real 3-master Redis Cluster (no replicas) shared by two
// real popguard replicas on loopback. About 15 s, but a killed master must be
// back within the cluster node timeout (5 s), which a loaded machine may miss,
// so they are labelled `chaos` (`make chaos`, excluded from `make test`).
// Each asserts the exact counts: replays accepted = 0, errors = 0.
//
//   - a master SIGKILLed and restarted without persistence, or emptied in
//     place by FLUSHALL (issue 11.1): the proofs whose keys lived on it are
//     refused dpop_replay_window_reset, the others dpop_replayed, and new
//     proofs pass;
//   - a slot migrated (MIGRATING/IMPORTING, MIGRATE, SETSLOT NODE) while
//     traffic runs: every replay of every proof is refused, nothing errors.
#include <hiredis/hiredis.h>

#include <functional>
#include <iostream>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "gtest/gtest.h"
#include "storage/redis_key_slot.h"
#include "tests/testing/popguard_process.h"
#include "tests/testing/redis_server.h"
#include "tests/testing/replay_replicas.h"
#include "tests/testing/test_env.h"

namespace popguard::e2e {
namespace {

using popguard::redis_testing::RedisCluster;

class ChaosClusterTest : public ::testing::Test {
 protected:
  virtual int ReplicasPerMaster() const { return 0; }

  void SetUp() override {
    auto c = RedisCluster::Start(3, ReplicasPerMaster());
    ASSERT_TRUE(c.ok()) << c.status();
    cluster_ = *std::move(c);
  }

  void StartReplicas(const std::string& key_prefix) {
    ConfigOptions options;
    options.log_level = "info";
    options.extra_yaml = RedisReplayYaml(
        cluster_->addresses(), "fail_closed",
        absl::StrCat("    key_prefix: \"", key_prefix, "\"\n", "    command_timeout: 200ms\n"));
    a_ = StartServingReplica("chaos-cluster-a.yaml", options, absl::Seconds(10));
    ASSERT_NE(a_, nullptr);
    b_ = StartServingReplica("chaos-cluster-b.yaml", options, absl::Seconds(10));
    ASSERT_NE(b_, nullptr);
  }

  // ExpectNewProofsPassOnceAcrossReplicas: `n` new proofs (iat a second
  // ahead: past any detected loss) each pass on one replica and are refused
  // dpop_replayed on the other.
  void ExpectNewProofsPassOnceAcrossReplicas(int n) {
    ReasonTally fresh, replays;
    for (int i = 0; i < n; ++i) {
      const ReplayProof p = MintReplayProof(absl::Now() + absl::Seconds(1));
      fresh.Add((i % 2 == 0 ? a_ : b_)->Verify(p.spec));
      replays.Add((i % 2 == 0 ? b_ : a_)->Verify(p.spec));
    }
    EXPECT_EQ(fresh.Count("ok"), n) << fresh.Text();
    EXPECT_EQ(replays.Count("dpop_replayed"), n) << replays.Text();
  }

  void ExpectOnlyTheLostProofsRefused(const std::function<void(int)>& empty);

  std::unique_ptr<RedisCluster> cluster_;
  std::unique_ptr<RunningServer> a_, b_;
};

// ExpectOnlyTheLostProofsRefused: 60 proofs accepted, then `empty` loses
// the data of the master holding the first one (and returns once that master
// holds no replay key); both replicas notice it by themselves; every replay is
// refused, as a reset exactly for the keys that master held; new proofs pass.
void ChaosClusterTest::ExpectOnlyTheLostProofsRefused(const std::function<void(int)>& empty) {
  ASSERT_NO_FATAL_FAILURE(StartReplicas("popguard:dpop:"));
  std::vector<ReplayProof> accepted;
  ReasonTally first;
  for (int i = 0; i < 60; ++i) {
    accepted.push_back(MintReplayProof(absl::Now()));
    first.Add((i % 2 == 0 ? a_ : b_)->Verify(accepted.back().spec));
  }
  ASSERT_EQ(first.Count("ok"), 60) << first.Text();

  const int victim = cluster_->OwnerOfSlot(RedisKeySlot(accepted[0].redis_key));
  ASSERT_GE(victim, 0);
  int on_victim = 0;
  for (const ReplayProof& p : accepted) {
    on_victim += cluster_->OwnerOfSlot(RedisKeySlot(p.redis_key)) == victim ? 1 : 0;
  }
  ASSERT_GT(on_victim, 0);
  ASSERT_LT(on_victim, 60);
  ASSERT_NO_FATAL_FAILURE(empty(victim));
  ASSERT_EQ(cluster_->node(victim).ReplayKeys(), 0);
  for (RunningServer* r : {a_.get(), b_.get()}) {
    ASSERT_TRUE(r->process().WaitForLogLine("redis_node_state_lost", absl::Seconds(10)))
        << r->process().LogText();
    ASSERT_TRUE(WaitForHealth(*r, kServing, absl::Seconds(10))) << r->process().LogText();
  }
  // The restarted node must serve its slots again before anything is asked.
  const absl::Time deadline = absl::Now() + absl::Seconds(10);
  while (cluster_->node(victim).CommandText({"CLUSTER", "INFO"}).find("cluster_state:ok") ==
         std::string::npos) {
    ASSERT_LT(absl::Now(), deadline) << "restarted master never rejoined";
    absl::SleepFor(absl::Milliseconds(20));
  }

  ReasonTally to_a, to_b;
  for (const ReplayProof& p : accepted) to_a.Add(a_->Verify(p.spec));
  for (const ReplayProof& p : accepted) to_b.Add(b_->Verify(p.spec));
  EXPECT_EQ(to_a.allowed() + to_b.allowed(), 0) << to_a.Text() << to_b.Text();
  // Per node: only the emptied master's keys are refused as a reset.
  EXPECT_EQ(to_a.Count("dpop_replay_window_reset"), on_victim) << to_a.Text();
  EXPECT_EQ(to_a.Count("dpop_replayed"), 60 - on_victim) << to_a.Text();
  EXPECT_EQ(to_b.Count("dpop_replayed"), 60) << to_b.Text();

  ExpectNewProofsPassOnceAcrossReplicas(30);
}

TEST_F(ChaosClusterTest, MasterRestartedEmptyRefusesTheProofsItForgot) {
  // SIGKILL and restart within the cluster node timeout (5 s): the master
  // keeps its slots (nodes.conf) but not its data (no persistence). Both
  // replicas reconnect to it and notice its new run_id.
  ExpectOnlyTheLostProofsRefused([this](int victim) {
    cluster_->node(victim).Kill();
    ASSERT_TRUE(cluster_->node(victim).Restart().ok());
  });
}

TEST_F(ChaosClusterTest, MasterFlushedRefusesTheProofsItForgot) {
  // Emptied in place: same process, same run_id; only the replicas' state
  // markers on that master tell.
  ExpectOnlyTheLostProofsRefused(
      [this](int victim) { ASSERT_EQ(cluster_->node(victim).CommandText({"FLUSHALL"}), "OK"); });
}

TEST_F(ChaosClusterTest, SlotMigrationUnderTrafficLosesNoReplay) {
  // A hash tag in the prefix puts every key in one slot: the one we move.
  const std::string prefix = "{popguard-chaos}:";
  ASSERT_NO_FATAL_FAILURE(StartReplicas(prefix));
  const int slot = RedisKeySlot(prefix);
  const int src = cluster_->OwnerOfSlot(slot);
  ASSERT_GE(src, 0);
  const int dst = (src + 1) % cluster_->size();
  const std::string s = std::to_string(slot);

  // Traffic: each new proof goes to one replica, then is replayed to both.
  ReasonTally fresh, replays;
  std::vector<ReplayProof> seen;
  auto round = [&](int n) {
    for (int i = 0; i < n; ++i) {
      ReplayProof p = MintReplayProof(absl::Now(), prefix);
      fresh.Add((i % 2 == 0 ? a_ : b_)->Verify(p.spec));
      replays.Add((i % 2 == 0 ? b_ : a_)->Verify(p.spec));
      seen.push_back(std::move(p));
      // And an old one, to the other replica.
      replays.Add((i % 2 == 0 ? a_ : b_)->Verify(seen[(i * 7) % seen.size()].spec));
    }
  };
  round(20);  // before
  ASSERT_EQ(cluster_->node(dst).CommandText(
                {"CLUSTER", "SETSLOT", s, "IMPORTING", cluster_->NodeId(src)}),
            "OK");
  ASSERT_EQ(cluster_->node(src).CommandText(
                {"CLUSTER", "SETSLOT", s, "MIGRATING", cluster_->NodeId(dst)}),
            "OK");
  round(20);  // migrating: new keys on the target through ASK
  std::vector<std::string> migrate = {
      "MIGRATE", "127.0.0.1", std::to_string(cluster_->node(dst).port()), "", "0", "5000", "KEYS"};
  size_t on_source = 0;
  for (const ReplayProof& p : seen) {
    if (cluster_->node(src).CommandText({"EXISTS", p.redis_key}) == "1") {
      migrate.push_back(p.redis_key);
      ++on_source;
    }
  }
  ASSERT_GT(on_source, 0u);
  // Each replica's state marker lives in this slot too (the prefix's hash
  // tag): it moves with it, deliberately (SETSLOT NODE is refused while the
  // source holds a key of the slot). They are the only other keys there.
  auto in_slot = cluster_->node(src).Command({"CLUSTER", "GETKEYSINSLOT", s, "1000"});
  ASSERT_TRUE(in_slot.ok()) << in_slot.status();
  size_t markers = 0;
  for (size_t i = 0; i < (*in_slot)->elements; ++i) {
    const std::string key((*in_slot)->element[i]->str, (*in_slot)->element[i]->len);
    if (!redis_testing::IsStateMarker(key)) continue;
    migrate.push_back(key);
    ++markers;
  }
  EXPECT_EQ(markers, 2u);  // one per replica
  ASSERT_EQ(cluster_->node(src).CommandText(migrate), "OK");
  round(20);  // keys moved, slot still migrating
  for (int i = 0; i < cluster_->size(); ++i) {
    ASSERT_EQ(
        cluster_->node(i).CommandText({"CLUSTER", "SETSLOT", s, "NODE", cluster_->NodeId(dst)}),
        "OK");
  }
  round(20);  // after: MOVED, then the new map

  EXPECT_EQ(fresh.Count("ok"), 80) << fresh.Text();
  EXPECT_EQ(fresh.allowed(), 80);
  EXPECT_EQ(replays.allowed(), 0) << replays.Text();
  EXPECT_EQ(replays.Count("dpop_replayed"), 160) << replays.Text();
  EXPECT_EQ(cluster_->node(dst).ReplayKeys(slot), 80);  // state markers aside
}

TEST_F(ChaosClusterTest, FrozenMasterCostsOnlyItsOwnKeysAndReadinessHolds) {
  ASSERT_NO_FATAL_FAILURE(StartReplicas("popguard:dpop:"));
  const std::vector<int> owners = cluster_->SlotOwners();
  constexpr int kVictim = 0;
  // Both replicas have connections to every master before the freeze.
  for (int i = 0; i < 30; ++i) {
    const ReplayProof p = MintReplayProof(absl::Now());
    ASSERT_EQ(a_->Verify(p.spec).reason_code(), "ok");
  }

  HealthWatch watch({a_.get(), b_.get()}, absl::Milliseconds(10));
  cluster_->node(kVictim).Freeze();
  // Below the cluster node timeout (5 s): the cluster never declares the
  // master failed, which is the window the issue saw readiness flap in.
  const absl::Time until = absl::Now() + absl::Milliseconds(2500);
  ReasonTally healthy, victim;
  int n_victim = 0, n_healthy = 0;
  std::vector<ReplayProof> accepted;
  // Concurrent clients: the frozen master's timeouts then complete in
  // bursts, as under real traffic (one breaker for all nodes opened on such
  // a burst and refused the healthy masters' keys too).
  constexpr int kClients = 8;
  absl::Mutex mu;
  std::vector<std::thread> clients;
  for (int c = 0; c < kClients; ++c) {
    clients.emplace_back([&, c] {
      for (int i = 0; absl::Now() < until; ++i) {
        ReplayProof p = MintReplayProof(absl::Now());
        const popguard::v1::VerifyResponse r = ((i + c) % 2 == 0 ? a_ : b_)->Verify(p.spec);
        absl::MutexLock lock(&mu);
        if (owners[RedisKeySlot(p.redis_key)] == kVictim) {
          victim.Add(r);
          ++n_victim;
        } else {
          healthy.Add(r);
          ++n_healthy;
          if (r.decision() == popguard::v1::ALLOW) accepted.push_back(std::move(p));
        }
      }
    });
  }
  for (std::thread& t : clients) t.join();
  cluster_->node(kVictim).Thaw();
  watch.Stop();

  std::cout << "[ counts   ] frozen master: healthy-master keys " << healthy.Text()
            << "| frozen-master keys " << victim.Text() << "\n";
  EXPECT_GT(n_healthy, 20);
  EXPECT_EQ(healthy.Count("ok"), n_healthy) << healthy.Text();
  EXPECT_GT(victim.Count("replay_store_unavailable"), 0) << victim.Text();
  EXPECT_EQ(victim.allowed(), 0) << victim.Text();
  EXPECT_EQ(victim.Count("replay_store_unavailable"), n_victim) << victim.Text();
  for (size_t i = 0; i < 2; ++i) {
    SCOPED_TRACE(i == 0 ? "replica a" : "replica b");
    const HealthWatch::Counts c = watch.counts(i);
    std::cout << "[ counts   ] readiness samples " << c.samples << ", serving " << c.serving
              << ", transitions " << c.transitions << "\n";
    EXPECT_GT(c.samples, 20);
    EXPECT_EQ(c.serving, c.samples);
    EXPECT_EQ(c.transitions, 0);
  }
  // Every proof accepted on a healthy master is a replay to the other replica.
  ReasonTally replays;
  for (size_t i = 0; i < accepted.size(); ++i) {
    replays.Add((i % 2 == 0 ? b_ : a_)->Verify(accepted[i].spec));
  }
  EXPECT_EQ(replays.Count("dpop_replayed"), static_cast<int>(accepted.size())) << replays.Text();

  // The thawed master's keys are served again once its breaker's probe
  // passes (breaker_open 200ms).
  const absl::Time deadline = absl::Now() + absl::Seconds(10);
  int served = 0;
  while (served < 10) {
    ASSERT_LT(absl::Now(), deadline) << a_->process().LogText();
    const ReplayProof p = MintReplayProof(absl::Now());
    if (owners[RedisKeySlot(p.redis_key)] != kVictim) continue;
    if (a_->Verify(p.spec).reason_code() == "ok") {
      ++served;
      EXPECT_EQ(b_->Verify(p.spec).reason_code(), "dpop_replayed");
    } else {
      absl::SleepFor(absl::Milliseconds(50));
    }
  }
}

class ChaosClusterWithReplicasTest : public ChaosClusterTest {
 protected:
  int ReplicasPerMaster() const override { return 1; }
};

TEST_F(ChaosClusterWithReplicasTest, MasterKilledReplicaPromotedAcceptsNoReplay) {
  ASSERT_NO_FATAL_FAILURE(StartReplicas("popguard:dpop:"));
  // Proofs issued one second before they are used: the promoted replica,
  // first seen by popguard after the failover and dated to the start of
  // that second, is then always newer than every iat, so a write that never
  // reached it makes a window reset, never a replay. The masters met at
  // start-up must be older than those iats: one second passes first.
  absl::SleepFor(absl::Milliseconds(1100));
  std::vector<ReplayProof> accepted;
  ReasonTally first;
  for (int i = 0; i < 90; ++i) {
    accepted.push_back(MintReplayProof(absl::Now() - absl::Seconds(1)));
    first.Add((i % 2 == 0 ? a_ : b_)->Verify(accepted.back().spec));
  }
  ASSERT_EQ(first.Count("ok"), 90) << first.Text();
  const std::vector<int> owners = cluster_->SlotOwners();
  const int victim = owners[RedisKeySlot(accepted[0].redis_key)];
  ASSERT_GE(victim, 0);
  const int replica = cluster_->ReplicaOf(victim);
  ASSERT_GE(replica, 0);
  int on_victim = 0;
  for (const ReplayProof& p : accepted) on_victim += owners[RedisKeySlot(p.redis_key)] == victim;

  cluster_->node(victim).Kill();
  ASSERT_EQ(cluster_->node(replica).CommandText({"CLUSTER", "FAILOVER", "TAKEOVER"}), "OK");
  ASSERT_TRUE(cluster_->WaitUntilOk(absl::Seconds(15), victim).ok());
  const std::vector<int> after = cluster_->SlotOwners();
  ASSERT_EQ(after[RedisKeySlot(accepted[0].redis_key)], replica);

  // Both replicas find the new master by themselves (connection errors to
  // the dead one make them re-read the map). Until then its keys are
  // refused replay_store_unavailable (fail_closed), never accepted twice.
  ReasonTally warmup;
  for (RunningServer* r : {a_.get(), b_.get()}) {
    const absl::Time deadline = absl::Now() + absl::Seconds(15);
    for (;;) {
      ASSERT_LT(absl::Now(), deadline) << r->process().LogText();
      ReplayProof p = MintReplayProof(absl::Now());
      if (after[RedisKeySlot(p.redis_key)] != replica) continue;
      const popguard::v1::VerifyResponse v = r->Verify(p.spec);
      warmup.Add(v);
      if (v.reason_code() == "ok") break;
      absl::SleepFor(absl::Milliseconds(50));
    }
  }
  EXPECT_EQ(warmup.allowed(), 2) << warmup.Text();

  ReasonTally to_a, to_b;
  for (const ReplayProof& p : accepted) to_a.Add(a_->Verify(p.spec));
  for (const ReplayProof& p : accepted) to_b.Add(b_->Verify(p.spec));
  std::cout << "[ counts   ] failover: " << on_victim << " of 90 on the killed master; replays "
            << "to a: " << to_a.Text() << "| to b: " << to_b.Text()
            << "| warm-up: " << warmup.Text() << "\n";
  EXPECT_EQ(to_a.allowed() + to_b.allowed(), 0) << to_a.Text() << to_b.Text();
  for (const ReasonTally* t : {&to_a, &to_b}) {
    EXPECT_EQ(t->Count("dpop_replayed") + t->Count("dpop_replay_window_reset"), 90) << t->Text();
    EXPECT_GE(t->Count("dpop_replayed"), 90 - on_victim) << t->Text();
  }

  ExpectNewProofsPassOnceAcrossReplicas(30);
}

}  // namespace
}  // namespace popguard::e2e
