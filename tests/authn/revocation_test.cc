// The revocation list (service/authn/revocation.h): each kind, expiry with an
// injected time, the snapshot swap of LiveRevocations, and the file and
// Redis encodings.
#include "service/authn/revocation.h"

#include <atomic>
#include <string>
#include <thread>
#include <vector>

#include "gtest/gtest.h"

namespace popguard {
namespace {

const absl::Time kNow = absl::FromUnixSeconds(1'800'000'000);

VerifiedToken Token() {
  VerifiedToken t;
  t.issuer = "https://issuer.example";
  t.subject = "alice";
  t.client_id = "client-1";
  t.jti = "token-1";
  t.cnf_jkt = "jkt-1";
  t.kid = "key-1";
  return t;
}

RevocationEntry Entry(RevocationKind kind, std::string issuer, std::string value,
                      absl::Duration lasts = absl::Hours(1)) {
  return RevocationEntry{kind, std::move(issuer), std::move(value), kNow + lasts};
}

class RevocationSetTest : public ::testing::Test {};

TEST_F(RevocationSetTest, EachKindDeniesWithItsReason) {
  struct Case {
    const char* name;
    RevocationEntry entry;
    Reason want;
  };
  const std::string iss = "https://issuer.example";
  const Case cases[] = {
      {"jti", Entry(RevocationKind::kJti, "", "token-1"), Reason::kTokenRevoked},
      {"sub", Entry(RevocationKind::kSub, iss, "alice"), Reason::kTokenRevoked},
      {"client_id", Entry(RevocationKind::kClientId, "", "client-1"), Reason::kTokenRevoked},
      {"jkt", Entry(RevocationKind::kJkt, "", "jkt-1"), Reason::kKeyRevoked},
      {"kid", Entry(RevocationKind::kKid, iss, "key-1"), Reason::kKeyRevoked},
      // A sub or kid is only unique within its issuer: another issuer's entry does not match.
      {"sub of another issuer", Entry(RevocationKind::kSub, "https://other.example", "alice"),
       Reason::kOk},
      {"kid of another issuer", Entry(RevocationKind::kKid, "https://other.example", "key-1"),
       Reason::kOk},
      {"another jti", Entry(RevocationKind::kJti, "", "token-2"), Reason::kOk},
      {"case differs", Entry(RevocationKind::kClientId, "", "Client-1"), Reason::kOk},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    auto set = RevocationSet::Build({c.entry}, kNow);
    std::string detail;
    EXPECT_EQ(set->Check(Token(), kNow, &detail), c.want) << detail;
    EXPECT_EQ(detail.empty(), c.want == Reason::kOk);
  }
}

TEST_F(RevocationSetTest, EmptyValuesOfTheTokenNeverMatch) {
  VerifiedToken t = Token();
  t.jti.clear();
  t.cnf_jkt.clear();
  auto set = RevocationSet::Build({Entry(RevocationKind::kClientId, "", "other")}, kNow);
  std::string detail;
  EXPECT_EQ(set->Check(t, kNow, &detail), Reason::kOk);
}

TEST_F(RevocationSetTest, KeyEntriesAreReportedFirst) {
  auto set = RevocationSet::Build(
      {Entry(RevocationKind::kJti, "", "token-1"), Entry(RevocationKind::kJkt, "", "jkt-1")}, kNow);
  std::string detail;
  EXPECT_EQ(set->Check(Token(), kNow, &detail), Reason::kKeyRevoked);
}

TEST_F(RevocationSetTest, AnEntryDeniesUntilItsExpiryAndIsDroppedAfter) {
  auto set =
      RevocationSet::Build({Entry(RevocationKind::kJti, "", "token-1", absl::Minutes(5))}, kNow);
  std::string detail;
  EXPECT_EQ(set->Check(Token(), kNow + absl::Minutes(5) - absl::Seconds(1), &detail),
            Reason::kTokenRevoked);
  EXPECT_EQ(set->Check(Token(), kNow + absl::Minutes(5), &detail), Reason::kOk);
  // Built after the expiry, the entry is gone.
  EXPECT_EQ(RevocationSet::Merge(set.get(), {}, kNow + absl::Minutes(5))->size(), 0u);
  // Already expired when read: never added.
  EXPECT_EQ(
      RevocationSet::Build({Entry(RevocationKind::kJti, "", "x", -absl::Seconds(1))}, kNow)->size(),
      0u);
}

TEST_F(RevocationSetTest, TheLaterExpiryWins) {
  auto set = RevocationSet::Build({Entry(RevocationKind::kJti, "", "token-1", absl::Hours(2)),
                                   Entry(RevocationKind::kJti, "", "token-1", absl::Hours(1))},
                                  kNow);
  EXPECT_EQ(set->size(), 1u);
  EXPECT_EQ(set->Find(RevocationKind::kJti, "", "token-1", kNow), kNow + absl::Hours(2));
}

class LiveRevocationsTest : public ::testing::Test {};

TEST_F(LiveRevocationsTest, AddSwapsInANewSetAndOldReadersKeepTheirs) {
  LiveRevocations live;
  std::string detail;
  EXPECT_EQ(live.Check(Token(), kNow, &detail), Reason::kOk);
  std::shared_ptr<const RevocationSet> before = live.Current();
  live.Add({Entry(RevocationKind::kSub, "https://issuer.example", "alice")}, kNow);
  // The same thread sees the new set at once (its cached version is stale).
  EXPECT_EQ(live.Check(Token(), kNow, &detail), Reason::kTokenRevoked);
  EXPECT_EQ(before->size(), 0u);  // the old snapshot is immutable
  live.Add({Entry(RevocationKind::kJkt, "", "jkt-1")}, kNow);
  EXPECT_EQ(live.Current()->size(), 2u);  // Add merges
}

TEST_F(LiveRevocationsTest, ReadersOnOtherThreadsSeeEveryAdd) {
  LiveRevocations live;
  std::atomic<int> added{0};
  std::atomic<bool> wrong{false};
  std::thread reader([&] {
    // Once an Add has returned, every later Check on any thread sees it.
    for (int seen = 0; seen < 50;) {
      const int n = added.load();
      VerifiedToken t = Token();
      t.jti = "token-" + std::to_string(n);
      std::string detail;
      if (n > 0 && live.Check(t, kNow, &detail) != Reason::kTokenRevoked) wrong = true;
      seen = n;
    }
  });
  for (int i = 1; i <= 50; ++i) {
    live.Add({Entry(RevocationKind::kJti, "", "token-" + std::to_string(i))}, kNow);
    added.store(i);
  }
  reader.join();
  EXPECT_FALSE(wrong.load());
}

TEST_F(LiveRevocationsTest, TwoListsOnOneThreadDoNotShareACachedSet) {
  LiveRevocations a, b;
  a.Add({Entry(RevocationKind::kJti, "", "token-1")}, kNow);
  std::string detail;
  EXPECT_EQ(a.Check(Token(), kNow, &detail), Reason::kTokenRevoked);
  EXPECT_EQ(b.Check(Token(), kNow, &detail), Reason::kOk);
  EXPECT_EQ(a.Check(Token(), kNow, &detail), Reason::kTokenRevoked);
}

class RevocationEncodingTest : public ::testing::Test {};

TEST_F(RevocationEncodingTest, FileLinesRoundTrip) {
  const std::vector<RevocationEntry> entries = {
      Entry(RevocationKind::kJti, "", "token-1"),
      Entry(RevocationKind::kSub, "https://issuer.example", "alice"),
      Entry(RevocationKind::kKid, "https://issuer.example", "key \"1\""),
  };
  std::string text = "# revoked by the SOC\n\n";
  for (const auto& e : entries) text += RevocationJsonLine(e) + "\n";
  absl::StatusOr<std::vector<RevocationEntry>> parsed = ParseRevocationLines(text);
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  ASSERT_EQ(parsed->size(), entries.size());
  for (size_t i = 0; i < entries.size(); ++i) {
    SCOPED_TRACE(i);
    EXPECT_EQ((*parsed)[i].kind, entries[i].kind);
    EXPECT_EQ((*parsed)[i].issuer, entries[i].issuer);
    EXPECT_EQ((*parsed)[i].value, entries[i].value);
    EXPECT_EQ((*parsed)[i].until, entries[i].until);
  }
}

TEST_F(RevocationEncodingTest, BadLinesAreRefusedWithTheirLineNumber) {
  const std::string good = R"({"kind":"jti","value":"a","until":"2030-01-01T00:00:00Z"})";
  struct Case {
    const char* name;
    std::string line;
    const char* message;
  };
  const Case cases[] = {
      {"not json", "{kind", "line 2: "},
      {"not an object", "[1]", "line 2: not a JSON object"},
      {"unknown kind", R"({"kind":"email","value":"a","until":"2030-01-01T00:00:00Z"})",
       "line 2: kind \"email\""},
      {"no until", R"({"kind":"jti","value":"a"})", "line 2: until is missing"},
      {"bad until", R"({"kind":"jti","value":"a","until":"tomorrow"})", "line 2: until: "},
      {"sub without iss", R"({"kind":"sub","value":"a","until":"2030-01-01T00:00:00Z"})",
       "line 2: sub entries need the issuer"},
      {"jti with iss", R"({"kind":"jti","iss":"x","value":"a","until":"2030-01-01T00:00:00Z"})",
       "line 2: jti entries take no issuer"},
      {"empty value", R"({"kind":"jti","value":"","until":"2030-01-01T00:00:00Z"})",
       "line 2: value must be 1 to 1024 bytes"},
      {"control character", R"({"kind":"jti","value":"a\tb","until":"2030-01-01T00:00:00Z"})",
       "line 2: value holds a control character"},
      {"unknown member", R"({"kind":"jti","value":"a","until":"2030-01-01T00:00:00Z","x":"y"})",
       "line 2: unknown member \"x\""},
      {"number", R"({"kind":"jti","value":5,"until":"2030-01-01T00:00:00Z"})",
       "line 2: value is not a string"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    absl::StatusOr<std::vector<RevocationEntry>> parsed =
        ParseRevocationLines(good + "\n" + c.line + "\n");
    ASSERT_FALSE(parsed.ok());
    EXPECT_EQ(parsed.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_EQ(std::string(parsed.status().message()).rfind(c.message, 0), 0u)
        << parsed.status().message();
  }
}

TEST_F(RevocationEncodingTest, RedisMembersAndMessagesRoundTrip) {
  const RevocationEntry e = Entry(RevocationKind::kSub, "https://issuer.example", "a\"b c");
  EXPECT_EQ(RevocationMember(e), "sub\thttps://issuer.example\ta\"b c");
  absl::StatusOr<RevocationEntry> back = ParseRevocationMessage(RevocationMessage(e));
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(back->kind, e.kind);
  EXPECT_EQ(back->issuer, e.issuer);
  EXPECT_EQ(back->value, e.value);
  EXPECT_EQ(back->until, e.until);
  for (const char* bad :
       {"", "12", "x\tjti\t\ta", "12\temail\t\ta", "12\tjti\ta", "12\tsub\t\ta"}) {
    SCOPED_TRACE(bad);
    EXPECT_EQ(ParseRevocationMessage(bad).status().code(), absl::StatusCode::kInvalidArgument);
  }
}

}  // namespace
}  // namespace popguard
