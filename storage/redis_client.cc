#include "storage/redis_client.h"

#include <poll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <map>
#include <queue>
#include <random>
#include <utility>

#include <hiredis/hiredis.h>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "storage/redis_key_slot.h"
#include "storage/redis_resp.h"

namespace popguard {
namespace {

using Clock = std::chrono::steady_clock;

// A CLUSTER SLOTS map is fetched at most this often in the normal case...
constexpr Clock::duration kRefreshMinInterval = std::chrono::milliseconds(100);
// ...and at most this often while fetching keeps failing.
constexpr Clock::duration kRefreshMaxInterval = std::chrono::seconds(1);
// In cluster mode the map is also re-read this often, to notice new masters
// and failovers that have not produced a redirection yet.
constexpr Clock::duration kPeriodicRefresh = std::chrono::seconds(30);
// The loop wakes at least this often for housekeeping.
constexpr Clock::duration kMaxPollWait = std::chrono::milliseconds(250);

absl::string_view AbslView(std::string_view s) { return absl::string_view(s.data(), s.size()); }

Clock::duration ToClock(absl::Duration d) {
  return std::chrono::duration_cast<Clock::duration>(absl::ToChronoNanoseconds(d));
}

void Log(const RedisClientOptions& o, RedisLogLevel level, std::string_view event,
         std::string_view detail) {
  if (o.log) o.log(level, event, detail);
}

}  // namespace

// One command in flight. Shared by the timer heap and the connection that
// carries it; `done` is emptied by whichever completes it first, which is
// what makes completion happen exactly once.
struct RedisClient::Op {
  std::string command;
  int slot = 0;
  Clock::time_point deadline;
  int redirects = 0;
  absl::Time server_since = absl::InfinitePast();  // of the server that answered
  SinceCallback done;
};

// One Redis server and its connection pool.
struct RedisClient::Node {
  RedisEndpoint endpoint;
  std::string name;
  std::vector<std::unique_ptr<RedisConnection>> conns;
  // Per connection: the state seen at the last TrackConnections (to notice
  // transitions), when to reconnect while kIdle, and the current backoff
  // (zero once a connection has become ready).
  std::vector<RedisConnection::State> seen;
  std::vector<Clock::time_point> retry_at;
  std::vector<Clock::duration> backoff;
  bool in_map = false;         // owns slots (or is the single node)
  bool reachable = false;      // some connection was ready last time we looked
  bool reported_down = false;  // "unreachable" logged since it was last up
  std::string last_error;
  // The server process last seen here (RedisClient header: loss of data).
  bool server_seen = false;
  std::string run_id;
  absl::Time since = absl::InfinitePast();
  // The state marker (RedisClient header): its key, one of a slot this node
  // owns ("" until placed); whether it is known to be there; a command about
  // it in flight; when the next check is due.
  std::string marker_key;
  bool marker_placed = false;
  bool marker_in_flight = false;
  Clock::time_point marker_due;

  // Pick returns the ready connection with the fewest pending commands, else
  // one still connecting (the command is held until it is ready), else null.
  RedisConnection* Pick() {
    RedisConnection* best = nullptr;
    for (auto& c : conns) {
      if (c->state() == RedisConnection::State::kReady &&
          (best == nullptr || c->pending() < best->pending())) {
        best = c.get();
      }
    }
    if (best != nullptr) return best;
    for (auto& c : conns) {
      if (c->state() != RedisConnection::State::kIdle) return c.get();
    }
    return nullptr;
  }

  // PickReady is Pick without the connections still connecting.
  RedisConnection* PickReady() {
    RedisConnection* c = Pick();
    return c != nullptr && c->state() == RedisConnection::State::kReady ? c : nullptr;
  }

  size_t Pending() const {
    size_t n = 0;
    for (const auto& c : conns) n += c->pending();
    return n;
  }
};

// Loop: everything only the loop thread touches.
class RedisClient::Loop {
 public:
  explicit Loop(RedisClient* client)
      : client_(client), o_(client->options_), rng_(std::random_device{}()) {
    owner_.assign(kRedisClusterSlots, nullptr);
    refresh_wanted_ = true;
  }

  void Run();
  void Shutdown();
  // SubmitInline takes a command on the caller's thread while the loop sleeps
  // (state_mu_ held): routes it and writes it at once. Returns whether the
  // loop must be woken to finish the job (the command is parked, output is
  // left over, a connection changed state, or the loop would wake too late
  // for its deadline).
  bool SubmitInline(const std::shared_ptr<Op>& op);

 private:
  struct TimerLater {
    bool operator()(const std::shared_ptr<Op>& a, const std::shared_ptr<Op>& b) const {
      return a->deadline > b->deadline;
    }
  };

  Node* GetNode(const RedisEndpoint& ep);
  absl::Time OnServerReady(Node* node, std::string_view run_id);
  absl::Time WallNow() const { return o_.wall_clock ? o_.wall_clock() : absl::Now(); }
  void CheckMarkers();
  void PlaceMarker(Node* node);
  void OnMarker(Node* node, const std::string& name, const std::string& key, absl::Time since,
                bool check, absl::StatusOr<RedisReplyPtr> result);
  void Accept(std::vector<std::shared_ptr<Op>> ops);
  void Dispatch(const std::shared_ptr<Op>& op);
  void SendTo(Node* node, const std::shared_ptr<Op>& op, bool asking);
  void OnReply(const std::shared_ptr<Op>& op, const std::string& node_host, absl::Time server_since,
               absl::StatusOr<RedisReplyPtr> result);
  void Complete(const std::shared_ptr<Op>& op, absl::StatusOr<RedisReplyPtr> result);
  void ExpireTimers();
  void DispatchParked();

