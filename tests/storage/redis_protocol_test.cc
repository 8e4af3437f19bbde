// The wire-level pieces of the Redis store: CRC16 key slots and hash tags
// (Redis Cluster specification, "Key distribution model"), RESP encoding and
// parsing, MOVED/ASK parsing, and host:port endpoints.
#include <hiredis/hiredis.h>

#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "storage/redis_key_slot.h"
#include "storage/redis_options.h"
#include "storage/redis_resp.h"

namespace popguard {
namespace {

TEST(Crc16XmodemTest, CheckValue) {
  // The standard CRC-16/XMODEM check value, quoted by the cluster spec.
  EXPECT_EQ(Crc16Xmodem("123456789"), 0x31C3);
  EXPECT_EQ(Crc16Xmodem(""), 0x0000);
  EXPECT_EQ(Crc16Xmodem("A"), 0x58E5);
}

TEST(RedisKeySlotTest, MatchesRedis) {
  // Expected slots are what redis-server 7.0 answers to CLUSTER KEYSLOT.
  struct Case {
    std::string key;
    int slot;
  };
  const std::vector<Case> cases = {
      {"foo", 12182},
      {"bar", 5061},
      {"hello", 866},
      {"123456789", 12739},
      {"user1000", 3443},
      {"{user1000}.following", 3443},  // the tag alone is hashed
      {"{user1000}.followers", 3443},
      {"foo{}{bar}", 8363},     // an empty first tag: the whole key
      {"foo{{bar}}zap", 4015},  // the tag is "{bar"
      {"foo{bar}{zap}", 5061},  // only the first tag counts: "bar"
      {"{}foo", 9500},
      {"popguard:dpop:00", 15082},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.key);
    EXPECT_EQ(RedisKeySlot(c.key), c.slot);
  }
}

TEST(RedisHashTagTest, Extraction) {
  struct Case {
    std::string key;
    std::string hashed;
  };
  const std::vector<Case> cases = {
      {"plain", "plain"},     {"{tag}rest", "tag"},       {"a{tag}b", "tag"},
      {"a{}b{c}", "a{}b{c}"}, {"open{only", "open{only"}, {"close}only", "close}only"},
      {"{{x}}", "{x"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.key);
    EXPECT_EQ(RedisHashTag(c.key), c.hashed);
  }
}

TEST(RespTest, EncodesBulkStrings) {
  std::string out;
  AppendRedisCommand(&out, {"SET", "k", "1", "NX", "PX", "60000"});
  EXPECT_EQ(out,
            "*6\r\n$3\r\nSET\r\n$1\r\nk\r\n$1\r\n1\r\n$2\r\nNX\r\n$2\r\nPX\r\n$5\r\n60000\r\n");
  out.clear();
  // Binary-safe: CR, LF and NUL travel inside the length-prefixed string.
  AppendRedisCommand(&out, {std::string_view("a\r\n\0b", 5)});
  EXPECT_EQ(out, std::string("*1\r\n$5\r\na\r\n\0b\r\n", 15));
}

TEST(RespTest, ParsesPipelinedRepliesSplitAnywhere) {
  const std::string wire =
      "+OK\r\n$-1\r\n-MOVED 3999 127.0.0.1:6381\r\n:42\r\n*2\r\n$1\r\na\r\n:1\r\n";
  // Every split point: replies must come out the same however TCP cuts them.
  for (size_t split = 0; split <= wire.size(); ++split) {
    SCOPED_TRACE(split);
    RespParser parser;
    std::vector<RedisReplyPtr> replies;
    auto drain = [&] {
      for (;;) {
        auto r = parser.Next();
        ASSERT_TRUE(r.ok()) << r.status();
        if (!r->has_value()) return;
        replies.push_back(std::move(**r));
      }
    };
    parser.Feed(wire.data(), split);
    drain();
    parser.Feed(wire.data() + split, wire.size() - split);
    drain();
    ASSERT_EQ(replies.size(), 5u);
    EXPECT_TRUE(ReplyIsStatus(*replies[0], "OK"));
    EXPECT_TRUE(ReplyIsNil(*replies[1]));
    EXPECT_EQ(ReplyError(*replies[2]).value_or(""), "MOVED 3999 127.0.0.1:6381");
    EXPECT_EQ(replies[3]->type, REDIS_REPLY_INTEGER);
    EXPECT_EQ(replies[3]->integer, 42);
    ASSERT_EQ(replies[4]->type, REDIS_REPLY_ARRAY);
    EXPECT_EQ(replies[4]->elements, 2u);
  }
}

TEST(RespTest, CorruptStreamIsAnError) {
  RespParser parser;
  const std::string junk = "?what\r\n";
  parser.Feed(junk.data(), junk.size());
  EXPECT_EQ(
      parser.Next().status(),
      absl::InternalError("redis protocol error: Protocol error, got \"?\" as reply type byte"));
}

// ReplyOf parses one RESP reply from `wire`.
RedisReplyPtr ReplyOf(const std::string& wire) {
  RespParser parser;
  parser.Feed(wire.data(), wire.size());
  auto r = parser.Next();
  EXPECT_TRUE(r.ok() && r->has_value()) << wire;
  return r.ok() && r->has_value() ? std::move(**r) : nullptr;
}

TEST(ClusterSlotsTest, ParsesMastersAndIgnoresReplicas) {
  // Two ranges, the second with a replica and an empty host (= the node asked).
  RedisReplyPtr reply = ReplyOf(
      "*2\r\n"
      "*3\r\n:0\r\n:5460\r\n*3\r\n$9\r\n127.0.0.1\r\n:7000\r\n$2\r\nid\r\n"
      "*4\r\n:5461\r\n:16383\r\n*2\r\n$0\r\n\r\n:7001\r\n"
      "*2\r\n$8\r\n10.0.0.9\r\n:7002\r\n");
  ASSERT_NE(reply, nullptr);
  absl::StatusOr<std::vector<RedisSlotRange>> ranges = ParseClusterSlots(*reply, "asked.host");
  ASSERT_TRUE(ranges.ok()) << ranges.status();
  ASSERT_EQ(ranges->size(), 2u);
  EXPECT_EQ((*ranges)[0].start, 0);
  EXPECT_EQ((*ranges)[0].end, 5460);
  EXPECT_EQ((*ranges)[0].master.ToString(), "127.0.0.1:7000");
  EXPECT_EQ((*ranges)[1].start, 5461);
  EXPECT_EQ((*ranges)[1].end, 16383);
  EXPECT_EQ((*ranges)[1].master.ToString(), "asked.host:7001");
}

TEST(ClusterSlotsTest, RejectsMalformedReplies) {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"not an array", "-ERR This instance has cluster support disabled\r\n"},
      {"short entry", "*1\r\n*2\r\n:0\r\n:1\r\n"},
      {"slot past the end", "*1\r\n*3\r\n:0\r\n:16384\r\n*2\r\n$1\r\na\r\n:1\r\n"},
      {"start after end", "*1\r\n*3\r\n:9\r\n:8\r\n*2\r\n$1\r\na\r\n:1\r\n"},
      {"unknown address", "*1\r\n*3\r\n:0\r\n:1\r\n*2\r\n$1\r\n?\r\n:1\r\n"},
      {"port zero", "*1\r\n*3\r\n:0\r\n:1\r\n*2\r\n$1\r\na\r\n:0\r\n"},
      {"port as string", "*1\r\n*3\r\n:0\r\n:1\r\n*2\r\n$1\r\na\r\n$1\r\n1\r\n"},
  };
  for (const auto& [name, wire] : cases) {
    SCOPED_TRACE(name);
    RedisReplyPtr reply = ReplyOf(wire);
    ASSERT_NE(reply, nullptr);
    EXPECT_EQ(ParseClusterSlots(*reply, "h").status().code(), absl::StatusCode::kInvalidArgument);
  }
}

