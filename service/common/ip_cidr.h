// IpCidr: an IPv4 or IPv6 address block ("10.0.0.0/8", "::1/128", or a bare
// address for a single host), for the forward-auth listener's trusted sources.
#ifndef POPGUARD_SERVICE_IP_CIDR_H_
#define POPGUARD_SERVICE_IP_CIDR_H_

#include <array>
#include <cstdint>
#include <string_view>

#include "absl/status/statusor.h"

namespace popguard {

class IpCidr {
 public:
  // Parse reads "address/prefix" or a bare address (all bits). Host bits
  // below the prefix must be zero ("10.0.0.1/8" is refused as a likely typo).
  static absl::StatusOr<IpCidr> Parse(std::string_view text);

  // Contains reports whether `address` (textual, as a socket reports it) lies
  // in the block. An IPv4-mapped IPv6 address (::ffff:a.b.c.d) is read as
  // the IPv4 address; anything unparsable is outside every block.
  bool Contains(std::string_view address) const;

 private:
  bool v6_ = false;
  std::array<uint8_t, 16> bytes_{};
  int prefix_ = 0;
};

}  // namespace popguard

#endif  // POPGUARD_SERVICE_IP_CIDR_H_