  void TrackConnections();
  void ConnectIdle(Node* node);
  void ScheduleReconnect(Node* node, size_t i, std::string_view why);
  bool AnyConnectionOpen() const;

  void MaybeRefresh();
  void StartRefresh();
  void OnSlots(uint64_t generation, Node* node, absl::StatusOr<RedisReplyPtr> result);
  void RefreshFailed(std::string_view why);
  void ApplySingleNode(Node* node);
  bool ApplySlots(Node* asked, const redisReply& reply);
  void RetireUnmapped();
  void PublishTopology() const;
  void SetMode(Mode mode);

  Clock::time_point NextWake() const;

  RedisClient* const client_;
  Clock::time_point planned_wake_;  // when the sleeping loop's poll(2) returns at the latest
  const RedisClientOptions& o_;
  Clock::time_point now_ = Clock::now();
  std::minstd_rand rng_;

  std::map<std::string, std::unique_ptr<Node>> nodes_;
  std::vector<std::unique_ptr<Node>> retired_;  // destroyed at a safe point
  std::vector<Node*> owner_;                    // slot -> node; null: unknown
  Mode mode_ = Mode::kDiscovering;

  std::priority_queue<std::shared_ptr<Op>, std::vector<std::shared_ptr<Op>>, TimerLater> timers_;
  std::vector<std::shared_ptr<Op>> parked_;  // waiting for a slot map

  bool refresh_wanted_ = false;
  bool refresh_in_flight_ = false;
  uint64_t refresh_generation_ = 0;
  size_t refresh_rotation_ = 0;
  Clock::time_point refresh_deadline_;
  Clock::time_point next_refresh_allowed_;
  Clock::duration refresh_backoff_ = kRefreshMinInterval;
  Clock::time_point last_refresh_ok_;
  bool refresh_failing_logged_ = false;
  bool topology_error_logged_ = false;
};

// --- Public API -------------------------------------------------------------

RedisClient::RedisClient(RedisClientOptions options) : options_(std::move(options)) {}

std::unique_ptr<RedisClient> RedisClient::Start(RedisClientOptions options) {
  if (options.pool_size < 1) options.pool_size = 1;
  std::unique_ptr<RedisClient> client(new RedisClient(std::move(options)));
  if (!client->options_.marker_prefix.empty()) {
    // Per client, so that each replica notices a loss itself: a marker shared
    // by all would be re-written by the first to notice, hiding it from the
    // others.
    std::random_device rd;
    const uint64_t id = (uint64_t{rd()} << 32) | rd();
    client->marker_id_ = absl::StrCat(absl::Hex(id, absl::kZeroPad16));
    (void)SlotTag(0);  // builds the tag table here, not on the loop thread
  }
  client->wake_fd_ = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (client->wake_fd_ < 0) std::abort();  // only on fd exhaustion at startup
  {
    absl::MutexLock lock(&client->state_mu_);
    client->loop_ = std::make_unique<Loop>(client.get());
  }
  client->thread_ = std::thread([c = client.get()] { c->loop_->Run(); });
  return client;
}

RedisClient::~RedisClient() {
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
  }
  uint64_t one = 1;
  (void)!write(wake_fd_, &one, sizeof(one));
  if (thread_.joinable()) thread_.join();
  // The loop thread is gone: finish its work here.
  std::vector<std::shared_ptr<Op>> left;
  {
    absl::MutexLock lock(&mu_);
    left.swap(incoming_);
  }
  for (auto& op : left) {
    if (op->done) {
      SinceCallback done = std::move(op->done);
      op->done = nullptr;
      std::move(done)(absl::UnavailableError("redis client shut down"), absl::InfinitePast());
    }
  }
  absl::MutexLock lock(&state_mu_);
  loop_->Shutdown();
  loop_.reset();
  close(wake_fd_);
}

void RedisClient::Execute(std::string_view key, std::string command, Callback done) {
  ExecuteSince(key, std::move(command),
               [done = std::move(done)](absl::StatusOr<RedisReplyPtr> reply, absl::Time) mutable {
                 std::move(done)(std::move(reply));
               });
}

void RedisClient::ExecuteSince(std::string_view key, std::string command, SinceCallback done) {
  auto op = std::make_shared<Op>();
  op->command = std::move(command);
  op->slot = RedisKeySlot(key);
  op->deadline = Clock::now() + ToClock(options_.command_timeout);
  op->done = std::move(done);
  // The fast path: the loop is asleep in poll(2), so this thread routes and
  // writes the command itself (one send(2), no hand-off and no wake-up of the
  // loop thread). The reply still comes back through the loop.
  if (state_mu_.TryLock()) {
    bool stopping;
    {
      absl::MutexLock lock(&mu_);
      stopping = stopping_;
    }
    if (!stopping) {
      const bool wake = loop_->SubmitInline(op);
      state_mu_.Unlock();
      if (wake) {
        uint64_t one = 1;
        (void)!write(wake_fd_, &one, sizeof(one));
      }
      return;
    }
    state_mu_.Unlock();
  }
  bool accepted = false;
  bool wake = false;
  {
    absl::MutexLock lock(&mu_);
    if (!stopping_) {
      incoming_.push_back(op);
      accepted = true;
      // One eventfd write per batch: while the loop has not yet picked up
      // the queue, later submissions just join it.
      wake = !wake_pending_;
      wake_pending_ = true;
    }
  }
  if (!accepted) {
    SinceCallback cb = std::move(op->done);
    op->done = nullptr;
    std::move(cb)(absl::UnavailableError("redis client shut down"), absl::InfinitePast());
    return;
  }
  if (wake) {
    uint64_t one = 1;
    (void)!write(wake_fd_, &one, sizeof(one));
  }
}

