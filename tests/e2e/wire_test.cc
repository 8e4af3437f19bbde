// End-to-end tests of what popguard does with bytes on the wire (GitHub issue
// 11 item 4), against the real binary with raw gRPC messages:
//
//   - a unary Verify or Check whose message does not parse ends with
//     INVALID_ARGUMENT (not UNIMPLEMENTED);
//   - on VerifyStream, an unparsable message ends the stream with
//     INVALID_ARGUMENT after every earlier message was answered (never OK);
//   - a Check whose header bytes are not UTF-8 still parses (popguard's copy of
//     Envoy's proto declares them `bytes`): bytes in a header popguard reads
//     deny the request with request_header_invalid, bytes elsewhere do not
//     matter; the Verify API refuses control characters the same way.
#include <memory>
#include <string>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <grpcpp/grpcpp.h>
#include <grpcpp/impl/codegen/client_unary_call.h>
#include <grpcpp/impl/codegen/rpc_method.h>
#include <grpcpp/impl/codegen/sync_stream.h>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "tests/testing/server_test.h"
#include "tests/testing/test_env.h"

namespace popguard::e2e {
namespace {

using ::envoy::service::auth::v3::CheckRequest;
using ::envoy::service::auth::v3::CheckResponse;
using ::popguard::v1::VerifyRequest;
using ::popguard::v1::VerifyResponse;

constexpr char kVerify[] = "/popguard.v1.Verifier/Verify";
constexpr char kVerifyStream[] = "/popguard.v1.Verifier/VerifyStream";
constexpr char kCheck[] = "/envoy.service.auth.v3.Authorization/Check";

void SetDeadline(grpc::ClientContext* ctx) {
  ctx->set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(10)));
}

// RawUnary sends `request` as the message bytes of unary `method`.
grpc::Status RawUnary(const std::shared_ptr<grpc::Channel>& channel, const char* method,
                      const std::string& request) {
  grpc::ClientContext ctx;
  SetDeadline(&ctx);
  const grpc::internal::RpcMethod rpc(method, grpc::internal::RpcMethod::NORMAL_RPC, channel);
  grpc::ByteBuffer response;
  return grpc::internal::BlockingUnaryCall<grpc::ByteBuffer, grpc::ByteBuffer>(
      channel.get(), rpc, &ctx, ToByteBuffer(request), &response);
}

// Messages that are not a valid encoding of any proto3 message with a string
// field 1 (VerifyRequest.correlation_id; CheckRequest.attributes is field 1
// too, a message).
struct BadMessage {
  std::string name;
  std::string bytes;
};
const std::vector<BadMessage>& BadMessages() {
  static const auto* const kBad = new std::vector<BadMessage>{
      {"length past the end", std::string("\x0a\x05"
                                          "ab",
                                          4)},
      {"truncated varint", std::string("\x08\xff", 2)},
      {"end-group tag without a group", std::string("\x0c", 1)},
  };
  return *kBad;
}

class WireE2eTest : public ServerTestBase<WireE2eTest> {
 public:
  static constexpr char kConfigName[] = "wire.yaml";
  static ConfigOptions Options() { return {}; }

 protected:
  // A bearer request to the public route that popguard allows.
  HttpSpec Allowed() {
    return {.url = TestEnv::Url("/public/a"),
            .headers = {{"Authorization", "Bearer " + env().issuer().MintToken({})}}};
  }
};

TEST_F(WireE2eTest, UnparsableUnaryMessagesAreInvalidArgument) {
  for (const char* method : {kVerify, kCheck}) {
    for (const BadMessage& bad : BadMessages()) {
      SCOPED_TRACE(absl::StrCat(method, ": ", bad.name));
      grpc::Status s = RawUnary(server()->channel(), method, bad.bytes);
      EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << s.error_message();
    }
  }
  // A non-UTF-8 correlation_id: VerifyRequest keeps `string` fields (its
  // clients are generated from popguard.v1), so proto3 refuses it.
  grpc::Status s = RawUnary(server()->channel(), kVerify, std::string("\x0a\x02\xff\xfe", 4));
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << s.error_message();
  // The server is fine afterwards.
  EXPECT_EQ(server()->Verify(Allowed()).reason_code(), "ok");
}

