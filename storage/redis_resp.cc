#include "storage/redis_resp.h"

#include <hiredis/hiredis.h>
#include <hiredis/read.h>

#include <cstdlib>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "storage/redis_key_slot.h"

namespace popguard {

void RedisReplyDeleter::operator()(redisReply* reply) const { freeReplyObject(reply); }

void AppendRedisCommand(std::string* out, std::initializer_list<std::string_view> args) {
  absl::StrAppend(out, "*", args.size(), "\r\n");
  for (std::string_view a : args) {
    absl::StrAppend(out, "$", a.size(), "\r\n");
    out->append(a.data(), a.size());
    out->append("\r\n");
  }
}

RespParser::RespParser() : reader_(redisReaderCreate()) {
  // redisReaderCreate fails only when malloc does.
  if (reader_ == nullptr) std::abort();
}

RespParser::~RespParser() { redisReaderFree(reader_); }

void RespParser::Feed(const char* data, size_t len) {
  // redisReaderFeed only fails once the reader is in an error state, which
  // Next() reports.
  redisReaderFeed(reader_, data, len);
}

absl::StatusOr<std::optional<RedisReplyPtr>> RespParser::Next() {
  void* reply = nullptr;
  if (redisReaderGetReply(reader_, &reply) != REDIS_OK) {
    return absl::InternalError(absl::StrCat("redis protocol error: ", reader_->errstr));
  }
  if (reply == nullptr) return std::optional<RedisReplyPtr>();
  return std::optional<RedisReplyPtr>(RedisReplyPtr(static_cast<redisReply*>(reply)));
}

bool ReplyIsStatus(const redisReply& reply, std::string_view status) {
  return reply.type == REDIS_REPLY_STATUS && std::string_view(reply.str, reply.len) == status;
}

bool ReplyIsNil(const redisReply& reply) { return reply.type == REDIS_REPLY_NIL; }

std::optional<std::string_view> ReplyError(const redisReply& reply) {
  if (reply.type != REDIS_REPLY_ERROR) return std::nullopt;
  return std::string_view(reply.str, reply.len);
}

std::optional<std::string_view> ReplyString(const redisReply& reply) {
  if (reply.type != REDIS_REPLY_STRING && reply.type != REDIS_REPLY_STATUS) return std::nullopt;
  return std::string_view(reply.str, reply.len);
}

std::optional<RedisRedirect> ParseRedisRedirect(std::string_view error,
                                                std::string_view default_host) {
  RedisRedirect r;
  if (error.starts_with("MOVED ")) {
    r.kind = RedisRedirect::Kind::kMoved;
    error.remove_prefix(6);
  } else if (error.starts_with("ASK ")) {
    r.kind = RedisRedirect::Kind::kAsk;
    error.remove_prefix(4);
  } else {
    return std::nullopt;
  }
  const size_t space = error.find(' ');
  if (space == std::string_view::npos) return std::nullopt;
  const std::string_view slot = error.substr(0, space);
  std::string_view address = error.substr(space + 1);
  if (!absl::SimpleAtoi(absl::string_view(slot.data(), slot.size()), &r.slot) || r.slot < 0 ||
      r.slot >= kRedisClusterSlots) {
    return std::nullopt;
  }
  const size_t colon = address.rfind(':');
  if (colon == std::string_view::npos) return std::nullopt;
  std::string_view host = address.substr(0, colon);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
  }
  const std::string_view port = address.substr(colon + 1);
  if (!absl::SimpleAtoi(absl::string_view(port.data(), port.size()), &r.endpoint.port) ||
      r.endpoint.port < 1 || r.endpoint.port > 65535) {
    return std::nullopt;
  }
  r.endpoint.host = std::string(host.empty() ? default_host : host);
  return r;
}

absl::StatusOr<std::vector<RedisSlotRange>> ParseClusterSlots(const redisReply& reply,
                                                              std::string_view asked_host) {
  const auto bad = [](std::string_view why) {
    return absl::InvalidArgumentError(
        absl::StrCat("malformed CLUSTER SLOTS reply: ", absl::string_view(why.data(), why.size())));
  };
  if (reply.type != REDIS_REPLY_ARRAY) return bad("not an array");
  std::vector<RedisSlotRange> out;
  for (size_t i = 0; i < reply.elements; ++i) {
    const redisReply* range = reply.element[i];
    if (range->type != REDIS_REPLY_ARRAY || range->elements < 3) return bad("short entry");
    const redisReply* start = range->element[0];
    const redisReply* end = range->element[1];
    const redisReply* master = range->element[2];
    if (start->type != REDIS_REPLY_INTEGER || end->type != REDIS_REPLY_INTEGER ||
        start->integer < 0 || end->integer >= kRedisClusterSlots || start->integer > end->integer) {
      return bad("slot range");
    }
    if (master->type != REDIS_REPLY_ARRAY || master->elements < 2 ||
        master->element[0]->type != REDIS_REPLY_STRING ||
        master->element[1]->type != REDIS_REPLY_INTEGER) {
      return bad("master");
    }
    RedisSlotRange r;
    r.start = static_cast<int>(start->integer);
    r.end = static_cast<int>(end->integer);
    r.master.host.assign(master->element[0]->str, master->element[0]->len);
    if (r.master.host.empty()) r.master.host = std::string(asked_host);
    if (r.master.host == "?") return bad("unknown master address");
    if (master->element[1]->integer < 1 || master->element[1]->integer > 65535) {
      return bad("master port");
    }
    r.master.port = static_cast<int>(master->element[1]->integer);
    out.push_back(std::move(r));
  }
  return out;
}

}  // namespace popguard