TEST(RedisRedirectTest, Parses) {
  struct Case {
    std::string error;
    RedisRedirect::Kind kind;
    int slot;
    std::string host;
    int port;
  };
  const std::vector<Case> cases = {
      {"MOVED 3999 127.0.0.1:6381", RedisRedirect::Kind::kMoved, 3999, "127.0.0.1", 6381},
      {"ASK 0 10.0.0.2:7000", RedisRedirect::Kind::kAsk, 0, "10.0.0.2", 7000},
      {"MOVED 16383 [::1]:7001", RedisRedirect::Kind::kMoved, 16383, "::1", 7001},
      // An empty host means "the node you asked".
      {"MOVED 12 :7002", RedisRedirect::Kind::kMoved, 12, "default.host", 7002},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.error);
    std::optional<RedisRedirect> r = ParseRedisRedirect(c.error, "default.host");
    ASSERT_TRUE(r.has_value());
    EXPECT_EQ(r->kind, c.kind);
    EXPECT_EQ(r->slot, c.slot);
    EXPECT_EQ(r->endpoint.host, c.host);
    EXPECT_EQ(r->endpoint.port, c.port);
  }
}

TEST(RedisRedirectTest, RejectsOtherErrors) {
  for (const char* error :
       {"MOVED 16384 127.0.0.1:6381", "MOVED -1 127.0.0.1:6381", "MOVED 1 127.0.0.1",
        "MOVED 1 127.0.0.1:0", "MOVED x 127.0.0.1:1", "MOVED", "ERR wrong number of arguments",
        "TRYAGAIN Multiple keys request during rehashing of slot"}) {
    SCOPED_TRACE(error);
    EXPECT_FALSE(ParseRedisRedirect(error, "default.host").has_value());
  }
}

TEST(RedisEndpointTest, ParsesAndPrints) {
  struct Case {
    std::string text;
    std::string host;
    int port;
    std::string printed;
  };
  const std::vector<Case> cases = {
      {"127.0.0.1:6379", "127.0.0.1", 6379, "127.0.0.1:6379"},
      {"redis-0.redis.svc:7000", "redis-0.redis.svc", 7000, "redis-0.redis.svc:7000"},
      {"[::1]:6379", "::1", 6379, "[::1]:6379"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.text);
    absl::StatusOr<RedisEndpoint> ep = ParseRedisEndpoint(c.text);
    ASSERT_TRUE(ep.ok()) << ep.status();
    EXPECT_EQ(ep->host, c.host);
    EXPECT_EQ(ep->port, c.port);
    EXPECT_EQ(ep->ToString(), c.printed);
  }
}

TEST(RedisEndpointTest, RejectsMalformed) {
  for (const char* text : {"127.0.0.1", "127.0.0.1:0", "127.0.0.1:65536", ":6379", "::1:6379",
                           "host:+1", "ho st:1", "[::1]6379", "[]:1", "[x]:1", ""}) {
    SCOPED_TRACE(text);
    EXPECT_EQ(ParseRedisEndpoint(text).status().code(), absl::StatusCode::kInvalidArgument);
  }
}

}  // namespace
}  // namespace popguard
