#include "storage/redis_connection.h"

#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <unistd.h>

#include <cstring>
#include <utility>
#include <vector>

#include <hiredis/hiredis.h>

#include "absl/strings/str_cat.h"

namespace popguard {
namespace {

// Bytes read per read(2); replies are tiny, so one call usually drains all.
constexpr size_t kReadChunk = 16 * 1024;
// Written output is compacted away once this much has accumulated.
constexpr size_t kCompactAfter = 64 * 1024;
// The name the connection gives itself, so operators (and tests) can find
// popguard's connections in CLIENT LIST.
constexpr std::string_view kClientName = "popguard";

std::string ErrnoText(int err) { return std::strerror(err); }

absl::string_view AbslView(std::string_view s) { return absl::string_view(s.data(), s.size()); }

// SetSocketOptions disables Nagle (a pipelined batch must not wait for the
// previous one's ACK) and turns on TCP keepalive so that a silently vanished
// peer is noticed even on an idle connection.
void SetSocketOptions(int fd) {
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof(one));
  int idle = 15, interval = 5, count = 3;
  setsockopt(fd, IPPROTO_TCP, TCP_KEEPIDLE, &idle, sizeof(idle));
  setsockopt(fd, IPPROTO_TCP, TCP_KEEPINTVL, &interval, sizeof(interval));
  setsockopt(fd, IPPROTO_TCP, TCP_KEEPCNT, &count, sizeof(count));
}

// ParseRunId returns the run_id field of an INFO server reply ("" if none).
std::string ParseRunId(const redisReply& reply) {
  if (reply.type != REDIS_REPLY_STRING) return "";
  std::string_view text(reply.str, reply.len);
  constexpr std::string_view kField = "run_id:";
  size_t at = text.find(kField);
  if (at == std::string_view::npos || (at != 0 && text[at - 1] != '\n')) return "";
  at += kField.size();
  size_t end = text.find_first_of("\r\n", at);
  return std::string(text.substr(at, end == std::string_view::npos ? text.npos : end - at));
}

}  // namespace

RedisConnection::RedisConnection(RedisEndpoint endpoint, const RedisClientOptions* options)
    : endpoint_(std::move(endpoint)), options_(options) {}

RedisConnection::~RedisConnection() { Close(absl::UnavailableError("redis connection shut down")); }

