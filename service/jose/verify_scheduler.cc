#include "service/jose/verify_scheduler.h"

#include <pthread.h>

#include <algorithm>
#include <bit>
#include <string>
#include <utility>

#include "service/common/cpu_count.h"

namespace popguard {

namespace {
// 0: one per CPU the process may use, which in a container is its CPU limit,
// not the node's cores (service/common/cpu_count.h).
size_t ThreadCount(size_t requested) {
  return requested != 0 ? requested : static_cast<size_t>(CountUsableCpus().count);
}
}  // namespace

VerifyScheduler::VerifyScheduler(Options options)
    : max_batch_(std::max<size_t>(1, options.max_batch)),
      inline_when_idle_(options.inline_when_idle),
      thread_count_(ThreadCount(options.threads)) {
  workers_.reserve(thread_count_);
  for (size_t i = 0; i < thread_count_; ++i) {
    workers_.emplace_back([this, i] {
      // Named for top, perf and gdb (at most 15 characters).
      pthread_setname_np(pthread_self(), ("pg-verify-" + std::to_string(i)).substr(0, 15).c_str());
      WorkerLoop();
    });
  }
}

VerifyScheduler::~VerifyScheduler() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
  }
  work_.notify_all();
  for (std::thread& t : workers_) t.join();
}

void VerifyScheduler::Submit(const SignatureVerifier* verifier, const SignatureCheck& check,
                             Done done) {
  submitted_.fetch_add(1, std::memory_order_relaxed);
  bool run_here;
  bool wake = false;
  {
    std::lock_guard<std::mutex> lock(mu_);
    // Idle (no worker awake, nothing queued, a core free of verification
    // work): verify here, with no hand-off. Otherwise join the queue: while a
    // worker is awake that costs nothing (it takes the queue when its batch
    // is done, so checks arriving meanwhile form the next batch); when none
    // is, wake one. A non-empty queue always means joining it, so no check
    // overtakes queued ones. "A core free" depends on the algorithm: one
    // that batches well (EdDSA) starts a batch as soon as two checks
    // overlap; for the others (ES256) a batch saves less than the wake-up
    // costs, so they go to a worker only when every core is verifying.
    const size_t inline_limit = verifier->BatchesWell(check.alg) ? 1 : thread_count_;
    run_here = inline_when_idle_ && awake_ == 0 && queue_.empty() && verifying_ < inline_limit;
    if (run_here) {
      ++verifying_;
    } else {
      queue_.push_back(Job{verifier, check, std::move(done)});
      wake = awake_ == 0 && !wake_pending_;
      if (wake) wake_pending_ = true;
    }
  }
  if (run_here) {
    inline_checks_.fetch_add(1, std::memory_order_relaxed);
    SignatureResult result = SignatureResult::kInvalid;
    verifier->VerifyBatch(std::span<const SignatureCheck>(&check, 1),
                          std::span<SignatureResult>(&result, 1));
    CountBatch(1);
    {
      std::lock_guard<std::mutex> lock(mu_);
      --verifying_;
    }
    // Checks queued meanwhile are the workers' (they were woken for them).
    std::move(done)(result);
    return;
  }
  if (wake) work_.notify_one();
}

void VerifyScheduler::WorkerLoop() {
  std::vector<Job> jobs;
  jobs.reserve(max_batch_);
  bool counted_awake = false;
  for (;;) {
    {
      std::unique_lock<std::mutex> lock(mu_);
      // awake_ counts the workers woken for work and not yet back to sleep;
      // a worker that has never slept is not counted (the scheduler is idle
      // from construction on).
      while (!stopping_ && queue_.empty()) {
        if (counted_awake) --awake_;
        work_.wait(lock);
        ++awake_;
        counted_awake = true;
        wake_pending_ = false;
      }
      // Stopping: leave only once the queue is empty, so every submitted job
      // (including ones a callback submits during shutdown) gets its verdict.
      if (queue_.empty()) return;
      // Whatever is queued, up to max_batch: never wait for more to arrive.
      const size_t n = std::min(queue_.size(), max_batch_);
      for (size_t i = 0; i < n; ++i) {
        jobs.push_back(std::move(queue_.front()));
        queue_.pop_front();
      }
      verifying_ += n;
      // A backlog beyond one batch: let another sleeping worker share it.
      if (!queue_.empty() && awake_ < thread_count_) work_.notify_one();
    }
    const size_t n = jobs.size();
    RunBatch(jobs);
    jobs.clear();
    std::lock_guard<std::mutex> lock(mu_);
    verifying_ -= n;
  }
}

void VerifyScheduler::RunBatch(std::vector<Job>& jobs) {
  // Group by verifier (a config reload briefly leaves two Authenticators,
  // each with its own verifier, submitting at once). The verifier's
  // VerifyBatch groups by algorithm in turn.
  std::stable_sort(jobs.begin(), jobs.end(), [](const Job& a, const Job& b) {
    return std::less<const SignatureVerifier*>()(a.verifier, b.verifier);
  });
  std::vector<SignatureCheck> checks;
  std::vector<SignatureResult> results;
  checks.reserve(jobs.size());
  results.reserve(jobs.size());
  size_t begin = 0;
  while (begin < jobs.size()) {
    size_t end = begin;
    while (end < jobs.size() && jobs[end].verifier == jobs[begin].verifier) ++end;
    checks.clear();
    for (size_t i = begin; i < end; ++i) checks.push_back(jobs[i].check);
    results.assign(checks.size(), SignatureResult::kInvalid);
    jobs[begin].verifier->VerifyBatch(checks, std::span<SignatureResult>(results));
    CountBatch(checks.size());
    for (size_t i = begin; i < end; ++i) std::move(jobs[i].done)(results[i - begin]);
    begin = end;
  }
}

void VerifyScheduler::CountBatch(size_t size) {
  batches_.fetch_add(1, std::memory_order_relaxed);
  uint64_t largest = largest_batch_.load(std::memory_order_relaxed);
  while (size > largest &&
         !largest_batch_.compare_exchange_weak(largest, size, std::memory_order_relaxed)) {
  }
  // Bucket b holds sizes in [2^b, 2^(b+1)); the last one everything above.
  const size_t bucket = std::min<size_t>(std::bit_width(size) - 1, kSizeBuckets - 1);
  by_size_[bucket].fetch_add(1, std::memory_order_relaxed);
}

VerifyScheduler::Stats VerifyScheduler::stats() const {
  Stats s;
  s.submitted = submitted_.load(std::memory_order_relaxed);
  s.inline_checks = inline_checks_.load(std::memory_order_relaxed);
  s.batches = batches_.load(std::memory_order_relaxed);
  s.largest_batch = largest_batch_.load(std::memory_order_relaxed);
  for (size_t i = 0; i < kSizeBuckets; ++i) {
    s.batches_by_size[i] = by_size_[i].load(std::memory_order_relaxed);
  }
  std::lock_guard<std::mutex> lock(mu_);
  s.queued = queue_.size();
  return s;
}

}  // namespace popguard
