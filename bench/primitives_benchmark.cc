// Crypto and parsing primitives on the request path, each beside the direct
// OpenSSL figure it is judged against.
//
//   BM_Verify_OpenSslPreparsed/<alg>    EVP verify, key parsed once (the yardstick)
//   BM_Verify_OpenSslParsePerCall/<alg> EVP verify, key decoded from DER per call
//   BM_Verify_Popguard/<alg>            SignatureVerifier::Verify (popguard's crypto interface)
//   BM_Verify_PopguardJwkPerCall/<alg>  PublicKey::FromJwk + Verify (an uncached DPoP key)
//   BM_JwkParse/<alg>, BM_JwkThumbprint, BM_Base64Url*, BM_JsonParse/*, BM_Sha256Token,
//   BM_ParseCompactJws/*, BM_JsonParseManyMembers/<members> (linear in the input)
//
// Counters: x_openssl = time / BM_Verify_OpenSslPreparsed of the same alg;
// x_openssl_es256 = time / one OpenSSL ES256 verify with a pre-parsed key.
#include <benchmark/benchmark.h>

#include <cstdlib>
#include <iostream>
#include <map>
#include <memory>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "bench/bench_util.h"
#include "bench/openssl_baseline.h"
#include "service/common/crypto_util.h"
#include "service/common/json.h"
#include "service/jose/base64url.h"
#include "service/jose/jwk.h"
#include "service/jose/jws.h"
#include "service/jose/signature.h"
#include "service/tools/mint/mint.h"
#include "service/tools/mint/signer.h"

namespace popguard::bench {
namespace {

[[noreturn]] void Die(const std::string& what) {
  std::cerr << "primitives_benchmark: " << what << "\n";
  std::abort();
}

template <typename T>
T Check(absl::StatusOr<T> v, const char* what) {
  if (!v.ok()) Die(std::string(what) + ": " + std::string(v.status().message()));
  return *std::move(v);
}

// One algorithm's key, a signed input and the prepared verifiers.
struct AlgCase {
  JwsAlg alg;
  std::unique_ptr<PrivateKey> key;
  std::shared_ptr<const PublicKey> public_key;
  JsonValue jwk;  // the required public members, as a DPoP proof carries them
  std::string signing_input;
  std::string signature;
  std::unique_ptr<OpenSslBaseline> baseline;
};

struct Fixture {
  SignatureVerifierPtr verifier = CreateOpenSslVerifier();
  std::map<JwsAlg, AlgCase> cases;
  std::string token;          // a typical RS256 access token
  std::string token_payload;  // its decoded payload JSON
  std::string proof;          // a typical ES256 DPoP proof
  std::string proof_header;   // its decoded header JSON
};

const Fixture& F() {
  static const Fixture* const f = [] {
    auto* fx = new Fixture;
    for (JwsAlg alg :
         {JwsAlg::kES256, JwsAlg::kES384, JwsAlg::kEdDSA, JwsAlg::kRS256, JwsAlg::kPS256}) {
      AlgCase c;
      c.alg = alg;
      c.key = std::make_unique<PrivateKey>(Check(PrivateKey::Generate(alg), "keygen"));
      c.key->set_kid("k1");
      c.jwk = c.key->RequiredPublicJwk();
      c.public_key = Check(PublicKey::FromJwk(c.jwk), "FromJwk");
      TokenSpec claims;
      claims.iss = "https://issuer.example";
      claims.aud = "https://api.example";
      claims.sub = "load-user";
      claims.client_id = "load-client";
      claims.scope = "read";
      claims.ttl = absl::Minutes(10);
      claims.iat = absl::Now();
      claims.jkt = c.key->Thumbprint();
      std::string token = Check(MintToken(*c.key, alg, claims), "mint");
      size_t dot = token.rfind('.');
      c.signing_input = token.substr(0, dot);
      if (!Base64UrlDecode(token.substr(dot + 1), &c.signature)) Die("signature encoding");
      c.baseline = Check(OpenSslBaseline::Create(alg, *c.public_key, c.signature), "baseline");
      if (!c.baseline->VerifyPreparsed(c.signing_input)) Die("baseline does not verify");
      if (alg == JwsAlg::kRS256) {
        fx->token = token;
        fx->token_payload =
            *Base64UrlDecode(token.substr(token.find('.') + 1, dot - token.find('.') - 1));
      }
      fx->cases.emplace(alg, std::move(c));
    }
    const AlgCase& es = fx->cases.at(JwsAlg::kES256);
    ProofMinter minter(*es.key, JwsAlg::kES256);
    fx->proof = Check(minter.Mint("GET", "https://api.example/dpop/resource", fx->token,
                                  absl::Now(), "jti-0123456789abcdef"),
                      "proof");
    fx->proof_header = *Base64UrlDecode(fx->proof.substr(0, fx->proof.find('.')));
    return fx;
  }();
  return *f;
}

// Ratios measures the yardsticks next to a benchmark loop (AdjacentBaseline)
// and records x_openssl (own algorithm, when given) and x_openssl_es256.
class Ratios {
 public:
  explicit Ratios(const AlgCase* own) {
    const AlgCase& es = F().cases.at(JwsAlg::kES256);
    es256_ = std::make_unique<AdjacentBaseline>(
        [&es] { benchmark::DoNotOptimize(es.baseline->VerifyPreparsed(es.signing_input)); });
    if (own != nullptr) {
      own_ = std::make_unique<AdjacentBaseline>(
          [own] { benchmark::DoNotOptimize(own->baseline->VerifyPreparsed(own->signing_input)); });
    }
  }
  void Set(benchmark::State& state, const LoopCpuTimer& timer) {
    double ns = timer.NanosPerIteration(state.iterations());
    if (own_ != nullptr) SetRatio(state, "x_openssl", ns, own_->Finish());
    SetRatio(state, "x_openssl_es256", ns, es256_->Finish());
  }

