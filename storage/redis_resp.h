// RESP (the Redis protocol, version 2) on the wire: command encoding, a reply
// parser over hiredis' redisReader, and cluster redirections.
//
// The parser is incremental: Feed() whatever bytes the socket produced, then
// call Next() until it says it needs more. Replies arrive in the order the
// commands were written, which is what lets one connection carry many
// commands at once (pipelining).
#ifndef POPGUARD_STORAGE_REDIS_RESP_H_
#define POPGUARD_STORAGE_REDIS_RESP_H_

#include <initializer_list>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "storage/redis_options.h"

struct redisReply;   // <hiredis/hiredis.h>
struct redisReader;  // <hiredis/read.h>

namespace popguard {

struct RedisReplyDeleter {
  void operator()(redisReply* reply) const;
};
// RedisReplyPtr owns a reply tree made by redisReader.
using RedisReplyPtr = std::unique_ptr<redisReply, RedisReplyDeleter>;

// AppendRedisCommand appends `args` to `out` as one RESP array of bulk strings.
void AppendRedisCommand(std::string* out, std::initializer_list<std::string_view> args);

// RespParser splits a byte stream into replies. Not thread-safe.
class RespParser {
 public:
  RespParser();
  ~RespParser();
  RespParser(const RespParser&) = delete;
  RespParser& operator=(const RespParser&) = delete;

  // Feed appends bytes read from the connection.
  void Feed(const char* data, size_t len);

  // Next returns the next complete reply, nullopt when more bytes are needed,
  // or an error (the stream is corrupt and the connection must be dropped).
  absl::StatusOr<std::optional<RedisReplyPtr>> Next();

 private:
  redisReader* reader_;
};

// ReplyIsStatus reports whether `reply` is the simple string `status` (e.g. "OK").
bool ReplyIsStatus(const redisReply& reply, std::string_view status);
// ReplyIsNil reports whether `reply` is the null bulk string.
bool ReplyIsNil(const redisReply& reply);
// ReplyError returns the text of an error reply, or nullopt for any other type.
std::optional<std::string_view> ReplyError(const redisReply& reply);
// ReplyString returns the text of a bulk or simple string, or nullopt.
std::optional<std::string_view> ReplyString(const redisReply& reply);

// RedisRedirect is a cluster redirection parsed from an error reply.
struct RedisRedirect {
  enum class Kind { kMoved, kAsk };
  Kind kind;
  int slot;
  RedisEndpoint endpoint;
};

// ParseRedisRedirect parses "MOVED <slot> <host>:<port>" and "ASK <slot>
// <host>:<port>" (an empty host, which Redis sends when it does not know its
// own address, becomes `default_host`). nullopt for every other error.
std::optional<RedisRedirect> ParseRedisRedirect(std::string_view error,
                                                std::string_view default_host);

// RedisSlotRange is one entry of CLUSTER SLOTS: slots [start, end] and the
// master serving them (replicas are not used).
struct RedisSlotRange {
  int start;
  int end;
  RedisEndpoint master;
};

// ParseClusterSlots parses a CLUSTER SLOTS reply,
//   [[start, end, [host, port, id, ...], replica...], ...]
// An empty host ("the address you reached me on") becomes `asked_host`. The
// whole reply is rejected (InvalidArgument) when any entry is malformed, has
// slots outside [0, 16383], or names the host "?" (a node that does not know
// its own address).
absl::StatusOr<std::vector<RedisSlotRange>> ParseClusterSlots(const redisReply& reply,
                                                              std::string_view asked_host);

}  // namespace popguard

#endif  // POPGUARD_STORAGE_REDIS_RESP_H_
