// DpopNonces: stateless server nonces (RFC 9449 section 8).
//
// A nonce is base64url(step || HMAC-SHA-256(secret, label || step)[0..16]),
// where step = floor(unix time / step length) as 8 big-endian bytes. Every
// replica holding the same secret issues and accepts the same nonces without
// sharing state; the current and the previous step are accepted, so a nonce
// lives between one and two steps. Without the secret a nonce for a future
// step cannot be forged (HMAC), so clients cannot pre-compute proofs.
#ifndef POPGUARD_SERVICE_NONCE_H_
#define POPGUARD_SERVICE_NONCE_H_

#include <string>
#include <string_view>

#include "absl/time/time.h"

namespace popguard {

class DpopNonces {
 public:
  // `secret` must be at least 32 bytes; `step` positive.
  DpopNonces(std::string secret, absl::Duration step);

  // Current returns the nonce to hand out at `now`.
  std::string Current(absl::Time now) const;

  // Accept returns true if `nonce` was issued for the current or previous step.
  bool Accept(std::string_view nonce, absl::Time now) const;

 private:
  int64_t StepOf(absl::Time now) const;
  std::string ForStep(int64_t step) const;

  std::string secret_;
  absl::Duration step_;
};

}  // namespace popguard

#endif  // POPGUARD_SERVICE_NONCE_H_
