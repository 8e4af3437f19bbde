// Revocation: a denylist of token ids, subjects, clients and keys, each entry
// with an expiry, checked on every request after the token's signature.
//
//   kind       identifies                                    denial
//   jti        one token (its jti claim)                     token_revoked
//   sub        every token of a subject, under one issuer    token_revoked
//   client_id  every token issued to a client                token_revoked
//   jkt        every token bound to a DPoP key (cnf.jkt)     key_revoked
//   kid        every token signed by an issuer key (iss+kid) key_revoked
//
// An entry only has to last until the tokens it stops expire, so each one
// carries `until`; an expired entry no longer denies and is dropped when the
// next set is built. Values are compared exactly (no case folding).
//
// Sources: a JSON-lines file named in the config (RevocationSet, owned by the
// Authenticator of that config), and Redis (LiveRevocations, one per process,
// fed by the subscriber in service/server/revocation_feed.h). Both are
// immutable sets behind a pointer swapped as a whole, so a lookup takes no
// lock.
#ifndef POPGUARD_SERVICE_AUTHN_REVOCATION_H_
#define POPGUARD_SERVICE_AUTHN_REVOCATION_H_

#include <atomic>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/hash/hash.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "service/authn/access_token.h"
#include "service/authn/reason.h"

namespace popguard {

enum class RevocationKind { kJti, kSub, kClientId, kJkt, kKid };
inline constexpr RevocationKind kAllRevocationKinds[] = {
    RevocationKind::kJti, RevocationKind::kSub, RevocationKind::kClientId, RevocationKind::kJkt,
    RevocationKind::kKid};

// RevocationKindName is the kind's stable name: jti, sub, client_id, jkt, kid.
std::string_view RevocationKindName(RevocationKind kind);
std::optional<RevocationKind> ParseRevocationKind(std::string_view name);
// RevocationKindScoped: sub and kid are only unique within their issuer.
bool RevocationKindScoped(RevocationKind kind);

struct RevocationEntry {
  RevocationKind kind = RevocationKind::kJti;
  std::string issuer;  // sub and kid: the issuer (iss) they belong to; otherwise empty
  std::string value;
  absl::Time until;  // the entry denies while now < until
};

// CheckRevocationEntry: value 1..1024 bytes without control characters,
// issuer set exactly for sub and kid (same rule for the issuer).
absl::Status CheckRevocationEntry(const RevocationEntry& entry);

// --- Encodings ---
// File: one JSON object per line, e.g.
//   {"kind":"sub","iss":"https://issuer.example","value":"alice","until":"2026-12-03T04:00:00Z"}
// Blank lines and lines starting with '#' are skipped.
std::string RevocationJsonLine(const RevocationEntry& entry);
// ParseRevocationLines parses a whole file; the error names the first bad line.
absl::StatusOr<std::vector<RevocationEntry>> ParseRevocationLines(std::string_view text);
// ReadRevocationFile reads and parses `path` (at most 64 MiB).
absl::StatusOr<std::vector<RevocationEntry>> ReadRevocationFile(const std::string& path);
// LoadRevocationFile builds the set of the file at `path` ("": an empty set).
class RevocationSet;
absl::StatusOr<std::shared_ptr<const RevocationSet>> LoadRevocationFile(const std::string& path,
                                                                        absl::Time now);
// Redis: the sorted-set member "<kind>\t<iss>\t<value>" with score = until in
// unix seconds, and the pub/sub message "<until unix seconds>\t<member>".
std::string RevocationMember(const RevocationEntry& entry);
absl::StatusOr<RevocationEntry> ParseRevocationMember(std::string_view member, int64_t until_unix);
std::string RevocationMessage(const RevocationEntry& entry);
absl::StatusOr<RevocationEntry> ParseRevocationMessage(std::string_view message);
// FormatRfc3339 / ParseRfc3339: "2026-12-03T04:00:00Z" (whole seconds, UTC
// or an offset on input).
std::string FormatRfc3339(absl::Time t);
absl::StatusOr<absl::Time> ParseRfc3339(std::string_view text);

// RevocationSet is an immutable set of entries. Lookups allocate nothing.
class RevocationSet {
 public:
  // Build keeps the entries still live at `now`; of two entries for the same
  // thing, the later `until` wins.
  static std::shared_ptr<const RevocationSet> Build(const std::vector<RevocationEntry>& entries,
                                                    absl::Time now);
  // Merge returns `base` (may be null) plus `more`, both filtered at `now`.
  static std::shared_ptr<const RevocationSet> Merge(const RevocationSet* base,
                                                    const std::vector<RevocationEntry>& more,
                                                    absl::Time now);

  // Check returns kOk, or kKeyRevoked / kTokenRevoked (key entries first) with
  // *detail naming the kind of entry (never the token).
  Reason Check(const VerifiedToken& token, absl::Time now, std::string* detail) const;
  // Find returns the `until` of a live entry for (kind, issuer, value).
  std::optional<absl::Time> Find(RevocationKind kind, std::string_view issuer,
                                 std::string_view value, absl::Time now) const;

  size_t size() const { return size_; }
  size_t Count(RevocationKind kind) const { return maps_[static_cast<int>(kind)].size(); }
  // Entries returns every entry (live or not yet dropped), sorted by kind, issuer, value.
  std::vector<RevocationEntry> Entries() const;

 private:
  using View = std::pair<std::string_view, std::string_view>;  // (issuer, value)
  struct KeyHash {
    using is_transparent = void;
    size_t operator()(View v) const { return absl::Hash<View>{}(v); }
  };
  struct KeyEq {
    using is_transparent = void;
    bool operator()(View a, View b) const { return a == b; }
  };
  using Map = absl::flat_hash_map<std::pair<std::string, std::string>, absl::Time, KeyHash, KeyEq>;

  void Add(const RevocationEntry& entry, absl::Time now);

  Map maps_[std::size(kAllRevocationKinds)];
  size_t size_ = 0;
};

// LiveRevocations is the process-wide set learned from Redis. Writers (the
// subscriber thread) build a new set and swap it in; readers on the request
// path see a version number and keep a per-thread reference to the set, so a
// lookup is one atomic load and hash lookups, without a lock or a shared
// reference count.
class LiveRevocations {
 public:
  LiveRevocations();

  // Check is RevocationSet::Check on the current set.
  Reason Check(const VerifiedToken& token, absl::Time now, std::string* detail) const;
  // Current returns the current set (never null).
  std::shared_ptr<const RevocationSet> Current() const;
  // Add merges `entries` into the current set (announcements, full re-reads:
  // the list only grows until entries expire, so a Redis that lost its data
  // never un-revokes anything a replica has seen).
  void Add(const std::vector<RevocationEntry>& entries, absl::Time now);

 private:
  absl::Mutex write_mu_;  // one Add at a time: each builds on the set the last one left
  mutable absl::Mutex mu_;
  std::shared_ptr<const RevocationSet> set_ ABSL_GUARDED_BY(mu_);
  std::atomic<uint64_t> version_;
};

}  // namespace popguard

#endif  // POPGUARD_SERVICE_AUTHN_REVOCATION_H_
