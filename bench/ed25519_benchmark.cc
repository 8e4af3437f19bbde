// Ed25519 verification: OpenSSL 3 EVP against popguard's core
// (service/crypto/ed25519/ed25519.h), single and batched, in the same binary and run.
//
// Workload: kKeys distinct key pairs, each signing a kMessageBytes message
// (the size of a typical DPoP proof's signing input); the benchmarks cycle
// through them, so every verification sees a different key unless the name
// says SameKey. Batch benchmarks report per-signature throughput
// (items_per_second); the ratios in bench/README.md are computed from it.
//
//   BM_OpenSslEvp             EVP_DigestVerify with a pre-parsed EVP_PKEY and a
//                             reused EVP_MD_CTX (the cheapest EVP path)
//   BM_OpenSslVerifier        popguard's CreateOpenSslVerifier() (service/jose/signature.h)
//   BM_NativeSingle           Ed25519Verify_vartime
//   BM_NativeSingleFullSize   the full-size check it replaced (253 doublings)
//   BM_HalfSizeReduction      HalfSize_vartime alone (the lattice step it adds)
//   BM_NativeBatch/n          Ed25519VerifyBatch_vartime on n signatures
//   BM_NativeBatchStraus/n, BM_NativeBatchPippenger/n   forced MSM algorithm
//   BM_NativeBatchSameKey/n   n signatures by one key (keys are merged)
//   BM_NativeBatchOneBad/n    n signatures, one of them invalid
//   BM_Speedup/n              OpenSSL and native interleaved, ratio as a counter
//                             (n = 0: single verification, and the full-size
//                             check beside it; n > 0: batches of n)
//   BM_MsmStraus/n, BM_MsmPippenger/n   the MSM alone over n random points
#include <openssl/evp.h>
#include <time.h>

#include <algorithm>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "benchmark/benchmark.h"
#include "service/common/json.h"
#include "service/common/openssl_util.h"
#include "service/crypto/ed25519/ed25519.h"
#include "service/crypto/ed25519/ed25519_msm.h"
#include "service/crypto/ed25519/ed25519_scalar.h"
#include "service/jose/base64url.h"
#include "service/jose/jwk.h"
#include "service/jose/signature.h"

