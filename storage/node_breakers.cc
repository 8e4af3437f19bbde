#include "storage/node_breakers.h"

#include <map>
#include <utility>

#include "absl/strings/str_cat.h"
#include "storage/redis_key_slot.h"

namespace popguard {

NodeBreakers::NodeBreakers(int failure_threshold, CircuitBreaker::Clock::duration open_interval,
                           std::string probe_prefix)
    : failure_threshold_(failure_threshold),
      open_interval_(open_interval),
      probe_prefix_(std::move(probe_prefix)),
      unmapped_(std::make_shared<Node>("", failure_threshold, open_interval)),
      map_(std::make_shared<Map>()) {
  // Builds the probe tag table here, not on the Redis loop thread.
  (void)ProbeKeyForSlot(0);
}

std::string NodeBreakers::ProbeKeyForSlot(int slot) const {
  // A hash tag of our own steers the probe to the slot. A key_prefix that
  // holds a hash tag itself wins over ours, and then every key (so every
  // check) lives in that one slot anyway.
  if (std::string tag = SlotTag(slot); !tag.empty()) {
    std::string key = absl::StrCat(probe_prefix_, "probe:", tag);
    if (RedisKeySlot(key) == slot) return key;
  }
  return probe_prefix_ + "probe";
}

void NodeBreakers::SetTopology(const std::vector<std::string>& names,
                               const std::vector<int16_t>& owner) {
  std::shared_ptr<const Map> old;
  {
    absl::ReaderMutexLock lock(&mu_);
    old = map_;
  }
  std::map<std::string, std::shared_ptr<Node>> kept;
  std::map<std::string, std::string> old_probe_keys;
  for (size_t i = 0; i < old->nodes.size(); ++i) {
    kept.emplace(old->nodes[i]->name, old->nodes[i]);
    old_probe_keys.emplace(old->nodes[i]->name, old->probe_keys[i]);
  }
  auto map = std::make_shared<Map>();
  map->owner = owner;
  map->has_unmapped = owner.size() != static_cast<size_t>(kRedisClusterSlots);
  std::vector<int> first_slot(names.size(), -1);
  for (size_t s = 0; s < owner.size(); ++s) {
    const int16_t i = owner[s];
    if (i < 0 || static_cast<size_t>(i) >= names.size()) {
      map->has_unmapped = true;
    } else if (first_slot[i] < 0) {
      first_slot[i] = static_cast<int>(s);
    }
  }
  uint64_t dropped = 0;
  for (size_t i = 0; i < names.size(); ++i) {
    auto it = kept.find(names[i]);
    if (it != kept.end()) {
      map->nodes.push_back(it->second);
      kept.erase(it);
    } else {
      map->nodes.push_back(std::make_shared<Node>(names[i], failure_threshold_, open_interval_));
    }
    // The previous probe key while it still routes to this node (finding
    // one costs ~16384 CRCs).
    std::string probe_key;
    if (auto p = old_probe_keys.find(names[i]); p != old_probe_keys.end()) probe_key = p->second;
    const int slot = probe_key.empty() ? -1 : RedisKeySlot(probe_key);
    if (slot < 0 || static_cast<size_t>(slot) >= owner.size() ||
        owner[slot] != static_cast<int16_t>(i)) {
      probe_key = first_slot[i] >= 0 ? ProbeKeyForSlot(first_slot[i]) : probe_prefix_ + "probe";
    }
    map->probe_keys.push_back(std::move(probe_key));
  }
  for (const auto& [name, n] : kept) dropped += n->breaker.opens();
  absl::MutexLock lock(&mu_);
  dropped_opens_ += dropped;
  map_ = std::move(map);
}

std::shared_ptr<NodeBreakers::Node> NodeBreakers::For(int slot) const {
  absl::ReaderMutexLock lock(&mu_);
  if (slot < 0 || static_cast<size_t>(slot) >= map_->owner.size()) return unmapped_;
  const int16_t i = map_->owner[slot];
  if (i < 0 || static_cast<size_t>(i) >= map_->nodes.size()) return unmapped_;
  return map_->nodes[i];
}

std::vector<std::shared_ptr<NodeBreakers::Node>> NodeBreakers::All() const {
  absl::ReaderMutexLock lock(&mu_);
  std::vector<std::shared_ptr<Node>> out = map_->nodes;
  if (map_->has_unmapped || out.empty()) out.push_back(unmapped_);
  return out;
}

std::vector<NodeBreakers::Probe> NodeBreakers::Probes() const {
  absl::ReaderMutexLock lock(&mu_);
  std::vector<Probe> out;
  for (size_t i = 0; i < map_->nodes.size(); ++i) {
    out.push_back({map_->nodes[i], map_->probe_keys[i]});
  }
  if (map_->has_unmapped || out.empty()) out.push_back({unmapped_, probe_prefix_ + "probe"});
  return out;
}

std::vector<bool> NodeBreakers::ClosedSlots() const {
  std::vector<bool> out(kRedisClusterSlots);
  absl::ReaderMutexLock lock(&mu_);
  const bool unmapped_closed = unmapped_->breaker.state() == CircuitBreaker::State::kClosed;
  std::vector<bool> node_closed;
  for (const std::shared_ptr<Node>& n : map_->nodes) {
    node_closed.push_back(n->breaker.state() == CircuitBreaker::State::kClosed);
  }
  for (int s = 0; s < kRedisClusterSlots; ++s) {
    const int i = static_cast<size_t>(s) < map_->owner.size() ? map_->owner[s] : -1;
    out[s] =
        i >= 0 && static_cast<size_t>(i) < node_closed.size() ? node_closed[i] : unmapped_closed;
  }
  return out;
}

NodeBreakers::Census NodeBreakers::Count() const {
  Census c;
  for (const std::shared_ptr<Node>& n : All()) {
    ++c.nodes;
    if (n->breaker.state() == CircuitBreaker::State::kClosed) {
      ++c.closed;
    } else {
      ++c.open;
    }
  }
  return c;
}

uint64_t NodeBreakers::opens() const {
  absl::ReaderMutexLock lock(&mu_);
  uint64_t n = dropped_opens_ + unmapped_->breaker.opens();
  for (const std::shared_ptr<Node>& node : map_->nodes) n += node->breaker.opens();
  return n;
}

}  // namespace popguard
