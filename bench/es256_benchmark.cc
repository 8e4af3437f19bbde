// ES256 verification: OpenSSL against the native core (service/crypto/p256/p256.h via
// NativeVerifier), same binary, same run. Each benchmark verifies a real
// signature over a 350-byte signing input (the size of a DPoP proof's), so
// SHA-256 is included everywhere.
//
//   BM_OpenSslEvp          EVP_DigestVerifyInit + EVP_DigestVerify, key
//                          pre-parsed, DER signature prepared: the baseline.
//   BM_OpenSslVerifier     popguard's OpenSSL SignatureVerifier (adds raw ->
//                          DER conversion and range checks).
//   BM_NativeHot           NativeVerifier, key table ready (issuer key, or a
//                          client key seen before).
//   BM_NativeCold          NativeVerifier, key never seen: reads the point
//                          out of OpenSSL (~5 us) and verifies without table.
//   BM_NativeColdKnownKey  the core without a table, point already read.
//   BM_*Batch/64           64 signatures per iteration (VerifyBatch).
//   BM_KeyTableBuild       building one key's comb table.
//   BM_ReadPoint           reading x || y out of OpenSSL (first sight only).
//   BM_Paired*             OpenSSL and native alternating in one loop: the
//                          ratios to quote on a machine with varying load.
//   BM_HotKeyWindow/w, BM_BaseCombWindow/w: the table window choices.
//
// After the runs a summary prints CPU time per verification and the ratios to
// BM_OpenSslEvp (medians over repetitions). Run by hand, see bench/README.md.
#include <openssl/core_names.h>
#include <openssl/ecdsa.h>
#include <openssl/evp.h>
#include <openssl/sha.h>

#include <algorithm>
#include <cstdio>
#include <ctime>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "benchmark/benchmark.h"
#include "service/crypto/p256/p256.h"
#include "service/jose/jwk.h"
#include "service/jose/native_verifier.h"
#include "service/jose/signature.h"
#include "service/tools/mint/signer.h"

