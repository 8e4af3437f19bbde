#include "service/common/ip_cidr.h"

#include <arpa/inet.h>

#include <cstring>
#include <string>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "service/common/strings.h"

namespace popguard {
namespace {

// ParseAddress reads an IPv4 or IPv6 address; IPv4-mapped IPv6 becomes IPv4.
bool ParseAddress(std::string_view text, bool* v6, std::array<uint8_t, 16>* bytes) {
  const std::string s(text);
  bytes->fill(0);
  in_addr a4{};
  if (inet_pton(AF_INET, s.c_str(), &a4) == 1) {
    *v6 = false;
    std::memcpy(bytes->data(), &a4, 4);
    return true;
  }
  in6_addr a6{};
  if (inet_pton(AF_INET6, s.c_str(), &a6) != 1) return false;
  static constexpr uint8_t kMapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
  if (std::memcmp(a6.s6_addr, kMapped, 12) == 0) {
    *v6 = false;
    std::memcpy(bytes->data(), a6.s6_addr + 12, 4);
    return true;
  }
  *v6 = true;
  std::memcpy(bytes->data(), a6.s6_addr, 16);
  return true;
}

// PrefixEqual compares the first `bits` bits of a and b.
bool PrefixEqual(const std::array<uint8_t, 16>& a, const std::array<uint8_t, 16>& b, int bits) {
  int i = 0;
  for (; bits >= 8; bits -= 8, ++i) {
    if (a[i] != b[i]) return false;
  }
  if (bits == 0) return true;
  const uint8_t mask = static_cast<uint8_t>(0xff << (8 - bits));
  return (a[i] & mask) == (b[i] & mask);
}

}  // namespace

absl::StatusOr<IpCidr> IpCidr::Parse(std::string_view text) {
  IpCidr c;
  const size_t slash = text.find('/');
  if (!ParseAddress(text.substr(0, slash), &c.v6_, &c.bytes_)) {
    return absl::InvalidArgumentError(
        absl::StrCat("\"", AV(text), "\" is not an IP address or CIDR"));
  }
  const int max_bits = c.v6_ ? 128 : 32;
  c.prefix_ = max_bits;
  if (slash != std::string_view::npos) {
    const std::string_view bits = text.substr(slash + 1);
    if (bits.empty() || bits.size() > 3 || !absl::SimpleAtoi(AV(bits), &c.prefix_) ||
        c.prefix_ < 0 || c.prefix_ > max_bits) {
      return absl::InvalidArgumentError(
          absl::StrCat("\"", AV(text), "\": the prefix length must be 0 to ", max_bits));
    }
  }
  std::array<uint8_t, 16> host = c.bytes_;
  // Host bits set below the prefix: compare against the block's own start.
  for (int bit = c.prefix_; bit < max_bits; ++bit) host[bit / 8] &= ~(0x80 >> (bit % 8));
  if (host != c.bytes_) {
    return absl::InvalidArgumentError(
        absl::StrCat("\"", AV(text), "\" has host bits set below its prefix length"));
  }
  return c;
}

bool IpCidr::Contains(std::string_view address) const {
  bool v6 = false;
  std::array<uint8_t, 16> bytes;
  if (!ParseAddress(address, &v6, &bytes) || v6 != v6_) return false;
  return PrefixEqual(bytes, bytes_, prefix_);
}

}  // namespace popguard
