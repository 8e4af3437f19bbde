// Ed25519 verification: the rule, and why single and batch mode agree.
//
// Notation: E = [S]B - R - [k]A for one signature. The group of curve points
// is cyclic of order 8 L: every point is uniquely P + T with P in the
// subgroup G of prime order L and T in the torsion subgroup of order 8.
//
// Why the cofactored equation ([8]E = 0) and not the cofactorless one (E = 0)
// that OpenSSL checks:
//   A batch checks sum z_i E_i = 0 for random z_i. Split E_i = P_i + T_i.
//   Cofactorless: if every E_i = 0 the batch passes, but a signature with
//   E_i = T_i a non-zero torsion point (P_i = 0) fails alone and still passes
//   in a batch whenever sum z_i T_i = 0: with T_i of order 2 that happens for
//   every even z_i, i.e. with probability 1/2. Batch and single would
//   disagree, and the signer controls T_i. No choice of random z_i fixes it:
//   the torsion group has only 8 elements.
//   Cofactored: [8] sum z_i E_i = sum z_i [8]P_i (the T_i vanish). If every
//   signature passes alone, every [8]P_i = 0 and the batch passes, always.
//   If signature j fails alone, [8]P_j is a non-zero element of G, which has
//   prime order L; for any fixed other coefficients at most one value of
//   z_j mod L makes the sum zero, and z_j is uniform over 2^128 values below
//   L: the batch passes with probability <= 2^-128. A failed batch then falls
//   back to checking subsets and finally single signatures with the same
//   equation. So the verdicts of Ed25519VerifyBatch_vartime equal those of
//   Ed25519Verify_vartime except with probability <= 2^-128 per batch check.
//
// Relation to OpenSSL (and to RFC 8032's "may" of section 5.1.7 step 3):
//   OpenSSL computes R' = [S]B - [k]A and compares its encoding with R's
//   bytes (cofactorless, E = 0), with S < L, and without checks 3-4 on A.
//   - Honest signers produce A = [a]B and R = [r]B in G. Then E is in G and
//     [8]E = 0 <=> E = 0: both verifiers give the same verdict on every
//     signature, valid or forged, for such keys and R.
//   - We reject, and OpenSSL may accept: A or R of small order (a small-order
//     A verifies forged signatures; nobody can hold its secret), and an A
//     whose y is >= p (OpenSSL reduces it).
//   - We accept, and OpenSSL rejects: A or R with a non-zero torsion component
//     ("mixed order") when E is a non-zero torsion point. Such a signature
//     can only be made by the holder of A's secret scalar (the G-part of the
//     equation must hold), so it is never a forgery; it is the same signer
//     making a signature some verifiers accept and others refuse.
//   tests/crypto/ed25519_test.cc constructs each of these cases and pins both
//   verdicts; on everything else (Wycheproof, random and mutated inputs) it
//   requires equality with OpenSSL.
#include "service/crypto/ed25519/ed25519.h"

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include <algorithm>
#include <cstring>
#include <memory>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/string_view.h"
#include "service/common/openssl_util.h"
#include "service/crypto/ed25519/ed25519_msm.h"
#include "service/crypto/ed25519/ed25519_point.h"
#include "service/crypto/ed25519/ed25519_scalar.h"