 private:
  std::unique_ptr<AdjacentBaseline> own_, es256_;
};

void BM_Verify_OpenSslPreparsed(benchmark::State& state, JwsAlg alg) {
  const AlgCase& c = F().cases.at(alg);
  Ratios ratios(&c);
  LoopCpuTimer timer;
  for (auto _ : state) benchmark::DoNotOptimize(c.baseline->VerifyPreparsed(c.signing_input));
  ratios.Set(state, timer);
}

void BM_Verify_OpenSslParsePerCall(benchmark::State& state, JwsAlg alg) {
  const AlgCase& c = F().cases.at(alg);
  Ratios ratios(&c);
  LoopCpuTimer timer;
  for (auto _ : state) benchmark::DoNotOptimize(c.baseline->VerifyParsingKey(c.signing_input));
  ratios.Set(state, timer);
}

void BM_Verify_Popguard(benchmark::State& state, JwsAlg alg) {
  const Fixture& f = F();
  const AlgCase& c = f.cases.at(alg);
  if (f.verifier->Verify(alg, *c.public_key, c.signing_input, c.signature) !=
      SignatureResult::kValid) {
    state.SkipWithError("popguard verifier refuses the signature");
    return;
  }
  Ratios ratios(&c);
  LoopCpuTimer timer;
  for (auto _ : state) {
    benchmark::DoNotOptimize(f.verifier->Verify(alg, *c.public_key, c.signing_input, c.signature));
  }
  ratios.Set(state, timer);
}

void BM_Verify_PopguardJwkPerCall(benchmark::State& state, JwsAlg alg) {
  const Fixture& f = F();
  const AlgCase& c = f.cases.at(alg);
  Ratios ratios(&c);
  LoopCpuTimer timer;
  for (auto _ : state) {
    auto key = PublicKey::FromJwk(c.jwk);
    benchmark::DoNotOptimize(f.verifier->Verify(alg, **key, c.signing_input, c.signature));
  }
  ratios.Set(state, timer);
}

void BM_JwkParse(benchmark::State& state, JwsAlg alg) {
  const AlgCase& c = F().cases.at(alg);
  Ratios ratios(&c);
  LoopCpuTimer timer;
  for (auto _ : state) benchmark::DoNotOptimize(PublicKey::FromJwk(c.jwk));
  ratios.Set(state, timer);
}

void BM_JwkThumbprint(benchmark::State& state) {
  const AlgCase& c = F().cases.at(JwsAlg::kES256);
  Ratios ratios(nullptr);
  LoopCpuTimer timer;
  for (auto _ : state) benchmark::DoNotOptimize(JwkThumbprint(c.jwk));
  ratios.Set(state, timer);
}

void BM_Base64UrlDecode_Token(benchmark::State& state) {
  const std::string& token = F().token;
  const size_t dot1 = token.find('.'), dot2 = token.rfind('.');
  const std::string_view payload = std::string_view(token).substr(dot1 + 1, dot2 - dot1 - 1);
  std::string out;
  Ratios ratios(nullptr);
  LoopCpuTimer timer;
  for (auto _ : state) benchmark::DoNotOptimize(Base64UrlDecode(payload, &out));
  ratios.Set(state, timer);
  state.SetBytesProcessed(state.iterations() * static_cast<int64_t>(payload.size()));
}

void BM_Base64UrlEncode_Sha256(benchmark::State& state) {
  std::string digest = Sha256("x");
  Ratios ratios(nullptr);
  LoopCpuTimer timer;
  for (auto _ : state) benchmark::DoNotOptimize(Base64UrlEncode(digest));
  ratios.Set(state, timer);
}

void BM_Sha256Token(benchmark::State& state) {
  const std::string& token = F().token;
  Ratios ratios(nullptr);
  LoopCpuTimer timer;
  for (auto _ : state) benchmark::DoNotOptimize(Sha256(token));
  ratios.Set(state, timer);
}

void BM_JsonParse(benchmark::State& state, bool proof_header) {
  const std::string& text = proof_header ? F().proof_header : F().token_payload;
  Ratios ratios(nullptr);
  LoopCpuTimer timer;
  for (auto _ : state) benchmark::DoNotOptimize(ParseJson(text));
  ratios.Set(state, timer);
  state.SetBytesProcessed(state.iterations() * static_cast<int64_t>(text.size()));
}

// One object of state.range(0) short members ({"m0":0,"m1":0,...}; 100000
// members is about 1 MiB, max_token_bytes' worth): the duplicate-name check
// must keep the parse linear in the input (issue 10 item 9), so time per byte
// stays flat as the object grows.
void BM_JsonParseManyMembers(benchmark::State& state) {
  std::string text = "{";
  for (int64_t i = 0; i < state.range(0); ++i) {
    absl::StrAppend(&text, i == 0 ? "" : ",", "\"m", i, "\":0");
  }
  text.push_back('}');
  for (auto _ : state) benchmark::DoNotOptimize(ParseJson(text));
  state.SetBytesProcessed(state.iterations() * static_cast<int64_t>(text.size()));
  state.SetComplexityN(state.range(0));
}

void BM_ParseCompactJws(benchmark::State& state, bool proof) {
  const std::string& text = proof ? F().proof : F().token;
  JsonLimits limits;
  std::string detail;
  Ratios ratios(nullptr);
  LoopCpuTimer timer;
  for (auto _ : state) {
    Jws jws;
    benchmark::DoNotOptimize(ParseCompactJws(text, limits, &jws, &detail));
  }
  ratios.Set(state, timer);
}

#define POPGUARD_PER_ALG(fn)                    \
  BENCHMARK_CAPTURE(fn, ES256, JwsAlg::kES256); \
  BENCHMARK_CAPTURE(fn, ES384, JwsAlg::kES384); \
  BENCHMARK_CAPTURE(fn, EdDSA, JwsAlg::kEdDSA); \
  BENCHMARK_CAPTURE(fn, RS256, JwsAlg::kRS256); \
  BENCHMARK_CAPTURE(fn, PS256, JwsAlg::kPS256)

POPGUARD_PER_ALG(BM_Verify_OpenSslPreparsed);
POPGUARD_PER_ALG(BM_Verify_OpenSslParsePerCall);
POPGUARD_PER_ALG(BM_Verify_Popguard);
POPGUARD_PER_ALG(BM_Verify_PopguardJwkPerCall);
POPGUARD_PER_ALG(BM_JwkParse);
BENCHMARK(BM_JwkThumbprint);
BENCHMARK(BM_Base64UrlDecode_Token);
BENCHMARK(BM_Base64UrlEncode_Sha256);
BENCHMARK(BM_Sha256Token);
BENCHMARK_CAPTURE(BM_JsonParse, token_payload, false);
BENCHMARK_CAPTURE(BM_JsonParse, proof_header, true);
BENCHMARK(BM_JsonParseManyMembers)->RangeMultiplier(10)->Range(100, 100000)->Complexity();
BENCHMARK_CAPTURE(BM_ParseCompactJws, token, false);
BENCHMARK_CAPTURE(BM_ParseCompactJws, proof, true);

}  // namespace
}  // namespace popguard::bench

BENCHMARK_MAIN();
