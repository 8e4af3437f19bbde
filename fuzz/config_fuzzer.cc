// libFuzzer target: the config loader (LoadConfigYaml), yaml-cpp included.
// The config is the operator's, not an attacker's, but a typo must still end
// in an error naming the key, never a crash, an exception or a hang.
//
// Invariants: inputs up to kMaxInputBytes are either accepted or refused with
// InvalidArgument and a non-empty message; an accepted config has at least
// one issuer, each with an issuer string and at least one audience.
//
// Relative paths resolve against a directory that does not exist, so file
// keys are refused unless they name an absolute path (which is only checked
// to be a readable regular file, never read).
#include <cstdint>
#include <string_view>

#include "fuzz/fuzz_check.h"
#include "service/config/config.h"

namespace {

// Far above any real config, far below the 4 MiB LoadConfigFile accepts: the
// fuzzer's time goes to structure, not length.
constexpr size_t kMaxInputBytes = 64 * 1024;

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size > kMaxInputBytes) return 0;
  auto config = popguard::LoadConfigYaml(popguard::fuzz::AsView(data, size),
                                         "/nonexistent-popguard-fuzz-dir");
  if (!config.ok()) {
    FUZZ_CHECK(absl::IsInvalidArgument(config.status()), "a refusal is not InvalidArgument");
    FUZZ_CHECK(!config.status().message().empty(), "a refusal without a message");
    return 0;
  }
  FUZZ_CHECK(!config->issuers.empty(), "a config without issuers was accepted");
  for (const popguard::IssuerConfig& issuer : config->issuers) {
    FUZZ_CHECK(!issuer.issuer.empty() && !issuer.audiences.empty(),
               "an issuer without a name or audience was accepted");
  }
  return 0;
}
