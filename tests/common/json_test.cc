// Tests for service/common/json.h: the strict RFC 8259 parser that reads every token
// and proof segment. Each strictness rule in the header has a row here, with
// the clause it enforces; valid documents are pinned through SerializeJson.
#include "service/common/json.h"

#include <cmath>
#include <limits>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"

namespace popguard {
namespace {

std::string Nested(int depth, std::string_view open, std::string_view close,
                   std::string_view inner) {
  std::string s;
  for (int i = 0; i < depth; ++i) s += open;
  s += inner;
  for (int i = 0; i < depth; ++i) s += close;
  return s;
}

class JsonParseTest : public ::testing::Test {};

TEST_F(JsonParseTest, ValidDocumentsSerializeCanonically) {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"{}", "{}"},
      {"[]", "[]"},
      {" { } ", "{}"},
      {"\t[\n1 ,\r2 ]\n", "[1,2]"},
      {R"({"a":1,"b":[true,false,null],"c":"x"})", R"({"a":1,"b":[true,false,null],"c":"x"})"},
      {R"({"b":1,"a":2})", R"({"b":1,"a":2})"},              // stored order kept
      {R"({"a":1,"A":2})", R"({"a":1,"A":2})"},              // names are case-sensitive
      {R"({"a":{"a":{"a":1}}})", R"({"a":{"a":{"a":1}}})"},  // same name, other objects
      {R"({"":0})", R"({"":0})"},
      {"true", "true"},
      {"false", "false"},
      {"null", "null"},
      {"0", "0"},
      {"-0", "0"},
      {"1", "1"},
      {"-1", "-1"},
      {"0.5", "0.5"},
      {"-1.25e-2", "-0.0125"},
      {"1E2", "100"},
      {"1e+2", "100"},
      {"1.5e3", "1500"},
      {"1e300", "1e+300"},
      {"9007199254740992", "9007199254740992"},
      {R"("")", R"("")"},
      {R"("\"\\\/\b\f\n\r\t")", R"("\"\\/\b\f\n\r\t")"},
      {R"("\u0041\u00e9\u20AC")", "\"A\xc3\xa9\xe2\x82\xac\""},
      {R"("\ud83d\ude00")", "\"\xf0\x9f\x98\x80\""},  // surrogate pair escape
      {R"("\u0000")", R"("\u0000")"},
      {"\"\x7f\"", "\"\x7f\""},                          // DEL is not a control character in JSON
      {"\"\xc2\x80\"", "\"\xc2\x80\""},                  // U+0080, smallest 2-byte form
      {"\"\xe0\xa0\x80\"", "\"\xe0\xa0\x80\""},          // U+0800, smallest 3-byte form
      {"\"\xed\x9f\xbf\"", "\"\xed\x9f\xbf\""},          // U+D7FF, just below the surrogates
      {"\"\xee\x80\x80\"", "\"\xee\x80\x80\""},          // U+E000, just above them
      {"\"\xf0\x90\x80\x80\"", "\"\xf0\x90\x80\x80\""},  // U+10000
      {"\"\xf4\x8f\xbf\xbf\"", "\"\xf4\x8f\xbf\xbf\""},  // U+10FFFF, the last code point
  };
  for (const auto& [text, serialized] : cases) {
    SCOPED_TRACE(text);
    absl::StatusOr<JsonValue> v = ParseJson(text);
    ASSERT_TRUE(v.ok()) << v.status();
    EXPECT_EQ(SerializeJson(*v), serialized);
  }
}

TEST_F(JsonParseTest, AccessorsAndFind) {
  absl::StatusOr<JsonValue> v = ParseJson(R"({"s":"x","n":2,"b":true,"a":[1],"o":{},"z":null})");
  ASSERT_TRUE(v.ok()) << v.status();
  EXPECT_TRUE(v->is_object());
  EXPECT_EQ(v->object_members().size(), 6u);
  ASSERT_NE(v->FindString("s"), nullptr);
  EXPECT_EQ(*v->FindString("s"), "x");
  EXPECT_EQ(v->FindString("n"), nullptr);  // present, not a string
  EXPECT_EQ(v->FindString("missing"), nullptr);
  EXPECT_EQ(v->Find("n")->number_value(), 2);
  EXPECT_TRUE(v->Find("b")->bool_value());
  EXPECT_EQ(v->Find("a")->array_items().size(), 1u);
  EXPECT_TRUE(v->Find("o")->is_object());
  EXPECT_TRUE(v->Find("z")->is_null());
  EXPECT_EQ(v->Find("missing"), nullptr);
  // Find on a non-object is nullptr, not a crash.
  EXPECT_EQ(v->Find("a")->Find("0"), nullptr);
  EXPECT_EQ(v->Find("s")->FindString("x"), nullptr);
}