absl::Status RedisConnection::Connect(Clock::time_point now) {
  if (state_ != State::kIdle) return absl::FailedPreconditionError("already connected");
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_NUMERICSERV;
  addrinfo* result = nullptr;
  const std::string port = std::to_string(endpoint_.port);
  const int gai = getaddrinfo(endpoint_.host.c_str(), port.c_str(), &hints, &result);
  if (gai != 0 || result == nullptr) {
    return absl::UnavailableError(
        absl::StrCat("cannot resolve ", endpoint_.ToString(), ": ", gai_strerror(gai)));
  }
  std::unique_ptr<addrinfo, decltype(&freeaddrinfo)> owned(result, &freeaddrinfo);
  const int fd = socket(result->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return absl::UnavailableError(absl::StrCat("socket: ", ErrnoText(errno)));
  SetSocketOptions(fd);
  if (connect(fd, result->ai_addr, result->ai_addrlen) != 0 && errno != EINPROGRESS) {
    const int err = errno;
    close(fd);
    return absl::UnavailableError(
        absl::StrCat("connect to ", endpoint_.ToString(), ": ", ErrnoText(err)));
  }
  fd_ = fd;
  state_ = State::kConnecting;
  parser_ = std::make_unique<RespParser>();
  connect_deadline_ = now + absl::ToChronoNanoseconds(options_->connect_timeout);
  // The handshake is queued now and written as soon as the socket is
  // writable; nothing else is written before its replies have come back.
  QueueHandshake(now);
  return absl::OkStatus();
}

void RedisConnection::QueueHandshake(Clock::time_point now) {
  if (!options_->password.empty()) {
    if (options_->username.empty()) {
      AppendRedisCommand(&out_, {"AUTH", options_->password});
    } else {
      AppendRedisCommand(&out_, {"AUTH", options_->username, options_->password});
    }
    entries_.push_back(Entry{nullptr, now, /*handshake=*/true, /*must_succeed=*/true});
  }
  if (options_->database != 0) {
    AppendRedisCommand(&out_, {"SELECT", std::to_string(options_->database)});
    entries_.push_back(Entry{nullptr, now, /*handshake=*/true, /*must_succeed=*/true});
  }
  // Naming is a convenience: an ACL user without +client|setname still works.
  AppendRedisCommand(&out_, {"CLIENT", "SETNAME", kClientName});
  entries_.push_back(Entry{nullptr, now, /*handshake=*/true, /*must_succeed=*/false});
  // The server's run_id tells a reconnect to the same server process from one
  // to a restarted (empty) one; without +info it stays "" (OnReady decides).
  run_id_.clear();
  server_since_ = absl::InfinitePast();
  AppendRedisCommand(&out_, {"INFO", "server"});
  entries_.push_back(Entry{nullptr, now, /*handshake=*/true, /*must_succeed=*/false,
                           /*info=*/true});
}

void RedisConnection::Send(std::string_view encoded, Callback done) {
  if (state_ == State::kIdle) {
    std::move(done)(absl::UnavailableError("redis connection is not open"));
    return;
  }
  Entry entry{std::move(done), Clock::now()};
  if (state_ == State::kReady) {
    out_.append(encoded.data(), encoded.size());
    entries_.push_back(std::move(entry));
  } else {
    held_out_.append(encoded.data(), encoded.size());
    held_entries_.push_back(std::move(entry));
  }
}

short RedisConnection::PollEvents() const {
  switch (state_) {
    case State::kIdle:
      return 0;
    case State::kConnecting:
      return POLLOUT;
    case State::kHandshaking:
    case State::kReady:
      return static_cast<short>(POLLIN | (has_output() ? POLLOUT : 0));
  }
  return 0;
}

absl::Status RedisConnection::HandleEvents(short revents) {
  if (state_ == State::kIdle || revents == 0) return absl::OkStatus();
  if (state_ == State::kConnecting) {
    if ((revents & (POLLOUT | POLLERR | POLLHUP)) == 0) return absl::OkStatus();
    if (absl::Status s = FinishConnect(); !s.ok()) return s;
  }
  if ((revents & (POLLIN | POLLERR | POLLHUP)) != 0) {
    if (absl::Status s = ReadReplies(); !s.ok()) return s;
  }
  if (state_ != State::kIdle && has_output()) return Flush();
  return absl::OkStatus();
}

absl::Status RedisConnection::FinishConnect() {
  int err = 0;
  socklen_t len = sizeof(err);
  if (getsockopt(fd_, SOL_SOCKET, SO_ERROR, &err, &len) != 0) err = errno;
  if (err != 0) {
    return Fail(absl::UnavailableError(
        absl::StrCat("connect to ", endpoint_.ToString(), ": ", ErrnoText(err))));
  }
  state_ = State::kHandshaking;
  return absl::OkStatus();
}

absl::Status RedisConnection::ReadReplies() {
  char buf[kReadChunk];
  while (state_ != State::kIdle) {
    const ssize_t n = read(fd_, buf, sizeof(buf));
    if (n > 0) {
      parser_->Feed(buf, static_cast<size_t>(n));
      while (state_ != State::kIdle) {
        absl::StatusOr<std::optional<RedisReplyPtr>> reply = parser_->Next();
        if (!reply.ok()) return Fail(absl::UnavailableError(reply.status().message()));
        if (!reply->has_value()) break;
        if (absl::Status s = Dispatch(std::move(**reply)); !s.ok()) return s;
      }
      if (static_cast<size_t>(n) < sizeof(buf)) break;
      continue;
    }
    if (n == 0) {
      return Fail(absl::UnavailableError(
          absl::StrCat("connection to ", endpoint_.ToString(), " closed by the server")));
    }
    if (errno == EINTR) continue;
    if (errno == EAGAIN || errno == EWOULDBLOCK) break;
    return Fail(absl::UnavailableError(
        absl::StrCat("read from ", endpoint_.ToString(), ": ", ErrnoText(errno))));
  }
  return absl::OkStatus();
}

absl::Status RedisConnection::Dispatch(RedisReplyPtr reply) {
  if (entries_.empty()) {
    return Fail(
        absl::UnavailableError(absl::StrCat("unexpected reply from ", endpoint_.ToString())));
  }
  Entry entry = std::move(entries_.front());
  entries_.pop_front();
  if (!entry.handshake) {
    std::move(entry.done)(std::move(reply));
    return absl::OkStatus();
  }
  if (entry.info) run_id_ = ParseRunId(*reply);
  if (std::optional<std::string_view> err = ReplyError(*reply);
      err.has_value() && entry.must_succeed) {
    // The server's text (e.g. "WRONGPASS invalid username-password pair")
    // never contains the password.
    return Fail(absl::UnavailableError(
        absl::StrCat("handshake with ", endpoint_.ToString(), " failed: ", AbslView(*err))));
  }
  const bool handshake_done = entries_.empty() || !entries_.front().handshake;
  if (state_ == State::kHandshaking && handshake_done) {
    state_ = State::kReady;
    // Before any held command is written (and so before its reply can be
    // dispatched): the owner learns which server process answers here.
    server_since_ = on_ready_ ? on_ready_(run_id_) : absl::InfinitePast();
    out_.append(held_out_);
    held_out_.clear();
    for (Entry& e : held_entries_) entries_.push_back(std::move(e));
    held_entries_.clear();
  }
  return absl::OkStatus();
}

absl::Status RedisConnection::Flush() {
  while (state_ != State::kIdle && state_ != State::kConnecting && has_output()) {
    const ssize_t n = send(fd_, out_.data() + out_pos_, out_.size() - out_pos_, MSG_NOSIGNAL);
    if (n > 0) {
      out_pos_ += static_cast<size_t>(n);
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) break;
    return Fail(absl::UnavailableError(
        absl::StrCat("write to ", endpoint_.ToString(), ": ", ErrnoText(errno))));
  }
  if (out_pos_ == out_.size()) {
    out_.clear();
    out_pos_ = 0;
  } else if (out_pos_ >= kCompactAfter) {
    out_.erase(0, out_pos_);
    out_pos_ = 0;
  }
  return absl::OkStatus();
}

RedisConnection::Clock::time_point RedisConnection::OldestWrittenAt() const {
  for (const Entry& e : entries_) {
    if (!e.handshake) return e.queued;
  }
  return Clock::time_point::max();
}

absl::Status RedisConnection::Fail(absl::Status why) {
  Close(why);
  return why;
}

void RedisConnection::Close(const absl::Status& why) {
  if (state_ == State::kIdle) return;
  last_error_ = std::string(why.message());
  if (fd_ >= 0) close(fd_);
  fd_ = -1;
  state_ = State::kIdle;
  parser_.reset();
  out_.clear();
  out_pos_ = 0;
  held_out_.clear();
  // Callbacks may send again (to other connections, or to this one, which
  // now refuses at once), so the queues are emptied before any runs.
  std::vector<Entry> failed;
  failed.reserve(entries_.size() + held_entries_.size());
  for (Entry& e : entries_) failed.push_back(std::move(e));
  for (Entry& e : held_entries_) failed.push_back(std::move(e));
  entries_.clear();
  held_entries_.clear();
  for (Entry& e : failed) {
    if (!e.handshake) std::move(e.done)(why);
  }
}

}  // namespace popguard