namespace popguard {
namespace {

constexpr int kBatch = 64;

struct Fixture {
  std::unique_ptr<PrivateKey> key;
  std::shared_ptr<const PublicKey> pub;
  std::string xy;                   // affine point, 64 bytes
  std::vector<std::string> inputs;  // kBatch signing inputs
  std::vector<std::string> sigs;    // raw r || s
  std::vector<std::string> ders;    // DER, for the EVP baseline
  EVP_MD* sha256 = nullptr;
};

std::string ToDer(const std::string& raw) {
  ECDSA_SIG* sig = ECDSA_SIG_new();
  ECDSA_SIG_set0(sig, BN_bin2bn(reinterpret_cast<const unsigned char*>(raw.data()), 32, nullptr),
                 BN_bin2bn(reinterpret_cast<const unsigned char*>(raw.data()) + 32, 32, nullptr));
  unsigned char* der = nullptr;
  const int len = i2d_ECDSA_SIG(sig, &der);
  std::string out(reinterpret_cast<char*>(der), static_cast<size_t>(len));
  OPENSSL_free(der);
  ECDSA_SIG_free(sig);
  return out;
}

const Fixture& F() {
  static const Fixture* f = [] {
    auto* fx = new Fixture();
    fx->key = std::make_unique<PrivateKey>(*PrivateKey::Generate(JwsAlg::kES256));
    fx->pub = fx->key->public_key();
    unsigned char point[65];
    size_t len = 0;
    EVP_PKEY_get_octet_string_param(fx->pub->pkey(), OSSL_PKEY_PARAM_PUB_KEY, point, sizeof(point),
                                    &len);
    fx->xy.assign(reinterpret_cast<char*>(point) + 1, 64);
    for (int i = 0; i < kBatch; ++i) {
      std::string input(350, 'a' + static_cast<char>(i % 26));
      input[100] = '.';
      input += std::to_string(i);
      fx->sigs.push_back(*fx->key->Sign(JwsAlg::kES256, input));
      fx->ders.push_back(ToDer(fx->sigs.back()));
      fx->inputs.push_back(std::move(input));
    }
    fx->sha256 = EVP_MD_fetch(nullptr, "SHA2-256", nullptr);
    return fx;
  }();
  return *f;
}

bool EvpVerify(EVP_MD_CTX* ctx, const Fixture& f, int i) {
  EVP_MD_CTX_reset(ctx);
  return EVP_DigestVerifyInit(ctx, nullptr, f.sha256, nullptr, f.pub->pkey()) == 1 &&
         EVP_DigestVerify(
             ctx, reinterpret_cast<const unsigned char*>(f.ders[i].data()), f.ders[i].size(),
             reinterpret_cast<const unsigned char*>(f.inputs[i].data()), f.inputs[i].size()) == 1;
}

void Check(benchmark::State& state, bool ok) {
  if (!ok) state.SkipWithError("verification failed");
}

void BM_OpenSslEvp(benchmark::State& state) {
  const Fixture& f = F();
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  int i = 0;
  for (auto _ : state) {
    Check(state, EvpVerify(ctx, f, i));
    i = (i + 1) % kBatch;
  }
  EVP_MD_CTX_free(ctx);
}
BENCHMARK(BM_OpenSslEvp)->Unit(benchmark::kMicrosecond);

void BM_OpenSslVerifier(benchmark::State& state) {
  const Fixture& f = F();
  SignatureVerifierPtr v = CreateOpenSslVerifier();
  int i = 0;
  for (auto _ : state) {
    Check(state,
          v->Verify(JwsAlg::kES256, *f.pub, f.inputs[i], f.sigs[i]) == SignatureResult::kValid);
    i = (i + 1) % kBatch;
  }
}
BENCHMARK(BM_OpenSslVerifier)->Unit(benchmark::kMicrosecond);

void BM_NativeHot(benchmark::State& state) {
  const Fixture& f = F();
  std::unique_ptr<NativeVerifier> v = NativeVerifier::Create();
  v->PrepareKeys(std::vector<std::shared_ptr<const PublicKey>>{f.pub});
  int i = 0;
  for (auto _ : state) {
    Check(state,
          v->Verify(JwsAlg::kES256, *f.pub, f.inputs[i], f.sigs[i]) == SignatureResult::kValid);
    i = (i + 1) % kBatch;
  }
  if (v->stats().es256_cold != 0) state.SkipWithError("not hot");
}
BENCHMARK(BM_NativeHot)->Unit(benchmark::kMicrosecond);

void BM_NativeCold(benchmark::State& state) {
  const Fixture& f = F();
  NativeVerifier::Options options;
  options.client_key_cache_entries = 0;  // every verification meets the key for the first time
  std::unique_ptr<NativeVerifier> v = NativeVerifier::Create(options);
  int i = 0;
  for (auto _ : state) {
    Check(state,
          v->Verify(JwsAlg::kES256, *f.pub, f.inputs[i], f.sigs[i]) == SignatureResult::kValid);
    i = (i + 1) % kBatch;
  }
}
BENCHMARK(BM_NativeCold)->Unit(benchmark::kMicrosecond);

void BM_NativeColdKnownKey(benchmark::State& state) {
  const Fixture& f = F();
  const p256::EcdsaPublicKey key =
      *p256::EcdsaPublicKey::FromAffineBytes_vartime(reinterpret_cast<const uint8_t*>(f.xy.data()));
  int i = 0;
  for (auto _ : state) {
    uint8_t digest[32];
    SHA256(reinterpret_cast<const uint8_t*>(f.inputs[i].data()), f.inputs[i].size(), digest);
    Check(state, p256::EcdsaVerifyDigest_vartime(
                     key, nullptr, digest, reinterpret_cast<const uint8_t*>(f.sigs[i].data())) ==
                     p256::EcdsaVerdict::kValid);
    i = (i + 1) % kBatch;
  }
}
BENCHMARK(BM_NativeColdKnownKey)->Unit(benchmark::kMicrosecond);

std::vector<SignatureCheck> Checks(const Fixture& f) {
  std::vector<SignatureCheck> checks;
  for (int i = 0; i < kBatch; ++i) {
    checks.push_back({JwsAlg::kES256, f.pub.get(), f.inputs[i], f.sigs[i]});
  }
  return checks;
}

void RunBatch(benchmark::State& state, const NativeVerifier& v) {
  const std::vector<SignatureCheck> checks = Checks(F());
  std::vector<SignatureResult> results(checks.size());
  for (auto _ : state) {
    v.VerifyBatch(checks, results);
    for (SignatureResult r : results) Check(state, r == SignatureResult::kValid);
  }
  state.SetItemsProcessed(state.iterations() * kBatch);
}

void BM_NativeHotBatch(benchmark::State& state) {
  std::unique_ptr<NativeVerifier> v = NativeVerifier::Create();
  v->PrepareKeys(std::vector<std::shared_ptr<const PublicKey>>{F().pub});
  RunBatch(state, *v);
}
BENCHMARK(BM_NativeHotBatch)->Arg(kBatch)->Unit(benchmark::kMicrosecond);

void BM_NativeColdBatch(benchmark::State& state) {
  NativeVerifier::Options options;
  options.client_key_cache_entries = 0;
  std::unique_ptr<NativeVerifier> v = NativeVerifier::Create(options);
  RunBatch(state, *v);
}
BENCHMARK(BM_NativeColdBatch)->Arg(kBatch)->Unit(benchmark::kMicrosecond);

void BM_OpenSslEvpBatch(benchmark::State& state) {
  const Fixture& f = F();
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  for (auto _ : state) {
    for (int i = 0; i < kBatch; ++i) Check(state, EvpVerify(ctx, f, i));
  }
  state.SetItemsProcessed(state.iterations() * kBatch);
  EVP_MD_CTX_free(ctx);
}
BENCHMARK(BM_OpenSslEvpBatch)->Arg(kBatch)->Unit(benchmark::kMicrosecond);

// BM_ReadPoint is the cost of reading a key's x || y back out of OpenSSL,
// paid once per key on first sight (part of BM_NativeCold).
void BM_ReadPoint(benchmark::State& state) {
  const Fixture& f = F();
  for (auto _ : state) {
    unsigned char point[65];
    size_t len = 0;
    Check(state, EVP_PKEY_get_octet_string_param(f.pub->pkey(), OSSL_PKEY_PARAM_PUB_KEY, point,
                                                 sizeof(point), &len) == 1);
    benchmark::DoNotOptimize(point);
  }
}
BENCHMARK(BM_ReadPoint)->Unit(benchmark::kMicrosecond);

void BM_KeyTableBuild(benchmark::State& state) {
  const p256::EcdsaPublicKey key = *p256::EcdsaPublicKey::FromAffineBytes_vartime(
      reinterpret_cast<const uint8_t*>(F().xy.data()));
  for (auto _ : state) benchmark::DoNotOptimize(p256::BuildKeyTable_vartime(key));
}
BENCHMARK(BM_KeyTableBuild)->Unit(benchmark::kMicrosecond);

// Paired runs: each iteration verifies once with OpenSSL EVP and once with
// the native path, timing each on the thread's CPU clock, so both see the
// same machine load (on a shared machine the separate benchmarks above drift
// by 10-20% between runs). Counters: openssl_us and native_us per
// verification, and speedup = their ratio. The clock reads (a system call
// each) add the same small cost to both sides, which biases the ratio
// towards 1.
double ThreadCpuMicros() {
  timespec ts;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) * 1e6 + static_cast<double>(ts.tv_nsec) / 1e3;
}

// Paired runs `native(i)` (which verifies signature i, or the whole batch
// when per_iteration > 1) against per_iteration OpenSSL verifications.
template <typename Native>
void Paired(benchmark::State& state, int per_iteration, Native native) {
  const Fixture& f = F();
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  double openssl_us = 0, native_us = 0;
  int i = 0;
  for (auto _ : state) {
    const double t0 = ThreadCpuMicros();
    for (int k = 0; k < per_iteration; ++k) Check(state, EvpVerify(ctx, f, (i + k) % kBatch));
    const double t1 = ThreadCpuMicros();
    Check(state, native(i));
    const double t2 = ThreadCpuMicros();
    openssl_us += t1 - t0;
    native_us += t2 - t1;
    i = (i + 1) % kBatch;
  }
  EVP_MD_CTX_free(ctx);
  const double n = static_cast<double>(state.iterations()) * per_iteration;
  state.counters["openssl_us"] = openssl_us / n;
  state.counters["native_us"] = native_us / n;
  state.counters["speedup"] = native_us > 0 ? openssl_us / native_us : 0;
}

void BM_PairedHot(benchmark::State& state) {
  const Fixture& f = F();
  std::unique_ptr<NativeVerifier> v = NativeVerifier::Create();
  v->PrepareKeys(std::vector<std::shared_ptr<const PublicKey>>{f.pub});
  Paired(state, 1, [&](int i) {
    return v->Verify(JwsAlg::kES256, *f.pub, f.inputs[i], f.sigs[i]) == SignatureResult::kValid;
  });
}
BENCHMARK(BM_PairedHot)->Unit(benchmark::kMicrosecond);

void BM_PairedCold(benchmark::State& state) {
  const Fixture& f = F();
  NativeVerifier::Options options;
  options.client_key_cache_entries = 0;
  std::unique_ptr<NativeVerifier> v = NativeVerifier::Create(options);
  Paired(state, 1, [&](int i) {
    return v->Verify(JwsAlg::kES256, *f.pub, f.inputs[i], f.sigs[i]) == SignatureResult::kValid;
  });
}
BENCHMARK(BM_PairedCold)->Unit(benchmark::kMicrosecond);

void BM_PairedColdKnownKey(benchmark::State& state) {
  const Fixture& f = F();
  const p256::EcdsaPublicKey key =
      *p256::EcdsaPublicKey::FromAffineBytes_vartime(reinterpret_cast<const uint8_t*>(f.xy.data()));
  Paired(state, 1, [&](int i) {
    uint8_t digest[32];
    SHA256(reinterpret_cast<const uint8_t*>(f.inputs[i].data()), f.inputs[i].size(), digest);
    return p256::EcdsaVerifyDigest_vartime(key, nullptr, digest,
                                           reinterpret_cast<const uint8_t*>(f.sigs[i].data())) ==
           p256::EcdsaVerdict::kValid;
  });
}
BENCHMARK(BM_PairedColdKnownKey)->Unit(benchmark::kMicrosecond);

// PairedBatch: the fixture's checks as one VerifyBatch on `v`, paired with OpenSSL.
void PairedBatch(benchmark::State& state, const Fixture& f, const NativeVerifier& v) {
  const std::vector<SignatureCheck> checks = Checks(f);
  std::vector<SignatureResult> results(checks.size());
  Paired(state, kBatch, [&](int) {
    v.VerifyBatch(checks, results);
    return std::all_of(results.begin(), results.end(),
                       [](SignatureResult r) { return r == SignatureResult::kValid; });
  });
}

void BM_PairedHotBatch(benchmark::State& state) {
  const Fixture& f = F();
  std::unique_ptr<NativeVerifier> v = NativeVerifier::Create();
  v->PrepareKeys(std::vector<std::shared_ptr<const PublicKey>>{f.pub});
  PairedBatch(state, f, *v);
}
BENCHMARK(BM_PairedHotBatch)->Unit(benchmark::kMicrosecond);

void BM_PairedColdBatch(benchmark::State& state) {
  NativeVerifier::Options options;
  options.client_key_cache_entries = 0;
  std::unique_ptr<NativeVerifier> v = NativeVerifier::Create(options);
  PairedBatch(state, F(), *v);
}
BENCHMARK(BM_PairedColdBatch)->Unit(benchmark::kMicrosecond);

// Window choices. BM_HotKeyWindow/w: a hot verification (core, SHA-256
// included) with a key table of window w instead of kKeyWindowBits.
// BM_BaseCombWindow/w: u1*G alone from a comb table of G of window w (the
// shipped one is kBaseWindowBits). The table_KiB counter is one table's size.
void BM_HotKeyWindow(benchmark::State& state) {
  const Fixture& f = F();
  const p256::EcdsaPublicKey key =
      *p256::EcdsaPublicKey::FromAffineBytes_vartime(reinterpret_cast<const uint8_t*>(f.xy.data()));
  std::unique_ptr<p256::CombTable> table =
      p256::CombTable::Build_vartime(key.point(), static_cast<int>(state.range(0)));
  int i = 0;
  for (auto _ : state) {
    uint8_t digest[32];
    SHA256(reinterpret_cast<const uint8_t*>(f.inputs[i].data()), f.inputs[i].size(), digest);
    Check(state,
          p256::EcdsaVerifyDigest_vartime(key, table.get(), digest,
                                          reinterpret_cast<const uint8_t*>(f.sigs[i].data())) ==
              p256::EcdsaVerdict::kValid);
    i = (i + 1) % kBatch;
  }
  state.counters["table_KiB"] = static_cast<double>(table->MemoryBytes()) / 1024;
}
BENCHMARK(BM_HotKeyWindow)->DenseRange(4, 7)->Unit(benchmark::kMicrosecond);

void BM_BaseCombWindow(benchmark::State& state) {
  std::unique_ptr<p256::CombTable> table =
      p256::CombTable::Build_vartime(p256::Generator(), static_cast<int>(state.range(0)));
  // A fixed scalar with few zero windows (digits are ~never zero anyway).
  p256::Sc k = {
      {0x0123456789abcdefull, 0xfedcba9876543210ull, 0x0f1e2d3c4b5a6978ull, 0x7a6b5c4d3e2f1a0bull}};
  for (auto _ : state) {
    p256::JacobianPoint acc;
    p256::PointSetInfinity(&acc);
    p256::CombAccumulate_vartime(&acc, *table, k);
    benchmark::DoNotOptimize(acc);
    k.v[0] += 0x9e3779b97f4a7c15ull;
  }
  state.counters["table_KiB"] = static_cast<double>(table->MemoryBytes()) / 1024;
}
BENCHMARK(BM_BaseCombWindow)->DenseRange(6, 10)->Unit(benchmark::kMicrosecond);

// SummaryReporter prints the usual table, then per-verification CPU times and
// the ratios against BM_OpenSslEvp.
class SummaryReporter : public benchmark::ConsoleReporter {
 public:
  void ReportRuns(const std::vector<Run>& runs) override {
    for (const Run& run : runs) {
      if (run.error_occurred) continue;
      // Per-repetition runs, or only the median when the run was asked for
      // aggregates alone (--benchmark_report_aggregates_only).
      const bool median = run.run_type == Run::RT_Aggregate && run.aggregate_name == "median";
      if (run.run_type != Run::RT_Iteration && !median) continue;
      double per_op = run.GetAdjustedCPUTime();  // microseconds per iteration
      std::string name = run.run_name.function_name;
      if (!run.run_name.args.empty()) name += "/" + run.run_name.args;
      if (name.rfind("BM_Paired", 0) == 0) {
        auto get = [&](const char* c) {
          auto it = run.counters.find(c);
          return it == run.counters.end() ? 0.0 : it->second.value;
        };
        paired_[name].push_back({get("openssl_us"), get("native_us"), get("speedup")});
        continue;
      }
      if (name.find("Batch") != std::string::npos) per_op /= kBatch;
      samples_[name].push_back(per_op);
    }
    ConsoleReporter::ReportRuns(runs);
  }