namespace popguard::ed25519 {
namespace internal {
namespace {

// While searching a failed batch for its bad signatures, groups smaller than
// this are verified one signature at a time: splitting them further would
// cost more batch checks than it saves. (A fresh batch is checked as a batch
// from 2 signatures on: two share one chain of ~253 doublings, which still
// beats two half-size single checks of ~128 each: 62.9 against 2 x 36.2 µs,
// bench/README.md, issue 15.)
constexpr size_t kSingleCheckBelow = 4;

// Larger inputs are verified in chunks of this many signatures.
constexpr size_t kMaxBatch = 4096;

const uint8_t* Bytes(std::string_view s) { return reinterpret_cast<const uint8_t*>(s.data()); }

const EVP_MD* Sha512() {
  // Fetched once: implicit fetching costs a provider lookup per call.
  static const MdPtr md(EVP_MD_fetch(nullptr, "SHA2-512", nullptr));
  return md.get();
}

// HashToScalar sets *k = SHA-512(R || A || M) mod L. False if OpenSSL fails,
// which the callers turn into a rejection (fail closed).
bool HashToScalar(const uint8_t* r, const uint8_t* a, std::string_view message, Scalar* k) {
  thread_local const MdCtxPtr ctx(EVP_MD_CTX_new());
  uint8_t digest[64];
  unsigned int len = 0;
  if (ctx == nullptr || Sha512() == nullptr ||
      EVP_DigestInit_ex(ctx.get(), Sha512(), nullptr) != 1 ||
      EVP_DigestUpdate(ctx.get(), r, 32) != 1 || EVP_DigestUpdate(ctx.get(), a, 32) != 1 ||
      EVP_DigestUpdate(ctx.get(), message.data(), message.size()) != 1 ||
      EVP_DigestFinal_ex(ctx.get(), digest, &len) != 1 || len != 64) {
    ERR_clear_error();  // leave nothing behind for unrelated code
    return false;
  }
  *k = ScalarReduce64(digest);
  return true;
}

// Parsed is a signature that passed rules 1-4, ready for rule 5.
struct Parsed {
  size_t index;        // position in the caller's items
  const uint8_t* key;  // the 32 bytes of A (for de-duplication)
  P3 a;
  P3 r;
  Scalar s;
  Scalar k;
};

// CheckEncodings applies rules 1, 2 and the byte-level part of rule 4 (the
// small-order encodings); decoding (rule 3) comes after, batched.
bool CheckEncodings(const Ed25519Item& item, Scalar* s) {
  if (item.public_key.size() != kEd25519PublicKeyBytes ||
      item.signature.size() != kEd25519SignatureBytes) {
    return false;
  }
  const uint8_t* sig = Bytes(item.signature);
  return ScalarFromCanonicalBytes(sig + 32, s) && !IsSmallOrderEncoding(Bytes(item.public_key)) &&
         !IsSmallOrderEncoding(sig);
}

// IsTorsion returns true when [8]t is the identity.
bool IsTorsion(const P1P1& t) {
  P2 p = ToP2(t);
  for (int i = 0; i < 3; ++i) p = ToP2(Dbl(p));
  return IsIdentity(p);
}

// CheckOneFullSize applies rule 5 to one signature: [8]([S]B - [k]A - R) = 0,
// with one 253-bit wNAF on A next to the base point's.
bool CheckOneFullSize(const Parsed& p) {
  const P3 sb_minus_ka = DoubleScalarMulBase_vartime(p.s, ScalarNeg(p.k), p.a);
  return IsTorsion(SubCached(sb_minus_ka, ToCached(p.r)));
}

// CheckOne applies rule 5 like CheckOneFullSize, with half the doublings.
// HalfSize_vartime gives r = c1 k (mod L) with r < 2^126 and 0 < |c1| < 2^127;
// the check multiplied by c1 is
//   [8]([c1 S mod L]B - [r]A - [c1]R) = 0,
// whose scalars on A and R are half-size, and [c1 S mod L] splits into two
// 128-bit halves on B and [2^128]B (fixed tables). It is the same verdict for
// every input, torsion components included: with E = [S]B - [k]A - R,
// [8] of the left side is [c1]([8]E), because B and [8]A have order L (so
// [c1 S mod L]B = [c1 S]B and [8][r]A = [8][c1 k]A); [8]E lies in the
// subgroup of prime order L, where multiplying by c1 (not 0 mod L, being
// smaller than L) is a bijection: zero exactly when [8]E is.
bool CheckOne(const Parsed& p) {
  HalfSizePair h;
  if (!HalfSize_vartime(p.k, &h)) return CheckOneFullSize(p);  // unreachable (bound)
  Scalar c1s = ScalarMul(h.m, p.s);
  if (h.m_negative) c1s = ScalarNeg(c1s);
  const Scalar lo = {{c1s.v[0], c1s.v[1], 0, 0}};
  const Scalar hi = {{c1s.v[2], c1s.v[3], 0, 0}};
  // -[c1]R is [m](-R) for c1 = m, and [m]R for c1 = -m.
  const P3 r_term = h.m_negative ? p.r : Negate(p.r);
  return MulByCofactorIsIdentity_vartime(
      HalfSizeMul_vartime(lo, hi, h.r, Negate(p.a), h.m, r_term));
}

BatchCounters& Counters() {
  thread_local BatchCounters counters;
  return counters;
}

// CheckInBatch is CheckOne for a member of a batch (counted).
bool CheckInBatch(const Parsed& p) {
  ++Counters().single_checks;
  return CheckOne(p);
}

// CheckBatch applies rule 5 to all of `group` at once with coefficients
// z[i]: [8]([-sum z_i S_i]B + sum [z_i]R_i + sum [z_i k_i]A_i) = 0, i.e.
// [8] sum z_i E_i = 0. Terms with the same key are merged into one point.
bool CheckBatch(std::span<const Parsed* const> group, std::span<const Scalar> z, MsmChoice msm) {
  std::vector<P3> points;
  std::vector<Scalar> scalars;
  points.reserve(2 * group.size());
  scalars.reserve(2 * group.size());
  absl::flat_hash_map<absl::string_view, size_t> key_slot;
  Scalar zs_sum = {{0, 0, 0, 0}};
  for (size_t i = 0; i < group.size(); ++i) {
    const Parsed& p = *group[i];
    zs_sum = ScalarAdd(zs_sum, ScalarMul(z[i], p.s));
    points.push_back(p.r);
    scalars.push_back(z[i]);
    const Scalar zk = ScalarMul(z[i], p.k);
    const auto [it, inserted] = key_slot.try_emplace(
        absl::string_view(reinterpret_cast<const char*>(p.key), 32), points.size());
    if (inserted) {
      points.push_back(p.a);
      scalars.push_back(zk);
    } else {
      scalars[it->second] = ScalarAdd(scalars[it->second], zk);
    }
  }
  const Scalar base = ScalarNeg(zs_sum);
  P3 q;
  switch (msm) {
    case MsmChoice::kStraus:
      q = MsmStraus_vartime(base, points, scalars);
      break;
    case MsmChoice::kPippenger:
      q = MsmPippenger_vartime(base, points, scalars);
      break;
    case MsmChoice::kAuto:
      q = MsmAuto_vartime(base, points, scalars);
      break;
  }
  const bool ok = MulByCofactorIsIdentity_vartime(q);
  ++Counters().batch_checks;
  Counters().batch_failures += ok ? 0 : 1;
  return ok;
}

bool CheckOrResolve(std::span<const Parsed* const> group, std::span<const Scalar> z, MsmChoice msm,
                    std::vector<bool>* verdicts);

// Resolve sets the verdicts of a group whose batch check failed: a binary
// search for the bad signatures. Check the left half; if it passes, the right
// half must be the one failing ([8] of its sum is the whole sum minus a zero
// left sum), so it is split without being checked again. A group with one bad
// signature thus costs about twice its batch check plus a few single checks;
// many bad signatures degrade towards one check per signature and level, so
// groups below kSingleCheckBelow are verified one by one.
void Resolve(std::span<const Parsed* const> group, std::span<const Scalar> z, MsmChoice msm,
             std::vector<bool>* verdicts) {
  if (group.size() < kSingleCheckBelow) {
    for (const Parsed* p : group) (*verdicts)[p->index] = CheckInBatch(*p);
    return;
  }
  const size_t half = group.size() / 2;
  if (CheckOrResolve(group.first(half), z.first(half), msm, verdicts)) {
    Resolve(group.subspan(half), z.subspan(half), msm, verdicts);
  } else {
    CheckOrResolve(group.subspan(half), z.subspan(half), msm, verdicts);
  }
}

// CheckOrResolve sets the verdicts of `group` (one batch check, or single
// checks when it is small; Resolve on failure) and returns true iff all of
// them passed.
bool CheckOrResolve(std::span<const Parsed* const> group, std::span<const Scalar> z, MsmChoice msm,
                    std::vector<bool>* verdicts) {
  if (group.size() < kSingleCheckBelow) {
    bool all = true;
    for (const Parsed* p : group) {
      const bool ok = CheckInBatch(*p);
      (*verdicts)[p->index] = ok;
      all = all && ok;
    }
    return all;
  }
  if (CheckBatch(group, z, msm)) {
    for (const Parsed* p : group) (*verdicts)[p->index] = true;
    return true;
  }
  Resolve(group, z, msm, verdicts);
  return false;
}

}  // namespace

BatchCounters& ThreadBatchCounters() { return Counters(); }

std::vector<bool> VerifyBatchWith_vartime(std::span<const Ed25519Item> items, MsmChoice msm) {
  if (items.size() > kMaxBatch) {
    // Bounded memory and RAND_bytes length; gains flatten long before.
    std::vector<bool> verdicts;
    verdicts.reserve(items.size());
    for (size_t first = 0; first < items.size(); first += kMaxBatch) {
      const std::vector<bool> part = VerifyBatchWith_vartime(
          items.subspan(first, std::min(kMaxBatch, items.size() - first)), msm);
      verdicts.insert(verdicts.end(), part.begin(), part.end());
    }
    return verdicts;
  }
  std::vector<bool> verdicts(items.size(), false);
  // Rules 1, 2 and 4 on the bytes; collect what needs decoding: each distinct
  // key once (keys repeat: one issuer, or a client sending many requests),
  // and every R. Then decode all of them, four square roots at a time.
  std::vector<Parsed> parsed;
  parsed.reserve(items.size());
  absl::flat_hash_map<absl::string_view, size_t> key_index;  // key -> slot in `encodings`
  std::vector<const uint8_t*> encodings;
  std::vector<size_t> parsed_key_slot;
  for (size_t i = 0; i < items.size(); ++i) {
    Parsed p;
    if (!CheckEncodings(items[i], &p.s)) continue;
    p.index = i;
    p.key = Bytes(items[i].public_key);
    const auto [it, inserted] = key_index.try_emplace(
        absl::string_view(items[i].public_key.data(), items[i].public_key.size()),
        encodings.size());
    if (inserted) encodings.push_back(p.key);
    parsed_key_slot.push_back(it->second);
    parsed.push_back(p);
  }
  const size_t first_r = encodings.size();
  for (const Parsed& p : parsed) encodings.push_back(Bytes(items[p.index].signature));
  std::vector<P3> points(encodings.size());
  std::unique_ptr<bool[]> decoded(new bool[encodings.size()]);
  DecodePoints_vartime(encodings.data(), encodings.size(), points.data(), decoded.get());

  // Rule 3 verdicts, and k for the survivors.
  size_t kept = 0;
  for (size_t j = 0; j < parsed.size(); ++j) {
    Parsed& p = parsed[j];
    const size_t key_slot = parsed_key_slot[j];
    if (!decoded[key_slot] || !decoded[first_r + j]) continue;
    p.a = points[key_slot];
    p.r = points[first_r + j];
    if (!HashToScalar(encodings[first_r + j], p.key, items[p.index].message, &p.k)) continue;
    parsed[kept++] = p;
  }
  parsed.resize(kept);
  if (parsed.empty()) return verdicts;

  std::vector<const Parsed*> group(parsed.size());
  for (size_t i = 0; i < parsed.size(); ++i) group[i] = &parsed[i];
  if (parsed.size() == 1) {
    verdicts[parsed[0].index] = CheckInBatch(parsed[0]);
    return verdicts;
  }
  // 128-bit coefficients from the CSPRNG. If it fails, no batch: every
  // signature is checked alone (slower, never less strict).
  std::vector<Scalar> z(parsed.size(), Scalar{{0, 0, 0, 0}});
  std::vector<uint8_t> random(16 * parsed.size());
  if (RAND_bytes(random.data(), static_cast<int>(random.size())) != 1) {
    ERR_clear_error();
    for (const Parsed& p : parsed) verdicts[p.index] = CheckInBatch(p);
    return verdicts;
  }
  for (size_t i = 0; i < parsed.size(); ++i) std::memcpy(z[i].v, &random[16 * i], 16);
  if (CheckBatch(group, z, msm)) {
    for (const Parsed& p : parsed) verdicts[p.index] = true;
  } else {
    Resolve(group, z, msm, &verdicts);
  }
  return verdicts;
}

}  // namespace internal

Ed25519KeyCheck CheckEd25519PublicKey_vartime(std::string_view public_key) {
  using namespace internal;  // NOLINT(build/namespaces)
  if (public_key.size() != kEd25519PublicKeyBytes) return Ed25519KeyCheck::kWrongLength;
  // Decoding is strict, so a non-canonical encoding of a small-order point
  // (y + p, or the sign bit set on x = 0) is refused here already, and the
  // canonical encoding list below covers every small-order point.
  P3 point;
  if (!DecodePoint_vartime(Bytes(public_key), &point)) return Ed25519KeyCheck::kNotCanonical;
  if (IsSmallOrderEncoding(Bytes(public_key))) return Ed25519KeyCheck::kSmallOrder;
  return Ed25519KeyCheck::kOk;
}

namespace internal {
namespace {

bool VerifyOne(std::string_view public_key, std::string_view message, std::string_view signature,
               bool (*check)(const Parsed&)) {
  Parsed p;
  if (!CheckEncodings(Ed25519Item{public_key, message, signature}, &p.s)) return false;
  p.index = 0;
  p.key = Bytes(public_key);
  const uint8_t* encodings[2] = {p.key, Bytes(signature)};
  P3 points[2];
  bool decoded[2];
  DecodePoints_vartime(encodings, 2, points, decoded);
  if (!decoded[0] || !decoded[1]) return false;
  p.a = points[0];
  p.r = points[1];
  return HashToScalar(encodings[1], p.key, message, &p.k) && check(p);
}

}  // namespace

bool VerifyFullSize_vartime(std::string_view public_key, std::string_view message,
                            std::string_view signature) {
  return VerifyOne(public_key, message, signature, CheckOneFullSize);
}

}  // namespace internal

bool Ed25519Verify_vartime(std::string_view public_key, std::string_view message,
                           std::string_view signature) {
  return internal::VerifyOne(public_key, message, signature, internal::CheckOne);
}

std::vector<bool> Ed25519VerifyBatch_vartime(std::span<const Ed25519Item> items) {
  return internal::VerifyBatchWith_vartime(items, internal::MsmChoice::kAuto);
}

}  // namespace popguard::ed25519