TEST_F(WireE2eTest, StreamAnswersEarlierMessagesThenEndsWithInvalidArgument) {
  grpc::ClientContext ctx;
  SetDeadline(&ctx);
  const grpc::internal::RpcMethod rpc(kVerifyStream, grpc::internal::RpcMethod::BIDI_STREAMING,
                                      server()->channel());
  std::unique_ptr<grpc::ClientReaderWriter<grpc::ByteBuffer, grpc::ByteBuffer>> stream(
      grpc::internal::ClientReaderWriterFactory<grpc::ByteBuffer, grpc::ByteBuffer>::Create(
          server()->channel().get(), rpc, &ctx));
  auto message = [&](const std::string& id) {
    return ToVerifyRequest(Allowed(), id).SerializeAsString();
  };
  for (const char* id : {"a", "b", "c"}) ASSERT_TRUE(stream->Write(ToByteBuffer(message(id))));
  ASSERT_TRUE(stream->Write(ToByteBuffer(BadMessages()[0].bytes)));
  // Written, never read by popguard: no answers for these.
  for (const char* id : {"d", "e", "f"}) stream->Write(ToByteBuffer(message(id)));
  stream->WritesDone();
  std::vector<std::string> answered;
  grpc::ByteBuffer bytes;
  while (stream->Read(&bytes)) {
    VerifyResponse r;
    ASSERT_TRUE(r.ParseFromString(FromByteBuffer(bytes)));
    EXPECT_EQ(r.reason_code(), "ok") << r.message();
    answered.push_back(r.correlation_id());
  }
  EXPECT_THAT(answered, ::testing::UnorderedElementsAre("a", "b", "c"));
  grpc::Status s = stream->Finish();
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << s.error_message();
}

TEST_F(WireE2eTest, CheckHeaderBytesParseAndDenyOnlyWhereRead) {
  const std::string token = env().issuer().MintToken({});
  struct Case {
    std::string name;
    std::vector<std::pair<std::string, std::string>> extra;  // headers added to the request
    bool raw_header_map;
    std::string authorization;  // replaces the Authorization value when non-empty
    std::string want;           // reason code
  };
  const std::string bad = "\xff\xfe";
  const Case cases[] = {
      {"non-UTF-8 value in a header popguard ignores", {{"x-note", "caf" + bad}}, false, "", "ok"},
      {"non-UTF-8 header name", {{"x-" + bad, "1"}}, false, "", "ok"},
      {"non-UTF-8 in authorization", {}, false, "Bearer " + token + bad, "request_header_invalid"},
      {"NUL in authorization",
       {},
       false,
       "Bearer " + token + std::string(1, '\0'),
       "request_header_invalid"},
      {"non-UTF-8 in dpop", {{"dpop", "x" + bad}}, false, "", "request_header_invalid"},
      {"LF in x-forwarded-host",
       {{"x-forwarded-host", "a\nb"}},
       false,
       "",
       "request_header_invalid"},
      {"raw header_map, non-UTF-8 in authorization",
       {},
       true,
       "Bearer " + token + bad,
       "request_header_invalid"},
      {"raw header_map, non-UTF-8 elsewhere", {{"x-note", bad}}, true, "", "ok"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    HttpSpec spec = {.url = TestEnv::Url("/public/a"),
                     .headers = {{"Authorization",
                                  c.authorization.empty() ? "Bearer " + token : c.authorization}}};
    for (const auto& h : c.extra) spec.headers.push_back(h);
    CheckResponse r = server()->Check(ToCheckRequest(spec, c.raw_header_map));
    if (c.want == "ok") {
      EXPECT_EQ(r.status().code(), 0) << r.status().message();
      EXPECT_TRUE(r.has_ok_response());
    } else {
      EXPECT_EQ(r.status().message(), c.want);
      ASSERT_TRUE(r.has_denied_response());
      EXPECT_EQ(static_cast<int>(r.denied_response().status().code()), 400);
    }
  }
}

TEST_F(WireE2eTest, VerifyRefusesControlBytesInHeadersItReads) {
  const std::string token = env().issuer().MintToken({});
  struct Case {
    std::string name;
    std::pair<std::string, std::string> header;
    std::string want;
  };
  const Case cases[] = {
      {"control byte in authorization",
       {"Authorization", "Bearer " + token + "\x01"},
       "request_header_invalid"},
      {"non-ASCII UTF-8 in authorization",
       {"Authorization", "Bearer " + token + "\xc3\xa9"},
       "request_header_invalid"},
      {"DEL in an ignored header", {"X-Note", "\x7f"}, "ok"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    HttpSpec spec = {.url = TestEnv::Url("/public/a"), .headers = {c.header}};
    if (c.header.first != "Authorization") {
      spec.headers.push_back({"Authorization", "Bearer " + token});
    }
    VerifyResponse r = server()->Verify(spec);
    EXPECT_EQ(r.reason_code(), c.want) << r.message();
    if (c.want != "ok") EXPECT_EQ(r.http_status(), 400);
  }
}

}  // namespace
}  // namespace popguard::e2e
