// VerifyScheduler (service/jose/verify_scheduler.h) over NativeVerifier: what a
// signature check costs when it is handed to the scheduler's worker threads,
// against verifying it inline and against one OpenSSL EVP verify. Everything
// is CPU time of the whole process (MeasureProcessCPUTime), so the workers'
// CPU and the benchmark thread's submitting and waiting all count.
//
// Workload, per algorithm (ES256, EdDSA): kKeys = 64 distinct keys
// (PrivateKey::Generate), each with one signature (PrivateKey::Sign) over its
// own kMessageBytes = 370-byte signing input (the size of a DPoP proof's).
// The benchmarks cycle through the keys, so neighbouring checks never share a
// key. All benchmarks share one NativeVerifier, and the ES256 keys are HOT:
// before any timing each key is verified kWarmRounds times, so the verifier
// has built every key's comb table (a returning DPoP client; a key seen for
// the first time costs several times more, see BM_NativeCold in
// es256_benchmark.cc). An ES256 benchmark fails if a key turns out cold.
// EdDSA keeps no per-key state.
//
//   BM_OpenSsl/<alg>             the yardstick alone: OpenSslBaseline::VerifyPreparsed
//                                (EVP, key parsed once); x_openssl ~ 1 by construction
//   BM_Inline/<alg>              NativeVerifier::Verify called in the loop, one thread
//   BM_Scheduled/<alg>/<burst>   the benchmark thread submits `burst` checks (1, 8, 64)
//                                to a VerifyScheduler (threads = 2, max_batch = 64,
//                                inline_when_idle = false: every check handed off)
//                                and waits until all their callbacks have run;
//                                repeatedly. Burst 1 is an idle service: two thread
//                                hand-offs per signature, no batching.
//   BM_ScheduledOneBad/EdDSA/64  as BM_Scheduled/EdDSA/64, but one signature in
//                                every burst is invalid (well-formed, signed by the
//                                right key over another input): the Ed25519 batch
//                                it lands in falls back to one-by-one checks.
//
// One iteration is one signature (BM_OpenSsl, BM_Inline) or one burst
// (BM_Scheduled*), so read the counters, not the Time/CPU columns:
//   us_per_sig  process CPU microseconds per signature in the timed loop
//   x_openssl   us_per_sig / one OpenSSL EVP verify of the same algorithm with
//               a pre-parsed key (thread CPU, measured just before and just
//               after the loop: AdjacentBaseline, bench/bench_util.h)
//   openssl_us  that yardstick, in microseconds
//   mean_batch  (BM_Scheduled*) checks per VerifyBatch call the workers made
//   caller_us_per_sig  (BM_Scheduled*) the part of us_per_sig spent in the
//               benchmark thread (submitting, waiting); the rest is the workers'
// items_per_second is signatures per second of wall time.
//
// Run it properly (not the ctest smoke run) with, from the source tree:
//   ./build/bench/scheduler_benchmark --benchmark_min_time=1 --benchmark_repetitions=3
//       --benchmark_report_aggregates_only=true
// (one command line).
// On a 2-core machine the two workers and the submitting thread share the
// cores: other load on the machine moves the scheduled figures more than the
// inline ones, and can split a burst into smaller batches (watch mean_batch).
#include <time.h>

#include <atomic>
#include <cstdint>
#include <cstdlib>
#include <iostream>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "bench/bench_util.h"
#include "bench/openssl_baseline.h"
#include "benchmark/benchmark.h"
#include "service/jose/native_verifier.h"
#include "service/jose/signature.h"
#include "service/jose/verify_scheduler.h"
#include "service/server/process_setup.h"
#include "service/tools/mint/signer.h"

