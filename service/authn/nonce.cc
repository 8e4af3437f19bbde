#include "service/authn/nonce.h"

#include "absl/strings/str_cat.h"
#include "service/common/crypto_util.h"
#include "service/common/strings.h"
#include "service/jose/base64url.h"

namespace popguard {
namespace {
constexpr std::string_view kLabel = "popguard-dpop-nonce-v1";
constexpr size_t kMacBytes = 16;
}  // namespace

DpopNonces::DpopNonces(std::string secret, absl::Duration step)
    : secret_(std::move(secret)), step_(step) {}

int64_t DpopNonces::StepOf(absl::Time now) const {
  absl::Duration remainder;  // IDivDuration writes it; it must not be null
  return absl::IDivDuration(now - absl::UnixEpoch(), step_, &remainder);
}

std::string DpopNonces::ForStep(int64_t step) const {
  std::string counter(8, '\0');
  for (int i = 0; i < 8; ++i) counter[7 - i] = static_cast<char>((step >> (8 * i)) & 0xff);
  std::string mac = HmacSha256(secret_, std::string(kLabel) + counter).substr(0, kMacBytes);
  return Base64UrlEncode(counter + mac);
}

std::string DpopNonces::Current(absl::Time now) const { return ForStep(StepOf(now)); }

bool DpopNonces::Accept(std::string_view nonce, absl::Time now) const {
  int64_t step = StepOf(now);
  // Compare against both acceptable nonces in constant time; the comparison
  // result depends only on whether the nonce is valid.
  bool current = ConstantTimeEquals(nonce, ForStep(step));
  bool previous = ConstantTimeEquals(nonce, ForStep(step - 1));
  return current | previous;
}

}  // namespace popguard
