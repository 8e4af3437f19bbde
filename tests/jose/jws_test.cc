// Tests for service/jose/jws.h: compact JWS structure (RFC 7515 section 7.1),
// strict segments, and the header members popguard refuses for every JWS
// (crit: section 4.1.11; b64: RFC 7797; zip).
#include "service/jose/jws.h"

#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "service/jose/base64url.h"
#include "tests/testing/unit_fixtures.h"

namespace popguard {
namespace {

using unit::Compact;

std::string ErrorName(JwsError e) {
  switch (e) {
    case JwsError::kOk:
      return "kOk";
    case JwsError::kMalformed:
      return "kMalformed";
    case JwsError::kBadBase64:
      return "kBadBase64";
    case JwsError::kBadJson:
      return "kBadJson";
    case JwsError::kHeaderInvalid:
      return "kHeaderInvalid";
    case JwsError::kCritUnsupported:
      return "kCritUnsupported";
    case JwsError::kUnencodedPayload:
      return "kUnencodedPayload";
    case JwsError::kZipUnsupported:
      return "kZipUnsupported";
  }
  return "?";
}

constexpr char kHeader[] = R"({"alg":"ES256","kid":"k1"})";
constexpr char kPayload[] = R"({"sub":"alice"})";
constexpr char kSig[] = "signature-bytes";

struct Case {
  std::string compact;
  JwsError want;
  std::string why;
};

class ParseCompactJwsTest : public ::testing::Test {
 protected:
  static std::string H() { return Base64UrlEncode(kHeader); }
  static std::string P() { return Base64UrlEncode(kPayload); }
  static std::string S() { return Base64UrlEncode(kSig); }
};

TEST_F(ParseCompactJwsTest, EachErrorForCraftedInputs) {
  const std::string h = H(), p = P(), s = S();
  const std::vector<Case> cases = {
      {Compact(kHeader, kPayload, kSig), JwsError::kOk, "well-formed"},
      // Structure.
      {"", JwsError::kMalformed, "empty"},
      {h, JwsError::kMalformed, "one segment"},
      {h + "." + p, JwsError::kMalformed, "two segments"},
      {h + "." + p + "." + s + "." + s, JwsError::kMalformed, "four segments (JWE-like)"},
      {h + "." + p + "." + s + ".", JwsError::kMalformed, "trailing dot"},
      {"." + p + "." + s, JwsError::kMalformed, "empty header"},
      {h + ".." + s, JwsError::kMalformed, "empty payload (detached content)"},
      {h + "." + p + ".", JwsError::kMalformed, "empty signature (alg none style)"},
      {"..", JwsError::kMalformed, "three empty segments"},
      // Strict base64url in each segment.
      {h + "=." + p + "." + s, JwsError::kBadBase64, "padded header"},
      {h + "." + p + "=." + s, JwsError::kBadBase64, "padded payload"},
      {h + "." + p + "." + s + "=", JwsError::kBadBase64, "padded signature"},
      {h + " ." + p + "." + s, JwsError::kBadBase64, "space in header"},
      {h + "." + p + "." + s + "\n", JwsError::kBadBase64, "newline after signature"},
      {h + "." + p + ".ab+c", JwsError::kBadBase64, "'+' in signature"},
      {h + "." + p + ".ab/c", JwsError::kBadBase64, "'/' in signature"},
      {h + "." + p + ".A", JwsError::kBadBase64, "1-character signature"},
      {h + "." + p + ".AB", JwsError::kBadBase64, "signature with non-zero trailing bits"},
      // Strict JSON objects.
      {Compact("{", kPayload, kSig), JwsError::kBadJson, "header not JSON"},
      {Compact("[]", kPayload, kSig), JwsError::kBadJson, "header an array"},
      {Compact(R"("ES256")", kPayload, kSig), JwsError::kBadJson, "header a string"},
      {Compact(R"({"alg":"ES256","alg":"none"})", kPayload, kSig), JwsError::kBadJson,
       "duplicate alg"},
      {Compact(R"({"alg":"ES256","\u0061lg":"none"})", kPayload, kSig), JwsError::kBadJson,
       "duplicate alg after unescaping"},
      {Compact("{\"alg\":\"ES256\",\"kid\":\"\xc0\xaf\"}", kPayload, kSig), JwsError::kBadJson,
       "invalid UTF-8 in header"},
      {Compact(R"({"alg":"ES256"} )"
               "x",
               kPayload, kSig),
       JwsError::kBadJson, "trailing data after header"},
      {Compact(kHeader, "foo", kSig), JwsError::kBadJson, "payload not JSON"},
      {Compact(kHeader, "[1]", kSig), JwsError::kBadJson, "payload an array"},
      {Compact(kHeader, "null", kSig), JwsError::kBadJson, "payload null"},
      {Compact(kHeader, R"({"sub":"a","sub":"b"})", kSig), JwsError::kBadJson, "duplicate claim"},
      {Compact(kHeader, R"({"a":[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]})", kSig), JwsError::kBadJson,
       "payload nested 17 deep"},
      // Header members.
      {Compact(R"({"kid":"k1"})", kPayload, kSig), JwsError::kHeaderInvalid, "alg missing"},
      {Compact(R"({"alg":256})", kPayload, kSig), JwsError::kHeaderInvalid, "alg a number"},
      {Compact(R"({"alg":null})", kPayload, kSig), JwsError::kHeaderInvalid, "alg null"},
      {Compact(R"({"alg":["ES256"]})", kPayload, kSig), JwsError::kHeaderInvalid, "alg an array"},
      {Compact(R"({"alg":""})", kPayload, kSig), JwsError::kHeaderInvalid, "alg empty"},
      {Compact(R"({"alg":"ES256","typ":1})", kPayload, kSig), JwsError::kHeaderInvalid,
       "typ a number"},
      {Compact(R"({"alg":"ES256","kid":["k1"]})", kPayload, kSig), JwsError::kHeaderInvalid,
       "kid an array"},
      {Compact(R"({"alg":"ES256","kid":null})", kPayload, kSig), JwsError::kHeaderInvalid,
       "kid null"},
      {Compact(R"({"alg":"ES256","cty":true})", kPayload, kSig), JwsError::kHeaderInvalid,
       "cty a bool"},
      {Compact(R"({"alg":"ES256","crit":["exp"],"exp":1})", kPayload, kSig),
       JwsError::kCritUnsupported, "crit naming a member"},
      {Compact(R"({"alg":"ES256","crit":[]})", kPayload, kSig), JwsError::kCritUnsupported,
       "empty crit"},
      {Compact(R"({"alg":"ES256","crit":"b64"})", kPayload, kSig), JwsError::kCritUnsupported,
       "malformed crit"},
      {Compact(R"({"alg":"ES256","b64":false,"crit":["b64"]})", kPayload, kSig),
       JwsError::kUnencodedPayload, "RFC 7797 unencoded payload"},
      {Compact(R"({"alg":"ES256","b64":true})", kPayload, kSig), JwsError::kUnencodedPayload,
       "b64 true is refused too"},
      {Compact(R"({"alg":"ES256","zip":"DEF"})", kPayload, kSig), JwsError::kZipUnsupported, "zip"},
      // Order: the header is judged before the payload, the payload before
      // the signature.
      {Compact(R"({"alg":"ES256","crit":["x"]})", "not json", kSig), JwsError::kCritUnsupported,
       "header error wins over payload error"},
      {h + "." + Base64UrlEncode("not json") + ".A", JwsError::kBadJson,
       "payload error wins over signature error"},
      {Compact(R"({"typ":"JWT"})", "not json", kSig), JwsError::kHeaderInvalid,
       "missing alg wins over payload error"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.why);
    Jws jws;
    std::string detail;
    JwsError got = ParseCompactJws(c.compact, JsonLimits(), &jws, &detail);
    EXPECT_EQ(ErrorName(got), ErrorName(c.want)) << detail;
    if (got != JwsError::kOk) {
      EXPECT_FALSE(detail.empty());
    }
  }
}

TEST_F(ParseCompactJwsTest, ViewsAndDecodedParts) {
  const std::string compact = Compact(kHeader, kPayload, kSig);
  Jws jws;
  std::string detail;
  ASSERT_EQ(ParseCompactJws(compact, JsonLimits(), &jws, &detail), JwsError::kOk) << detail;
  const std::string h = H(), p = P();
  EXPECT_EQ(jws.signing_input, h + "." + p);
  EXPECT_EQ(jws.payload_b64, p);
  // Both are views into the input, not copies.
  EXPECT_EQ(jws.signing_input.data(), compact.data());
  EXPECT_EQ(jws.payload_b64.data(), compact.data() + h.size() + 1);
  EXPECT_EQ(jws.signature, kSig);
  EXPECT_EQ(jws.alg, "ES256");
  ASSERT_NE(jws.header.FindString("kid"), nullptr);
  EXPECT_EQ(*jws.header.FindString("kid"), "k1");
  ASSERT_NE(jws.payload.FindString("sub"), nullptr);
  EXPECT_EQ(*jws.payload.FindString("sub"), "alice");
}

TEST_F(ParseCompactJwsTest, AlgIsNotJudgedHere) {
  // Which algorithms are acceptable differs between tokens and proofs, so the
  // parser passes any non-empty alg string through; callers refuse it.
  for (const char* alg : {"none", "HS256", "RSA-OAEP", "whatever"}) {
    SCOPED_TRACE(alg);
    Jws jws;
    std::string detail;
    ASSERT_EQ(ParseCompactJws(Compact(std::string(R"({"alg":")") + alg + "\"}", kPayload, kSig),
                              JsonLimits(), &jws, &detail),
              JwsError::kOk)
        << detail;
    EXPECT_EQ(jws.alg, alg);
  }
}

TEST_F(ParseCompactJwsTest, LimitsApplyToBothSegments) {
  const JsonLimits shallow{.max_depth = 2};
  Jws jws;
  std::string detail;
  EXPECT_EQ(ParseCompactJws(Compact(kHeader, R"({"a":{}})", kSig), shallow, &jws, &detail),
            JwsError::kOk);
  EXPECT_EQ(ParseCompactJws(Compact(kHeader, R"({"a":{"b":{}}})", kSig), shallow, &jws, &detail),
            JwsError::kBadJson);
  EXPECT_EQ(ParseCompactJws(Compact(R"({"alg":"ES256","x":[[1]]})", kPayload, kSig), shallow, &jws,
                            &detail),
            JwsError::kBadJson);
}

TEST_F(ParseCompactJwsTest, DetailNeverEchoesTheInput) {
  const std::vector<std::string> cases = {
      Compact(R"({"alg":"ES256","kid":"secret-kid","kid":"x"})", kPayload, kSig),
      Compact(R"({"alg":"ES256"})", R"({"secret-claim":)", kSig),
      Compact(R"({"alg":"ES256","typ":["secret-typ"]})", kPayload, kSig),
  };
  for (const std::string& compact : cases) {
    Jws jws;
    std::string detail;
    ASSERT_NE(ParseCompactJws(compact, JsonLimits(), &jws, &detail), JwsError::kOk);
    SCOPED_TRACE(detail);
    EXPECT_EQ(detail.find("secret"), std::string::npos);
  }
}

}  // namespace
}  // namespace popguard