RedisClient::Stats RedisClient::stats() const {
  Stats s;
  s.commands = counters_.commands.load(std::memory_order_relaxed);
  s.inline_writes = counters_.inline_writes.load(std::memory_order_relaxed);
  s.replies = counters_.replies.load(std::memory_order_relaxed);
  s.timeouts = counters_.timeouts.load(std::memory_order_relaxed);
  s.errors = counters_.errors.load(std::memory_order_relaxed);
  s.late_replies = counters_.late_replies.load(std::memory_order_relaxed);
  s.moved = counters_.moved.load(std::memory_order_relaxed);
  s.ask = counters_.ask.load(std::memory_order_relaxed);
  s.slot_refreshes = counters_.slot_refreshes.load(std::memory_order_relaxed);
  s.connects = counters_.connects.load(std::memory_order_relaxed);
  s.connect_failures = counters_.connect_failures.load(std::memory_order_relaxed);
  s.state_losses = counters_.state_losses.load(std::memory_order_relaxed);
  s.ready_connections = ready_connections_.load(std::memory_order_relaxed);
  s.mode = static_cast<Mode>(mode_.load(std::memory_order_relaxed));
  return s;
}

// --- The loop ---------------------------------------------------------------

void RedisClient::Loop::Run() {
  // Connecting (name resolution included) happens here, never on the thread
  // that called Start.
  absl::MutexLock state_lock(&client_->state_mu_);
  now_ = Clock::now();
  for (const RedisEndpoint& seed : o_.seeds) GetNode(seed);
  std::vector<pollfd> fds;
  std::vector<RedisConnection*> polled;
  for (;;) {
    now_ = Clock::now();
    TrackConnections();
    MaybeRefresh();
    CheckMarkers();
    const Clock::time_point wake_at = NextWake();
    fds.clear();
    polled.clear();
    fds.push_back(pollfd{client_->wake_fd_, POLLIN, 0});
    for (auto& [name, node] : nodes_) {
      for (auto& c : node->conns) {
        const short events = c->PollEvents();
        if (events == 0) continue;
        fds.push_back(pollfd{c->fd(), events, 0});
        polled.push_back(c.get());
      }
    }
    const auto wait = std::chrono::ceil<std::chrono::milliseconds>(
        std::clamp<Clock::duration>(wake_at - Clock::now(), Clock::duration::zero(), kMaxPollWait));
    planned_wake_ = Clock::now() + wait;
    // Asleep, the loop lets callers write their commands themselves
    // (SubmitInline); they wake it when they leave anything for it to do.
    client_->state_mu_.Unlock();
    const int n = poll(fds.data(), fds.size(), static_cast<int>(wait.count()));
    client_->state_mu_.Lock();
    now_ = Clock::now();
    if (n > 0) {
      // Connections first: replies free pipeline slots before new work.
      for (size_t i = 1; i < fds.size(); ++i) {
        if (fds[i].revents == 0) continue;
        RedisConnection* c = polled[i - 1];
        // The connection may have been closed by an earlier callback; a
        // closed one has a different (or no) fd.
        if (c->fd() != fds[i].fd) continue;
        (void)c->HandleEvents(fds[i].revents);
      }
      if (fds[0].revents != 0) {
        uint64_t count;
        (void)!read(client_->wake_fd_, &count, sizeof(count));
        std::vector<std::shared_ptr<Op>> ops;
        bool stop;
        {
          absl::MutexLock lock(&client_->mu_);
          ops.swap(client_->incoming_);
          client_->wake_pending_ = false;
          stop = client_->stopping_;
        }
        if (stop) {
          // Shutdown() (on the destructor's thread) fails what is left.
          absl::MutexLock lock(&client_->mu_);
          for (auto& op : ops) client_->incoming_.push_back(std::move(op));
          return;
        }
        Accept(std::move(ops));
      }
    }
    ExpireTimers();
    // One write per connection for everything queued in this iteration.
    for (auto& [name, node] : nodes_) {
      for (auto& c : node->conns) {
        if (c->has_output()) (void)c->Flush();
      }
    }
    retired_.clear();
  }
}

bool RedisClient::Loop::SubmitInline(const std::shared_ptr<Op>& op) {
  now_ = Clock::now();
  timers_.push(op);
  const size_t parked = parked_.size();
  const uint64_t written = client_->counters_.commands.load(std::memory_order_relaxed);
  Dispatch(op);
  if (client_->counters_.commands.load(std::memory_order_relaxed) != written) {
    client_->counters_.inline_writes.fetch_add(1, std::memory_order_relaxed);
  }
  // The sleeping loop computed its wake-up from the timers it had: a command
  // due earlier would time out late.
  bool wake = parked_.size() != parked || refresh_wanted_ || op->deadline < planned_wake_;
  for (auto& [name, node] : nodes_) {
    for (size_t i = 0; i < node->conns.size(); ++i) {
      RedisConnection& c = *node->conns[i];
      if (c.has_output()) (void)c.Flush();
      // Output the socket did not take needs POLLOUT; a connection that broke
      // needs its reconnect scheduled: both are the loop's.
      if (c.has_output() || c.state() != node->seen[i]) wake = true;
    }
  }
  return wake;
}

