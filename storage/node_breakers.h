// NodeBreakers: one CircuitBreaker per Redis node that owns slots (issue
// 11.5), so that a master that is down (or frozen, before the cluster declares
// it failed) costs only the checks whose keys live on it. A single breaker
// for every node mixed the dead node's failures with the healthy nodes'
// successes: it refused keys on healthy masters and flapped open/closed.
//
// The map follows the Redis client's slot map (SetTopology, called on every
// map the client applies): slot -> owner name -> breaker. A node that stays
// in the map keeps its breaker and its state; a node that leaves it loses
// its breaker (so the set, and the metric label `node`, stays bounded by the
// masters of the current map). Slots with no known owner (before the first
// map, or a partially covered cluster) share one breaker named "" (the
// "unmapped" breaker): failures there have no better culprit.
//
// For() hands out shared pointers: a caller that asked a breaker before a
// topology change reports its outcome to that same breaker (a half-open
// probe must always be answered, or its breaker would stay half-open).
//
// Thread-safe: For() takes a reader lock and copies one shared pointer.
#ifndef POPGUARD_STORAGE_NODE_BREAKERS_H_
#define POPGUARD_STORAGE_NODE_BREAKERS_H_

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "storage/circuit_breaker.h"

namespace popguard {

class NodeBreakers {
 public:
  struct Node {
    Node(std::string n, int failure_threshold, CircuitBreaker::Clock::duration open_interval)
        : name(std::move(n)), breaker(failure_threshold, open_interval) {}
    const std::string name;  // "host:port"; "" for the unmapped breaker
    CircuitBreaker breaker;
  };

  NodeBreakers(int failure_threshold, CircuitBreaker::Clock::duration open_interval,
               std::string probe_prefix);

  // SetTopology installs a slot map: `names` are the owners, `owner` has
  // kRedisClusterSlots entries, each an index into `names` or -1 (unknown).
  void SetTopology(const std::vector<std::string>& names, const std::vector<int16_t>& owner);

  // For returns the breaker of the node that owns `slot`. Never null.
  std::shared_ptr<Node> For(int slot) const;

  // All returns the breakers that slots route to now: every owner of the
  // map, and the unmapped breaker when some slot has no owner (before the
  // first map: the unmapped breaker alone).
  std::vector<std::shared_ptr<Node>> All() const;

  // A breaker and a key (key_prefix + "probe:{tag}") whose slot that node
  // owns, for the background probe: the same command a check sends, on the
  // same connections.
  struct Probe {
    std::shared_ptr<Node> node;
    std::string key;
  };
  // Probes returns one Probe for each of All().
  std::vector<Probe> Probes() const;

  // ClosedSlots returns, per slot, whether its breaker is closed now.
  std::vector<bool> ClosedSlots() const;

  // Counts of All() by state, read under one lock.
  struct Census {
    int nodes = 0;
    int closed = 0;
    int open = 0;  // kOpen or kHalfOpen
  };
  Census Count() const;

  // opens counts every opening of every breaker, including those dropped.
  uint64_t opens() const;

 private:
  struct Map {
    std::vector<std::shared_ptr<Node>> nodes;  // by index of SetTopology's `names`
    std::vector<std::string> probe_keys;       // by the same index
    std::vector<int16_t> owner;                // empty: every slot unmapped
    bool has_unmapped = true;
  };

  std::string ProbeKeyForSlot(int slot) const;

  const int failure_threshold_;
  const CircuitBreaker::Clock::duration open_interval_;
  const std::string probe_prefix_;
  const std::shared_ptr<Node> unmapped_;
  mutable absl::Mutex mu_;
  std::shared_ptr<const Map> map_ ABSL_GUARDED_BY(mu_);
  uint64_t dropped_opens_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace popguard

#endif  // POPGUARD_STORAGE_NODE_BREAKERS_H_
