// libFuzzer target: the Authorization / DPoP header split, through the real
// Authenticator (service/authn/authenticator.cc) with one in-process issuer, a fixed
// clock and the in-memory replay window.
//
// Input: records separated by NUL bytes; a record "A<value>" is one
// Authorization header line, "D<value>" one DPoP header line, anything else is
// ignored. Inside a value, byte 0x01 stands for a valid unbound access token,
// 0x02 for a valid DPoP-bound one and 0x03 for a valid proof for that token
// (GET https://api.example/resource), so the fuzzer can reach every branch.
//
// Invariant: the decision's reason is the one the split rules give, stated
// here independently of the code:
//   - no Authorization line: token_missing; two lines, or a ',' in one (Envoy
//     merges repeats with ','): authorization_multiple;
//   - the value, trimmed of ASCII whitespace, is "<scheme> <credential>";
//     a scheme other than Bearer or DPoP (any case): token_missing; an empty
//     credential, or one with a space or tab inside: authorization_malformed;
//   - a credential other than the two valid tokens: some rejection that is
//     not one of the above;
//   - the unbound token: allowed as Bearer, dpop_token_unbound as DPoP;
//   - the bound token: bearer_downgrade as Bearer; as DPoP, no DPoP line:
//     dpop_proof_missing; two, or a ',': dpop_proof_multiple; the valid proof
//     (trimmed): allowed (dpop_replayed once its jti was seen); another proof:
//     some rejection that is not one of the above.
// A value with a control or non-ASCII byte may also end in
// request_header_invalid (header validation ahead of the split).
// The decision's message never contains a valid token or proof.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "fuzz/fuzz_check.h"
#include "service/authn/authenticator.h"
#include "service/authn/reason.h"
#include "service/common/clock.h"
#include "service/common/log.h"
#include "service/jose/native_verifier.h"
#include "service/tools/mint/mint.h"
#include "service/tools/mint/signer.h"
#include "storage/memory_replay_store.h"

