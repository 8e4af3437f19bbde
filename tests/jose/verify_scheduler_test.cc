// Tests for service/jose/verify_scheduler.h: verdicts are exactly Verify's, a lone
// check is verified at once, checks queued while the workers are busy form
// batches of at most max_batch, batches never mix verifiers, callbacks may
// submit again, and the destructor verifies what is still queued.
#include "service/jose/verify_scheduler.h"

#include <atomic>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "gtest/gtest.h"
#include "service/jose/native_verifier.h"
#include "service/tools/mint/signer.h"
#include "tests/testing/unit_fixtures.h"

namespace popguard {
namespace {

using unit::SharedKey;

constexpr absl::Duration kPatience = absl::Seconds(30);

// One signature check with the strings it views.
struct OwnedCheck {
  JwsAlg alg;
  std::shared_ptr<const PublicKey> key;
  std::string input;
  std::string signature;
  SignatureResult want;
  SignatureCheck view() const { return {alg, key.get(), input, signature}; }
};

OwnedCheck MakeCheck(JwsAlg alg, int slot, const std::string& input, SignatureResult want) {
  const PrivateKey& k = SharedKey(alg, slot);
  OwnedCheck c{alg, k.public_key(), input, *k.Sign(alg, input), want};
  switch (want) {
    case SignatureResult::kValid:
      break;
    case SignatureResult::kInvalid:
      c.signature[c.signature.size() / 2] ^= 0x01;
      break;
    case SignatureResult::kMalformed:
      c.signature.pop_back();
      break;
  }
  return c;
}

// RecordingVerifier passes everything to `inner` and records the size of
// every VerifyBatch call; with Hold(), the first call waits for Release().
class RecordingVerifier final : public SignatureVerifier {
 public:
  explicit RecordingVerifier(const SignatureVerifier* inner) : inner_(inner) {}

  SignatureResult Verify(JwsAlg alg, const PublicKey& key, std::string_view input,
                         std::string_view signature) const override {
    return inner_->Verify(alg, key, input, signature);
  }
  void VerifyBatch(std::span<const SignatureCheck> checks,
                   std::span<SignatureResult> results) const override {
    bool first;
    {
      absl::MutexLock lock(&mu_);
      first = sizes_.empty();
      sizes_.push_back(checks.size());
    }
    if (first && hold_) {
      entered_.Notify();
      release_.WaitForNotification();
    }
    inner_->VerifyBatch(checks, results);
  }

  bool BatchesWell(JwsAlg alg) const override { return inner_->BatchesWell(alg); }
  void Hold() { hold_ = true; }
  bool WaitUntilHeld() { return entered_.WaitForNotificationWithTimeout(kPatience); }
  void Release() { release_.Notify(); }
  std::vector<size_t> sizes() const {
    absl::MutexLock lock(&mu_);
    return sizes_;
  }

 private:
  const SignatureVerifier* inner_;
  bool hold_ = false;
  mutable absl::Notification entered_;
  mutable absl::Notification release_;
  mutable absl::Mutex mu_;
  mutable std::vector<size_t> sizes_ ABSL_GUARDED_BY(mu_);
};

// Verdicts collects what callbacks deliver, by job index.
class Verdicts {
 public:
  explicit Verdicts(size_t n) : got_(n), calls_(n) {}
  VerifyScheduler::Done For(size_t i) {
    return [this, i](SignatureResult r) {
      absl::MutexLock lock(&mu_);
      got_[i] = r;
      ++calls_[i];
      ++total_;
    };
  }
  bool WaitFor(size_t total) {
    absl::MutexLock lock(&mu_);
    auto enough = [this, total]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return total_ >= total; };
    return mu_.AwaitWithTimeout(absl::Condition(&enough), kPatience);
  }
  SignatureResult got(size_t i) const {
    absl::MutexLock lock(&mu_);
    return got_[i];
  }
  int calls(size_t i) const {
    absl::MutexLock lock(&mu_);
    return calls_[i];
  }
  size_t total() const {
    absl::MutexLock lock(&mu_);
    return total_;
  }