struct InvalidCase {
  std::string text;
  std::string why;
};

TEST_F(JsonParseTest, StrictnessRules) {
  const std::vector<InvalidCase> cases = {
      // Duplicate member names (RFC 7515 section 5.2), compared after unescaping.
      {R"({"a":1,"a":2})", "duplicate name"},
      {R"({"a":1,"\u0061":2})", "duplicate name after unescaping"},
      {R"({"\u00e9":1,"é":2})", "duplicate non-ASCII name after unescaping"},
      {R"({"a":1,"b":2,"a":1})", "duplicate name, not adjacent, same value"},
      {R"({"x":{"b":1,"b":1}})", "duplicate name in a nested object"},
      {R"([{"k":1,"k":2}])", "duplicate name in an object in an array"},
      // Invalid UTF-8 (RFC 8259 section 8.1, RFC 3629).
      {"\"\xc0\xaf\"", "overlong 2-byte form (C0)"},
      {"\"\xc1\xbf\"", "overlong 2-byte form (C1)"},
      {"\"\xe0\x80\xaf\"", "overlong 3-byte form"},
      {"\"\xe0\x9f\xbf\"", "overlong 3-byte form of U+07FF"},
      {"\"\xf0\x80\x80\xaf\"", "overlong 4-byte form"},
      {"\"\xf0\x8f\xbf\xbf\"", "overlong 4-byte form of U+FFFF"},
      {"\"\xed\xa0\x80\"", "UTF-8 encoded high surrogate U+D800"},
      {"\"\xed\xbf\xbf\"", "UTF-8 encoded low surrogate U+DFFF"},
      {"\"\xed\xa0\xbd\xed\xb8\x80\"", "UTF-8 encoded surrogate pair (CESU-8)"},
      {"\"\xf4\x90\x80\x80\"", "U+110000, above U+10FFFF"},
      {"\"\xf5\x80\x80\x80\"", "F5 lead byte"},
      {"\"\xf8\x88\x80\x80\x80\"", "5-byte form"},
      {"\"\xff\"", "FF byte"},
      {"\"\xfe\"", "FE byte"},
      {"\"\x80\"", "lone continuation byte"},
      {"\"\xc3\"", "truncated 2-byte sequence before the quote"},
      {"\"\xe2\x82\"", "truncated 3-byte sequence before the quote"},
      {"\"\xe2\x82", "truncated 3-byte sequence at end of input"},
      {"\"\xf0\x9f\x98\"", "truncated 4-byte sequence"},
      {"\"\xc3\x28\"", "bad continuation byte"},
      {"{\"\xc0\xaf\":1}", "invalid UTF-8 in a member name"},
      {"\xef\xbb\xbf{}", "byte order mark"},
      // Surrogate escapes must pair (RFC 8259 section 8.2).
      {R"("\ud800")", "lone high surrogate escape"},
      {R"("\udc00")", "lone low surrogate escape"},
      {R"("\udfff\ud800")", "reversed surrogate pair"},
      {R"("\ud800\u0041")", "high surrogate followed by a non-surrogate escape"},
      {R"("\ud800\ud800")", "two high surrogates"},
      {R"("\ud800x")", "high surrogate followed by a character"},
      {R"("\ud800\")", "high surrogate followed by a lone backslash"},
      // Control characters must be escaped (RFC 8259 section 7).
      {"\"a\nb\"", "raw LF in a string"},
      {"\"\t\"", "raw tab in a string"},
      {std::string("\"\0\"", 3), "raw NUL in a string"},
      {"\"\x1f\"", "raw U+001F in a string"},
      // Escapes.
      {R"("\x41")", "unknown escape"},
      {R"("\'")", "escaped apostrophe"},
      {R"("\u12")", "short \\u escape"},
      {R"("\u12G4")", "non-hex \\u escape"},
      {R"("\U0041")", "upper-case \\U"},
      {"\"\\", "escape at end of input"},
      {R"("abc)", "unterminated string"},
      // Numbers (RFC 8259 section 6).
      {"01", "leading zero"},
      {"-01", "negative leading zero"},
      {"00", "double zero"},
      {"-", "lone minus"},
      {"1.", "fraction without digits"},
      {".5", "no integer part"},
      {"+1", "plus sign"},
      {"1e", "exponent without digits"},
      {"1e+", "signed exponent without digits"},
      {"--1", "double minus"},
      {"0x10", "hex literal"},
      {"1.5.2", "two points"},
      {"- 1", "space after minus"},
      {"NaN", "NaN literal"},
      {"nan", "nan literal"},
      {"Infinity", "Infinity literal"},
      {"-Infinity", "-Infinity literal"},
      {"1e400", "exponent overflows a double"},
      {"-1e400", "negative exponent overflow"},
      {"[1e400]", "overflow inside an array"},
      // Underflow to zero is refused as well (from_chars reports it out of
      // range): no claim needs such a number, and refusing is the safe side.
      {"1e-400", "exponent underflows a double"},
      // Literals.
      {"tru", "truncated true"},
      {"True", "capitalised true"},
      {"nul", "truncated null"},
      {"falsey", "literal followed by letters"},
      {"undefined", "undefined"},
      // Structure.
      {"", "empty input"},
      {"   ", "whitespace only"},
      {"[1,]", "trailing comma in array"},
      {R"({"a":1,})", "trailing comma in object"},
      {"[,1]", "leading comma in array"},
      {"{,}", "lone comma in object"},
      {"[1 2]", "missing comma"},
      {R"({"a" 1})", "missing colon"},
      {R"({"a"})", "member without value"},
      {"{a:1}", "unquoted name"},
      {"{'a':1}", "single-quoted name"},
      {"{1:2}", "number as name"},
      {"[1", "unterminated array"},
      {R"({"a":1)", "unterminated object"},
      {"]", "stray close bracket"},
      {"/*c*/{}", "comment"},
      {"{}\v", "vertical tab is not JSON whitespace"},
      {"\xc2\xa0{}", "no-break space is not JSON whitespace"},
      // Exactly one value (RFC 8259 section 2).
      {"{} x", "trailing garbage"},
      {"1 2", "two numbers"},
      {"{}{}", "two objects"},
      {R"("a""b")", "two strings"},
      {std::string("{}\0", 3), "trailing NUL"},
  };
  for (const InvalidCase& c : cases) {
    SCOPED_TRACE(c.why);
    absl::StatusOr<JsonValue> v = ParseJson(c.text);
    ASSERT_FALSE(v.ok()) << SerializeJson(*v);
    EXPECT_EQ(v.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_FALSE(v.status().message().empty());
  }
}

TEST_F(JsonParseTest, ErrorMessagesNeverEchoTheInput) {
  const std::vector<std::string> cases = {
      R"({"secret-name-123":1,"secret-name-123":2})",
      R"({"k":"secret-value-123)",
      R"({"k":secret-value-123})",
      R"(["secret-value-123",])",
  };
  for (const std::string& text : cases) {
    SCOPED_TRACE(text);
    absl::StatusOr<JsonValue> v = ParseJson(text);
    ASSERT_FALSE(v.ok());
    EXPECT_EQ(std::string(v.status().message()).find("secret"), std::string::npos)
        << v.status().message();
  }
}

TEST_F(JsonParseTest, NestingDepthAtAndOverTheLimit) {
  const int limit = JsonLimits().max_depth;
  ASSERT_EQ(limit, 16);
  struct Case {
    std::string text;
    int max_depth;
    bool ok;
    std::string why;
  };
  const std::vector<Case> cases = {
      {Nested(16, "[", "]", "1"), 16, true, "16 arrays at limit 16"},
      {Nested(17, "[", "]", "1"), 16, false, "17 arrays at limit 16"},
      {Nested(15, R"({"a":)", "}", "{}"), 16, true, "16 objects at limit 16"},
      {Nested(16, R"({"a":)", "}", "{}"), 16, false, "17 objects at limit 16"},
      {Nested(8, R"([{"a":)", "}]", "1"), 16, true, "16 mixed at limit 16"},
      {Nested(8, R"([{"a":)", "}]", "[]"), 16, false, "17 mixed at limit 16"},
      {"1", 0, true, "a scalar has no nesting"},
      {"[]", 1, true, "one array at limit 1"},
      {"[[]]", 1, false, "two arrays at limit 1"},
      {"[[1],[2]]", 2, true, "siblings do not add up"},
      {"[[[1]]]", 2, false, "three arrays at limit 2"},
      {Nested(100000, "[", "]", ""), 16, false, "deep enough to overflow a naive stack"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.why);
    absl::StatusOr<JsonValue> v = ParseJson(c.text, JsonLimits{.max_depth = c.max_depth});
    EXPECT_EQ(v.ok(), c.ok) << v.status();
  }
}

// ManyMembers returns {"m0":0,"m1":0,...} with `n` members; when
// `duplicate_of` >= 0, the last member repeats that member's name.
std::string ManyMembers(int n, int duplicate_of = -1) {
  std::string s = "{";
  for (int i = 0; i < n; ++i) {
    const int name = i == n - 1 && duplicate_of >= 0 ? duplicate_of : i;
    s += (i == 0 ? "\"m" : ",\"m") + std::to_string(name) + "\":0";
  }
  return s + "}";
}

// The duplicate-name check must cost work linear in the input, not in the
// square of the member count (issue 10 item 9: a 1 MiB token of short
// members was 0.43 s of CPU before its signature was looked at). Counted
// in name comparisons, not timed; bench/primitives_benchmark
// BM_JsonParseManyMembers has the times.
TEST_F(JsonParseTest, DuplicateCheckIsLinearInTheMemberCount) {
  struct Case {
    int members;
    int duplicate_of;  // -1: none
  };
  for (const Case& c : std::vector<Case>{{1, -1},
                                         {16, -1},
                                         {17, -1},
                                         {17, 0},
                                         {1000, -1},
                                         {1000, 0},
                                         {1000, 998},
                                         {100000, -1},
                                         {100000, 0},
                                         {100000, 50000}}) {
    const std::string text = ManyMembers(c.members, c.duplicate_of);
    SCOPED_TRACE(absl::StrCat(c.members, " members (", text.size(), " bytes), duplicate of #",
                              c.duplicate_of));
    JsonParseStats stats;
    absl::StatusOr<JsonValue> v = ParseJson(text, {}, &stats);
    if (c.duplicate_of < 0) {
      ASSERT_TRUE(v.ok()) << v.status();
      EXPECT_EQ(v->object_members().size(), static_cast<size_t>(c.members));
    } else {
      EXPECT_FALSE(v.ok());
      EXPECT_NE(v.status().message().find("duplicate member name"), absl::string_view::npos)
          << v.status();
    }
    // At most 16 comparisons per member (the scan of a small object's first
    // 16 names), plus one pass over them when the object outgrows the scan.
    EXPECT_LE(stats.name_comparisons, 17u * static_cast<uint64_t>(c.members));
  }
  // The largest case is about 1 MiB, max_token_bytes' worth.
  EXPECT_GE(ManyMembers(100000).size(), 1000u * 1000);
}

class JsonValueTest : public ::testing::Test {};

TEST_F(JsonValueTest, AsInt64) {
  struct Case {
    JsonValue value;
    std::optional<int64_t> want;
    std::string why;
  };
  const double two53 = 9007199254740992.0;
  const std::vector<Case> cases = {
      {JsonValue::Number(0), 0, "zero"},
      {JsonValue::Number(1700000000), 1700000000, "a NumericDate"},
      {JsonValue::Number(-5), -5, "negative"},
      {JsonValue::Number(1.9), 1, "truncated toward negative infinity"},
      {JsonValue::Number(-1.5), -2, "negative fraction floors"},
      {JsonValue::Number(two53), 9007199254740992, "2^53 is in range"},
      {JsonValue::Number(-two53), -9007199254740992, "-2^53 is in range"},
      {JsonValue::Number(two53 * 2), std::nullopt, "2^54 is out of range"},
      {JsonValue::Number(-two53 * 2), std::nullopt, "-2^54 is out of range"},
      {JsonValue::Number(1e300), std::nullopt, "1e300"},
      {JsonValue::Number(std::numeric_limits<double>::infinity()), std::nullopt, "infinity"},
      {JsonValue::Number(std::nan("")), std::nullopt, "NaN"},
      {JsonValue::String("1"), std::nullopt, "a string"},
      {JsonValue::Bool(true), std::nullopt, "a bool"},
      {JsonValue::Null(), std::nullopt, "null"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.why);
    EXPECT_EQ(c.value.AsInt64(), c.want);
  }
}

TEST_F(JsonValueTest, AccessorsOfTheWrongTypeAreEmpty) {
  JsonValue n = JsonValue::Number(3);
  EXPECT_EQ(n.string_value(), "");
  EXPECT_TRUE(n.array_items().empty());
  EXPECT_TRUE(n.object_members().empty());
  EXPECT_FALSE(n.bool_value());
  EXPECT_EQ(JsonValue::String("x").number_value(), 0);
}

class JsonSerializeTest : public ::testing::Test {};

TEST_F(JsonSerializeTest, JsonQuoteEscapes) {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"", R"("")"},
      {"abc", R"("abc")"},
      {"\"", R"("\"")"},
      {"\\", R"("\\")"},
      {"/", R"("/")"},
      {"\n\r\t\b\f", R"("\n\r\t\b\f")"},
      {std::string("\0", 1), R"("\u0000")"},
      {"\x01\x1f", R"("\u0001\u001f")"},
      {"\x7f", "\"\x7f\""},
      {"\xc3\xa9", "\"\xc3\xa9\""},
  };
  for (const auto& [in, want] : cases) {
    SCOPED_TRACE(want);
    EXPECT_EQ(JsonQuote(in), want);
  }
}