void RedisClient::Loop::Shutdown() {
  // Closing the connections fails their commands; then whatever still waits
  // in the timer heap or for a map.
  std::map<std::string, std::unique_ptr<Node>> nodes;
  nodes.swap(nodes_);
  nodes.clear();
  retired_.clear();
  for (auto& op : parked_) Complete(op, absl::UnavailableError("redis client shut down"));
  parked_.clear();
  while (!timers_.empty()) {
    Complete(timers_.top(), absl::UnavailableError("redis client shut down"));
    timers_.pop();
  }
  client_->ready_connections_.store(0);
}

RedisClient::Node* RedisClient::Loop::GetNode(const RedisEndpoint& ep) {
  std::string name = ep.ToString();
  auto it = nodes_.find(name);
  if (it != nodes_.end()) return it->second.get();
  auto node = std::make_unique<Node>();
  node->endpoint = ep;
  node->name = name;
  Node* const n = node.get();
  for (int i = 0; i < o_.pool_size; ++i) {
    node->conns.push_back(std::make_unique<RedisConnection>(ep, &o_));
    // The node owns its connections, so it outlives their callbacks.
    node->conns.back()->set_on_ready(
        [this, n](std::string_view run_id) { return OnServerReady(n, run_id); });
    node->seen.push_back(RedisConnection::State::kIdle);
    node->retry_at.push_back(Clock::time_point::min());
    node->backoff.push_back(Clock::duration::zero());
  }
  Node* raw = node.get();
  nodes_.emplace(std::move(name), std::move(node));
  // Start connecting at once rather than at the next iteration, so that a
  // command routed here right away can be held by a connecting connection.
  ConnectIdle(raw);
  return raw;
}

void RedisClient::Loop::Accept(std::vector<std::shared_ptr<Op>> ops) {
  for (auto& op : ops) {
    timers_.push(op);
    Dispatch(op);
  }
}

void RedisClient::Loop::Dispatch(const std::shared_ptr<Op>& op) {
  if (!op->done) return;  // timed out already
  Node* node = mode_ == Mode::kDiscovering ? nullptr : owner_[op->slot];
  if (node == nullptr) {
    if (!AnyConnectionOpen()) {
      // Nobody to ask for a map before the deadline: fail now.
      client_->counters_.errors.fetch_add(1, std::memory_order_relaxed);
      Complete(op, absl::UnavailableError("no redis node reachable"));
      return;
    }
    // No owner known: wait (within the deadline) for a map.
    parked_.push_back(op);
    refresh_wanted_ = true;
    return;
  }
  SendTo(node, op, /*asking=*/false);
}

void RedisClient::Loop::SendTo(Node* node, const std::shared_ptr<Op>& op, bool asking) {
  RedisConnection* conn = node->Pick();
  if (conn == nullptr) {
    // Every connection of the owner is down and waiting out its backoff:
    // fail now instead of letting the caller wait for the timeout.
    client_->counters_.errors.fetch_add(1, std::memory_order_relaxed);
    if (mode_ == Mode::kCluster) refresh_wanted_ = true;
    Complete(op, absl::UnavailableError(absl::StrCat("no connection to redis node ", node->name,
                                                     node->last_error.empty() ? "" : ": ",
                                                     node->last_error)));
    return;
  }
  if (asking) {
    std::string asking_cmd;
    AppendRedisCommand(&asking_cmd, {"ASKING"});
    // ASKING only applies to the next command on this connection; its +OK
    // (or an error, which then makes that command fail with MOVED) is dropped.
    conn->Send(asking_cmd, [](absl::StatusOr<RedisReplyPtr>) {});
  }
  client_->counters_.commands.fetch_add(1, std::memory_order_relaxed);
  conn->Send(op->command, [this, op, conn, node, host = node->endpoint.host](
                              absl::StatusOr<RedisReplyPtr> result) mutable {
    // `conn` is the connection dispatching this reply, so it and its node
    // are alive; its server_since was set by its handshake, before this reply
    // was read. A loss noticed later by the state marker dates the node.
    const absl::Time since =
        result.ok() ? std::max(conn->server_since(), node->since) : absl::InfinitePast();
    OnReply(op, host, since, std::move(result));
  });
}