  // Median returns the median of a benchmark's samples (its repetitions, or
  // the one median aggregate).
  static double Median(std::vector<double> v) {
    std::sort(v.begin(), v.end());
    const size_t n = v.size();
    return n % 2 == 1 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
  }

  void PrintSummary() const {
    if (!paired_.empty()) {
      std::printf(
          "\nES256 paired runs (median of repetitions): OpenSSL EVP and native "
          "alternating in one loop\n");
      for (const auto& [name, runs] : paired_) {
        std::vector<double> o, n, r;
        for (const PairedRun& p : runs) {
          o.push_back(p.openssl_us);
          n.push_back(p.native_us);
          r.push_back(p.speedup);
        }
        std::printf("  %-24s openssl %7.2f us  native %7.2f us  x%.2f\n", name.c_str(), Median(o),
                    Median(n), Median(r));
      }
    }
    auto base_it = samples_.find("BM_OpenSslEvp");
    if (base_it == samples_.end()) return;
    const double base = Median(base_it->second);
    std::printf(
        "\nES256 summary: CPU time per verification (median of repetitions), speed-up "
        "over BM_OpenSslEvp\n");
    for (const auto& [name, samples] : samples_) {
      const double us = Median(samples);
      // Components are not verifications: no ratio.
      if (name.rfind("BM_BaseCombWindow", 0) == 0 || name == "BM_KeyTableBuild" ||
          name == "BM_ReadPoint") {
        std::printf("  %-24s %9.2f us  (component)\n", name.c_str(), us);
        continue;
      }
      std::printf("  %-24s %9.2f us  x%.2f\n", name.c_str(), us, base / us);
    }
  }

 private:
  struct PairedRun {
    double openssl_us, native_us, speedup;
  };
  std::map<std::string, std::vector<double>> samples_;
  std::map<std::string, std::vector<PairedRun>> paired_;
};

}  // namespace
}  // namespace popguard

int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  popguard::SummaryReporter reporter;
  benchmark::RunSpecifiedBenchmarks(&reporter);
  reporter.PrintSummary();
  benchmark::Shutdown();
  return 0;
}