namespace {

using popguard::JsonValue;
using popguard::Reason;

constexpr char kIssuer[] = "https://issuer.example";
constexpr char kAudience[] = "https://api.example";
constexpr char kUrl[] = "https://api.example/resource";
const absl::Time kNow = absl::FromUnixSeconds(1900000000);

// Fixture is built once per process: keys, config, tokens and proof.
struct Fixture {
  popguard::FakeClock clock{kNow};
  popguard::MemoryReplayStore replay{1024};
  std::unique_ptr<popguard::Authenticator> authenticator;
  std::string unbound_token;
  std::string bound_token;
  std::string proof;
};

std::string MustSign(const popguard::PrivateKey& key, const JsonValue& header,
                     const JsonValue& claims) {
  auto jws = popguard::SignCompactJws(key, popguard::JwsAlg::kES256, header, claims);
  FUZZ_CHECK(jws.ok(), "fixture: signing failed");
  return *std::move(jws);
}

JsonValue Claims(const popguard::PrivateKey* proof_key) {
  std::vector<JsonValue::Member> m = {
      {"iss", JsonValue::String(kIssuer)},
      {"aud", JsonValue::String(kAudience)},
      {"sub", JsonValue::String("fuzz-subject")},
      {"iat", JsonValue::Number(absl::ToUnixSeconds(kNow))},
      {"exp", JsonValue::Number(absl::ToUnixSeconds(kNow + absl::Hours(1)))},
      {"jti", JsonValue::String(proof_key != nullptr ? "bound" : "unbound")}};
  if (proof_key != nullptr) {
    m.emplace_back("cnf", JsonValue::Object({{"jkt", JsonValue::String(proof_key->Thumbprint())}}));
  }
  return JsonValue::Object(std::move(m));
}

Fixture* BuildFixture() {
  auto* f = new Fixture;
  popguard::SetLogLevel(popguard::LogLevel::kError);
  auto issuer_key = popguard::PrivateKey::Generate(popguard::JwsAlg::kES256);
  auto proof_key = popguard::PrivateKey::Generate(popguard::JwsAlg::kES256);
  FUZZ_CHECK(issuer_key.ok() && proof_key.ok(), "fixture: key generation failed");
  issuer_key->set_kid("issuer-key");

  popguard::Config config;
  popguard::IssuerConfig issuer;
  issuer.issuer = kIssuer;
  issuer.audiences = {kAudience};
  issuer.jwks_inline = popguard::JwksJson({&*issuer_key});
  config.issuers.push_back(std::move(issuer));
  // Bearer routes, so that the unbound token is allowed and the split rules
  // alone decide.
  config.default_binding = popguard::BindingRequirement::kBearer;
  std::vector<std::string> warnings;
  auto a = popguard::Authenticator::Create(config, popguard::NativeVerifier::Create(), &f->clock,
                                           &f->replay, &warnings);
  FUZZ_CHECK(a.ok(), "fixture: Authenticator::Create failed");
  f->authenticator = *std::move(a);

  const JsonValue token_header = JsonValue::Object({{"alg", JsonValue::String("ES256")},
                                                    {"typ", JsonValue::String("at+jwt")},
                                                    {"kid", JsonValue::String("issuer-key")}});
  f->unbound_token = MustSign(*issuer_key, token_header, Claims(nullptr));
  f->bound_token = MustSign(*issuer_key, token_header, Claims(&*proof_key));
  const JsonValue proof_header = popguard::ProofHeader(*proof_key, popguard::JwsAlg::kES256);
  const JsonValue proof_claims =
      JsonValue::Object({{"jti", JsonValue::String("fuzz-proof")},
                         {"htm", JsonValue::String("GET")},
                         {"htu", JsonValue::String(kUrl)},
                         {"iat", JsonValue::Number(absl::ToUnixSeconds(kNow))},
                         {"ath", JsonValue::String(popguard::Ath(f->bound_token))}});
  f->proof = MustSign(*proof_key, proof_header, proof_claims);
  return f;
}

const Fixture& GetFixture() {
  static const Fixture* fixture = BuildFixture();
  return *fixture;
}

std::string Expand(std::string_view value, const Fixture& f) {
  std::string out;
  for (char c : value) {
    if (c == '\x01') {
      out += f.unbound_token;
    } else if (c == '\x02') {
      out += f.bound_token;
    } else if (c == '\x03') {
      out += f.proof;
    } else {
      out.push_back(c);
    }
  }
  return out;
}

std::string_view Trim(std::string_view s) {
  while (!s.empty() && absl::ascii_isspace(static_cast<unsigned char>(s.front())))
    s.remove_prefix(1);
  while (!s.empty() && absl::ascii_isspace(static_cast<unsigned char>(s.back())))
    s.remove_suffix(1);
  return s;
}

// What the split rules say: one exact reason, or "some other rejection".
struct Expectation {
  enum class Kind { kExact, kOtherRejection, kAllowed } kind = Kind::kExact;
  Reason reason = Reason::kOk;
};

Expectation Exact(Reason r) { return {Expectation::Kind::kExact, r}; }

bool IsSplitReason(Reason r) {
  return r == Reason::kTokenMissing || r == Reason::kAuthorizationMultiple ||
         r == Reason::kAuthorizationMalformed || r == Reason::kDpopProofMissing ||
         r == Reason::kDpopProofMultiple || r == Reason::kBearerDowngrade ||
         r == Reason::kDpopTokenUnbound;
}

Expectation Expected(const std::vector<std::string>& auth, const std::vector<std::string>& dpop,
                     const Fixture& f) {
  if (auth.empty()) return Exact(Reason::kTokenMissing);
  if (auth.size() > 1 || auth[0].find(',') != std::string::npos) {
    return Exact(Reason::kAuthorizationMultiple);
  }
  const std::string_view value = Trim(auth[0]);
  const size_t space = value.find(' ');
  const std::string_view scheme = value.substr(0, space);
  const std::string lower_scheme = absl::AsciiStrToLower(std::string(scheme));
  const bool dpop_scheme = lower_scheme == "dpop";
  if (!dpop_scheme && lower_scheme != "bearer") {
    return Exact(Reason::kTokenMissing);
  }
  const std::string_view credential =
      space == std::string_view::npos ? std::string_view() : Trim(value.substr(space));
  if (credential.empty() || credential.find_first_of(" \t") != std::string_view::npos) {
    return Exact(Reason::kAuthorizationMalformed);
  }
  if (credential == f.unbound_token) {
    return dpop_scheme ? Exact(Reason::kDpopTokenUnbound)
                       : Expectation{Expectation::Kind::kAllowed, Reason::kOk};
  }
  if (credential != f.bound_token) return {Expectation::Kind::kOtherRejection, Reason::kOk};
  if (!dpop_scheme) return Exact(Reason::kBearerDowngrade);
  if (dpop.empty()) return Exact(Reason::kDpopProofMissing);
  if (dpop.size() > 1 || dpop[0].find(',') != std::string::npos) {
    return Exact(Reason::kDpopProofMultiple);
  }
  if (Trim(dpop[0]) == f.proof) return {Expectation::Kind::kAllowed, Reason::kOk};
  return {Expectation::Kind::kOtherRejection, Reason::kOk};
}

bool HasControlOrNonAscii(const std::vector<std::string>& values) {
  for (const std::string& v : values) {
    for (unsigned char c : v) {
      if ((c < 0x20 && c != '\t') || c >= 0x7f) return true;
    }
  }
  return false;
}

void Fail(const Expectation& want, Reason got) {
  std::fprintf(stderr, "authorization fuzzer: got %s, expected %s\n",
               std::string(popguard::ReasonCode(got)).c_str(),
               want.kind == Expectation::Kind::kExact
                   ? std::string(popguard::ReasonCode(want.reason)).c_str()
                   : (want.kind == Expectation::Kind::kAllowed ? "an allow"
                                                               : "a rejection after the split"));
  std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const Fixture& f = GetFixture();
  const std::string_view input = popguard::fuzz::AsView(data, size);
  popguard::HttpRequestInfo req;
  req.method = "GET";
  req.url = kUrl;
  std::vector<std::string> auth, dpop;
  size_t start = 0;
  while (start < input.size()) {
    size_t end = input.find('\0', start);
    if (end == std::string_view::npos) end = input.size();
    const std::string_view record = input.substr(start, end - start);
    start = end + 1;
    if (record.empty()) continue;
    const std::string value = Expand(record.substr(1), f);
    if (record[0] == 'A') {
      auth.push_back(value);
      req.headers.emplace_back("authorization", value);
    } else if (record[0] == 'D') {
      dpop.push_back(value);
      req.headers.emplace_back("dpop", value);
    }
  }

  const popguard::Decision d = f.authenticator->DecideSync(req);
  const Expectation want = Expected(auth, dpop, f);
  const bool header_invalid_allowed = HasControlOrNonAscii(auth) || HasControlOrNonAscii(dpop);
  if (!(header_invalid_allowed && d.reason == Reason::kRequestHeaderInvalid)) {
    switch (want.kind) {
      case Expectation::Kind::kExact:
        if (d.reason != want.reason) Fail(want, d.reason);
        break;
      case Expectation::Kind::kAllowed:
        if (d.reason != Reason::kOk && d.reason != Reason::kDpopReplayed) Fail(want, d.reason);
        break;
      case Expectation::Kind::kOtherRejection:
        if (d.reason == Reason::kOk || IsSplitReason(d.reason)) Fail(want, d.reason);
        break;
    }
  }
  FUZZ_CHECK(d.allow == (d.reason == Reason::kOk), "allow and reason disagree");
  for (const std::string* secret : {&f.unbound_token, &f.bound_token, &f.proof}) {
    FUZZ_CHECK(d.message.find(*secret) == std::string::npos,
               "a decision message holds a credential");
  }
  return 0;
}
