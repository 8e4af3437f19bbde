// Tests of JwksFetcher::Shutdown (service/keys/jwks_fetcher.h) against a real
// HTTPS server that never answers: a transfer in progress is aborted at once
// (not when its timeout would end it),
// queued and later fetches fail with Cancelled, and every callback runs.
#include "service/keys/jwks_fetcher.h"

#include <memory>
#include <string>

#include <gtest/gtest.h>

#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "tests/testing/https_test_server.h"

namespace popguard {
namespace {

using ::popguard::testserver::HttpResponse;
using ::popguard::testserver::HttpsTestServer;

class JwksFetcherTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto server = HttpsTestServer::Start();
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = *std::move(server);
    // Answers only after an hour (Stop interrupts the wait).
    server_->SetRoute("/silent", HttpResponse::Reply(200, "{}").WithDelay(absl::Hours(1)));
  }

  FetchOptions Options() const {
    FetchOptions o;
    o.ca_file = server_->ca_file();
    o.timeout = absl::Seconds(50);
    return o;
  }

  // Fetch starts a fetch of `path` whose result lands in results_[i].
  void Fetch(JwksFetcher& fetcher, const std::string& path, int i) {
    fetcher.Fetch(server_->Url(path), Options(), [this, i](FetchResult r) {
      absl::MutexLock lock(&mu_);
      results_[i] = std::move(r);
      ++done_;
    });
  }

  bool AwaitDone(int n, absl::Duration timeout) {
    absl::MutexLock lock(&mu_);
    const auto reached = [this, n]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return done_ >= n; };
    return mu_.AwaitWithTimeout(absl::Condition(&reached), timeout);
  }

  std::unique_ptr<HttpsTestServer> server_;
  absl::Mutex mu_;
  FetchResult results_[4] ABSL_GUARDED_BY(mu_);
  int done_ ABSL_GUARDED_BY(mu_) = 0;
};

TEST_F(JwksFetcherTest, ShutdownAbortsTransfersInProgressAndRefusesLaterOnes) {
  std::unique_ptr<JwksFetcher> fetcher = JwksFetcher::CreateCurl(1);
  Fetch(*fetcher, "/silent", 0);  // in progress on the only worker
  Fetch(*fetcher, "/silent", 1);  // queued behind it
  for (int i = 0; i < 500 && server_->RequestCount("/silent") < 1; ++i) {
    absl::SleepFor(absl::Milliseconds(10));
  }
  ASSERT_EQ(server_->RequestCount("/silent"), 1);

  const absl::Time shutdown = absl::Now();
  fetcher->Shutdown();
  ASSERT_TRUE(AwaitDone(2, absl::Seconds(30)));
  // The silent server would hold the transfer for its whole 50 s timeout;
  // the abort wakes the worker at once (the bound leaves room for a loaded
  // machine).
  EXPECT_LT(absl::Now() - shutdown, absl::Seconds(3));
  Fetch(*fetcher, "/silent", 2);  // after Shutdown
  ASSERT_TRUE(AwaitDone(3, absl::Seconds(10)));
  absl::MutexLock lock(&mu_);
  for (int i = 0; i < 3; ++i) {
    SCOPED_TRACE(i);
    EXPECT_EQ(results_[i].status.code(), absl::StatusCode::kCancelled) << results_[i].status;
  }
  EXPECT_EQ(server_->RequestCount("/silent"), 1);
}

}  // namespace
}  // namespace popguard
