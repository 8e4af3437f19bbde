// ParsePrometheusText (service/tools/cli/prometheus_text.h) and the fleet sum
// of popguard-cli rollout --metrics (service/tools/cli/rollout_fleet.h).
#include "service/tools/cli/prometheus_text.h"

#include <cmath>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "service/common/json.h"
#include "service/tools/cli/rollout.h"
#include "service/tools/cli/rollout_fleet.h"

namespace popguard {
namespace {

// Render writes samples back as "name{a=b,...} value [ts]" with the label
// values unescaped and in brackets, so a test sees exactly what was parsed.
std::string Render(const PromText& t) {
  std::vector<std::string> lines;
  for (const PromSample& s : t.samples) {
    std::vector<std::string> labels;
    for (const auto& [n, v] : s.labels) labels.push_back(absl::StrCat(n, "=[", v, "]"));
    std::string value = std::isnan(s.value) ? "NaN" : absl::StrCat(s.value);
    lines.push_back(absl::StrCat(s.name, "{", absl::StrJoin(labels, ","), "} ", value,
                                 s.timestamp_ms ? absl::StrCat(" @", *s.timestamp_ms) : "", " L",
                                 s.line));
  }
  return absl::StrJoin(lines, "\n");
}

TEST(PrometheusTextTest, ParsesWellFormedExpositions) {
  struct Case {
    std::string name;
    std::string text;
    std::string want;
  };
  const std::vector<Case> cases = {
      {"empty", "", ""},
      {"plain sample", "a 1\n", "a{} 1 L1"},
      {"no final newline", "a 1", "a{} 1 L1"},
      {"labels, colon in the name, trailing comma", "ns:a_b{x=\"1\",y=\"two\",} 3.5\n",
       "ns:a_b{x=[1],y=[two]} 3.5 L1"},
      {"blanks around everything", "  a { x = \"1\" , y=\"2\" }\t7  \n", "a{x=[1],y=[2]} 7 L1"},
      {"escaped quote, backslash, newline", R"(a{x="say \"hi\"",y="c:\\dir",z="one\ntwo"} 1)",
       "a{x=[say \"hi\"],y=[c:\\dir],z=[one\ntwo]} 1 L1"},
      {"UTF-8 value", "a{x=\"gr\xc3\xbc\xc3\x9f\"} 1", "a{x=[gr\xc3\xbc\xc3\x9f]} 1 L1"},
      {"HELP, TYPE and other comments",
       "# HELP a Some help with \\\\ and \\n.\n# TYPE a counter\n# just a comment\n#\n"
       "a 2\n\n# TYPE b gauge\nb -1.5e3\n",
       "a{} 2 L5\nb{} -1500 L8"},
      {"timestamps", "a 1 1700000000000\nb{x=\"y\"} 2 -5\n",
       "a{} 1 @1700000000000 L1\nb{x=[y]} 2 @-5 L2"},
      {"NaN, +Inf, -Inf", "a NaN\nb +Inf\nc -Inf\nh_bucket{le=\"+Inf\"} 4\n",
       "a{} NaN L1\nb{} inf L2\nc{} -inf L3\nh_bucket{le=[+Inf]} 4 L4"},
      {"same name, other labels", "a{x=\"1\"} 1\na{x=\"2\"} 2\n", "a{x=[1]} 1 L1\na{x=[2]} 2 L2"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    absl::StatusOr<PromText> t = ParsePrometheusText(c.text);
    ASSERT_TRUE(t.ok()) << t.status();
    EXPECT_EQ(Render(*t), c.want);
  }
}

TEST(PrometheusTextTest, KeepsTypes) {
  absl::StatusOr<PromText> t = ParsePrometheusText("# TYPE a counter\n# TYPE b untyped\n");
  ASSERT_TRUE(t.ok()) << t.status();
  EXPECT_EQ(t->types.size(), 2u);
  EXPECT_EQ(t->types.at("a"), "counter");
  EXPECT_EQ(t->types.at("b"), "untyped");
}

TEST(PrometheusTextTest, RefusesMalformedLinesWithTheExactError) {
  struct Case {
    std::string name;
    std::string text;
    std::string error;
  };
  const std::vector<Case> cases = {
      {"HTML", "<html><body>hi</body></html>\n",
       "line 1: expected a metric name, a comment or a blank line"},
      {"JSON", "{\"routes\":[]}", "line 1: expected a metric name, a comment or a blank line"},
      {"digit first", "1a 1", "line 1: expected a metric name, a comment or a blank line"},
      {"no value", "a\n", "line 1: a: no value"},
      {"no value after labels", "a{x=\"1\"}", "line 1: a: no value"},
      {"value not a number", "a one", "line 1: a: value \"one\" is not a number"},
      {"lower-case inf", "a inf", "line 1: a: value \"inf\" is not a number"},
      {"hex value", "a 0x10", "line 1: a: value \"0x10\" is not a number"},
      {"exponent without digits", "a 1e", "line 1: a: value \"1e\" is not a number"},
      {"timestamp not an integer", "a 1 1.5", "line 1: a: timestamp \"1.5\" is not an integer"},
      {"something after the timestamp", "a 1 2 3", "line 1: a: unexpected \"3\""},
      {"unquoted label value", "a{x=1} 1", "line 1: label x: expected a quoted value"},
      {"unterminated value", "a{x=\"1} 1", "line 1: label x: unterminated value"},
      {"escape at the end", "a{x=\"1\\", "line 1: label x: unterminated value"},
      {"tab escape", R"(a{x="a\tb"} 1)",
       R"(line 1: label x: invalid escape \t in its value (only \\, \" and \n))"},
      {"not UTF-8", "a{x=\"\xff\"} 1", "line 1: label x: value is not UTF-8"},
      {"overlong UTF-8", "a{x=\"\xc0\xaf\"} 1", "line 1: label x: value is not UTF-8"},
      {"UTF-8 surrogate", "a{x=\"\xed\xa0\x80\"} 1", "line 1: label x: value is not UTF-8"},
      {"label name with a dash", "a{x-y=\"1\"} 1", "line 1: label x: expected ="},
      {"label name with a colon", "a{x:y=\"1\"} 1", "line 1: label x: expected ="},
      {"no label name", "a{=\"1\"} 1", "line 1: a: expected a label name or }"},
      {"missing comma", "a{x=\"1\" y=\"2\"} 1", "line 1: a: expected , or } after a label"},
      {"unclosed braces", "a{x=\"1\"", "line 1: a: expected , or } after a label"},
      {"label twice", "a{x=\"1\",x=\"2\"} 1", "line 1: a: label x twice"},
      {"duplicate series", "a 1\nb 1\na 2\n", "line 3: duplicate series a (also on line 1)"},
      {"duplicate series, labels reordered", "a{x=\"1\",y=\"q\\\"\"} 1\na{y=\"q\\\"\",x=\"1\"} 1\n",
       R"(line 2: duplicate series a{y="q\"",x="1"} (also on line 1))"},
      {"TYPE unknown", "# TYPE a countr\n", "line 1: # TYPE a: unknown type \"countr\""},
      {"TYPE without a type", "# TYPE a\n", "line 1: # TYPE a: unknown type \"\""},
      {"TYPE with extra words", "# TYPE a counter now\n", "line 1: # TYPE a: unexpected \"now\""},
      {"TYPE twice", "# TYPE a counter\n# TYPE a gauge\n", "line 2: second # TYPE for a"},
      {"TYPE without a name", "# TYPE\n", "line 1: # TYPE without a metric name"},
      {"HELP with a bad name", "# HELP 9a text\n", "line 1: # HELP: not a metric name"},
      {"error on a later line", "a 1\n\n# c\nb{x=\"\\q\"} 1\n",
       R"(line 4: label x: invalid escape \q in its value (only \\, \" and \n))"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    absl::StatusOr<PromText> t = ParsePrometheusText(c.text);
    ASSERT_FALSE(t.ok()) << Render(*t);
    EXPECT_EQ(t.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_EQ(t.status().message(), c.error);
  }
}

// Two replicas of a config with one report-only route (shadow, binding dpop)
// and default (bound, enforcing).
constexpr char kReplicaA[] =
    "# HELP popguard_route_info Always 1.\n"
    "# TYPE popguard_route_info gauge\n"
    "popguard_route_info{route=\"shadow\",binding=\"dpop\",report_only=\"true\"} 1\n"
    "popguard_route_info{route=\"default\",binding=\"bound\",report_only=\"false\"} 1\n"
    "# TYPE popguard_rollout_requests_total counter\n"
    "popguard_rollout_requests_total{route=\"shadow\",client=\"app\",arrival=\"bearer\"} 3\n"
    "popguard_rollout_requests_total{route=\"shadow\",client=\"web\",arrival=\"dpop\"} 4\n"
    "popguard_rollout_requests_total{route=\"shadow\",client=\"(others)\",arrival=\"bearer\"} 1\n"
    "popguard_rollout_requests_total{route=\"shadow\",client=\"(unidentified)\","
    "arrival=\"failed\"} 1\n"
    "popguard_rollout_requests_total{route=\"none\",client=\"(unidentified)\","
    "arrival=\"failed\"} 2\n"
    "# TYPE popguard_decisions_total counter\n"
    "popguard_decisions_total{result=\"report_only\",reason=\"token_missing\",binding=\"none\","
    "route=\"shadow\"} 1\n"
    "popguard_decisions_total{result=\"report_only\",reason=\"binding_required\","
    "binding=\"none\",route=\"shadow\"} 3\n"
    "popguard_decisions_total{result=\"allow\",reason=\"ok\",binding=\"dpop\","
    "route=\"shadow\"} 4\n";
// Replica B, as a /federate answer writes it: other label order, extra
// labels, timestamps, untyped; "app" is (others) there.
constexpr char kReplicaB[] =
    "# TYPE popguard_route_info untyped\n"
    "popguard_route_info{binding=\"dpop\",instance=\"b:9090\",job=\"pg\",report_only=\"true\","
    "route=\"shadow\"} 1 1700000000000\n"
    "popguard_route_info{binding=\"bound\",instance=\"b:9090\",job=\"pg\","
    "report_only=\"false\",route=\"default\"} 1 1700000000000\n"
    "# TYPE popguard_rollout_requests_total untyped\n"
    "popguard_rollout_requests_total{arrival=\"dpop\",client=\"web\",instance=\"b:9090\","
    "route=\"shadow\"} 2 1700000000000\n"
    "popguard_rollout_requests_total{arrival=\"bearer\",client=\"(others)\","
    "instance=\"b:9090\",route=\"shadow\"} 4 1700000000000\n"
    "popguard_decisions_total{binding=\"none\",instance=\"b:9090\",reason=\"token_missing\","
    "result=\"report_only\",route=\"shadow\"} 0 1700000000000\n"
    "popguard_decisions_total{binding=\"none\",instance=\"b:9090\","
    "reason=\"diagnostics_probe\",result=\"deny\",route=\"shadow\"} 7 1700000000000\n";

// The end of both inputs' reports: default saw nothing, 2 requests unrouted.
constexpr char kDefaultAndUnrouted[] =
    "route default (enforce, binding bound): 0 requests (bearer 0, dpop 0, mtls 0, "
    "dpop_mtls 0, failed 0)\n"
    "  requiring dpop now would deny none of 0 requests\n"
    "  requiring mtls now would deny none of 0 requests\n"
    "  requiring bound now would deny none of 0 requests\n"
    "  enforcing already\n"
    "denied before a route was chosen: 2 requests\n";

class FleetRolloutTest : public ::testing::Test {
 protected:
  static absl::StatusOr<std::string> Text(const std::vector<Exposition>& inputs,
                                          RolloutConfig readiness = {}) {
    absl::StatusOr<std::string> json = FleetRolloutJson(inputs, readiness);
    if (!json.ok()) return json.status();
    absl::StatusOr<JsonValue> report = ParseJson(*json);
    if (!report.ok()) return report.status();
    return FormatRolloutReport(*report);
  }
};

TEST_F(FleetRolloutTest, SumsCountersOverExpositions) {
  struct Case {
    std::string name;
    std::vector<Exposition> inputs;
    RolloutConfig readiness;
    std::string want;
  };
  const std::vector<Case> cases = {
      {"one replica",
       {{"a", kReplicaA}},
       {.ready_min_requests = 5, .ready_max_deny_ratio = 0.6},
       "route shadow (report_only, binding dpop): 9 requests (bearer 4, dpop 4, mtls 0, "
       "dpop_mtls 0, failed 1)\n"
       "  failing now: token_missing 1\n"
       "  requiring dpop now would deny 44.4 % of 9 requests, from 1 client: app (3) and other "
       "clients (1)\n"
       "  requiring mtls now would deny 88.9 % of 9 requests, from these 2 clients: web (4), "
       "app (3) and other clients (1)\n"
       "  requiring bound now would deny 44.4 % of 9 requests, from 1 client: app (3) and other "
       "clients (1)\n"
       "  ready to enforce: enforcing now would deny 55.6 % of 9 requests\n" +
           std::string(kDefaultAndUnrouted) + "ready to enforce: shadow\n"},
      {"two replicas summed, a federate answer among them",
       {{"a", kReplicaA}, {"b", kReplicaB}},
       {.ready_min_requests = 10, .ready_max_deny_ratio = 0.5},
       "route shadow (report_only, binding dpop): 15 requests (bearer 8, dpop 6, mtls 0, "
       "dpop_mtls 0, failed 1)\n"
       "  failing now: token_missing 1\n"
       "  requiring dpop now would deny 53.3 % of 15 requests, from 1 client: app (3) and other "
       "clients (5)\n"
       "  requiring mtls now would deny 93.3 % of 15 requests, from these 2 clients: web (6), "
       "app (3) and other clients (5)\n"
       "  requiring bound now would deny 53.3 % of 15 requests, from 1 client: app (3) and "
       "other clients (5)\n"
       "  not ready: enforcing now would deny 60.0 % of 15 requests (limit 50.0 %)\n" +
           std::string(kDefaultAndUnrouted) + "ready to enforce: none\n"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    absl::StatusOr<std::string> text = Text(c.inputs, c.readiness);
    ASSERT_TRUE(text.ok()) << text.status();
    EXPECT_EQ(*text, c.want);
  }
}

TEST_F(FleetRolloutTest, RefusesWhatIsNotPopguardMetrics) {
  const std::string info =
      "popguard_route_info{route=\"default\",binding=\"bound\",report_only=\"false\"} 1\n";
  const std::string family = "# TYPE popguard_rollout_requests_total counter\n";
  struct Case {
    std::string name;
    std::vector<Exposition> inputs;
    std::string error;
  };
  const std::vector<Case> cases = {
      {"not Prometheus text",
       {{"u", "<html></html>"}},
       "u: not Prometheus text (line 1: expected a metric name, a comment or a blank line)"},
      {"another program's metrics",
       {{"u", "# TYPE up gauge\nup 1\n"}},
       "u: no popguard_rollout_requests_total family; not a popguard /metrics (or its "
       "federation)?"},
      {"no route info",
       {{"u", family}},
       "u: no popguard_route_info series; a popguard older than popguard-cli?"},
      {"the second input is wrong",
       {{"a", kReplicaA}, {"b", "up 1\nup 2\n"}},
       "b: not Prometheus text (line 2: duplicate series up (also on line 1))"},
      {"no default route",
       {{"u",
         family + "popguard_route_info{route=\"x\",binding=\"dpop\",report_only=\"true\"} 1\n"}},
       "no popguard_route_info{route=\"default\"} in any input"},
      {"replicas disagree on a route",
       {{"a", kReplicaA},
        {"b",
         family + info +
             "popguard_route_info{route=\"shadow\",binding=\"bound\",report_only=\"true\"} 1\n"}},
       "b: line 3: popguard_route_info{route=\"shadow\",binding=\"bound\",report_only=\"true\"}: "
       "route shadow has binding dpop, report_only true in a; wait until every replica runs the "
       "same config"},
      {"unknown binding",
       {{"u", "popguard_route_info{route=\"x\",binding=\"tls\",report_only=\"true\"} 1\n"}},
       "u: line 1: popguard_route_info{route=\"x\",binding=\"tls\",report_only=\"true\"}: "
       "unknown binding"},
      {"report_only not a boolean",
       {{"u", "popguard_route_info{route=\"x\",binding=\"dpop\",report_only=\"yes\"} 1\n"}},
       "u: line 1: popguard_route_info{route=\"x\",binding=\"dpop\",report_only=\"yes\"}: "
       "report_only is neither true nor false"},
      {"no client label",
       {{"u", info + "popguard_rollout_requests_total{route=\"x\",arrival=\"dpop\"} 1\n"}},
       "u: line 2: popguard_rollout_requests_total{route=\"x\",arrival=\"dpop\"}: no client "
       "label"},
      {"unknown arrival",
       {{"u", info + "popguard_rollout_requests_total{route=\"x\",client=\"c\",arrival=\"tls\"} "
                     "1\n"}},
       "u: line 2: popguard_rollout_requests_total{route=\"x\",client=\"c\",arrival=\"tls\"}: "
       "unknown arrival"},
      {"NaN count",
       {{"u", info + "popguard_rollout_requests_total{route=\"x\",client=\"c\",arrival=\"dpop\"} "
                     "NaN\n"}},
       "u: line 2: popguard_rollout_requests_total{route=\"x\",client=\"c\",arrival=\"dpop\"}: "
       "the value is not a count"},
      {"+Inf count",
       {{"u", info + "popguard_rollout_requests_total{route=\"x\",client=\"c\",arrival=\"dpop\"} "
                     "+Inf\n"}},
       "u: line 2: popguard_rollout_requests_total{route=\"x\",client=\"c\",arrival=\"dpop\"}: "
       "the value is not a count"},
      {"fractional count",
       {{"u", info + "popguard_rollout_requests_total{route=\"x\",client=\"c\",arrival=\"dpop\"} "
                     "1.5\n"}},
       "u: line 2: popguard_rollout_requests_total{route=\"x\",client=\"c\",arrival=\"dpop\"}: "
       "the value is not a count"},
      {"unknown reason code",
       {{"u",
         family + info +
             "popguard_decisions_total{result=\"deny\",reason=\"new_reason\",route=\"x\"} 1\n"}},
       "u: line 3: popguard_decisions_total{result=\"deny\",reason=\"new_reason\",route=\"x\"}: "
       "unknown reason code (a popguard-cli older than the server?)"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    absl::StatusOr<std::string> json = FleetRolloutJson(c.inputs, RolloutConfig{});
    ASSERT_FALSE(json.ok()) << *json;
    EXPECT_EQ(json.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_EQ(json.status().message(), c.error);
  }
}

}  // namespace
}  // namespace popguard
