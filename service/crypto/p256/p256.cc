#include "service/crypto/p256/p256.h"

#include <vector>

namespace popguard::p256 {
namespace {

struct ParsedSignature {
  Sc r;  // plain
  Sc s;  // plain
  Sc e;  // plain, hash mod n
};

// ParseSignature_vartime reads r, s and the hash; false when r or s is
// outside [1, n-1] (SEC 1 4.1.4 step 1). Checked here in the core as well as
// by callers: with r = s = 0 accepted, every message would verify
// (CVE-2022-21449).
bool ParseSignature_vartime(ParsedSignature* out, const uint8_t digest[32], const uint8_t sig[64]) {
  if (!ScFromBytes_vartime(&out->r, sig) || !ScFromBytes_vartime(&out->s, sig + 32)) return false;
  // The hash is exactly as long as n (256 bits), so it is used whole (no
  // truncation, SEC 1 4.1.4 step 3) and reduced mod n.
  ScFromBytesReduce(&out->e, digest);
  return true;
}

// RPlusNBelowP_vartime sets *sum = r + n and returns whether it is < p.
bool RPlusNBelowP_vartime(uint64_t sum[4], const Sc& r) {
  u128 acc = 0;
  for (int i = 0; i < 4; ++i) {
    acc += static_cast<u128>(r.v[i]) + kN[i];
    sum[i] = static_cast<uint64_t>(acc);
    acc >>= 64;
  }
  if (acc != 0) return false;
  for (int i = 3; i >= 0; --i) {
    if (sum[i] != kP[i]) return sum[i] < kP[i];
  }
  return false;
}

// Finish_vartime completes verification given w = s^-1 (Montgomery form).
EcdsaVerdict Finish_vartime(const EcdsaPublicKey& key, const CombTable* key_table,
                            const ParsedSignature& sig, const Sc& w_mont) {
  const Sc u1 = ScMontMul(sig.e, w_mont);  // plain e/s
  const Sc u2 = ScMontMul(sig.r, w_mont);  // plain r/s
  JacobianPoint rp;
  if (key_table != nullptr) {
    PointSetInfinity(&rp);
    CombAccumulate_vartime(&rp, BaseTable(), u1);
    CombAccumulate_vartime(&rp, *key_table, u2);
  } else {
    StraussMul_vartime(&rp, u1, u2, key.point());
  }
  if (PointIsInfinity_vartime(rp)) return EcdsaVerdict::kBadSignature;
  // x(R) = X/Z^2 is in [0, p); compare without inverting Z.
  Fe z2, candidate, rx;
  FeSqr(&z2, rp.z);
  rx = FeFromLimbs(sig.r.v);  // r < n < p
  FeMul(&candidate, rx, z2);
  if (FeEqual_vartime(candidate, rp.x)) return EcdsaVerdict::kValid;
  uint64_t r_plus_n[4];
  if (RPlusNBelowP_vartime(r_plus_n, sig.r)) {
    rx = FeFromLimbs(r_plus_n);
    FeMul(&candidate, rx, z2);
    if (FeEqual_vartime(candidate, rp.x)) return EcdsaVerdict::kValid;
  }
  return EcdsaVerdict::kBadSignature;
}

}  // namespace

std::optional<EcdsaPublicKey> EcdsaPublicKey::FromAffineBytes_vartime(const uint8_t xy[64]) {
  AffinePoint point;
  if (!FeFromBytes_vartime(&point.x, xy) || !FeFromBytes_vartime(&point.y, xy + 32)) {
    return std::nullopt;
  }
  if (!AffineIsOnCurve_vartime(point)) return std::nullopt;
  return EcdsaPublicKey(point);
}

std::unique_ptr<const CombTable> BuildKeyTable_vartime(const EcdsaPublicKey& key) {
  return CombTable::Build_vartime(key.point(), kKeyWindowBits);
}

bool EcdsaScalarsInRange_vartime(const uint8_t sig[64]) {
  Sc r, s;
  return ScFromBytes_vartime(&r, sig) && ScFromBytes_vartime(&s, sig + 32);
}

EcdsaVerdict EcdsaVerifyDigest_vartime(const EcdsaPublicKey& key, const CombTable* key_table,
                                       const uint8_t digest[32], const uint8_t sig[64]) {
  ParsedSignature parsed;
  if (!ParseSignature_vartime(&parsed, digest, sig)) return EcdsaVerdict::kScalarOutOfRange;
  const Sc w = ScInvertMont_vartime(ScToMont(parsed.s));
  return Finish_vartime(key, key_table, parsed, w);
}

void EcdsaVerifyDigestBatch_vartime(std::span<const EcdsaBatchItem> items,
                                    std::span<EcdsaVerdict> out) {
  const size_t count = items.size();
  std::vector<ParsedSignature> parsed(count);
  std::vector<size_t> index;  // items with r, s in range
  std::vector<Sc> inv, scratch;
  index.reserve(count);
  inv.reserve(count);
  for (size_t i = 0; i < count; ++i) {
    if (!ParseSignature_vartime(&parsed[i], items[i].digest, items[i].sig)) {
      out[i] = EcdsaVerdict::kScalarOutOfRange;
      continue;
    }
    index.push_back(i);
    inv.push_back(ScToMont(parsed[i].s));  // nonzero: s in [1, n-1]
  }
  scratch.resize(inv.size());
  ScBatchInvertMont_vartime(inv.data(), scratch.data(), static_cast<int>(inv.size()));
  for (size_t k = 0; k < index.size(); ++k) {
    const size_t i = index[k];
    out[i] = Finish_vartime(*items[i].key, items[i].key_table, parsed[i], inv[k]);
  }
}

}  // namespace popguard::p256