void RedisClient::Loop::OnReply(const std::shared_ptr<Op>& op, const std::string& node_host,
                                absl::Time server_since, absl::StatusOr<RedisReplyPtr> result) {
  op->server_since = result.ok() ? server_since : absl::InfinitePast();
  if (!result.ok()) {
    // The connection broke: the command may or may not have run, so it is
    // not retried (a SET NX whose first attempt did run would find its own
    // key and call a first use a replay).
    if (op->done) client_->counters_.errors.fetch_add(1, std::memory_order_relaxed);
    if (mode_ == Mode::kCluster) refresh_wanted_ = true;
    Complete(op, std::move(result));
    return;
  }
  if (!op->done) {
    client_->counters_.late_replies.fetch_add(1, std::memory_order_relaxed);
    return;
  }
  client_->counters_.replies.fetch_add(1, std::memory_order_relaxed);
  const redisReply& reply = **result;
  if (std::optional<std::string_view> err = ReplyError(reply)) {
    // A MOVED or ASK reply means the command did not run on that node, so
    // following it is always safe.
    if (std::optional<RedisRedirect> r = ParseRedisRedirect(*err, node_host)) {
      if (++op->redirects > o_.max_redirects) {
        Complete(op, absl::UnavailableError("too many redis cluster redirections"));
        return;
      }
      Node* target = GetNode(r->endpoint);
      if (r->kind == RedisRedirect::Kind::kMoved) {
        client_->counters_.moved.fetch_add(1, std::memory_order_relaxed);
        // The slot has a new owner: use it now, and re-read the whole map
        // since a resharding rarely moves a single slot.
        owner_[r->slot] = target;
        target->in_map = true;
        refresh_wanted_ = true;
        SendTo(target, op, /*asking=*/false);
      } else {
        client_->counters_.ask.fetch_add(1, std::memory_order_relaxed);
        // ASK is for this one command only; the map stays as it is.
        SendTo(target, op, /*asking=*/true);
      }
      return;
    }
    if (absl::StartsWith(AbslView(*err), "CLUSTERDOWN") ||
        absl::StartsWith(AbslView(*err), "TRYAGAIN")) {
      refresh_wanted_ = true;
    }
  }
  Complete(op, std::move(result));
}

void RedisClient::Loop::Complete(const std::shared_ptr<Op>& op,
                                 absl::StatusOr<RedisReplyPtr> result) {
  if (!op->done) return;
  SinceCallback done = std::move(op->done);
  op->done = nullptr;
  std::move(done)(std::move(result), op->server_since);
}

void RedisClient::Loop::ExpireTimers() {
  bool expired_any = false;
  while (!timers_.empty() && (timers_.top()->deadline <= now_ || !timers_.top()->done)) {
    std::shared_ptr<Op> op = timers_.top();
    timers_.pop();
    if (op->done) {
      client_->counters_.timeouts.fetch_add(1, std::memory_order_relaxed);
      expired_any = true;
      Complete(op, absl::DeadlineExceededError("redis command timed out"));
    }
  }
  if (expired_any) {
    std::erase_if(parked_, [](const std::shared_ptr<Op>& op) { return !op->done; });
  }
}

void RedisClient::Loop::DispatchParked() {
  std::vector<std::shared_ptr<Op>> parked;
  parked.swap(parked_);
  for (auto& op : parked) Dispatch(op);
}

// --- Connections --------------------------------------------------------------

absl::Time RedisClient::Loop::OnServerReady(Node* node, std::string_view run_id) {
  const absl::Time now = WallNow();
  if (!node->server_seen) {
    // First sight: what this server lost before we met it is unknowable.
    // Dated to the whole second (the precision of a proof's iat), so a proof
    // a client made in the second this process first connected still passes.
    node->server_seen = true;
    node->run_id = std::string(run_id);
    node->since = absl::FromUnixSeconds(absl::ToUnixSeconds(now));
    return node->since;
  }
  if (!run_id.empty() && run_id == node->run_id) return node->since;
  // Security: another server process answers at this address (a restart,
  // which without persistence comes back empty), or one that will not say
  // which it is: whatever the replay window held there may be gone. Dated
  // to this instant exactly; the loss happened before it.
  node->run_id = std::string(run_id);
  node->since = now;
  node->marker_placed = false;  // written anew by the next check, not a second loss
  client_->counters_.state_losses.fetch_add(1, std::memory_order_relaxed);
  Log(o_, RedisLogLevel::kWarn, "redis_node_state_lost",
      absl::StrCat(node->name,
                   run_id.empty() ? " does not report its run_id (ACL lacks +info)"
                                  : " restarted (new run_id)",
                   "; proofs issued before now are refused until they expire"));
  return now;
}

void RedisClient::Loop::CheckMarkers() {
  if (o_.marker_prefix.empty() || mode_ == Mode::kDiscovering) return;
  const std::string px =
      std::to_string(std::max<int64_t>(1, absl::ToInt64Milliseconds(o_.marker_ttl)));
  for (auto& [name, owned] : nodes_) {
    Node* node = owned.get();
    if (!node->in_map || !node->server_seen || node->marker_in_flight || now_ < node->marker_due) {
      continue;
    }
    // Only on a connection whose handshake is done: its server is the one
    // node->since describes.
    RedisConnection* conn = node->PickReady();
    if (conn == nullptr) continue;
    if (node->marker_key.empty() || owner_[RedisKeySlot(node->marker_key)] != node) {
      PlaceMarker(node);  // first sight, or its slot moved to another node
      if (node->marker_key.empty()) continue;
    }
    node->marker_due = now_ + ToClock(o_.marker_interval);
    node->marker_in_flight = true;
    // Placed: SET XX both tests that it is still there and refreshes its TTL
    // in one command (nil: gone). Not placed yet: written unconditionally.
    const bool check = node->marker_placed;
    std::string cmd;
    if (check) {
      AppendRedisCommand(&cmd, {"SET", node->marker_key, "1", "XX", "PX", px});
    } else {
      AppendRedisCommand(&cmd, {"SET", node->marker_key, "1", "PX", px});
    }
    conn->Send(cmd, [this, node, name = node->name, key = node->marker_key, since = node->since,
                     check](absl::StatusOr<RedisReplyPtr> result) {
      OnMarker(node, name, key, since, check, std::move(result));
    });
  }
}

