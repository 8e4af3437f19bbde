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
// moment it is free, so a busy service, whose queue grows while the workers
// are occupied, gets larger batches, in which
// NativeVerifier shares one s^-1 inversion between ES256 members and one
// multi-scalar multiplication between Ed25519 members.
//
// Hand-offs are kept to the ones that pay. Waking a sleeping worker costs a
// futex wake and a context switch, about 25-30 us of server CPU per request
// at moderate load (bench/README.md), more than batching saves on one
// signature. So (inline_when_idle) while no worker is awake and the cores
// are not all verifying (for an algorithm that batches well, EdDSA: while no
// other check is in progress; SignatureVerifier::BatchesWell), the submitting
// thread verifies its own check at once; beyond that, one worker is woken,
// and while it is awake every new check joins the queue for free and the
// worker takes them as the next batch. Nothing here sleeps except an idle
// worker waiting for work.
//
// The verdict a job receives is exactly what SignatureVerifier::Verify would
// return for it (VerifyBatch's contract): batching changes the cost, never
// the answer. An invalid Ed25519 signature makes its batch fall back to
// one-by-one checks (service/crypto/ed25519/ed25519.h), so a client sending bad signatures
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
#include "service/jose/signature.h"

namespace popguard {

class VerifyScheduler {
 public:
  struct Options {
    // Worker threads; 0 means one per usable CPU: the container's CPU limit
    // when one applies, else the CPUs the process may run on (cpu_count.h).
    size_t threads = 0;
    // The most checks one worker takes at once.
    size_t max_batch = 64;
    // When no worker is awake, none is queued and fewer than `threads`
    // checks are being verified (for algorithms the verifier BatchesWell:
    // none), Submit verifies on the calling thread and
    // runs `done` there (no hand-off, no wake-up: what a lone request costs
    // inline). Otherwise the check joins the queue, and the workers batch
    // it. false: every check goes through the queue.
    bool inline_when_idle = true;
  };

  // Batch sizes are counted in these buckets: 1, 2-3, 4-7, ..., 64 and more.
  static constexpr size_t kSizeBuckets = 7;
  static constexpr std::array<const char*, kSizeBuckets> kSizeBucketNames = {
      "1", "2-3", "4-7", "8-15", "16-31", "32-63", "64+"};

  struct Stats {
    uint64_t submitted = 0;      // jobs ever submitted
    uint64_t inline_checks = 0;  // of those, verified on the submitting thread
    uint64_t batches = 0;        // VerifyBatch rounds (one per worker pick-up and verifier)
    uint64_t largest_batch = 0;
    std::array<uint64_t, kSizeBuckets> batches_by_size{};
    size_t queued = 0;  // waiting now
  };

  using Done = absl::AnyInvocable<void(SignatureResult) &&>;

  explicit VerifyScheduler(Options options);
  VerifyScheduler() : VerifyScheduler(Options()) {}
  VerifyScheduler(const VerifyScheduler&) = delete;
  VerifyScheduler& operator=(const VerifyScheduler&) = delete;
  // Verifies everything still queued, runs its callbacks, joins the workers.
  ~VerifyScheduler();

  // Submit queues `check` for `verifier` and returns at once; `done` runs
  // exactly once, on a worker thread, with the verdict; or, with
  // inline_when_idle and the workers idle, Submit verifies it and runs
  // `done` before returning. `verifier`, the key and the strings `check`
  // views must stay alive until `done` has run (the usual way: `done` owns
  // them).
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
  const bool inline_when_idle_;
  const size_t thread_count_;  // workers_.size(), readable while workers_ is being filled
  mutable std::mutex mu_;
  size_t verifying_ = 0;       // guarded by mu_: checks being verified (inline or in a batch)
  size_t awake_ = 0;           // guarded by mu_: workers not waiting for work
  bool wake_pending_ = false;  // guarded by mu_: notified, no worker woke yet
  std::condition_variable work_;
  std::deque<Job> queue_;  // guarded by mu_
  bool stopping_ = false;  // guarded by mu_
  std::vector<std::thread> workers_;

  std::atomic<uint64_t> submitted_{0};
  std::atomic<uint64_t> inline_checks_{0};
  std::atomic<uint64_t> batches_{0};
  std::atomic<uint64_t> largest_batch_{0};
  std::array<std::atomic<uint64_t>, kSizeBuckets> by_size_{};
};

}  // namespace popguard

#endif  // POPGUARD_SERVICE_VERIFY_SCHEDULER_H_
