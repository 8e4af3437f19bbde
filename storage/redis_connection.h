// RedisConnection: one pipelined, non-blocking connection to one Redis node.
//
// Lifecycle: kIdle --Connect--> kConnecting (TCP) --> kHandshaking (AUTH,
// SELECT, CLIENT SETNAME, INFO server) --> kReady; any failure --> Close --> kIdle, every
// pending callback run once with an Unavailable status. The owner reconnects.
//
// Pipelining: Send() only appends the encoded command to an output buffer and
// its callback to a FIFO; the owner's event loop calls Flush() once after it
// has queued everything that arrived, so commands from many requests leave in
// one write, and each reply completes the oldest callback (Redis answers in
// order). Commands sent before the handshake has finished are held and only
// written once it has succeeded: a command must never run as the wrong user
// or in the wrong database.
//
// Not thread-safe: one event-loop thread owns it. Callbacks run on that thread
// from inside HandleEvents/Close and may call Send on this connection.
#ifndef POPGUARD_STORAGE_REDIS_CONNECTION_H_
#define POPGUARD_STORAGE_REDIS_CONNECTION_H_

#include <chrono>
#include <deque>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "absl/functional/any_invocable.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "storage/redis_options.h"
#include "storage/redis_resp.h"

namespace popguard {

class RedisConnection {
 public:
  using Clock = std::chrono::steady_clock;
  // A reply (which may be an error reply), or Unavailable when the connection
  // failed before the reply arrived (the command may or may not have run).
  using Callback = absl::AnyInvocable<void(absl::StatusOr<RedisReplyPtr>) &&>;

  enum class State { kIdle, kConnecting, kHandshaking, kReady };

  // `options` must outlive the connection.
  RedisConnection(RedisEndpoint endpoint, const RedisClientOptions* options);
  // The destructor closes the connection, running every pending callback.
  ~RedisConnection();
  RedisConnection(const RedisConnection&) = delete;
  RedisConnection& operator=(const RedisConnection&) = delete;

  // Connect resolves the endpoint, starts a non-blocking TCP connect and
  // queues the handshake. Only valid in kIdle; on failure it stays kIdle.
  // Resolution uses getaddrinfo, which blocks for DNS names (IP literals do
  // not touch the network).
  absl::Status Connect(Clock::time_point now);

  // OnReady is called (on the owner's thread) when the handshake has
  // succeeded, before any reply to a command sent through this connection is
  // dispatched, with the server's run_id ("" when INFO was refused). Its
  // return value is what server_since() reports until the next Connect.
  using OnReady = std::function<absl::Time(std::string_view run_id)>;
  void set_on_ready(OnReady on_ready) { on_ready_ = std::move(on_ready); }

  // server_since is the moment since which the server at the other end is
  // known to hold its data (OnReady's answer); InfinitePast before.
  absl::Time server_since() const { return server_since_; }

  // Send queues one RESP-encoded command. Valid in every state but kIdle.
  void Send(std::string_view encoded, Callback done);

  // PollEvents returns the poll(2) events to wait for; 0 in kIdle.
  short PollEvents() const;

  // HandleEvents completes a pending connect, reads and dispatches replies
  // and writes pending output. A broken connection is closed (kIdle) and its
  // error returned.
  absl::Status HandleEvents(short revents);

  // Flush writes as much buffered output as the socket accepts; a broken
  // connection is closed and its error returned.
  absl::Status Flush();

  // Close drops the socket and runs every pending callback with `why`.
  void Close(const absl::Status& why);

  State state() const { return state_; }
  int fd() const { return fd_; }
  const RedisEndpoint& endpoint() const { return endpoint_; }
  // pending returns the commands awaiting a reply (written or held).
  size_t pending() const { return entries_.size() + held_entries_.size(); }
  bool has_output() const { return out_pos_ < out_.size(); }
  // connect_deadline is when kConnecting/kHandshaking must have reached kReady.
  Clock::time_point connect_deadline() const { return connect_deadline_; }
  // OldestWrittenAt returns when the oldest unanswered written command was
  // queued; Clock::time_point::max() when none is waiting.
  Clock::time_point OldestWrittenAt() const;
  // last_error is why the connection was last closed ("" before any close).
  const std::string& last_error() const { return last_error_; }

 private:
  struct Entry {
    Callback done;  // empty for handshake commands
    Clock::time_point queued;
    bool handshake = false;
    bool must_succeed = false;  // handshake: an error reply closes the connection
    bool info = false;          // handshake: INFO server, read for run_id
  };

  absl::Status FinishConnect();
  absl::Status ReadReplies();
  absl::Status Dispatch(RedisReplyPtr reply);
  absl::Status Fail(absl::Status why);
  void QueueHandshake(Clock::time_point now);

  const RedisEndpoint endpoint_;
  const RedisClientOptions* const options_;
  State state_ = State::kIdle;
  int fd_ = -1;
  std::unique_ptr<RespParser> parser_;
  Clock::time_point connect_deadline_;

  std::string out_;  // encoded commands not yet written, from out_pos_
  size_t out_pos_ = 0;
  std::deque<Entry> entries_;  // written or in out_, in order

  std::string held_out_;  // commands sent before kReady
  std::deque<Entry> held_entries_;
  std::string last_error_;
  std::string run_id_;  // from INFO server in the current handshake
  OnReady on_ready_;
  absl::Time server_since_ = absl::InfinitePast();
};

}  // namespace popguard

#endif  // POPGUARD_STORAGE_REDIS_CONNECTION_H_
