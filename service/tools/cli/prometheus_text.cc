#include "service/tools/cli/prometheus_text.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"

namespace popguard {
namespace {

bool IsNameStart(char c, bool colon) {
  return absl::ascii_isalpha(static_cast<unsigned char>(c)) || c == '_' || (colon && c == ':');
}
bool IsNameChar(char c, bool colon) {
  return IsNameStart(c, colon) || absl::ascii_isdigit(static_cast<unsigned char>(c));
}

// ValidUtf8: well-formed UTF-8 (no overlong forms, surrogates or code points
// above U+10FFFF).
bool ValidUtf8(absl::string_view s) {
  size_t i = 0;
  while (i < s.size()) {
    const unsigned char c = static_cast<unsigned char>(s[i]);
    int len = 0;
    uint32_t cp = 0;
    if (c < 0x80) {
      ++i;
      continue;
    } else if ((c & 0xe0) == 0xc0) {
      len = 2, cp = c & 0x1f;
    } else if ((c & 0xf0) == 0xe0) {
      len = 3, cp = c & 0x0f;
    } else if ((c & 0xf8) == 0xf0) {
      len = 4, cp = c & 0x07;
    } else {
      return false;
    }
    if (i + len > s.size()) return false;
    for (int k = 1; k < len; ++k) {
      const unsigned char cc = static_cast<unsigned char>(s[i + k]);
      if ((cc & 0xc0) != 0x80) return false;
      cp = (cp << 6) | (cc & 0x3f);
    }
    static constexpr uint32_t kMin[] = {0, 0, 0x80, 0x800, 0x10000};
    if (cp < kMin[len] || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return false;
    i += len;
  }
  return true;
}

// Cursor walks one line; every error names the line.
class Cursor {
 public:
  Cursor(absl::string_view line, int number) : s_(line), number_(number) {}

  bool AtEnd() const { return pos_ >= s_.size(); }
  char Peek() const { return AtEnd() ? '\0' : s_[pos_]; }
  bool Consume(char c) {
    if (Peek() != c || AtEnd()) return false;
    ++pos_;
    return true;
  }
  // SkipSpace skips blanks and tabs; returns how many.
  size_t SkipSpace() {
    const size_t start = pos_;
    while (!AtEnd() && (s_[pos_] == ' ' || s_[pos_] == '\t')) ++pos_;
    return pos_ - start;
  }
  // Name reads a metric name (colon allowed) or a label name; "" when none.
  absl::string_view Name(bool colon) {
    const size_t start = pos_;
    if (AtEnd() || !IsNameStart(s_[pos_], colon)) return {};
    while (!AtEnd() && IsNameChar(s_[pos_], colon)) ++pos_;
    return s_.substr(start, pos_ - start);
  }
  // Token reads up to the next blank.
  absl::string_view Token() {
    const size_t start = pos_;
    while (!AtEnd() && s_[pos_] != ' ' && s_[pos_] != '\t') ++pos_;
    return s_.substr(start, pos_ - start);
  }
  absl::string_view Rest() const { return AtEnd() ? absl::string_view() : s_.substr(pos_); }

  absl::Status Error(absl::string_view what) const {
    return absl::InvalidArgumentError(absl::StrCat("line ", number_, ": ", what));
  }

  // QuotedValue reads a "..." label value (the opening quote is next).
  absl::StatusOr<std::string> QuotedValue(absl::string_view label) {
    if (!Consume('"')) return Error(absl::StrCat("label ", label, ": expected a quoted value"));
    std::string out;
    while (true) {
      if (AtEnd()) return Error(absl::StrCat("label ", label, ": unterminated value"));
      const char c = s_[pos_++];
      if (c == '"') break;
      if (c != '\\') {
        out += c;
        continue;
      }
      if (AtEnd()) return Error(absl::StrCat("label ", label, ": unterminated value"));
      const char e = s_[pos_];
      if (e == '\\' || e == '"') {
        out += e;
      } else if (e == 'n') {
        out += '\n';
      } else {
        return Error(absl::StrCat("label ", label, ": invalid escape \\", std::string(1, e),
                                  " in its value (only \\\\, \\\" and \\n)"));
      }
      ++pos_;
    }
    if (!ValidUtf8(out)) return Error(absl::StrCat("label ", label, ": value is not UTF-8"));
    return out;
  }

 private:
  absl::string_view s_;
  size_t pos_ = 0;
  int number_;
};

// ParseValue reads a sample value: Go's float syntax as Prometheus writes it.
std::optional<double> ParseValue(absl::string_view v) {
  if (v == "NaN") return std::numeric_limits<double>::quiet_NaN();
  if (v == "+Inf" || v == "Inf") return std::numeric_limits<double>::infinity();
  if (v == "-Inf") return -std::numeric_limits<double>::infinity();
  // Digits, one optional sign, point and exponent: SimpleAtod alone would
  // also take "inf", "nan", hex and leading blanks.
  size_t i = 0;
  if (i < v.size() && (v[i] == '+' || v[i] == '-')) ++i;
  size_t digits = 0;
  while (i < v.size() && absl::ascii_isdigit(static_cast<unsigned char>(v[i]))) ++i, ++digits;
  if (i < v.size() && v[i] == '.') {
    ++i;
    while (i < v.size() && absl::ascii_isdigit(static_cast<unsigned char>(v[i]))) ++i, ++digits;
  }
  if (digits == 0) return std::nullopt;
  if (i < v.size() && (v[i] == 'e' || v[i] == 'E')) {
    ++i;
    if (i < v.size() && (v[i] == '+' || v[i] == '-')) ++i;
    size_t exp_digits = 0;
    while (i < v.size() && absl::ascii_isdigit(static_cast<unsigned char>(v[i]))) {
      ++i, ++exp_digits;
    }
    if (exp_digits == 0) return std::nullopt;
  }
  double d = 0;
  if (i != v.size() || !absl::SimpleAtod(v, &d)) return std::nullopt;
  return d;
}

absl::Status ParseComment(Cursor& c, PromText* out) {
  c.SkipSpace();
  const absl::string_view keyword = c.Token();
  if (keyword != "HELP" && keyword != "TYPE") return absl::OkStatus();  // a plain comment
  if (c.SkipSpace() == 0) return c.Error(absl::StrCat("# ", keyword, " without a metric name"));
  const absl::string_view name = c.Name(/*colon=*/true);
  if (name.empty() || !(c.AtEnd() || c.SkipSpace() > 0)) {
    return c.Error(absl::StrCat("# ", keyword, ": not a metric name"));
  }
  if (keyword == "HELP") return absl::OkStatus();
  const absl::string_view type = c.Token();
  c.SkipSpace();
  static constexpr absl::string_view kTypes[] = {"counter", "gauge", "histogram", "summary",
                                                 "untyped"};
  if (std::find(std::begin(kTypes), std::end(kTypes), type) == std::end(kTypes)) {
    return c.Error(absl::StrCat("# TYPE ", name, ": unknown type \"", type, "\""));
  }
  if (!c.AtEnd()) return c.Error(absl::StrCat("# TYPE ", name, ": unexpected \"", c.Rest(), "\""));
  if (!out->types.emplace(std::string(name), std::string(type)).second) {
    return c.Error(absl::StrCat("second # TYPE for ", name));
  }
  return absl::OkStatus();
}

absl::StatusOr<PromSample> ParseSample(Cursor& c) {
  PromSample s;
  s.name = std::string(c.Name(/*colon=*/true));
  if (s.name.empty()) {
    return c.Error("expected a metric name, a comment or a blank line");
  }
  c.SkipSpace();
  if (c.Consume('{')) {
    while (true) {
      c.SkipSpace();
      if (c.Consume('}')) break;
      const absl::string_view label = c.Name(/*colon=*/false);
      if (label.empty()) return c.Error(absl::StrCat(s.name, ": expected a label name or }"));
      c.SkipSpace();
      if (!c.Consume('=')) return c.Error(absl::StrCat("label ", label, ": expected ="));
      c.SkipSpace();
      absl::StatusOr<std::string> value = c.QuotedValue(label);
      if (!value.ok()) return value.status();
      for (const auto& [name, unused] : s.labels) {
        if (name == label) return c.Error(absl::StrCat(s.name, ": label ", label, " twice"));
      }
      s.labels.emplace_back(std::string(label), *std::move(value));
      c.SkipSpace();
      if (c.Consume('}')) break;
      if (!c.Consume(',')) return c.Error(absl::StrCat(s.name, ": expected , or } after a label"));
    }
    c.SkipSpace();
  }
  const absl::string_view value = c.Token();
  if (value.empty()) return c.Error(absl::StrCat(s.name, ": no value"));
  std::optional<double> v = ParseValue(value);
  if (!v) return c.Error(absl::StrCat(s.name, ": value \"", value, "\" is not a number"));
  s.value = *v;
  c.SkipSpace();
  if (!c.AtEnd()) {
    const absl::string_view ts = c.Token();
    int64_t ms = 0;
    const bool digits = !ts.empty() && std::all_of(ts.begin() + (ts[0] == '-' ? 1 : 0), ts.end(),
                                                   [](char ch) { return ch >= '0' && ch <= '9'; });
    if (!digits || ts == "-" || !absl::SimpleAtoi(ts, &ms)) {
      return c.Error(absl::StrCat(s.name, ": timestamp \"", ts, "\" is not an integer"));
    }
    s.timestamp_ms = ms;
    c.SkipSpace();
    if (!c.AtEnd()) return c.Error(absl::StrCat(s.name, ": unexpected \"", c.Rest(), "\""));
  }
  return s;
}

// SeriesKey identifies a series whatever the order of its labels.
std::string SeriesKey(const PromSample& s) {
  std::vector<std::pair<std::string, std::string>> labels = s.labels;
  std::sort(labels.begin(), labels.end());
  std::string key = s.name;
  for (const auto& [name, value] : labels) absl::StrAppend(&key, "\n", name, "=", value);
  return key;
}

}  // namespace

std::string SeriesText(const PromSample& s) {
  if (s.labels.empty()) return s.name;
  std::vector<std::string> labels;
  for (const auto& [name, value] : s.labels) {
    std::string escaped;
    for (char ch : value) {
      if (ch == '\\' || ch == '"') escaped += '\\';
      if (ch == '\n') {
        escaped += "\\n";
      } else {
        escaped += ch;
      }
    }
    labels.push_back(absl::StrCat(name, "=\"", escaped, "\""));
  }
  return absl::StrCat(s.name, "{", absl::StrJoin(labels, ","), "}");
}

std::optional<std::string_view> PromSample::Label(std::string_view name) const {
  for (const auto& [n, v] : labels) {
    if (n == name) return v;
  }
  return std::nullopt;
}

absl::StatusOr<PromText> ParsePrometheusText(std::string_view text) {
  PromText out;
  absl::flat_hash_map<std::string, int> first_line;  // series -> line
  int number = 0;
  for (absl::string_view line : absl::StrSplit(absl::string_view(text.data(), text.size()), '\n')) {
    ++number;
    Cursor c(line, number);
    c.SkipSpace();
    if (c.AtEnd()) continue;
    if (c.Consume('#')) {
      if (absl::Status s = ParseComment(c, &out); !s.ok()) return s;
      continue;
    }
    absl::StatusOr<PromSample> sample = ParseSample(c);
    if (!sample.ok()) return sample.status();
    sample->line = number;
    if (auto [it, fresh] = first_line.emplace(SeriesKey(*sample), number); !fresh) {
      return c.Error(absl::StrCat("duplicate series ", SeriesText(*sample), " (also on line ",
                                  it->second, ")"));
    }
    out.samples.push_back(*std::move(sample));
  }
  return out;
}

}  // namespace popguard
