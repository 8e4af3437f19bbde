#include "service/authn/revocation.h"

#include <algorithm>

#include "absl/status/status.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "service/common/file.h"
#include "service/common/json.h"
#include "service/common/strings.h"

namespace popguard {
namespace {

constexpr size_t kMaxValueBytes = 1024;
constexpr size_t kMaxFileBytes = size_t{64} << 20;

absl::Status CheckText(std::string_view what, std::string_view text) {
  if (text.empty() || text.size() > kMaxValueBytes) {
    return absl::InvalidArgumentError(absl::StrCat(AV(what), " must be 1 to 1024 bytes"));
  }
  for (unsigned char c : text) {
    // Tabs and newlines separate the Redis encoding's fields; no identifier
    // popguard compares holds a control character.
    if (c < 0x20 || c == 0x7f) {
      return absl::InvalidArgumentError(absl::StrCat(AV(what), " holds a control character"));
    }
  }
  return absl::OkStatus();
}

// A process-wide counter, so a version number never repeats between two
// LiveRevocations (one may be built where another was destroyed).
std::atomic<uint64_t> g_next_version{1};

}  // namespace

std::string_view RevocationKindName(RevocationKind kind) {
  switch (kind) {
    case RevocationKind::kJti:
      return "jti";
    case RevocationKind::kSub:
      return "sub";
    case RevocationKind::kClientId:
      return "client_id";
    case RevocationKind::kJkt:
      return "jkt";
    case RevocationKind::kKid:
      return "kid";
  }
  return "jti";
}

std::optional<RevocationKind> ParseRevocationKind(std::string_view name) {
  for (RevocationKind kind : kAllRevocationKinds) {
    if (RevocationKindName(kind) == name) return kind;
  }
  return std::nullopt;
}

bool RevocationKindScoped(RevocationKind kind) {
  return kind == RevocationKind::kSub || kind == RevocationKind::kKid;
}

absl::Status CheckRevocationEntry(const RevocationEntry& entry) {
  if (absl::Status s = CheckText("value", entry.value); !s.ok()) return s;
  if (RevocationKindScoped(entry.kind)) {
    if (entry.issuer.empty()) {
      return absl::InvalidArgumentError(
          absl::StrCat(AV(RevocationKindName(entry.kind)), " entries need the issuer (a ",
                       AV(RevocationKindName(entry.kind)), " is unique only within its issuer)"));
    }
    return CheckText("iss", entry.issuer);
  }
  if (!entry.issuer.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat(AV(RevocationKindName(entry.kind)), " entries take no issuer"));
  }
  return absl::OkStatus();
}

std::string FormatRfc3339(absl::Time t) {
  return absl::FormatTime("%Y-%m-%dT%H:%M:%SZ", t, absl::UTCTimeZone());
}

absl::StatusOr<absl::Time> ParseRfc3339(std::string_view text) {
  absl::Time t;
  std::string error;
  if (!absl::ParseTime(absl::RFC3339_full, std::string(text), &t, &error)) {
    return absl::InvalidArgumentError(
        absl::StrCat("\"", AV(text), "\" is not an RFC 3339 time (e.g. 2026-12-03T04:00:00Z)"));
  }
  return t;
}

std::string RevocationJsonLine(const RevocationEntry& entry) {
  std::string line = absl::StrCat("{\"kind\":", JsonQuote(RevocationKindName(entry.kind)));
  if (!entry.issuer.empty()) absl::StrAppend(&line, ",\"iss\":", JsonQuote(entry.issuer));
  absl::StrAppend(&line, ",\"value\":", JsonQuote(entry.value),
                  ",\"until\":", JsonQuote(FormatRfc3339(entry.until)), "}");
  return line;
}