void RedisClient::Loop::PlaceMarker(Node* node) {
  node->marker_key.clear();
  node->marker_placed = false;
  int slot = -1;
  for (int s = 0; s < kRedisClusterSlots && slot < 0; ++s) {
    if (owner_[s] == node) slot = s;
  }
  if (slot < 0) return;
  // A key_prefix holding a hash tag wins over ours (every check lives in its
  // slot then): the marker goes only to the node owning that slot.
  std::string key = absl::StrCat(o_.marker_prefix, client_->marker_id_, ":", SlotTag(slot));
  if (owner_[RedisKeySlot(key)] == node) node->marker_key = std::move(key);
}

void RedisClient::Loop::OnMarker(Node* node, const std::string& name, const std::string& key,
                                 absl::Time since, bool check,
                                 absl::StatusOr<RedisReplyPtr> result) {
  // The node may have been retired (or the client shut down) meanwhile.
  auto it = nodes_.find(name);
  if (it == nodes_.end() || it->second.get() != node) return;
  node->marker_in_flight = false;
  // A restart noticed meanwhile (new run_id) has dated the loss already and
  // re-places the marker; a re-placed marker is a different key.
  if (node->since != since || node->marker_key != key) return;
  if (!result.ok()) return;  // the connection broke: its reconnect reads the run_id
  const redisReply& reply = **result;
  if (ReplyIsStatus(reply, "OK")) {
    node->marker_placed = true;
    return;
  }
  if (check && ReplyIsNil(reply)) {
    // Security: the same server process (same run_id) no longer holds the
    // key this client wrote there: it was emptied (FLUSHALL, FLUSHDB), a
    // failover promoted an empty replica at the same address, or keys were
    // evicted. Whatever the replay window held there may be gone too, so it
    // is treated like a restart: dated to this instant (the loss happened
    // since the previous check, at most marker_interval ago).
    node->since = WallNow();
    node->marker_placed = false;
    node->marker_due = now_;  // written again at once
    client_->counters_.state_losses.fetch_add(1, std::memory_order_relaxed);
    Log(o_, RedisLogLevel::kWarn, "redis_node_state_lost",
        absl::StrCat(node->name,
                     " lost popguard's marker key (flushed, emptied by a failover, or evicted); "
                     "proofs issued before now are refused until they expire"));
    return;
  }
  // An error reply. MOVED/ASK: the marker's slot is moving to another node;
  // a new slot map re-places it. Anything else (OOM, NOPERM): the store is
  // failing, which the checks of proofs report; the marker says nothing.
  if (std::optional<std::string_view> err = ReplyError(reply)) {
    if (absl::StartsWith(AbslView(*err), "MOVED") || absl::StartsWith(AbslView(*err), "ASK")) {
      node->marker_placed = false;
      refresh_wanted_ = true;
    }
  }
}

void RedisClient::Loop::TrackConnections() {
  const Clock::duration stuck_after =
      std::max<Clock::duration>(ToClock(o_.command_timeout) * 10, std::chrono::seconds(1));
  int ready = 0;
  for (auto& [name, node] : nodes_) {
    bool node_ready = false;
    for (size_t i = 0; i < node->conns.size(); ++i) {
      RedisConnection& c = *node->conns[i];
      // Timeouts first, so that their transitions are handled below.
      if ((c.state() == RedisConnection::State::kConnecting ||
           c.state() == RedisConnection::State::kHandshaking) &&
          now_ >= c.connect_deadline()) {
        c.Close(absl::UnavailableError(absl::StrCat("connect to ", node->name, " timed out")));
      } else if (c.state() == RedisConnection::State::kReady &&
                 c.OldestWrittenAt() != Clock::time_point::max() &&
                 now_ - c.OldestWrittenAt() > stuck_after) {
        // Nothing came back for far longer than any command may take: the
        // peer is gone or wedged. A fresh connection finds out which.
        c.Close(
            absl::UnavailableError(absl::StrCat("no reply from ", node->name, " for too long")));
      }
      const RedisConnection::State was = node->seen[i];
      const RedisConnection::State is = c.state();
      node->seen[i] = is;
      if (is == RedisConnection::State::kReady && was != RedisConnection::State::kReady) {
        client_->counters_.connects.fetch_add(1, std::memory_order_relaxed);
        node->backoff[i] = Clock::duration::zero();
      } else if (is == RedisConnection::State::kIdle && was != RedisConnection::State::kIdle) {
        ScheduleReconnect(node.get(), i, c.last_error());
      }
      if (is == RedisConnection::State::kReady) {
        node_ready = true;
        ++ready;
      }
    }
    // Logged on changes only: up once connected; down once it was up and
    // is no more, or has failed to connect since start (no line per retry).
    if (node_ready && !node->reachable) {
      node->reachable = true;
      node->reported_down = false;
      node->last_error.clear();
      Log(o_, RedisLogLevel::kInfo, "redis_node_connected", node->name);
    } else if (!node_ready && !node->reported_down &&
               (node->reachable || !node->last_error.empty())) {
      node->reachable = false;
      node->reported_down = true;
      Log(o_, RedisLogLevel::kWarn, "redis_node_unreachable",
          absl::StrCat(node->name, node->last_error.empty() ? "" : ": ", node->last_error));
    }
    ConnectIdle(node.get());
  }
  client_->ready_connections_.store(ready, std::memory_order_relaxed);
}

