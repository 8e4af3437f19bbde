// VerifyScheduler: signature checks from concurrent requests, verified in
// batches on worker threads.
//
//   request threads ── Submit(check, done) ──► queue ──► worker threads
//                                                         take what is queued
//                                                         (≤ max_batch), group
//                                                         by verifier, VerifyBatch,
//                                                         run each done
//
// A worker never waits for a batch to fill: it takes whatever is queued the
// moment it is free, so an idle service verifies each signature on its own
// (the only added cost is one thread hand-off) and a busy one, whose queue
// grows while the workers are occupied, gets larger batches, in which
// NativeVerifier shares one s^-1 inversion between ES256 members and one
// multi-scalar multiplication between Ed25519 members. Nothing here sleeps
// except an idle worker waiting for work.
//
// The verdict a job receives is exactly what SignatureVerifier::Verify would
// return for it (VerifyBatch's contract): batching changes the cost, never
// the answer. An invalid Ed25519 signature makes its batch fall back to
// one-by-one checks (service/ed25519.h), so a client sending bad signatures
// costs its batch neighbours at most one extra batch attempt each.
//
// Callbacks run on a worker thread; they may Submit again (a request whose
// token and proof both need a check submits the second from the first's
// callback) but must not wait for another job. Thread-safe.
#ifndef POPGUARD_SERVICE_VERIFY_SCHEDULER_H_
#define POPGUARD_SERVICE_VERIFY_SCHEDULER_H_

#include <array>
#include <atomic>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <mutex>
#include <thread>
#include <vector>

#include "absl/functional/any_invocable.h"
#include "service/signature.h"

namespace popguard {

class VerifyScheduler {
 public:
  struct Options {
    // Worker threads; 0 means one per core (std::thread::hardware_concurrency).
    size_t threads = 0;
    // The most checks one worker takes at once.
    size_t max_batch = 64;
  };

  // Batch sizes are counted in these buckets: 1, 2-3, 4-7, ..., 64 and more.
  static constexpr size_t kSizeBuckets = 7;
  static constexpr std::array<const char*, kSizeBuckets> kSizeBucketNames = {
      "1", "2-3", "4-7", "8-15", "16-31", "32-63", "64+"};

  struct Stats {
    uint64_t submitted = 0;   // jobs ever submitted
    uint64_t batches = 0;     // VerifyBatch rounds (one per worker pick-up and verifier)
    uint64_t largest_batch = 0;
    std::array<uint64_t, kSizeBuckets> batches_by_size{};
    size_t queued = 0;        // waiting now
  };

  using Done = absl::AnyInvocable<void(SignatureResult) &&>;

  explicit VerifyScheduler(Options options);
  VerifyScheduler() : VerifyScheduler(Options()) {}
  VerifyScheduler(const VerifyScheduler&) = delete;
  VerifyScheduler& operator=(const VerifyScheduler&) = delete;
  // Verifies everything still queued, runs its callbacks, joins the workers.
  ~VerifyScheduler();

  // Submit queues `check` for `verifier` and returns at once; `done` runs
  // exactly once, on a worker thread, with the verdict. `verifier`, the key
  // and the strings `check` views must stay alive until `done` has run (the
  // usual way: `done` owns them).
  void Submit(const SignatureVerifier* verifier, const SignatureCheck& check, Done done);

  size_t threads() const { return workers_.size(); }
  size_t max_batch() const { return max_batch_; }
  Stats stats() const;

 private:
  struct Job {
    const SignatureVerifier* verifier;
    SignatureCheck check;
    Done done;
  };

  void WorkerLoop();
  // RunBatch verifies `jobs` (grouped by verifier) and runs their callbacks.
  void RunBatch(std::vector<Job>& jobs);
  void CountBatch(size_t size);

  const size_t max_batch_;
  mutable std::mutex mu_;
  std::condition_variable work_;
  std::deque<Job> queue_;  // guarded by mu_
  bool stopping_ = false;  // guarded by mu_
  std::vector<std::thread> workers_;

  std::atomic<uint64_t> submitted_{0};
  std::atomic<uint64_t> batches_{0};
  std::atomic<uint64_t> largest_batch_{0};
  std::array<std::atomic<uint64_t>, kSizeBuckets> by_size_{};
};

}  // namespace popguard

#endif  // POPGUARD_SERVICE_VERIFY_SCHEDULER_H_