absl::StatusOr<std::vector<RevocationEntry>> ParseRevocationLines(std::string_view text) {
  std::vector<RevocationEntry> entries;
  int number = 0;
  for (absl::string_view line : absl::StrSplit(AV(text), '\n')) {
    ++number;
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    const size_t first = line.find_first_not_of(" \t");
    if (first == absl::string_view::npos || line[first] == '#') continue;
    auto bad = [number](absl::string_view why) {
      return absl::InvalidArgumentError(absl::StrCat("line ", number, ": ", why));
    };
    absl::StatusOr<JsonValue> json = ParseJson(SV(line), JsonLimits{4});
    if (!json.ok()) return bad(json.status().message());
    if (!json->is_object()) return bad("not a JSON object");
    RevocationEntry entry;
    bool have_until = false;
    for (const auto& [name, value] : json->object_members()) {
      if (!value.is_string()) return bad(absl::StrCat(name, " is not a string"));
      const std::string& s = value.string_value();
      if (name == "kind") {
        std::optional<RevocationKind> kind = ParseRevocationKind(s);
        if (!kind)
          return bad(absl::StrCat("kind \"", s, "\" is not jti, sub, client_id, jkt, kid"));
        entry.kind = *kind;
      } else if (name == "iss") {
        entry.issuer = s;
      } else if (name == "value") {
        entry.value = s;
      } else if (name == "until") {
        absl::StatusOr<absl::Time> until = ParseRfc3339(s);
        if (!until.ok()) return bad(absl::StrCat("until: ", until.status().message()));
        entry.until = *until;
        have_until = true;
      } else {
        return bad(absl::StrCat("unknown member \"", name, "\" (kind, iss, value, until)"));
      }
    }
    if (json->Find("kind") == nullptr) return bad("kind is missing");
    if (!have_until) return bad("until is missing (an entry lasts until the tokens expire)");
    if (absl::Status s = CheckRevocationEntry(entry); !s.ok()) return bad(s.message());
    entries.push_back(std::move(entry));
  }
  return entries;
}

absl::StatusOr<std::vector<RevocationEntry>> ReadRevocationFile(const std::string& path) {
  absl::StatusOr<std::string> text = ReadFileToString(path, kMaxFileBytes);
  if (!text.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("revocation.file: cannot read ", path, ": ", text.status().message()));
  }
  absl::StatusOr<std::vector<RevocationEntry>> entries = ParseRevocationLines(*text);
  if (!entries.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("revocation.file ", path, ": ", entries.status().message()));
  }
  return entries;
}

absl::StatusOr<std::shared_ptr<const RevocationSet>> LoadRevocationFile(const std::string& path,
                                                                        absl::Time now) {
  if (path.empty()) return RevocationSet::Build({}, now);
  absl::StatusOr<std::vector<RevocationEntry>> entries = ReadRevocationFile(path);
  if (!entries.ok()) return entries.status();
  return RevocationSet::Build(*entries, now);
}

std::string RevocationMember(const RevocationEntry& entry) {
  return absl::StrCat(AV(RevocationKindName(entry.kind)), "\t", entry.issuer, "\t", entry.value);
}

absl::StatusOr<RevocationEntry> ParseRevocationMember(std::string_view member, int64_t until_unix) {
  std::vector<absl::string_view> parts = absl::StrSplit(AV(member), absl::MaxSplits('\t', 2));
  if (parts.size() != 3) {
    return absl::InvalidArgumentError("member is not <kind>\\t<iss>\\t<value>");
  }
  std::optional<RevocationKind> kind = ParseRevocationKind(SV(parts[0]));
  if (!kind) return absl::InvalidArgumentError("member has an unknown kind");
  RevocationEntry entry{*kind, std::string(parts[1]), std::string(parts[2]),
                        absl::FromUnixSeconds(until_unix)};
  if (absl::Status s = CheckRevocationEntry(entry); !s.ok()) return s;
  return entry;
}

std::string RevocationMessage(const RevocationEntry& entry) {
  return absl::StrCat(absl::ToUnixSeconds(entry.until), "\t", RevocationMember(entry));
}

absl::StatusOr<RevocationEntry> ParseRevocationMessage(std::string_view message) {
  const size_t tab = message.find('\t');
  int64_t until = 0;
  if (tab == std::string_view::npos || !absl::SimpleAtoi(AV(message.substr(0, tab)), &until)) {
    return absl::InvalidArgumentError("message is not <until>\\t<member>");
  }
  return ParseRevocationMember(message.substr(tab + 1), until);
}

// --- RevocationSet ---

void RevocationSet::Add(const RevocationEntry& entry, absl::Time now) {
  if (entry.until <= now) return;
  Map& map = maps_[static_cast<int>(entry.kind)];
  auto [it, inserted] = map.try_emplace(std::make_pair(entry.issuer, entry.value), entry.until);
  if (inserted) {
    ++size_;
  } else {
    it->second = std::max(it->second, entry.until);
  }
}

std::shared_ptr<const RevocationSet> RevocationSet::Build(
    const std::vector<RevocationEntry>& entries, absl::Time now) {
  return Merge(nullptr, entries, now);
}