void RedisClient::Loop::ConnectIdle(Node* node) {
  for (size_t i = 0; i < node->conns.size(); ++i) {
    RedisConnection& c = *node->conns[i];
    if (c.state() != RedisConnection::State::kIdle || now_ < node->retry_at[i]) continue;
    if (absl::Status s = c.Connect(now_); !s.ok()) {
      ScheduleReconnect(node, i, std::string_view(s.message().data(), s.message().size()));
    } else {
      node->seen[i] = c.state();
    }
  }
}

void RedisClient::Loop::ScheduleReconnect(Node* node, size_t i, std::string_view why) {
  client_->counters_.connect_failures.fetch_add(1, std::memory_order_relaxed);
  if (!why.empty()) node->last_error = std::string(why);
  Clock::duration& b = node->backoff[i];
  b = b == Clock::duration::zero() ? ToClock(o_.reconnect_backoff_min) : b * 2;
  b = std::min(b, ToClock(o_.reconnect_backoff_max));
  // +-25% jitter keeps the replicas of a fleet from reconnecting in lockstep.
  std::uniform_int_distribution<int64_t> jitter(-b.count() / 4, b.count() / 4);
  node->retry_at[i] = now_ + b + Clock::duration(jitter(rng_));
  if (mode_ == Mode::kCluster) refresh_wanted_ = true;
}

bool RedisClient::Loop::AnyConnectionOpen() const {
  for (const auto& [name, node] : nodes_) {
    for (const auto& c : node->conns) {
      if (c->state() != RedisConnection::State::kIdle) return true;
    }
  }
  return false;
}

// --- Topology ------------------------------------------------------------------

void RedisClient::Loop::MaybeRefresh() {
  if (refresh_in_flight_ && now_ >= refresh_deadline_) {
    ++refresh_generation_;  // a late answer is ignored
    refresh_in_flight_ = false;
    RefreshFailed("CLUSTER SLOTS timed out");
  }
  if (mode_ == Mode::kCluster && now_ - last_refresh_ok_ >= kPeriodicRefresh) {
    refresh_wanted_ = true;
  }
  if (refresh_wanted_ && !refresh_in_flight_ && now_ >= next_refresh_allowed_) StartRefresh();
}

void RedisClient::Loop::StartRefresh() {
  // Ask a node we can talk to right now, preferring the mapped ones; else a
  // seed that is at least connecting. Rotate so a bad node is not asked twice
  // in a row.
  std::vector<Node*> candidates;
  for (auto& [name, node] : nodes_) {
    if (node->reachable) candidates.push_back(node.get());
  }
  if (candidates.empty()) {
    for (const RedisEndpoint& seed : o_.seeds) candidates.push_back(GetNode(seed));
    for (auto& [name, node] : nodes_) {
      if (std::find(candidates.begin(), candidates.end(), node.get()) == candidates.end()) {
        candidates.push_back(node.get());
      }
    }
  }
  for (size_t k = 0; k < candidates.size(); ++k) {
    Node* node = candidates[(refresh_rotation_ + k) % candidates.size()];
    RedisConnection* conn = node->Pick();
    if (conn == nullptr) continue;
    refresh_rotation_ += k + 1;
    refresh_wanted_ = false;
    refresh_in_flight_ = true;
    refresh_deadline_ = now_ + ToClock(o_.connect_timeout) + ToClock(o_.command_timeout);
    const uint64_t generation = ++refresh_generation_;
    std::string cmd;
    AppendRedisCommand(&cmd, {"CLUSTER", "SLOTS"});
    conn->Send(cmd, [this, generation, node](absl::StatusOr<RedisReplyPtr> r) {
      OnSlots(generation, node, std::move(r));
    });
    return;
  }
  // Nothing can be asked right now; the reconnect timers will change that.
  next_refresh_allowed_ = now_ + refresh_backoff_;
}

void RedisClient::Loop::OnSlots(uint64_t generation, Node* node,
                                absl::StatusOr<RedisReplyPtr> result) {
  if (generation != refresh_generation_) return;
  refresh_in_flight_ = false;
  if (!result.ok()) {
    const absl::string_view m = result.status().message();
    return RefreshFailed(std::string_view(m.data(), m.size()));
  }
  const redisReply& reply = **result;
  if (std::optional<std::string_view> err = ReplyError(reply)) {
    if (absl::StrContains(AbslView(*err), "cluster support disabled")) {
      if (o_.seeds.size() > 1) {
        // Security: several addresses that are not one cluster are several
        // independent stores. Replicas could each settle on a different one
        // and never see each other's proofs, so none is used.
        if (!topology_error_logged_) {
          topology_error_logged_ = true;
          Log(o_, RedisLogLevel::kError, "redis_topology_invalid",
              absl::StrCat(node->name,
                           " is not a cluster node, but several addresses are configured; list "
                           "exactly one address for a single Redis server"));
        }
        for (auto& op : parked_) Complete(op, absl::UnavailableError("redis topology invalid"));
        parked_.clear();
        refresh_wanted_ = true;
        next_refresh_allowed_ = now_ + kRefreshMaxInterval;
        return;
      }
      ApplySingleNode(node);
      return;
    }
    return RefreshFailed(absl::StrCat("CLUSTER SLOTS: ", AbslView(*err)));
  }
  if (!ApplySlots(node, reply)) return RefreshFailed("CLUSTER SLOTS reply is malformed");
}

