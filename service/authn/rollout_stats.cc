#include "service/authn/rollout_stats.h"

#include <algorithm>
#include <utility>

#include "service/common/strings.h"

namespace popguard {
namespace {

constexpr size_t ReasonSlots() {
  size_t n = 0;
  for (Reason r : kAllReasons) n = std::max(n, static_cast<size_t>(r) + 1);
  return n;
}
constexpr size_t kReasonSlots = ReasonSlots();

// Slot is one client in a table: its counts, and for the top table the
// space-saving estimate (its own requests plus what it inherited).
struct Slot {
  std::string client;
  ArrivalCounts counts{};
  uint64_t estimate = 0;
  uint64_t inherited = 0;
};

// ClientTable maps a client to its slot without allocating on a hit
// (heterogeneous string_view lookup).
class ClientTable {
 public:
  explicit ClientTable(size_t capacity) : capacity_(capacity) { slots_.reserve(capacity); }

  Slot* Find(std::string_view client) {
    auto it = index_.find(AV(client));
    return it == index_.end() ? nullptr : &slots_[it->second];
  }
  // Add admits `client` into a free slot; null when the table is full.
  Slot* Add(std::string_view client) {
    if (slots_.size() >= capacity_) return nullptr;
    index_.emplace(std::string(client), slots_.size());
    slots_.push_back(Slot{std::string(client), {}, 0, 0});
    return &slots_.back();
  }
  // ReplaceSmallest gives the slot with the lowest estimate to `client`
  // (space-saving); null when the table has no slots.
  Slot* ReplaceSmallest(std::string_view client) {
    if (slots_.empty()) return nullptr;
    size_t smallest = 0;
    for (size_t i = 1; i < slots_.size(); ++i) {
      if (slots_[i].estimate < slots_[smallest].estimate) smallest = i;
    }
    Slot& slot = slots_[smallest];
    index_.erase(slot.client);
    slot.client.assign(client);
    index_.emplace(slot.client, smallest);
    slot.inherited = slot.estimate;
    slot.counts = {};
    return &slot;
  }
  const std::vector<Slot>& slots() const { return slots_; }