std::shared_ptr<const RevocationSet> RevocationSet::Merge(const RevocationSet* base,
                                                          const std::vector<RevocationEntry>& more,
                                                          absl::Time now) {
  auto set = std::make_shared<RevocationSet>();
  if (base != nullptr) {
    for (size_t k = 0; k < std::size(kAllRevocationKinds); ++k) {
      set->maps_[k].reserve(base->maps_[k].size());
      for (const auto& [key, until] : base->maps_[k]) {
        if (until <= now) continue;
        set->maps_[k].emplace(key, until);
        ++set->size_;
      }
    }
  }
  for (const RevocationEntry& entry : more) set->Add(entry, now);
  return set;
}

std::optional<absl::Time> RevocationSet::Find(RevocationKind kind, std::string_view issuer,
                                              std::string_view value, absl::Time now) const {
  if (value.empty()) return std::nullopt;
  const Map& map = maps_[static_cast<int>(kind)];
  if (map.empty()) return std::nullopt;
  auto it = map.find(View(issuer, value));
  if (it == map.end() || it->second <= now) return std::nullopt;
  return it->second;
}

Reason RevocationSet::Check(const VerifiedToken& token, absl::Time now, std::string* detail) const {
  if (size_ == 0) return Reason::kOk;
  // Key entries first: a stolen key is the broader finding.
  if (Find(RevocationKind::kKid, token.issuer, token.kid, now)) {
    *detail = "the issuer key that signed the token (iss + kid) is revoked";
    return Reason::kKeyRevoked;
  }
  if (Find(RevocationKind::kJkt, "", token.cnf_jkt, now)) {
    *detail = "the DPoP key the token is bound to (cnf.jkt) is revoked";
    return Reason::kKeyRevoked;
  }
  if (Find(RevocationKind::kJti, "", token.jti, now)) {
    *detail = "the token (jti) is revoked";
    return Reason::kTokenRevoked;
  }
  if (Find(RevocationKind::kSub, token.issuer, token.subject, now)) {
    *detail = "the token's subject (sub) is revoked";
    return Reason::kTokenRevoked;
  }
  if (Find(RevocationKind::kClientId, "", token.client_id, now)) {
    *detail = "the token's client (client_id) is revoked";
    return Reason::kTokenRevoked;
  }
  return Reason::kOk;
}

std::vector<RevocationEntry> RevocationSet::Entries() const {
  std::vector<RevocationEntry> out;
  out.reserve(size_);
  for (RevocationKind kind : kAllRevocationKinds) {
    for (const auto& [key, until] : maps_[static_cast<int>(kind)]) {
      out.push_back(RevocationEntry{kind, key.first, key.second, until});
    }
  }
  std::sort(out.begin(), out.end(), [](const RevocationEntry& a, const RevocationEntry& b) {
    return std::tie(a.kind, a.issuer, a.value) < std::tie(b.kind, b.issuer, b.value);
  });
  return out;
}

// --- LiveRevocations ---

LiveRevocations::LiveRevocations()
    : set_(RevocationSet::Build({}, absl::InfinitePast())), version_(g_next_version.fetch_add(1)) {}

std::shared_ptr<const RevocationSet> LiveRevocations::Current() const {
  absl::MutexLock lock(&mu_);
  return set_;
}

Reason LiveRevocations::Check(const VerifiedToken& token, absl::Time now,
                              std::string* detail) const {
  // Each thread keeps the set it last used and the version it had: while the
  // version is unchanged (almost always) the check touches no shared
  // reference count and no lock. Versions are unique per process, so a
  // thread never mistakes another LiveRevocations' set for this one's.
  struct Cached {
    uint64_t version = 0;
    std::shared_ptr<const RevocationSet> set;
  };
  thread_local Cached cached;
  if (cached.version != version_.load(std::memory_order_acquire)) {
    absl::MutexLock lock(&mu_);
    cached.set = set_;
    cached.version = version_.load(std::memory_order_relaxed);
  }
  return cached.set->Check(token, now, detail);
}

void LiveRevocations::Add(const std::vector<RevocationEntry>& entries, absl::Time now) {
  absl::MutexLock write(&write_mu_);
  std::shared_ptr<const RevocationSet> base = Current();
  // Built outside mu_ (a large set takes milliseconds), so readers that
  // refresh meanwhile are not held up.
  std::shared_ptr<const RevocationSet> next = RevocationSet::Merge(base.get(), entries, now);
  absl::MutexLock lock(&mu_);
  set_ = std::move(next);
  version_.store(g_next_version.fetch_add(1), std::memory_order_release);
}

}  // namespace popguard