void RedisClient::Loop::RefreshFailed(std::string_view why) {
  refresh_wanted_ = true;
  next_refresh_allowed_ = now_ + refresh_backoff_;
  refresh_backoff_ = std::min<Clock::duration>(refresh_backoff_ * 2, kRefreshMaxInterval);
  if (!refresh_failing_logged_) {
    refresh_failing_logged_ = true;
    Log(o_, RedisLogLevel::kWarn, "redis_topology_refresh_failed", why);
  }
  // Commands waiting for a map keep waiting until their own deadline.
}

void RedisClient::Loop::ApplySingleNode(Node* node) {
  std::fill(owner_.begin(), owner_.end(), node);
  node->in_map = true;
  for (auto& [name, other] : nodes_) {
    if (other.get() != node) other->in_map = false;
  }
  const bool changed = mode_ != Mode::kSingleNode;
  SetMode(Mode::kSingleNode);
  refresh_wanted_ = false;
  refresh_backoff_ = kRefreshMinInterval;
  refresh_failing_logged_ = false;
  last_refresh_ok_ = now_;
  client_->counters_.slot_refreshes.fetch_add(1, std::memory_order_relaxed);
  if (changed)
    Log(o_, RedisLogLevel::kInfo, "redis_topology", absl::StrCat("single node ", node->name));
  RetireUnmapped();
  PublishTopology();
  DispatchParked();
}

bool RedisClient::Loop::ApplySlots(Node* asked, const redisReply& reply) {
  absl::StatusOr<std::vector<RedisSlotRange>> ranges =
      ParseClusterSlots(reply, asked->endpoint.host);
  if (!ranges.ok()) return false;
  std::vector<Node*> owner(kRedisClusterSlots, nullptr);
  size_t covered = 0;
  for (auto& [name, node] : nodes_) node->in_map = false;
  for (const RedisSlotRange& range : *ranges) {
    Node* node = GetNode(range.master);
    node->in_map = true;
    for (int s = range.start; s <= range.end; ++s) {
      if (owner[s] == nullptr) ++covered;
      owner[s] = node;
    }
  }
  owner_.swap(owner);
  const bool changed = mode_ != Mode::kCluster;
  SetMode(Mode::kCluster);
  refresh_wanted_ = false;
  refresh_backoff_ = kRefreshMinInterval;
  refresh_failing_logged_ = false;
  next_refresh_allowed_ = now_ + kRefreshMinInterval;
  last_refresh_ok_ = now_;
  client_->counters_.slot_refreshes.fetch_add(1, std::memory_order_relaxed);
  size_t mapped = 0;
  for (auto& [name, node] : nodes_) mapped += node->in_map ? 1 : 0;
  if (changed || covered != static_cast<size_t>(kRedisClusterSlots)) {
    Log(o_,
        covered == static_cast<size_t>(kRedisClusterSlots) ? RedisLogLevel::kInfo
                                                           : RedisLogLevel::kWarn,
        "redis_topology",
        absl::StrCat("cluster: ", mapped, " masters, ", covered, " of ", kRedisClusterSlots,
                     " slots covered"));
  }
  RetireUnmapped();
  PublishTopology();
  DispatchParked();
  return true;
}

void RedisClient::Loop::RetireUnmapped() {
  for (auto it = nodes_.begin(); it != nodes_.end();) {
    Node* node = it->second.get();
    // A node still carrying commands (an ASK target, a refresh) stays until
    // a later map finds it idle.
    if (!node->in_map && node->Pending() == 0) {
      retired_.push_back(std::move(it->second));
      it = nodes_.erase(it);
    } else {
      ++it;
    }
  }
}

void RedisClient::Loop::PublishTopology() const {
  if (!o_.on_topology) return;
  std::vector<std::string> names;
  std::map<const Node*, int16_t> index;
  std::vector<int16_t> owner(kRedisClusterSlots, -1);
  for (int s = 0; s < kRedisClusterSlots; ++s) {
    const Node* n = owner_[s];
    if (n == nullptr) continue;
    auto [it, added] = index.emplace(n, static_cast<int16_t>(names.size()));
    if (added) names.push_back(n->name);
    owner[s] = it->second;
  }
  o_.on_topology(names, owner);
}

void RedisClient::Loop::SetMode(Mode mode) {
  mode_ = mode;
  client_->mode_.store(static_cast<int>(mode), std::memory_order_relaxed);
}

Clock::time_point RedisClient::Loop::NextWake() const {
  // At least twice per command_timeout: a command a caller writes while the
  // loop sleeps (SubmitInline) is then due after the loop's planned wake-up
  // (poll's millisecond rounding included), so its timer needs no eventfd
  // wake-up.
  Clock::time_point t =
      now_ + std::min<Clock::duration>(kMaxPollWait, ToClock(o_.command_timeout) / 2);
  if (!timers_.empty()) t = std::min(t, timers_.top()->deadline);
  for (const auto& [name, node] : nodes_) {
    for (size_t i = 0; i < node->conns.size(); ++i) {
      const RedisConnection& c = *node->conns[i];
      if (c.state() == RedisConnection::State::kIdle) {
        t = std::min(t, node->retry_at[i]);
      } else if (c.state() != RedisConnection::State::kReady) {
        t = std::min(t, c.connect_deadline());
      }
    }
  }
  if (refresh_in_flight_) t = std::min(t, refresh_deadline_);
  if (refresh_wanted_ && !refresh_in_flight_) t = std::min(t, next_refresh_allowed_);
  return t;
}

}  // namespace popguard