namespace popguard::bench {
namespace {

constexpr size_t kKeys = 64;
constexpr size_t kMessageBytes = 370;
// Two verifications make an ES256 key's table; one more checks it is used.
constexpr int kWarmRounds = 3;
// A burst whose callbacks have not all run by then means the scheduler lost
// a job: fail the benchmark rather than hang ctest.
constexpr absl::Duration kBurstTimeout = absl::Seconds(30);

[[noreturn]] void Die(const std::string& what) {
  std::cerr << "scheduler_benchmark: " << what << "\n";
  std::abort();
}

template <typename T>
T Check(absl::StatusOr<T> v, const char* what) {
  if (!v.ok()) Die(std::string(what) + ": " + std::string(v.status().message()));
  return *std::move(v);
}

int64_t ProcessCpuNanos() {
  timespec ts;
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return static_cast<int64_t>(ts.tv_sec) * 1000000000 + ts.tv_nsec;
}

// One algorithm's keys, inputs and signatures. Heap-allocated and never
// moved: the checks view its strings.
struct AlgCorpus {
  JwsAlg alg = JwsAlg::kES256;
  std::vector<PrivateKey> keys;
  std::vector<std::string> inputs;
  std::vector<std::string> signatures;         // valid: key i over inputs[i]
  std::vector<std::string> bad_signatures;     // key i over a different input
  std::vector<SignatureCheck> checks;          // kValid
  std::vector<SignatureCheck> bad_checks;      // kInvalid
  std::unique_ptr<OpenSslBaseline> yardstick;  // key 0, inputs[0]

