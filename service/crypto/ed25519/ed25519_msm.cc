#include "service/crypto/ed25519/ed25519_msm.h"

#include <algorithm>
#include <vector>

namespace popguard::ed25519::internal {
namespace {

constexpr int kStrausWidth = 5;
constexpr int kStrausTableSize = 1 << (kStrausWidth - 2);

// PippengerCost estimates the additions of Pippenger with c-bit windows over
// n points: one per point and window, plus two per bucket and window for the
// running sums.
size_t PippengerCost(size_t n, int c) {
  const size_t windows = (253 + c - 1) / c + 1;
  return windows * (n + (size_t{1} << c));
}

int PippengerWidth(size_t n) {
  int best = 1;
  for (int c = 2; c <= 15; ++c) {
    if (PippengerCost(n, c) < PippengerCost(n, best)) best = c;
  }
  return best;
}

// Bucket is a running point that may still be empty (the identity), so the
// first point into it is copied instead of added.
struct Bucket {
  P3 point = Identity();
  bool set = false;
};

void AddToBucket(Bucket* b, const P3& p, const Niels& niels, bool negative) {
  if (!b->set) {
    b->point = negative ? Negate(p) : p;
    b->set = true;
  } else {
    b->point = ToP3(negative ? SubNiels(b->point, niels) : AddNiels(b->point, niels));
  }
}

// ToNielsBatch converts points to affine Niels form with a single field
// inversion (Montgomery's trick: invert the product of all Z, then peel the
// individual inverses off with two multiplications each). Costs ~7
// multiplications per point and saves one in every bucket addition.
void ToNielsBatch(std::span<const P3> points, Niels* out) {
  const size_t n = points.size();
  if (n == 0) return;
  std::vector<Fe> prefix(n);  // prefix[i] = Z_0 * ... * Z_i
  prefix[0] = points[0].Z;
  for (size_t i = 1; i < n; ++i) prefix[i] = Mul(prefix[i - 1], points[i].Z);
  Fe inv = Invert(prefix[n - 1]);  // 1 / (Z_0 ... Z_i), walking i down
  for (size_t i = n; i-- > 0;) {
    const Fe zinv = i > 0 ? Mul(inv, prefix[i - 1]) : inv;
    if (i > 0) inv = Mul(inv, points[i].Z);
    const Fe x = Mul(points[i].X, zinv);
    const Fe y = Mul(points[i].Y, zinv);
    out[i] = Niels{Carry(Add(y, x)), Carry(Sub(y, x)), Mul(Mul(x, y), Constants().d2)};
  }
}

void AddBucket(Bucket* acc, const Bucket& b) {
  if (!b.set) return;
  if (!acc->set) {
    *acc = b;
  } else {
    acc->point = AddP3(acc->point, b.point);
  }
}

}  // namespace

P3 MsmStraus_vartime(const Scalar& base_scalar, std::span<const P3> points,
                     std::span<const Scalar> scalars) {
  const size_t n = points.size();
  std::vector<Cached> tables(n * kStrausTableSize);
  std::vector<int8_t> digits(n * 256);
  int8_t base_digits[256];
  int top = Wnaf(base_scalar, kBaseWnafWidth, base_digits);
  for (size_t i = 0; i < n; ++i) {
    top = std::max(top, Wnaf(scalars[i], kStrausWidth, &digits[i * 256]));
    OddMultiples(points[i], kStrausTableSize, &tables[i * kStrausTableSize]);
  }
  const Niels* base = BaseTable();

  P2 r = AsP2(Identity());
  P3 r3 = Identity();
  for (int bit = top - 1; bit >= 0; --bit) {
    P1P1 t = Dbl(r);
    const int db = base_digits[bit];
    if (db != 0) {
      r3 = ToP3(t);
      t = db > 0 ? AddNiels(r3, base[db / 2]) : SubNiels(r3, base[-db / 2]);
    }
    // Indexed per point, not through a pointer taken once before the loop: with no points
    // `digits` is empty and even forming &digits[bit] is undefined behaviour (UBSan: reference
    // binding to null pointer).
    for (size_t i = 0; i < n; ++i) {
      const int d = digits[i * 256 + bit];
      if (d == 0) continue;
      r3 = ToP3(t);
      const Cached* table = &tables[i * kStrausTableSize];
      t = d > 0 ? AddCached(r3, table[d / 2]) : SubCached(r3, table[-d / 2]);
    }
    if (bit == 0) return ToP3(t);
    r = ToP2(t);
  }
  return Identity();
}

P3 MsmPippenger_vartime(const Scalar& base_scalar, std::span<const P3> points,
                        std::span<const Scalar> scalars, int window_bits) {
  // The base point joins as one more ordinary point.
  const size_t n = points.size() + 1;
  const int c = window_bits > 0 ? window_bits : PippengerWidth(n);
  const int max_digits = 253 / c + 2;
  std::vector<int16_t> digits(n * max_digits, 0);
  std::vector<P3> all(points.begin(), points.end());
  all.push_back(BasePoint());
  std::vector<Niels> niels(n);
  ToNielsBatch(all, niels.data());
  int windows = 0;
  for (size_t i = 0; i < n; ++i) {
    const Scalar& s = i + 1 == n ? base_scalar : scalars[i];
    windows = std::max(windows, SignedRadix(s, c, &digits[i * max_digits]));
  }

  const size_t num_buckets = size_t{1} << (c - 1);
  std::vector<Bucket> buckets(num_buckets);
  Bucket acc;
  for (int w = windows - 1; w >= 0; --w) {
    if (acc.set) {
      P2 r = AsP2(acc.point);
      for (int j = 0; j < c - 1; ++j) r = ToP2(Dbl(r));
      acc.point = ToP3(Dbl(r));
    }
    for (Bucket& b : buckets) b.set = false;
    for (size_t i = 0; i < n; ++i) {
      const int d = digits[i * max_digits + w];
      if (d == 0) continue;
      if (d > 0) {
        AddToBucket(&buckets[d - 1], all[i], niels[i], /*negative=*/false);
      } else {
        AddToBucket(&buckets[-d - 1], all[i], niels[i], /*negative=*/true);
      }
    }
    // sum_j (j + 1) bucket[j] as a running sum from the top bucket down.
    Bucket running, total;
    for (size_t j = num_buckets; j-- > 0;) {
      AddBucket(&running, buckets[j]);
      AddBucket(&total, running);
    }
    AddBucket(&acc, total);
  }
  return acc.set ? acc.point : Identity();
}

P3 MsmAuto_vartime(const Scalar& base_scalar, std::span<const P3> points,
                   std::span<const Scalar> scalars) {
  if (points.size() >= kPippengerMinPoints) {
    return MsmPippenger_vartime(base_scalar, points, scalars);
  }
  return MsmStraus_vartime(base_scalar, points, scalars);
}

}  // namespace popguard::ed25519::internal