namespace popguard {
namespace {

using ed25519::Ed25519Item;
using ed25519::Ed25519Verify_vartime;
using ed25519::Ed25519VerifyBatch_vartime;

constexpr int kKeys = 256;
constexpr size_t kMessageBytes = 400;

using PkeyPtr = PkeyPtr;

struct Corpus {
  std::vector<std::string> public_keys, messages, signatures;
  std::vector<PkeyPtr> pkeys;  // pre-parsed public keys for OpenSSL
  std::vector<std::shared_ptr<const PublicKey>> jwks;
  // One key signing kKeys messages, for BM_NativeBatchSameKey.
  std::vector<std::string> same_key_signatures;
};

std::string Sign(EVP_PKEY* key, const std::string& message) {
  MdCtxPtr ctx(EVP_MD_CTX_new());
  std::string sig(64, '\0');
  size_t len = sig.size();
  EVP_DigestSignInit(ctx.get(), nullptr, nullptr, nullptr, key);
  EVP_DigestSign(ctx.get(), reinterpret_cast<unsigned char*>(sig.data()), &len,
                 reinterpret_cast<const unsigned char*>(message.data()), message.size());
  return sig;
}

const Corpus& GetCorpus() {
  static const Corpus* corpus = [] {
    auto* c = new Corpus;
    std::mt19937_64 rng(42);
    PkeyPtr first_private;
    for (int i = 0; i < kKeys; ++i) {
      unsigned char seed[32];
      for (unsigned char& b : seed) b = static_cast<unsigned char>(rng());
      PkeyPtr priv(EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, nullptr, seed, 32));
      std::string pub(32, '\0');
      size_t len = 32;
      EVP_PKEY_get_raw_public_key(priv.get(), reinterpret_cast<unsigned char*>(pub.data()), &len);
      std::string message(kMessageBytes, '\0');
      for (char& ch : message) ch = static_cast<char>('a' + rng() % 26);
      c->signatures.push_back(Sign(priv.get(), message));
      c->public_keys.push_back(pub);
      c->messages.push_back(message);
      c->pkeys.emplace_back(EVP_PKEY_new_raw_public_key(
          EVP_PKEY_ED25519, nullptr, reinterpret_cast<const unsigned char*>(pub.data()), 32));
      absl::StatusOr<std::shared_ptr<const PublicKey>> jwk =
          PublicKey::FromJwk(JsonValue::Object({{"kty", JsonValue::String("OKP")},
                                                {"crv", JsonValue::String("Ed25519")},
                                                {"x", JsonValue::String(Base64UrlEncode(pub))}}));
      c->jwks.push_back(*jwk);
      if (i == 0) first_private = std::move(priv);
    }
    for (int i = 0; i < kKeys; ++i) {
      c->same_key_signatures.push_back(Sign(first_private.get(), c->messages[i]));
    }
    return c;
  }();
  return *corpus;
}

void BM_OpenSslEvp(benchmark::State& state) {
  const Corpus& c = GetCorpus();
  MdCtxPtr ctx(EVP_MD_CTX_new());
  size_t i = 0;
  for (auto _ : state) {
    EVP_MD_CTX_reset(ctx.get());
    EVP_DigestVerifyInit(ctx.get(), nullptr, nullptr, nullptr, c.pkeys[i].get());
    int ok = EVP_DigestVerify(
        ctx.get(), reinterpret_cast<const unsigned char*>(c.signatures[i].data()), 64,
        reinterpret_cast<const unsigned char*>(c.messages[i].data()), c.messages[i].size());
    if (ok != 1) state.SkipWithError("OpenSSL rejected a valid signature");
    benchmark::DoNotOptimize(ok);
    i = (i + 1) % kKeys;
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_OpenSslEvp);

void BM_OpenSslVerifier(benchmark::State& state) {
  const Corpus& c = GetCorpus();
  SignatureVerifierPtr verifier = CreateOpenSslVerifier();
  size_t i = 0;
  for (auto _ : state) {
    SignatureResult r =
        verifier->Verify(JwsAlg::kEdDSA, *c.jwks[i], c.messages[i], c.signatures[i]);
    if (r != SignatureResult::kValid) state.SkipWithError("rejected a valid signature");
    benchmark::DoNotOptimize(r);
    i = (i + 1) % kKeys;
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_OpenSslVerifier);

void BM_NativeSingle(benchmark::State& state) {
  const Corpus& c = GetCorpus();
  size_t i = 0;
  for (auto _ : state) {
    bool ok = Ed25519Verify_vartime(c.public_keys[i], c.messages[i], c.signatures[i]);
    if (!ok) state.SkipWithError("rejected a valid signature");
    benchmark::DoNotOptimize(ok);
    i = (i + 1) % kKeys;
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_NativeSingle);

void BM_NativeSingleFullSize(benchmark::State& state) {
  const Corpus& c = GetCorpus();
  size_t i = 0;
  for (auto _ : state) {
    bool ok = popguard::ed25519::internal::VerifyFullSize_vartime(c.public_keys[i], c.messages[i],
                                                                  c.signatures[i]);
    if (!ok) state.SkipWithError("rejected a valid signature");
    benchmark::DoNotOptimize(ok);
    i = (i + 1) % kKeys;
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_NativeSingleFullSize);

void BM_HalfSizeReduction(benchmark::State& state) {
  using namespace ed25519::internal;  // NOLINT(build/namespaces)
  std::mt19937_64 rng(1);
  std::vector<Scalar> ks(kKeys);
  for (Scalar& k : ks) {
    uint8_t wide[64];
    for (uint8_t& b : wide) b = static_cast<uint8_t>(rng());
    k = ScalarReduce64(wide);
  }
  size_t i = 0;
  for (auto _ : state) {
    HalfSizePair h;
    benchmark::DoNotOptimize(HalfSize_vartime(ks[i], &h));
    benchmark::DoNotOptimize(h);
    i = (i + 1) % kKeys;
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_HalfSizeReduction);

std::vector<Ed25519Item> Items(size_t n, size_t offset, bool same_key) {
  const Corpus& c = GetCorpus();
  std::vector<Ed25519Item> items;
  for (size_t j = 0; j < n; ++j) {
    const size_t k = (offset + j) % kKeys;
    items.push_back(same_key
                        ? Ed25519Item{c.public_keys[0], c.messages[k], c.same_key_signatures[k]}
                        : Ed25519Item{c.public_keys[k], c.messages[k], c.signatures[k]});
  }
  return items;
}

void RunBatch(benchmark::State& state, ed25519::internal::MsmChoice msm, bool same_key,
              bool one_bad) {
  const size_t n = static_cast<size_t>(state.range(0));
  // A few different batches, so no run sees the same one twice in a row.
  std::vector<std::vector<Ed25519Item>> batches;
  std::vector<std::string> bad_signatures;
  for (size_t b = 0; b < 4; ++b) {
    batches.push_back(Items(n, b * 61, same_key));
    if (one_bad) {
      std::string bad(batches.back()[n / 2].signature);
      bad[40] ^= 1;
      bad_signatures.push_back(bad);
    }
  }
  for (size_t b = 0; b < bad_signatures.size(); ++b)
    batches[b][n / 2].signature = bad_signatures[b];
  size_t b = 0;
  for (auto _ : state) {
    std::vector<bool> v = ed25519::internal::VerifyBatchWith_vartime(batches[b], msm);
    const size_t accepted = static_cast<size_t>(std::count(v.begin(), v.end(), true));
    if (accepted != n - (one_bad ? 1 : 0)) state.SkipWithError("wrong verdicts");
    benchmark::DoNotOptimize(v);
    b = (b + 1) % batches.size();
  }
  state.SetItemsProcessed(state.iterations() * static_cast<int64_t>(n));
}

void BM_NativeBatch(benchmark::State& state) {
  RunBatch(state, ed25519::internal::MsmChoice::kAuto, false, false);
}
BENCHMARK(BM_NativeBatch)->RangeMultiplier(2)->Range(1, 256);

void BM_NativeBatchStraus(benchmark::State& state) {
  RunBatch(state, ed25519::internal::MsmChoice::kStraus, false, false);
}
BENCHMARK(BM_NativeBatchStraus)->RangeMultiplier(2)->Range(8, 256)->Arg(40)->Arg(48)->Arg(56);

void BM_NativeBatchPippenger(benchmark::State& state) {
  RunBatch(state, ed25519::internal::MsmChoice::kPippenger, false, false);
}
BENCHMARK(BM_NativeBatchPippenger)->RangeMultiplier(2)->Range(8, 256)->Arg(40)->Arg(48)->Arg(56);

void BM_NativeBatchSameKey(benchmark::State& state) {
  RunBatch(state, ed25519::internal::MsmChoice::kAuto, true, false);
}
BENCHMARK(BM_NativeBatchSameKey)->Arg(64);

void BM_NativeBatchOneBad(benchmark::State& state) {
  RunBatch(state, ed25519::internal::MsmChoice::kAuto, false, true);
}
BENCHMARK(BM_NativeBatchOneBad)->Arg(64);

double ThreadCpuSeconds() {
  timespec t;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
  return static_cast<double>(t.tv_sec) + 1e-9 * static_cast<double>(t.tv_nsec);
}

// BM_Speedup/n interleaves the two sides in every iteration, on the same
// signatures: OpenSSL EVP verifies max(n, 16) signatures one by one, then the
// native core verifies them (n = 0: one by one; n > 0: in batches of n). Each
// side is timed on the thread's CPU clock, so noise from other processes on a
// shared machine hits both alike; the counters report microseconds per
// signature for each side and their ratio (speedup).
void BM_Speedup(benchmark::State& state) {
  const Corpus& c = GetCorpus();
  const size_t n = static_cast<size_t>(state.range(0));
  const size_t count = std::max<size_t>(n, 16);
  MdCtxPtr ctx(EVP_MD_CTX_new());
  double openssl_seconds = 0, native_seconds = 0, full_size_seconds = 0;
  size_t offset = 0, verified = 0;
  for (auto _ : state) {
    std::vector<Ed25519Item> items = Items(count, offset, /*same_key=*/false);
    double t0 = ThreadCpuSeconds();
    for (size_t j = 0; j < count; ++j) {
      const size_t k = (offset + j) % kKeys;
      EVP_MD_CTX_reset(ctx.get());
      EVP_DigestVerifyInit(ctx.get(), nullptr, nullptr, nullptr, c.pkeys[k].get());
      int ok = EVP_DigestVerify(
          ctx.get(), reinterpret_cast<const unsigned char*>(c.signatures[k].data()), 64,
          reinterpret_cast<const unsigned char*>(c.messages[k].data()), c.messages[k].size());
      if (ok != 1) state.SkipWithError("OpenSSL rejected a valid signature");
    }
    double t1 = ThreadCpuSeconds();
    size_t accepted = 0;
    if (n == 0) {
      for (const Ed25519Item& item : items) {
        accepted += Ed25519Verify_vartime(item.public_key, item.message, item.signature);
      }
    } else {
      for (size_t first = 0; first < count; first += n) {
        std::vector<bool> v = Ed25519VerifyBatch_vartime(
            std::span<const Ed25519Item>(items).subspan(first, std::min(n, count - first)));
        accepted += static_cast<size_t>(std::count(v.begin(), v.end(), true));
      }
    }
    double t2 = ThreadCpuSeconds();
    if (n == 0) {
      for (const Ed25519Item& item : items) {
        accepted += popguard::ed25519::internal::VerifyFullSize_vartime(
            item.public_key, item.message, item.signature);
      }
      full_size_seconds += ThreadCpuSeconds() - t2;
      accepted -= count;
    }
    if (accepted != count) state.SkipWithError("native core rejected a valid signature");
    openssl_seconds += t1 - t0;
    native_seconds += t2 - t1;
    verified += count;
    offset = (offset + count) % kKeys;
  }
  state.counters["openssl_us"] = 1e6 * openssl_seconds / static_cast<double>(verified);
  state.counters["native_us"] = 1e6 * native_seconds / static_cast<double>(verified);
  state.counters["speedup"] = openssl_seconds / native_seconds;
  if (n == 0) {
    state.counters["full_size_us"] = 1e6 * full_size_seconds / static_cast<double>(verified);
    state.counters["speedup_full_size"] = openssl_seconds / full_size_seconds;
  }
}
BENCHMARK(BM_Speedup)->Arg(0)->Arg(8)->Arg(16)->Arg(32)->Arg(64)->Arg(128);

// The MSM alone: n points (the corpus keys) with random 253-bit scalars.
void RunMsm(benchmark::State& state, bool pippenger) {
  using namespace ed25519::internal;  // NOLINT(build/namespaces)
  const Corpus& c = GetCorpus();
  const size_t n = static_cast<size_t>(state.range(0));
  std::mt19937_64 rng(7);
  std::vector<P3> points(n);
  std::vector<Scalar> scalars(n);
  for (size_t i = 0; i < n; ++i) {
    DecodePoint_vartime(reinterpret_cast<const uint8_t*>(c.public_keys[i % kKeys].data()),
                        &points[i]);
    scalars[i] = Scalar{{rng(), rng(), rng(), rng() >> 3}};
  }
  const Scalar base = {{rng(), rng(), rng(), rng() >> 3}};
  for (auto _ : state) {
    P3 q = pippenger ? MsmPippenger_vartime(base, points, scalars)
                     : MsmStraus_vartime(base, points, scalars);
    benchmark::DoNotOptimize(q);
  }
  state.SetItemsProcessed(state.iterations() * static_cast<int64_t>(n));
}

void BM_MsmStraus(benchmark::State& state) { RunMsm(state, false); }
BENCHMARK(BM_MsmStraus)->RangeMultiplier(2)->Range(16, 1024);

void BM_MsmPippenger(benchmark::State& state) { RunMsm(state, true); }
BENCHMARK(BM_MsmPippenger)->RangeMultiplier(2)->Range(16, 1024);

}  // namespace
}  // namespace popguard

BENCHMARK_MAIN();