  void VerifyYardstick() const { benchmark::DoNotOptimize(yardstick->VerifyPreparsed(inputs[0])); }
  AdjacentBaseline Baseline() const {
    return AdjacentBaseline([this] { VerifyYardstick(); });
  }
};

// SigningInput returns a JWS-like "header.payload" of base64url characters.
std::string SigningInput(std::mt19937_64& rng) {
  static constexpr char kAlphabet[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  std::string s(kMessageBytes, 'A');
  for (char& ch : s) ch = kAlphabet[rng() % 64];
  s[130] = '.';
  return s;
}

std::unique_ptr<AlgCorpus> MakeCorpus(JwsAlg alg, uint64_t seed) {
  auto c = std::make_unique<AlgCorpus>();
  c->alg = alg;
  std::mt19937_64 rng(seed);
  for (size_t i = 0; i < kKeys; ++i) {
    c->keys.push_back(Check(PrivateKey::Generate(alg), "keygen"));
    c->inputs.push_back(SigningInput(rng));
    c->signatures.push_back(Check(c->keys[i].Sign(alg, c->inputs[i]), "sign"));
    std::string other = c->inputs[i];
    other.back() = other.back() == 'A' ? 'B' : 'A';
    c->bad_signatures.push_back(Check(c->keys[i].Sign(alg, other), "sign"));
  }
  // Only now that the strings stay put.
  for (size_t i = 0; i < kKeys; ++i) {
    const PublicKey* key = c->keys[i].public_key().get();
    c->checks.push_back({alg, key, c->inputs[i], c->signatures[i]});
    c->bad_checks.push_back({alg, key, c->inputs[i], c->bad_signatures[i]});
  }
  c->yardstick =
      Check(OpenSslBaseline::Create(alg, *c->keys[0].public_key(), c->signatures[0]), "baseline");
  if (!c->yardstick->VerifyPreparsed(c->inputs[0])) Die("the yardstick does not verify");
  return c;
}

struct Fixture {
  std::unique_ptr<NativeVerifier> verifier;
  std::map<JwsAlg, std::unique_ptr<AlgCorpus>> algs;
};

const Fixture& F() {
  static const Fixture* const f = [] {
    auto* fx = new Fixture;
    fx->verifier = NativeVerifier::Create();
    fx->algs[JwsAlg::kES256] = MakeCorpus(JwsAlg::kES256, 1);
    fx->algs[JwsAlg::kEdDSA] = MakeCorpus(JwsAlg::kEdDSA, 2);
    // Warm up (and check the corpus): every ES256 key gets its table here.
    for (int round = 0; round < kWarmRounds; ++round) {
      for (const auto& [alg, c] : fx->algs) {
        for (size_t i = 0; i < kKeys; ++i) {
          const SignatureCheck& k = c->checks[i];
          const SignatureCheck& b = c->bad_checks[i];
          if (fx->verifier->Verify(k.alg, *k.key, k.signing_input, k.signature) !=
                  SignatureResult::kValid ||
              fx->verifier->Verify(b.alg, *b.key, b.signing_input, b.signature) !=
                  SignatureResult::kInvalid) {
            Die("the native verifier disagrees with the corpus");
          }
        }
      }
    }
    return fx;
  }();
  return *f;
}

// ColdCount is how many ES256 verifications so far ran without a key table.
uint64_t ColdCount(const NativeVerifier& v) {
  const NativeVerifier::Stats s = v.stats();
  return s.es256_cold + s.es256_delegated;
}

// Report sets the per-signature counters from the loop's process CPU time;
// call it once the loop's time has been read (Finish measures again).
void Report(benchmark::State& state, int64_t cpu_ns, int64_t signatures,
            const AdjacentBaseline& baseline) {
  state.SetItemsProcessed(signatures);
  if (signatures <= 0) return;
  const double ns = static_cast<double>(cpu_ns) / static_cast<double>(signatures);
  const double openssl_ns = baseline.Finish();
  state.counters["us_per_sig"] = ns / 1000;
  state.counters["openssl_us"] = openssl_ns / 1000;
  SetRatio(state, "x_openssl", ns, openssl_ns);
}

void BM_OpenSsl(benchmark::State& state, JwsAlg alg) {
  const AlgCorpus& c = *F().algs.at(alg);
  AdjacentBaseline baseline = c.Baseline();
  bool ok = true;
  const int64_t start = ProcessCpuNanos();
  for (auto _ : state) ok &= c.yardstick->VerifyPreparsed(c.inputs[0]);
  const int64_t cpu_ns = ProcessCpuNanos() - start;
  if (!ok) state.SkipWithError("OpenSSL rejected a valid signature");
  Report(state, cpu_ns, state.iterations(), baseline);
}

void BM_Inline(benchmark::State& state, JwsAlg alg) {
  const Fixture& f = F();
  const AlgCorpus& c = *f.algs.at(alg);
  AdjacentBaseline baseline = c.Baseline();
  const uint64_t cold_before = ColdCount(*f.verifier);
  bool ok = true;
  size_t i = 0;
  const int64_t start = ProcessCpuNanos();
  for (auto _ : state) {
    const SignatureCheck& k = c.checks[i];
    ok &=
        f.verifier->Verify(k.alg, *k.key, k.signing_input, k.signature) == SignatureResult::kValid;
    i = (i + 1) % kKeys;
  }
  const int64_t cpu_ns = ProcessCpuNanos() - start;
  if (!ok) state.SkipWithError("rejected a valid signature");
  if (ColdCount(*f.verifier) != cold_before) state.SkipWithError("ES256 keys were not hot");
  Report(state, cpu_ns, state.iterations(), baseline);
}

// BurstWaiter lets the benchmark thread wait for one burst's callbacks: each
// callback counts down an atomic, and only the last one takes the mutex to
// wake the waiter, so the workers do not contend on it per check.
class BurstWaiter {
 public:
  // Start arms the waiter for `n` callbacks; call before submitting them.
  void Start(int n) { remaining_.store(n, std::memory_order_relaxed); }

  VerifyScheduler::Done Callback(SignatureResult expected) {
    return [this, expected](SignatureResult r) {
      if (r != expected) wrong_.fetch_add(1, std::memory_order_relaxed);
      if (remaining_.fetch_sub(1, std::memory_order_acq_rel) == 1) {
        absl::MutexLock lock(&mu_);
        done_ = true;
      }
    };
  }

  // Wait returns once the armed burst's callbacks have all run (true), or
  // false after kBurstTimeout.
  bool Wait() {
    absl::MutexLock lock(&mu_);
    if (!mu_.AwaitWithTimeout(absl::Condition(&done_), kBurstTimeout)) return false;
    done_ = false;
    return true;
  }

  int wrong() const { return wrong_.load(std::memory_order_relaxed); }

 private:
  std::atomic<int> remaining_{0};
  std::atomic<int> wrong_{0};
  absl::Mutex mu_;
  bool done_ ABSL_GUARDED_BY(mu_) = false;
};

void RunScheduled(benchmark::State& state, JwsAlg alg, bool one_bad) {
  const Fixture& f = F();
  const AlgCorpus& c = *f.algs.at(alg);
  const size_t burst = static_cast<size_t>(state.range(0));
  // Declared before the scheduler so it outlives every callback (the
  // scheduler's destructor runs whatever is still queued).
  BurstWaiter waiter;
  // inline_when_idle off: a burst submitted from one thread would otherwise
  // be verified inline, check by check, before each Submit returns (it is
  // never more than one check in progress); this measures the hand-off and
  // batching path itself.
  VerifyScheduler scheduler({.threads = 2, .max_batch = 64, .inline_when_idle = false});
  AdjacentBaseline baseline = c.Baseline();
  const uint64_t cold_before = ColdCount(*f.verifier);
  size_t next = 0;
  uint64_t bursts = 0;
  const int64_t caller_start = ThreadCpuNanos();
  const int64_t start = ProcessCpuNanos();
  for (auto _ : state) {
    // The bad check moves through the burst so it lands in different batches.
    const size_t bad_at = one_bad ? bursts % burst : burst;
    waiter.Start(static_cast<int>(burst));
    for (size_t j = 0; j < burst; ++j) {
      const bool bad = j == bad_at;
      scheduler.Submit(f.verifier.get(), bad ? c.bad_checks[next] : c.checks[next],
                       waiter.Callback(bad ? SignatureResult::kInvalid : SignatureResult::kValid));
      next = (next + 1) % kKeys;
    }
    if (!waiter.Wait()) {
      state.SkipWithError("a burst's callbacks did not all run in time");
      break;
    }
    ++bursts;
  }
  const int64_t cpu_ns = ProcessCpuNanos() - start;
  const int64_t caller_ns = ThreadCpuNanos() - caller_start;
  if (waiter.wrong() != 0) state.SkipWithError("wrong verdicts");
  if (ColdCount(*f.verifier) != cold_before) state.SkipWithError("ES256 keys were not hot");
  const VerifyScheduler::Stats s = scheduler.stats();
  if (s.batches > 0) {
    state.counters["mean_batch"] =
        static_cast<double>(s.submitted) / static_cast<double>(s.batches);
  }
  if (bursts > 0) {
    state.counters["caller_us_per_sig"] =
        static_cast<double>(caller_ns) / 1000 / static_cast<double>(bursts * burst);
  }
  Report(state, cpu_ns, static_cast<int64_t>(bursts * burst), baseline);
}

void BM_Scheduled(benchmark::State& state, JwsAlg alg) { RunScheduled(state, alg, false); }
void BM_ScheduledOneBad(benchmark::State& state, JwsAlg alg) { RunScheduled(state, alg, true); }

void ProcessCpu(benchmark::internal::Benchmark* b) {
  b->MeasureProcessCPUTime()->UseRealTime()->Unit(benchmark::kMicrosecond);
}

BENCHMARK_CAPTURE(BM_OpenSsl, ES256, JwsAlg::kES256)->Apply(ProcessCpu);
BENCHMARK_CAPTURE(BM_Inline, ES256, JwsAlg::kES256)->Apply(ProcessCpu);
BENCHMARK_CAPTURE(BM_Scheduled, ES256, JwsAlg::kES256)->Arg(1)->Arg(8)->Arg(64)->Apply(ProcessCpu);
BENCHMARK_CAPTURE(BM_OpenSsl, EdDSA, JwsAlg::kEdDSA)->Apply(ProcessCpu);
BENCHMARK_CAPTURE(BM_Inline, EdDSA, JwsAlg::kEdDSA)->Apply(ProcessCpu);
BENCHMARK_CAPTURE(BM_Scheduled, EdDSA, JwsAlg::kEdDSA)->Arg(1)->Arg(8)->Arg(64)->Apply(ProcessCpu);
BENCHMARK_CAPTURE(BM_ScheduledOneBad, EdDSA, JwsAlg::kEdDSA)->Arg(64)->Apply(ProcessCpu);

}  // namespace
}  // namespace popguard::bench

int main(int argc, char** argv) {
  // As the server does: no Abseil mutex deadlock detection on the lock paths
  // measured here.
  popguard::ConfigureProcessForServing();
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