 private:
  size_t capacity_;
  std::vector<Slot> slots_;
  absl::flat_hash_map<std::string, size_t> index_;
};

RolloutStats::ClientCounts ToCounts(const Slot& slot) {
  return RolloutStats::ClientCounts{slot.client, slot.counts, slot.inherited};
}

// Others returns `total` minus every slot's exact counts.
RolloutStats::ClientCounts Others(const ArrivalCounts& total, const std::vector<Slot>& slots) {
  RolloutStats::ClientCounts others{"others", total, 0};
  for (const Slot& slot : slots) {
    for (size_t a = 0; a < kArrivalCount; ++a) others.counts[a] -= slot.counts[a];
  }
  return others;
}

}  // namespace

std::string_view ArrivalName(Arrival a) {
  switch (a) {
    case Arrival::kBearer:
      return "bearer";
    case Arrival::kDpop:
      return "dpop";
    case Arrival::kMtls:
      return "mtls";
    case Arrival::kDpopMtls:
      return "dpop_mtls";
    case Arrival::kFailed:
      return "failed";
  }
  return "unknown";
}

uint64_t RolloutStats::ClientCounts::Total() const {
  uint64_t n = 0;
  for (uint64_t c : counts) n += c;
  return n;
}

uint64_t RolloutStats::RouteCounts::Total() const {
  uint64_t n = 0;
  for (uint64_t c : counts) n += c;
  return n;
}

struct RolloutStats::RouteStats {
  explicit RouteStats(const RolloutLimits& limits)
      : top(limits.top_clients), labelled(limits.metric_clients) {}
  absl::Mutex mu;
  ArrivalCounts counts ABSL_GUARDED_BY(mu){};
  std::array<uint64_t, kReasonSlots> failures ABSL_GUARDED_BY(mu){};
  ClientTable top ABSL_GUARDED_BY(mu);
  ClientTable labelled ABSL_GUARDED_BY(mu);
};

RolloutStats::RolloutStats(RolloutLimits limits) : limits_(limits) {}
RolloutStats::~RolloutStats() = default;

RolloutStats::RouteStats* RolloutStats::Find(std::string_view route) {
  {
    absl::ReaderMutexLock lock(&mu_);
    if (auto it = routes_.find(AV(route)); it != routes_.end()) return it->second.get();
  }
  absl::MutexLock lock(&mu_);
  auto [it, added] = routes_.try_emplace(std::string(route), nullptr);
  if (added) it->second = std::make_unique<RouteStats>(limits_);
  return it->second.get();
}

void RolloutStats::Record(std::string_view route, Arrival arrival, Reason reason,
                          std::string_view client) {
  RouteStats* stats = Find(route);
  const size_t a = static_cast<size_t>(arrival);
  absl::MutexLock lock(&stats->mu);
  ++stats->counts[a];
  if (arrival == Arrival::kFailed) ++stats->failures[static_cast<size_t>(reason)];
  Slot* top = stats->top.Find(client);
  if (top == nullptr) top = stats->top.Add(client);
  if (top == nullptr) top = stats->top.ReplaceSmallest(client);
  if (top != nullptr) {
    ++top->counts[a];
    ++top->estimate;
  }
  // First come, first labelled: a label once given is never taken back.
  Slot* labelled = stats->labelled.Find(client);
  if (labelled == nullptr) labelled = stats->labelled.Add(client);
  if (labelled != nullptr) ++labelled->counts[a];
}

void RolloutStats::RecordDecision(std::string_view route, Reason reason,
                                  const VerifiedToken* token) {
  if (token == nullptr) return Record(route, Arrival::kFailed, reason, "");
  // An allow proved every binding the token carries. binding_required stops
  // before any proof: counting it by the binding the token carries is what
  // lets a report-only route that already names its future binding show
  // which clients would be refused, rather than one failure count.
  const Arrival arrival = reason == Reason::kOk || reason == Reason::kBindingRequired
                              ? BoundArrival(token->IsDpopBound(), token->IsMtlsBound())
                              : Arrival::kFailed;
  Record(route, arrival, reason, !token->client_id.empty() ? token->client_id : token->azp);
}

std::vector<RolloutStats::RouteCounts> RolloutStats::Snapshot() const {
  std::vector<RouteCounts> out;
  absl::ReaderMutexLock lock(&mu_);
  for (const auto& [name, stats] : routes_) {
    RouteCounts rc;
    rc.route = name;
    absl::MutexLock route_lock(&stats->mu);
    rc.counts = stats->counts;
    for (Reason r : kAllReasons) {
      const uint64_t n = stats->failures[static_cast<size_t>(r)];
      if (n > 0) rc.failures.push_back({r, n});
    }
    std::vector<const Slot*> top;
    for (const Slot& slot : stats->top.slots()) top.push_back(&slot);
    std::stable_sort(top.begin(), top.end(), [](const Slot* x, const Slot* y) {
      return x->estimate != y->estimate ? x->estimate > y->estimate : x->client < y->client;
    });
    for (const Slot* slot : top) rc.top.push_back(ToCounts(*slot));
    rc.top_others = Others(rc.counts, stats->top.slots());
    for (const Slot& slot : stats->labelled.slots()) {
      rc.labelled.push_back(ClientCounts{slot.client, slot.counts, 0});
    }
    rc.labelled_others = Others(rc.counts, stats->labelled.slots());
    out.push_back(std::move(rc));
  }
  std::sort(out.begin(), out.end(),
            [](const RouteCounts& x, const RouteCounts& y) { return x.route < y.route; });
  return out;
}

size_t RolloutStats::Routes() const {
  absl::ReaderMutexLock lock(&mu_);
  return routes_.size();
}

}  // namespace popguard
