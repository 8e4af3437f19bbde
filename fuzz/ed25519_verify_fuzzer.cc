// libFuzzer target: arbitrary (key, message, signature) through the native
// Ed25519 core, single and batched, and through OpenSSL.
//
// Assertions:
//   - single and batch verification agree on every input (the property the
//     cofactored equation in service/crypto/ed25519/ed25519.cc exists for), in a batch that
//     also holds a known-good member (RFC 8032 7.1 test 1), which must pass;
//   - for an honestly generated key (mode bit 0), the native verdict equals
//     OpenSSL's: the two rules differ only on small-order or torsion-carrying
//     keys and R values, which a key made from a seed never has and a bit
//     flip cannot produce (changing R changes k = H(R || A || M));
//   - the single check with half-size scalars (the one Ed25519Verify_vartime
//     runs) and the full-size check it replaced agree on every input;
//   - nothing crashes or reads out of bounds (build with ASan/UBSan).
//
// Input layout: mode (1 byte) || seed or raw key (32) || signature mask (64) || message.
//   mode bit 0: the key is the Ed25519 key of the 32-byte seed and the
//               signature is a fresh one over the message XOR the mask
//               (a zero mask keeps it valid); otherwise the 32 bytes are the
//               raw public key and the mask is the signature itself.
//
// Built and run like every target in fuzz/CMakeLists.txt (README, Testing):
// `make fuzz`, corpus fuzz/corpus/ed25519_verify_fuzzer/.
// First run (2026-11-22): 104,000 inputs in 30 s under ASan/UBSan, no disagreement.
// Second run (2026-11-22, -max_total_time=900, empty starting corpus): 2,504,033 inputs in
// 901 s under ASan/UBSan, 125 corpus entries, no crash and no disagreement.
// Third run (2026-12-02, the known-good batch member added; -fsanitize=fuzzer only,
// -runs=30000 -max_len=300): no crash; with one byte of the known-good signature
// changed, the first input of 97 bytes or more aborts, as it should.
#include <openssl/evp.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <vector>

#include "service/common/openssl_util.h"
#include "service/crypto/ed25519/ed25519.h"

namespace {

using popguard::MdCtxPtr;
using popguard::PkeyPtr;

bool OpenSslVerify(const std::string& pub, const std::string& msg, const std::string& sig) {
  PkeyPtr key(EVP_PKEY_new_raw_public_key(
      EVP_PKEY_ED25519, nullptr, reinterpret_cast<const unsigned char*>(pub.data()), pub.size()));
  if (key == nullptr) return false;
  MdCtxPtr ctx(EVP_MD_CTX_new());
  if (EVP_DigestVerifyInit(ctx.get(), nullptr, nullptr, nullptr, key.get()) != 1) return false;
  return EVP_DigestVerify(ctx.get(), reinterpret_cast<const unsigned char*>(sig.data()), sig.size(),
                          reinterpret_cast<const unsigned char*>(msg.data()), msg.size()) == 1;
}

std::string Unhex(const char* hex) {
  std::string out;
  for (size_t i = 0; hex[i] != '\0' && hex[i + 1] != '\0'; i += 2) {
    out.push_back(static_cast<char>(std::stoi(std::string(hex + i, 2), nullptr, 16)));
  }
  return out;
}

// KnownGood is RFC 8032 section 7.1 TEST 1 (empty message): a valid
// signature taken from the RFC, not produced by either verifier.
struct KnownGood {
  std::string pub, msg, sig;
};
const KnownGood& TheKnownGood() {
  static const KnownGood* good = new KnownGood{
      Unhex("d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a"), "",
      Unhex("e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bac"
            "c61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b")};
  return *good;
}

void Fail(const char* what) {
  std::fprintf(stderr, "ed25519 fuzzer: %s\n", what);
  std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1 + 32 + 64) return 0;
  const bool honest = (data[0] & 1) != 0;
  std::string key_bytes(reinterpret_cast<const char*>(data + 1), 32);
  std::string mask(reinterpret_cast<const char*>(data + 33), 64);
  std::string msg(reinterpret_cast<const char*>(data + 97), size - 97);

  std::string pub = key_bytes, sig = mask;
  if (honest) {
    PkeyPtr priv(EVP_PKEY_new_raw_private_key(
        EVP_PKEY_ED25519, nullptr, reinterpret_cast<const unsigned char*>(key_bytes.data()), 32));
    if (priv == nullptr) return 0;
    size_t len = 32;
    pub.assign(32, '\0');
    EVP_PKEY_get_raw_public_key(priv.get(), reinterpret_cast<unsigned char*>(pub.data()), &len);
    MdCtxPtr ctx(EVP_MD_CTX_new());
    sig.assign(64, '\0');
    size_t sig_len = 64;
    if (EVP_DigestSignInit(ctx.get(), nullptr, nullptr, nullptr, priv.get()) != 1 ||
        EVP_DigestSign(ctx.get(), reinterpret_cast<unsigned char*>(sig.data()), &sig_len,
                       reinterpret_cast<const unsigned char*>(msg.data()), msg.size()) != 1) {
      return 0;
    }
    for (size_t i = 0; i < 64; ++i) sig[i] ^= mask[i];
  }

  const bool single = popguard::ed25519::Ed25519Verify_vartime(pub, msg, sig);
  // The half-size check (ed25519.cc, CheckOne) must give the full-size
  // check's verdict on every input, torsion components included.
  if (single != popguard::ed25519::internal::VerifyFullSize_vartime(pub, msg, sig)) {
    Fail("the half-size and full-size single checks disagree");
  }
  // Batch: the input beside a copy of itself and a known-good member, so the
  // batch path (not a one-item shortcut) decides, and a bad input must not
  // drag the valid member down with it (nor a valid one hide a bad input).
  const KnownGood& good = TheKnownGood();
  std::vector<popguard::ed25519::Ed25519Item> items = {
      {pub, msg, sig}, {pub, msg, sig}, {good.pub, good.msg, good.sig}};
  std::vector<bool> batch = popguard::ed25519::Ed25519VerifyBatch_vartime(items);
  if (batch.size() != items.size() || batch[0] != single || batch[1] != single) {
    Fail("batch and single verification disagree");
  }
  if (!batch[2]) Fail("the known-good batch member (RFC 8032 7.1 test 1) was rejected");
  if (honest && single != OpenSslVerify(pub, msg, sig)) {
    Fail("native and OpenSSL disagree on an honestly generated key");
  }
  return 0;
}