TEST_F(JsonSerializeTest, JsonQuoteRoundTripsEveryAsciiByteAndUtf8) {
  std::vector<std::string> cases;
  std::string all;
  for (int c = 0; c < 0x80; ++c) {
    cases.emplace_back(1, static_cast<char>(c));
    all.push_back(static_cast<char>(c));
  }
  cases.push_back(all);
  cases.push_back("\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80\xf4\x8f\xbf\xbf");
  for (const std::string& s : cases) {
    SCOPED_TRACE(JsonQuote(s));
    absl::StatusOr<JsonValue> v = ParseJson(JsonQuote(s));
    ASSERT_TRUE(v.ok()) << v.status();
    ASSERT_TRUE(v->is_string());
    EXPECT_EQ(v->string_value(), s);
  }
}

TEST_F(JsonSerializeTest, SerializeThenParseIsTheIdentity) {
  const std::vector<std::string> docs = {
      R"({"iss":"https://issuer.example","aud":["a","b"],"exp":1900000000,"cnf":{"jkt":"x"}})",
      R"([0.1,-2.5e-7,1e+300,123456789,true,false,null,"\u0001\n",{}])",
      R"({"nested":[[[{"k":"\ud83d\ude00"}]]]})",
  };
  for (const std::string& text : docs) {
    SCOPED_TRACE(text);
    absl::StatusOr<JsonValue> first = ParseJson(text);
    ASSERT_TRUE(first.ok()) << first.status();
    std::string once = SerializeJson(*first);
    absl::StatusOr<JsonValue> second = ParseJson(once);
    ASSERT_TRUE(second.ok()) << second.status();
    EXPECT_EQ(SerializeJson(*second), once);
  }
  // Built values serialize in member order, numbers as integers when exact.
  JsonValue built = JsonValue::Object(
      {{"b", JsonValue::Number(2)},
       {"a", JsonValue::Array({JsonValue::Number(0.5), JsonValue::String("q\"")})}});
  EXPECT_EQ(SerializeJson(built), R"({"b":2,"a":[0.5,"q\""]})");
}

}  // namespace
}  // namespace popguard