 private:
  mutable absl::Mutex mu_;
  std::vector<SignatureResult> got_ ABSL_GUARDED_BY(mu_);
  std::vector<int> calls_ ABSL_GUARDED_BY(mu_);
  size_t total_ ABSL_GUARDED_BY(mu_) = 0;
};

class VerifySchedulerTest : public ::testing::Test {
 protected:
  // Checks of every kind: ES256 and EdDSA reach the native batch paths,
  // RS256 and ES384 go one by one to OpenSSL.
  static std::vector<OwnedCheck> MixedChecks(int copies) {
    std::vector<OwnedCheck> out;
    const SignatureResult kAll[] = {SignatureResult::kValid, SignatureResult::kInvalid,
                                    SignatureResult::kMalformed};
    for (int c = 0; c < copies; ++c) {
      for (JwsAlg alg : {JwsAlg::kES256, JwsAlg::kEdDSA, JwsAlg::kRS256, JwsAlg::kES384}) {
        for (SignatureResult want : kAll) {
          out.push_back(MakeCheck(alg, c % 3, "message " + std::to_string(out.size()), want));
        }
      }
    }
    return out;
  }

  std::unique_ptr<NativeVerifier> native_ = NativeVerifier::Create();
};

TEST_F(VerifySchedulerTest, VerdictsAreExactlyVerifysUnderConcurrentSubmission) {
  const std::vector<OwnedCheck> checks = MixedChecks(/*copies=*/8);
  Verdicts verdicts(checks.size());
  {
    VerifyScheduler scheduler(VerifyScheduler::Options{.threads = 2, .max_batch = 16});
    std::vector<std::thread> submitters;
    for (size_t t = 0; t < 4; ++t) {
      submitters.emplace_back([&, t] {
        for (size_t i = t; i < checks.size(); i += 4) {
          scheduler.Submit(native_.get(), checks[i].view(), verdicts.For(i));
        }
      });
    }
    for (auto& s : submitters) s.join();
    ASSERT_TRUE(verdicts.WaitFor(checks.size()));
    EXPECT_EQ(scheduler.stats().submitted, checks.size());
    EXPECT_LE(scheduler.stats().largest_batch, 16u);
  }
  for (size_t i = 0; i < checks.size(); ++i) {
    const OwnedCheck& c = checks[i];
    SCOPED_TRACE(std::string(JwsAlgName(c.alg)) + " check " + std::to_string(i));
    EXPECT_EQ(verdicts.calls(i), 1);
    EXPECT_EQ(verdicts.got(i), c.want);
    EXPECT_EQ(verdicts.got(i), native_->Verify(c.alg, *c.key, c.input, c.signature));
  }
}

TEST_F(VerifySchedulerTest, LoneQueuedCheckIsVerifiedWithoutWaitingForABatch) {
  RecordingVerifier verifier(native_.get());
  VerifyScheduler scheduler(
      VerifyScheduler::Options{.threads = 1, .max_batch = 64, .inline_when_idle = false});
  const OwnedCheck c = MakeCheck(JwsAlg::kEdDSA, 0, "alone", SignatureResult::kValid);
  Verdicts verdicts(1);
  scheduler.Submit(&verifier, c.view(), verdicts.For(0));
  // Nothing else is ever submitted: the verdict must still come.
  ASSERT_TRUE(verdicts.WaitFor(1));
  EXPECT_EQ(verdicts.got(0), SignatureResult::kValid);
  EXPECT_EQ(verifier.sizes(), std::vector<size_t>{1});
  EXPECT_EQ(scheduler.stats().batches_by_size[0], 1u);  // bucket "1"
}

TEST_F(VerifySchedulerTest, ChecksQueuedWhileTheWorkerIsBusyFormBatchesOfAtMostMaxBatch) {
  RecordingVerifier verifier(native_.get());
  verifier.Hold();
  VerifyScheduler scheduler(
      VerifyScheduler::Options{.threads = 1, .max_batch = 16, .inline_when_idle = false});
  std::vector<OwnedCheck> checks;
  for (int i = 0; i < 41; ++i) {
    // Every tenth signature is bad: the Ed25519 batch falls back to finding it.
    checks.push_back(MakeCheck(i % 2 ? JwsAlg::kEdDSA : JwsAlg::kES256, i % 3,
                               "m" + std::to_string(i),
                               i % 10 == 5 ? SignatureResult::kInvalid : SignatureResult::kValid));
  }
  Verdicts verdicts(checks.size());
  scheduler.Submit(&verifier, checks[0].view(), verdicts.For(0));
  ASSERT_TRUE(verifier.WaitUntilHeld());  // the worker is inside the first batch
  for (size_t i = 1; i < checks.size(); ++i) {
    scheduler.Submit(&verifier, checks[i].view(), verdicts.For(i));
  }
  EXPECT_EQ(scheduler.stats().queued, 40u);
  verifier.Release();
  ASSERT_TRUE(verdicts.WaitFor(checks.size()));
  // 40 queued checks, max_batch 16: the worker takes 16, 16, then the 8 left.
  EXPECT_EQ(verifier.sizes(), (std::vector<size_t>{1, 16, 16, 8}));
  VerifyScheduler::Stats stats = scheduler.stats();
  EXPECT_EQ(stats.batches, 4u);
  EXPECT_EQ(stats.largest_batch, 16u);
  EXPECT_EQ(stats.batches_by_size[0], 1u);  // "1"
  EXPECT_EQ(stats.batches_by_size[3], 1u);  // "8-15"
  EXPECT_EQ(stats.batches_by_size[4], 2u);  // "16-31"
  for (size_t i = 0; i < checks.size(); ++i) {
    EXPECT_EQ(verdicts.got(i), checks[i].want) << "check " << i;
  }
}

TEST_F(VerifySchedulerTest, BatchesNeverMixVerifiers) {
  RecordingVerifier first(native_.get());
  RecordingVerifier second(native_.get());
  first.Hold();
  // A third verifier, on OpenSSL (its VerifyBatch is the one-by-one default).
  std::unique_ptr<SignatureVerifier> openssl = CreateOpenSslVerifier();
  RecordingVerifier third(openssl.get());
  VerifyScheduler scheduler(
      VerifyScheduler::Options{.threads = 1, .max_batch = 64, .inline_when_idle = false});
  const OwnedCheck c = MakeCheck(JwsAlg::kES256, 0, "shared", SignatureResult::kValid);
  Verdicts verdicts(13);
  scheduler.Submit(&first, c.view(), verdicts.For(0));
  ASSERT_TRUE(first.WaitUntilHeld());
  for (size_t i = 1; i < 13; ++i) {
    const SignatureVerifier* v = i % 3 == 0 ? &first : (i % 3 == 1 ? &second : &third);
    scheduler.Submit(v, c.view(), verdicts.For(i));
  }
  first.Release();
  ASSERT_TRUE(verdicts.WaitFor(13));
  // One pick-up of the 12 queued checks, split into one batch per verifier.
  EXPECT_EQ(first.sizes(), (std::vector<size_t>{1, 4}));
  EXPECT_EQ(second.sizes(), std::vector<size_t>{4});
  EXPECT_EQ(third.sizes(), std::vector<size_t>{4});
  for (size_t i = 0; i < 13; ++i) EXPECT_EQ(verdicts.got(i), SignatureResult::kValid) << i;
}

TEST_F(VerifySchedulerTest, CallbacksMaySubmitAgain) {
  for (bool inline_when_idle : {false, true}) {
    SCOPED_TRACE(inline_when_idle ? "inline when idle" : "always queued");
    VerifyScheduler scheduler(
        VerifyScheduler::Options{.threads = 1, .inline_when_idle = inline_when_idle});
    const OwnedCheck token = MakeCheck(JwsAlg::kRS256, 0, "token", SignatureResult::kValid);
    const OwnedCheck proof = MakeCheck(JwsAlg::kES256, 1, "proof", SignatureResult::kInvalid);
    Verdicts verdicts(2);
    // As for a request whose token missed the cache: the proof's check is
    // submitted from the token's callback (on the worker, or inline).
    scheduler.Submit(native_.get(), token.view(), [&](SignatureResult r) {
      verdicts.For(0)(r);
      scheduler.Submit(native_.get(), proof.view(), verdicts.For(1));
    });
    ASSERT_TRUE(verdicts.WaitFor(2));
    EXPECT_EQ(verdicts.got(0), SignatureResult::kValid);
    EXPECT_EQ(verdicts.got(1), SignatureResult::kInvalid);
  }
}

TEST_F(VerifySchedulerTest, DestructorVerifiesEverythingStillQueued) {
  RecordingVerifier verifier(native_.get());
  verifier.Hold();
  const std::vector<OwnedCheck> checks = MixedChecks(/*copies=*/2);
  Verdicts verdicts(checks.size());
  {
    VerifyScheduler scheduler(
        VerifyScheduler::Options{.threads = 2, .max_batch = 4, .inline_when_idle = false});
    scheduler.Submit(&verifier, checks[0].view(), verdicts.For(0));
    ASSERT_TRUE(verifier.WaitUntilHeld());
    for (size_t i = 1; i < checks.size(); ++i) {
      scheduler.Submit(&verifier, checks[i].view(), verdicts.For(i));
    }
    verifier.Release();
  }  // ~VerifyScheduler: drains the queue, then joins
  EXPECT_EQ(verdicts.total(), checks.size());
  for (size_t i = 0; i < checks.size(); ++i) {
    EXPECT_EQ(verdicts.calls(i), 1) << i;
    EXPECT_EQ(verdicts.got(i), checks[i].want) << i;
  }
}

TEST_F(VerifySchedulerTest, IdleSchedulerVerifiesOnTheCallingThread) {
  VerifyScheduler scheduler(VerifyScheduler::Options{.threads = 2});
  const OwnedCheck c = MakeCheck(JwsAlg::kES256, 0, "idle", SignatureResult::kValid);
  std::thread::id ran_on;
  SignatureResult got = SignatureResult::kInvalid;
  scheduler.Submit(native_.get(), c.view(), [&](SignatureResult r) {
    ran_on = std::this_thread::get_id();
    got = r;
  });
  // Done before Submit returned, on this thread: no hand-off.
  EXPECT_EQ(ran_on, std::this_thread::get_id());
  EXPECT_EQ(got, SignatureResult::kValid);
  EXPECT_EQ(scheduler.stats().inline_checks, 1u);
}

TEST_F(VerifySchedulerTest, ChecksArrivingWhileEveryCoreVerifiesGoToTheWorkers) {
  RecordingVerifier verifier(native_.get());
  verifier.Hold();
  VerifyScheduler scheduler(VerifyScheduler::Options{.threads = 1, .max_batch = 64});
  std::vector<OwnedCheck> checks;
  for (int i = 0; i < 11; ++i) {
    checks.push_back(MakeCheck(JwsAlg::kEdDSA, i % 3, "busy " + std::to_string(i),
                               i == 7 ? SignatureResult::kMalformed : SignatureResult::kValid));
  }
  Verdicts verdicts(checks.size());
  absl::Mutex mu;
  std::vector<std::thread::id> threads(checks.size());
  auto record = [&](size_t i) -> VerifyScheduler::Done {
    return [&, i](SignatureResult r) {
      {
        absl::MutexLock lock(&mu);
        threads[i] = std::this_thread::get_id();
      }
      verdicts.For(i)(r);
    };
  };
  // The first check is verified inline by `first`, and held there: the one
  // core this scheduler has is busy.
  std::thread first([&] { scheduler.Submit(&verifier, checks[0].view(), record(0)); });
  ASSERT_TRUE(verifier.WaitUntilHeld());
  for (size_t i = 1; i < checks.size(); ++i) {
    scheduler.Submit(&verifier, checks[i].view(), record(i));
  }
  const std::thread::id first_id = first.get_id();
  verifier.Release();
  first.join();
  ASSERT_TRUE(verdicts.WaitFor(checks.size()));
  absl::MutexLock lock(&mu);
  EXPECT_EQ(threads[0], first_id);
  for (size_t i = 1; i < checks.size(); ++i) {
    EXPECT_NE(threads[i], std::this_thread::get_id()) << i;  // a worker ran it
    EXPECT_NE(threads[i], threads[0]) << i;
    EXPECT_EQ(verdicts.got(i), checks[i].want) << i;
  }
  EXPECT_EQ(scheduler.stats().inline_checks, 1u);
}

TEST_F(VerifySchedulerTest, OnlyAlgorithmsThatBatchWellAreHandedOffEarly) {
  RecordingVerifier verifier(native_.get());
  verifier.Hold();
  ASSERT_TRUE(verifier.BatchesWell(JwsAlg::kEdDSA));  // forwarded from NativeVerifier
  ASSERT_FALSE(verifier.BatchesWell(JwsAlg::kES256));
  // Two cores: one check in progress leaves one free.
  VerifyScheduler scheduler(VerifyScheduler::Options{.threads = 2});
  const OwnedCheck held = MakeCheck(JwsAlg::kES256, 0, "held", SignatureResult::kValid);
  std::thread first([&] { scheduler.Submit(&verifier, held.view(), [](SignatureResult) {}); });
  ASSERT_TRUE(verifier.WaitUntilHeld());
  // ES256 batches poorly: with a core free it is verified right here.
  const OwnedCheck es = MakeCheck(JwsAlg::kES256, 1, "es", SignatureResult::kValid);
  std::thread::id es_thread;
  scheduler.Submit(&verifier, es.view(),
                   [&](SignatureResult) { es_thread = std::this_thread::get_id(); });
  EXPECT_EQ(es_thread, std::this_thread::get_id());
  // EdDSA batches well: another check is in progress, so it goes to a worker.
  const OwnedCheck ed = MakeCheck(JwsAlg::kEdDSA, 1, "ed", SignatureResult::kValid);
  Verdicts verdicts(1);
  absl::Mutex mu;
  std::thread::id ed_thread;
  scheduler.Submit(&verifier, ed.view(), [&](SignatureResult r) {
    {
      absl::MutexLock lock(&mu);
      ed_thread = std::this_thread::get_id();
    }
    verdicts.For(0)(r);
  });
  ASSERT_TRUE(verdicts.WaitFor(1));
  verifier.Release();
  first.join();
  EXPECT_EQ(verdicts.got(0), SignatureResult::kValid);
  absl::MutexLock lock(&mu);
  EXPECT_NE(ed_thread, std::this_thread::get_id());
  EXPECT_EQ(scheduler.stats().inline_checks, 2u);  // held and es
}

TEST_F(VerifySchedulerTest, ThreadsDefaultToTheCoreCount) {
  VerifyScheduler scheduler;
  EXPECT_EQ(scheduler.threads(), std::max(1u, std::thread::hardware_concurrency()));
  EXPECT_EQ(scheduler.max_batch(), 64u);
  VerifyScheduler zero_batch(VerifyScheduler::Options{.threads = 1, .max_batch = 0});
  EXPECT_EQ(zero_batch.max_batch(), 1u);  // at least one per pick-up
}

}  // namespace
}  // namespace popguard
