// Tests of HttpEndpoint (service/ops/http_endpoint.h), the /metrics, /healthz and
// /readyz listener, on a real loopback socket: its routes, that a client
// dribbling bytes neither blocks other connections nor holds its own past the
// whole-request deadline, and that its port cannot be bound twice.
#include "service/ops/http_endpoint.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <memory>
#include <string>
#include <thread>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "tests/testing/popguard_process.h"

namespace popguard {
namespace {

using ::testing::HasSubstr;

int Connect(int port) { return e2e::ConnectLoopback(port, absl::Seconds(5)); }

e2e::HttpReply Exchange(int port, const std::string& request) {
  return e2e::HttpExchange(port, request, absl::Seconds(5));
}

std::string Get(const std::string& method, const std::string& target) {
  return absl::StrCat(method, " ", target, " HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n");
}

// StillOpen reports whether the server has neither closed nor answered `fd`.
bool StillOpen(int fd) {
  char c;
  const ssize_t n = recv(fd, &c, 1, MSG_DONTWAIT | MSG_PEEK);
  return n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK);
}

class HttpEndpointTest : public ::testing::Test {
 protected:
  void Start(const HttpEndpoint::Options& options = {}) {
    auto ep = HttpEndpoint::Start(
        "127.0.0.1:0",
        [](const std::string& path) {
          HttpResponse r;
          if (path == "/healthz") {
            r.body = "ok\n";
          } else {
            r.status = 404;
            r.body = "not found\n";
          }
          return r;
        },
        options);
    ASSERT_TRUE(ep.ok()) << ep.status();
    endpoint_ = *std::move(ep);
  }

  int port() const { return endpoint_->port(); }

  std::unique_ptr<HttpEndpoint> endpoint_;
};

TEST_F(HttpEndpointTest, Routes) {
  Start();
  struct Case {
    std::string request;
    int status;
    std::string body;
  };
  const Case cases[] = {
      {Get("GET", "/healthz"), 200, "ok\n"},
      {Get("GET", "/healthz?verbose=1"), 200, "ok\n"},
      {Get("HEAD", "/healthz"), 200, ""},
      {Get("GET", "/nope"), 404, "not found\n"},
      {"DELETE /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n", 405,
       "only GET and HEAD\n"},
      {"garbage\r\n\r\n", 400, ""},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.request);
    e2e::HttpReply r = Exchange(port(), c.request);
    EXPECT_EQ(r.status, c.status);
    EXPECT_EQ(r.body, c.body);
    if (c.status == 200) EXPECT_THAT(r.head, HasSubstr("Connection: close"));
  }
}

TEST_F(HttpEndpointTest, SlowClientDoesNotDelayHealthz) {
  Start();
  // A client that sends part of a request head and then nothing.
  int slow = Connect(port());
  ASSERT_GE(slow, 0);
  const std::string part = "GET /hea";
  ASSERT_EQ(send(slow, part.data(), part.size(), MSG_NOSIGNAL), static_cast<ssize_t>(part.size()));
  // Another connection is answered while the slow one is still being served
  // (a server with one thread would answer only once it gave up on it).
  e2e::HttpReply r = Exchange(port(), Get("GET", "/healthz"));
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, "ok\n");
  EXPECT_TRUE(StillOpen(slow));
  close(slow);
}

TEST_F(HttpEndpointTest, DribblingClientIsCutOffAtTheRequestDeadline) {
  // Each byte arrives well within io_timeout, so only the whole-request
  // deadline can end this connection.
  Start({.threads = 2, .io_timeout = absl::Seconds(2), .request_deadline = absl::Seconds(1)});
  int fd = Connect(port());
  ASSERT_GE(fd, 0);
  const std::string head = "GET /healthz HTTP/1.1\r\nX-Slow: " + std::string(200, 'a');
  const absl::Time start = absl::Now();
  size_t sent = 0;
  bool closed = false;
  for (; sent < head.size(); ++sent) {
    if (send(fd, &head[sent], 1, MSG_NOSIGNAL) != 1) {
      closed = true;
      break;
    }
    char c;
    const ssize_t n = recv(fd, &c, 1, MSG_DONTWAIT);
    if (n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK)) {
      closed = true;
      break;
    }
    absl::SleepFor(absl::Milliseconds(50));
  }
  close(fd);
  // 200 bytes at one per 50 ms would take 10 s.
  EXPECT_TRUE(closed) << "the server kept reading for " << absl::Now() - start;
  EXPECT_LT(sent, head.size());
  // Other requests are still served.
  EXPECT_EQ(Exchange(port(), Get("GET", "/healthz")).status, 200);
}

TEST_F(HttpEndpointTest, PortInUseIsAStartUpError) {
  Start();
  auto second = HttpEndpoint::Start(absl::StrCat("127.0.0.1:", port()),
                                    [](const std::string&) { return HttpResponse(); });
  ASSERT_FALSE(second.ok());
  EXPECT_EQ(second.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(second.status().message(),
              HasSubstr(absl::StrCat("cannot listen on 127.0.0.1:", port())));
}

// A request handler with a bounded queue (the forward-auth listener's
// shape): with its one thread busy and one connection waiting, the next
// connection gets shed_response at once, and the waiting one is still served.
TEST(HttpEndpointQueueTest, FullQueueShedsAtTheDoor) {
  absl::Notification entered, release;
  HttpEndpoint::Options options;
  options.threads = 1;
  options.max_queued = 1;
  options.shed_response.status = 503;
  options.shed_response.body = "overloaded\n";
  options.shed_response.headers = {{"retry-after", "1"}};
  options.what = "test.listen";
  auto ep = HttpEndpoint::StartForRequests(
      "127.0.0.1:0",
      [&](const HttpRequestView& r) {
        HttpResponse out;
        if (r.target == "/block") {
          entered.Notify();
          release.WaitForNotificationWithTimeout(absl::Seconds(20));
        }
        out.body = r.method + " " + r.target + "\n";
        out.headers = {{"x-peer", r.remote_ip}};
        return out;
      },
      options);
  ASSERT_TRUE(ep.ok()) << ep.status();
  const int port = (*ep)->port();
  std::thread busy([&] {
    e2e::HttpReply r = Exchange(port, Get("GET", "/block"));
    EXPECT_EQ(r.status, 200);
  });
  ASSERT_TRUE(entered.WaitForNotificationWithTimeout(absl::Seconds(10)));
  const int waiting = Connect(port);
  ASSERT_GE(waiting, 0);
  const std::string req = Get("GET", "/queued");
  ASSERT_EQ(send(waiting, req.data(), req.size(), MSG_NOSIGNAL), static_cast<ssize_t>(req.size()));
  // The waiting connection is accepted before the next one (accept order),
  // so this one finds the queue full.
  e2e::HttpReply shed = Exchange(port, Get("GET", "/next"));
  EXPECT_EQ(shed.status, 503);
  EXPECT_EQ(shed.body, "overloaded\n");
  EXPECT_THAT(shed.head, HasSubstr("retry-after: 1"));
  release.Notify();
  busy.join();
  std::string answer;
  char buf[512];
  ssize_t n;
  while ((n = recv(waiting, buf, sizeof(buf), 0)) > 0) answer.append(buf, n);
  close(waiting);
  EXPECT_THAT(answer, HasSubstr("200"));
  EXPECT_THAT(answer, HasSubstr("GET /queued\n"));
  EXPECT_THAT(answer, HasSubstr("x-peer: 127.0.0.1"));
}

}  // namespace
}  // namespace popguard
