#include "service/verify_scheduler.h"

#include <pthread.h>

#include <algorithm>
#include <bit>
#include <string>
#include <utility>

namespace popguard {

VerifyScheduler::VerifyScheduler(Options options)
    : max_batch_(std::max<size_t>(1, options.max_batch)) {
  size_t threads = options.threads;
  if (threads == 0) threads = std::max(1u, std::thread::hardware_concurrency());
  workers_.reserve(threads);
  for (size_t i = 0; i < threads; ++i) {
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
  {
    std::lock_guard<std::mutex> lock(mu_);
    queue_.push_back(Job{verifier, check, std::move(done)});
  }
  // With every worker busy there is no waiter and this costs no system call;
  // the job is picked up when a worker finishes its current batch.
  work_.notify_one();
}

void VerifyScheduler::WorkerLoop() {
  std::vector<Job> jobs;
  jobs.reserve(max_batch_);
  for (;;) {
    {
      std::unique_lock<std::mutex> lock(mu_);
      work_.wait(lock, [this] { return stopping_ || !queue_.empty(); });
      // Stopping: leave only once the queue is empty, so every submitted job
      // (including ones a callback submits during shutdown) gets its verdict.
      if (queue_.empty()) return;
      // Whatever is queued, up to max_batch: never wait for more to arrive.
      const size_t n = std::min(queue_.size(), max_batch_);
      for (size_t i = 0; i < n; ++i) {
        jobs.push_back(std::move(queue_.front()));
        queue_.pop_front();
      }
      // A backlog beyond one batch: let another idle worker share it.
      if (!queue_.empty()) work_.notify_one();
    }
    RunBatch(jobs);
    jobs.clear();
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
