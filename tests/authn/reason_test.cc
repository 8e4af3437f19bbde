// Tests for service/authn/reason.h, service/authn/decision.h (the HTTP / OAuth / gRPC
// mapping and the WWW-Authenticate challenges) and ProtoReasonFor
// (service/server/adapters.h): the stable codes are an API, so the C++ list, the
// string codes and the proto enum must stay in step, and every Reason's edge
// mapping is pinned here in one table.
#include "service/authn/reason.h"

#include <cctype>
#include <set>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "popguard/v1/verifier.pb.h"
#include "service/authn/decision.h"
#include "service/common/strings.h"
#include "service/server/adapters.h"

namespace popguard {
namespace {

bool IsSnakeCase(std::string_view s) {
  if (s.empty() || !std::islower(static_cast<unsigned char>(s.front())) || s.back() == '_') {
    return false;
  }
  for (size_t i = 0; i < s.size(); ++i) {
    unsigned char c = s[i];
    if (!(std::islower(c) || std::isdigit(c) || c == '_')) return false;
    if (c == '_' && s[i + 1] == '_') return false;
  }
  return true;
}

class ReasonTest : public ::testing::Test {};

TEST_F(ReasonTest, AllReasonsListsEveryValueInOrder) {
  // kAllReasons is in declaration order and the enum is dense from 0, so the
  // list covers the enum exactly when each entry equals its index.
  constexpr size_t kCount = sizeof(kAllReasons) / sizeof(kAllReasons[0]);
  EXPECT_EQ(kCount, static_cast<size_t>(Reason::kInternalError) + 1);
  for (size_t i = 0; i < kCount; ++i) {
    EXPECT_EQ(static_cast<size_t>(kAllReasons[i]), i);
  }
}

TEST_F(ReasonTest, CodesAreUniqueNonEmptySnakeCase) {
  std::set<std::string_view> seen;
  for (Reason r : kAllReasons) {
    std::string_view code = ReasonCode(r);
    SCOPED_TRACE(std::string(code));
    EXPECT_TRUE(IsSnakeCase(code));
    EXPECT_TRUE(seen.insert(code).second) << "duplicate code";
    // The fallback for an out-of-range value is reserved for kInternalError.
    if (r != Reason::kInternalError) {
      EXPECT_NE(code, "internal_error");
    }
  }
  EXPECT_EQ(ReasonCode(Reason::kOk), "ok");
  EXPECT_EQ(ReasonCode(Reason::kDpopReplayed), "dpop_replayed");
  EXPECT_EQ(ReasonCode(Reason::kDpopHtuMismatch), "dpop_htu_mismatch");
}

TEST_F(ReasonTest, ProtoEnumMirrorsTheReasons) {
  std::set<std::string> expected_names;
  std::set<int> numbers;
  for (Reason r : kAllReasons) {
    const std::string code(ReasonCode(r));
    SCOPED_TRACE(code);
    popguard::v1::Reason p = ProtoReasonFor(r);
    EXPECT_NE(p, popguard::v1::REASON_UNSPECIFIED);
    EXPECT_EQ(popguard::v1::Reason_Name(p), "REASON_" + ToUpper(code));
    EXPECT_TRUE(numbers.insert(static_cast<int>(p)).second) << "two Reasons share a proto value";
    expected_names.insert("REASON_" + ToUpper(code));
  }
  // And the other direction: no proto value without a Reason.
  const google::protobuf::EnumDescriptor* d = popguard::v1::Reason_descriptor();
  for (int i = 0; i < d->value_count(); ++i) {
    const std::string& name = d->value(i)->name();
    if (name == "REASON_UNSPECIFIED") {
      EXPECT_EQ(d->value(i)->number(), 0);
      continue;
    }
    EXPECT_EQ(expected_names.count(name), 1u) << name << " has no Reason";
  }
  EXPECT_EQ(d->value_count(), static_cast<int>(expected_names.size()) + 1);
}

struct EdgeCase {
  Reason reason;
  int http;
  std::string_view oauth_error;
  int grpc;
};

// The full edge mapping. 401 + invalid_token for token problems (RFC 6750
// section 3.1), invalid_dpop_proof / use_dpop_nonce for proof problems (RFC
// 9449 sections 7.1 and 8), 400 + invalid_request for an unusable request, 403
// + insufficient_scope for policy; no error code when there is no credential
// (RFC 6750 section 3.1) or the failure is popguard's own (5xx). gRPC: 16
// UNAUTHENTICATED for 400/401, 7 PERMISSION_DENIED for 403, 14 UNAVAILABLE for
// 503, 13 INTERNAL for 500.
constexpr char kTok[] = "invalid_token";
constexpr char kProof[] = "invalid_dpop_proof";
const std::vector<EdgeCase>& EdgeTable() {
  static const auto* table = new std::vector<EdgeCase>{
      {Reason::kOk, 200, "", 0},
      {Reason::kRequestInvalid, 400, "invalid_request", 16},
      {Reason::kTokenMissing, 401, "", 16},
      {Reason::kAuthorizationMalformed, 400, "invalid_request", 16},
      {Reason::kAuthorizationMultiple, 400, "invalid_request", 16},
      {Reason::kPathAmbiguous, 400, "invalid_request", 16},
      {Reason::kForwardedHeaderInvalid, 400, "invalid_request", 16},
      {Reason::kRequestHeaderInvalid, 400, "invalid_request", 16},
      {Reason::kTokenTooLarge, 401, kTok, 16},
      {Reason::kTokenMalformed, 401, kTok, 16},
      {Reason::kTokenBadBase64, 401, kTok, 16},
      {Reason::kTokenBadJson, 401, kTok, 16},
      {Reason::kTokenHeaderInvalid, 401, kTok, 16},
      {Reason::kTokenCritUnsupported, 401, kTok, 16},
      {Reason::kTokenUnencodedPayload, 401, kTok, 16},
      {Reason::kTokenZipUnsupported, 401, kTok, 16},
      {Reason::kTokenEmbeddedKey, 401, kTok, 16},
      {Reason::kTokenAlgNone, 401, kTok, 16},
      {Reason::kTokenAlgNotAllowed, 401, kTok, 16},
      {Reason::kTokenTypInvalid, 401, kTok, 16},
      {Reason::kTokenIssuerUnknown, 401, kTok, 16},
      {Reason::kTokenKeyNotFound, 401, kTok, 16},
      {Reason::kTokenKeyAlgMismatch, 401, kTok, 16},
      {Reason::kTokenSignatureMalformed, 401, kTok, 16},
      {Reason::kTokenSignatureInvalid, 401, kTok, 16},
      {Reason::kTokenClaimsInvalid, 401, kTok, 16},
      {Reason::kTokenExpMissing, 401, kTok, 16},
      {Reason::kTokenExpired, 401, kTok, 16},
      {Reason::kTokenNotYetValid, 401, kTok, 16},
      {Reason::kTokenIatInFuture, 401, kTok, 16},
      {Reason::kTokenLifetimeTooLong, 401, kTok, 16},
      {Reason::kTokenAudienceMismatch, 401, kTok, 16},
      {Reason::kTokenIssuerNotAllowed, 401, kTok, 16},
      {Reason::kTokenBindingUnsupported, 401, kTok, 16},
      {Reason::kBearerDowngrade, 401, kTok, 16},
      {Reason::kDpopTokenUnbound, 401, kTok, 16},
      {Reason::kBindingRequired, 401, kTok, 16},
      {Reason::kDpopProofMissing, 401, kProof, 16},
      {Reason::kDpopProofMultiple, 401, kProof, 16},
      {Reason::kDpopProofTooLarge, 401, kProof, 16},
      {Reason::kDpopProofMalformed, 401, kProof, 16},
      {Reason::kDpopProofBadBase64, 401, kProof, 16},
      {Reason::kDpopProofBadJson, 401, kProof, 16},
      {Reason::kDpopHeaderInvalid, 401, kProof, 16},
      {Reason::kDpopTypInvalid, 401, kProof, 16},
      {Reason::kDpopAlgNotAllowed, 401, kProof, 16},
      {Reason::kDpopJwkInvalid, 401, kProof, 16},
      {Reason::kDpopJwkPrivate, 401, kProof, 16},
      {Reason::kDpopSignatureMalformed, 401, kProof, 16},
      {Reason::kDpopSignatureInvalid, 401, kProof, 16},
      {Reason::kDpopClaimsInvalid, 401, kProof, 16},
      {Reason::kDpopHtmMismatch, 401, kProof, 16},
      {Reason::kDpopHtuInvalid, 401, kProof, 16},
      {Reason::kDpopHtuMismatch, 401, kProof, 16},
      {Reason::kDpopIatStale, 401, kProof, 16},
      {Reason::kDpopIatFuture, 401, kProof, 16},
      {Reason::kDpopJtiInvalid, 401, kProof, 16},
      {Reason::kDpopReplayed, 401, kProof, 16},
      {Reason::kDpopAthMissing, 401, kProof, 16},
      {Reason::kDpopAthMismatch, 401, kProof, 16},
      {Reason::kDpopJktMismatch, 401, kProof, 16},
      {Reason::kDpopNonceMissing, 401, "use_dpop_nonce", 16},
      {Reason::kDpopNonceInvalid, 401, "use_dpop_nonce", 16},
      {Reason::kDpopJwkSizeUnsupported, 401, kProof, 16},
      {Reason::kDpopReplayWindowReset, 401, kProof, 16},
      {Reason::kMtlsCertMissing, 401, kTok, 16},
      {Reason::kMtlsCertInvalid, 401, kTok, 16},
      {Reason::kMtlsThumbprintMismatch, 401, kTok, 16},
      {Reason::kMtlsCertConflict, 401, kTok, 16},
      {Reason::kInsufficientScope, 403, "insufficient_scope", 7},
      {Reason::kTokenRevoked, 401, kTok, 16},
      {Reason::kKeyRevoked, 401, kTok, 16},
      {Reason::kDiagnosticsProbe, 403, "", 7},
      {Reason::kDiagnosticsProbeInvalid, 400, "", 16},
      {Reason::kDiagnosticsRateLimited, 429, "", 8},
      // The metadata answer: status 200 to the client, but a denial on the
      // wire (Check OK would forward the request).
      {Reason::kResourceMetadata, 200, "", 7},
      {Reason::kReplayStoreFull, 503, "", 14},
      {Reason::kReplayStoreUnavailable, 503, "", 14},
      {Reason::kOverloaded, 503, "", 14},
      {Reason::kInternalError, 500, "", 13},
  };
  return *table;
}

TEST_F(ReasonTest, EdgeMappingForEveryReason) {
  ASSERT_EQ(EdgeTable().size(), sizeof(kAllReasons) / sizeof(kAllReasons[0]));
  for (size_t i = 0; i < EdgeTable().size(); ++i) {
    const EdgeCase& c = EdgeTable()[i];
    SCOPED_TRACE(std::string(ReasonCode(c.reason)));
    EXPECT_EQ(c.reason, kAllReasons[i]) << "table out of declaration order";
    EXPECT_EQ(HttpStatusFor(c.reason), c.http);
    EXPECT_EQ(OAuthErrorFor(c.reason), c.oauth_error);
    EXPECT_EQ(GrpcStatusCodeFor(c.reason), c.grpc);
  }
}

TEST_F(ReasonTest, ProvenBindingNames) {
  EXPECT_EQ(ProvenBindingName(ProvenBinding::kNone), "none");
  EXPECT_EQ(ProvenBindingName(ProvenBinding::kDpop), "dpop");
  EXPECT_EQ(ProvenBindingName(ProvenBinding::kMtls), "mtls");
}

// ChallengeHeaders (decision.h): the WWW-Authenticate challenges of
// representative denials, by the scheme the client used and the binding the
// route requires (RFC 6750 3, RFC 9449 7.1).
class ChallengeHeadersTest : public ::testing::Test {};

TEST_F(ChallengeHeadersTest, RepresentativeReasons) {
  using B = BindingRequirement;
  const std::vector<std::string> scopes = {"read", "write"};
  constexpr char kAlgs[] = "ES256 EdDSA";
  struct Case {
    std::string why;
    Reason reason;
    Scheme scheme;
    B binding;
    std::vector<std::string> want;
  };
  const std::vector<Case> cases = {
      {"no credential, bound route: both schemes, no error",
       Reason::kTokenMissing,
       Scheme::kNone,
       B::kBound,
       {R"(DPoP algs="ES256 EdDSA")", "Bearer"}},
      {"no credential, DPoP route: DPoP only",
       Reason::kTokenMissing,
       Scheme::kNone,
       B::kDpop,
       {R"(DPoP algs="ES256 EdDSA")"}},
      {"no credential, mTLS route: Bearer only",
       Reason::kTokenMissing,
       Scheme::kNone,
       B::kMtls,
       {"Bearer"}},
      {"invalid request before the scheme: every scheme the route accepts",
       Reason::kRequestInvalid,
       Scheme::kNone,
       B::kBearer,
       {R"(DPoP error="invalid_request", error_description="request_invalid", algs="ES256 EdDSA")",
        R"(Bearer error="invalid_request", error_description="request_invalid")"}},
      {"expired Bearer token: only the scheme used",
       Reason::kTokenExpired,
       Scheme::kBearer,
       B::kBound,
       {R"(Bearer error="invalid_token", error_description="token_expired")"}},
      {"proof problem: DPoP",
       Reason::kDpopHtuMismatch,
       Scheme::kDpop,
       B::kDpop,
       {R"(DPoP error="invalid_dpop_proof", error_description="dpop_htu_mismatch", )"
        R"(algs="ES256 EdDSA")"}},
      {"nonce: use_dpop_nonce",
       Reason::kDpopNonceMissing,
       Scheme::kDpop,
       B::kDpop,
       {R"(DPoP error="use_dpop_nonce", error_description="dpop_nonce_missing", )"
        R"(algs="ES256 EdDSA")"}},
      {"bearer downgrade: told to use DPoP",
       Reason::kBearerDowngrade,
       Scheme::kBearer,
       B::kBearer,
       {R"(DPoP error="invalid_token", error_description="bearer_downgrade", algs="ES256 EdDSA")"}},
      {"binding required on a DPoP route: DPoP",
       Reason::kBindingRequired,
       Scheme::kBearer,
       B::kDpop,
       {R"(DPoP error="invalid_token", error_description="binding_required", algs="ES256 EdDSA")"}},
      {"binding required on an mTLS route: Bearer",
       Reason::kBindingRequired,
       Scheme::kDpop,
       B::kMtls,
       {R"(Bearer error="invalid_token", error_description="binding_required")"}},
      {"binding required on a bound route: DPoP only",
       Reason::kBindingRequired,
       Scheme::kBearer,
       B::kBound,
       {R"(DPoP error="invalid_token", error_description="binding_required", algs="ES256 EdDSA")"}},
      {"insufficient scope: the route's scopes",
       Reason::kInsufficientScope,
       Scheme::kBearer,
       B::kBearer,
       {R"(Bearer error="insufficient_scope", error_description="insufficient_scope", )"
        R"(scope="read write")"}},
      {"mTLS certificate missing: the scheme used",
       Reason::kMtlsCertMissing,
       Scheme::kBearer,
       B::kMtls,
       {R"(Bearer error="invalid_token", error_description="mtls_cert_missing")"}},
      {"replay store down (503): no challenge",
       Reason::kReplayStoreUnavailable,
       Scheme::kDpop,
       B::kDpop,
       {}},
      {"overloaded (503): no challenge", Reason::kOverloaded, Scheme::kDpop, B::kDpop, {}},
      {"internal error (500): no challenge", Reason::kInternalError, Scheme::kNone, B::kBound, {}},
      {"metadata answer (200): no challenge",
       Reason::kResourceMetadata,
       Scheme::kNone,
       B::kBound,
       {}},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.why);
    HeaderList want;
    for (const std::string& challenge : c.want) want.emplace_back("www-authenticate", challenge);
    EXPECT_EQ(ChallengeHeaders(c.reason, c.scheme, c.binding, scopes, kAlgs), want);
  }
}

}  // namespace
}  // namespace popguard
