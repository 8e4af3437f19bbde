// Tests for service/jose/base64url.h: strict base64url as JWS requires (RFC 7515
// section 2: unpadded, URL-safe alphabet, no whitespace) plus the canonical
// trailing bits rule (RFC 4648 section 3.5), and the lenient standard-base64
// decoder used for PEM bodies.
#include "service/jose/base64url.h"

#include <random>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "tests/testing/test_seed.h"

namespace popguard {
namespace {

constexpr std::string_view kAlphabet =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

class Base64UrlTest : public ::testing::Test {};

TEST_F(Base64UrlTest, CanonicalEncodings) {
  // RFC 4648 section 10 vectors, unpadded, plus the two URL-safe characters.
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"", ""},
      {"f", "Zg"},
      {"fo", "Zm8"},
      {"foo", "Zm9v"},
      {"foob", "Zm9vYg"},
      {"fooba", "Zm9vYmE"},
      {"foobar", "Zm9vYmFy"},
      {"\xfb\xff", "-_8"},
      {"\xff\xff\xff", "____"},
      {"\xfb\xef\xbe", "----"},
      {std::string("\0", 1), "AA"},
      {std::string("\0\0\0", 3), "AAAA"},
  };
  for (const auto& [bytes, encoded] : cases) {
    SCOPED_TRACE(encoded);
    EXPECT_EQ(Base64UrlEncode(bytes), encoded);
    std::string out = "previous contents";
    ASSERT_TRUE(Base64UrlDecode(encoded, &out));
    EXPECT_EQ(out, bytes);
    EXPECT_EQ(Base64UrlDecode(encoded), std::optional<std::string>(bytes));
  }
}

TEST_F(Base64UrlTest, NonCanonicalInputsAreRejected) {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"Zg==", "padding"},
      {"Zg=", "partial padding"},
      {"Zm8=", "padding after a 3-character tail"},
      {"Zm9v====", "padding after a full quantum"},
      {"=", "padding only"},
      {"Zm9v\n", "trailing newline"},
      {" Zm9v", "leading space"},
      {"Zm 9v", "inner space"},
      {"Zm9v\t", "tab"},
      {"Zm9v\r\n", "CRLF"},
      {"Zm+v", "standard-alphabet '+'"},
      {"Zm/v", "standard-alphabet '/'"},
      {"+_8", "'+' in a tail"},
      {"Z", "length % 4 == 1"},
      {"Zm9vY", "length % 4 == 1 after a quantum"},
      {"Zm9vYmFyZ", "length % 4 == 1 after two quanta"},
      {"Zh", "2-character tail with non-zero trailing bits"},
      {"Zm9", "3-character tail with non-zero trailing bits"},
      {"Zm9v.", "'.'"},
      {std::string("Zm9v\0", 5), "NUL byte"},
      {"Zm9\xc3\xa9", "non-ASCII byte"},
      {"Zm9v%3D", "percent-encoded padding"},
  };
  for (const auto& [in, why] : cases) {
    SCOPED_TRACE(why);
    std::string out;
    EXPECT_FALSE(Base64UrlDecode(in, &out));
    EXPECT_EQ(Base64UrlDecode(in), std::nullopt);
  }
}

// RFC 4648 section 3.5: the unused low bits of the last character must be
// zero, or several strings would decode to the same bytes. A 2-character tail
// carries 8 data bits in 12 (4 unused), a 3-character tail 16 in 18 (2 unused).
TEST_F(Base64UrlTest, TrailingBitsMustBeZeroForEveryTailCharacter) {
  for (size_t v = 0; v < 64; ++v) {
    const char c = kAlphabet[v];
    {
      SCOPED_TRACE(std::string("2-character tail Z") + c);
      EXPECT_EQ(Base64UrlDecode(std::string("Z") + c).has_value(), (v & 0x0f) == 0);
      EXPECT_EQ(Base64UrlDecode(std::string("AAAAZ") + c).has_value(), (v & 0x0f) == 0);
    }
    {
      SCOPED_TRACE(std::string("3-character tail Zm") + c);
      EXPECT_EQ(Base64UrlDecode(std::string("Zm") + c).has_value(), (v & 0x03) == 0);
      EXPECT_EQ(Base64UrlDecode(std::string("AAAAZm") + c).has_value(), (v & 0x03) == 0);
    }
  }
}

TEST_F(Base64UrlTest, EveryByteOutsideTheAlphabetIsRejectedInEveryPosition) {
  for (int b = 0; b < 256; ++b) {
    const char c = static_cast<char>(b);
    if (kAlphabet.find(c) != std::string_view::npos) continue;
    for (size_t pos = 0; pos < 4; ++pos) {
      std::string in = "AAAA";
      in[pos] = c;
      SCOPED_TRACE(testing::Message() << "byte " << b << " at " << pos);
      EXPECT_EQ(Base64UrlDecode(in), std::nullopt);
      // The same byte in a 2- or 3-character tail.
      if (pos < 3) {
        EXPECT_EQ(Base64UrlDecode(in.substr(0, 3)), std::nullopt);
      }
      if (pos < 2) {
        EXPECT_EQ(Base64UrlDecode(in.substr(0, 2)), std::nullopt);
      }
    }
  }
}

TEST_F(Base64UrlTest, RoundTripsRandomBytesOfEveryLength) {
  std::mt19937 rng(testing_support::TestSeed(1));
  std::uniform_int_distribution<int> byte(0, 255);
  for (size_t len = 0; len <= 100; ++len) {
    for (int trial = 0; trial < 8; ++trial) {
      std::string bytes(len, '\0');
      for (char& c : bytes) c = static_cast<char>(byte(rng));
      SCOPED_TRACE(testing::Message() << "length " << len << " trial " << trial);
      std::string encoded = Base64UrlEncode(bytes);
      EXPECT_EQ(encoded.size(), (len * 4 + 2) / 3);
      EXPECT_EQ(encoded.find_first_not_of(kAlphabet), std::string::npos);
      std::string decoded;
      ASSERT_TRUE(Base64UrlDecode(encoded, &decoded));
      EXPECT_EQ(decoded, bytes);
    }
  }
}

// Exhaustive over short inputs: the decoder accepts exactly the encoder's
// outputs, so every byte string has one accepted encoding and back.
TEST_F(Base64UrlTest, AcceptsExactlyTheEncodingsOfShortStrings) {
  const std::string chars = std::string(kAlphabet) + "=+/ .";
  std::vector<std::string> inputs = {""};
  for (char a : chars) {
    inputs.push_back(std::string(1, a));
    for (char b : chars) {
      inputs.push_back(std::string{a, b});
      for (char c : chars) inputs.push_back(std::string{a, b, c});
    }
  }
  size_t accepted = 0;
  for (const std::string& in : inputs) {
    std::optional<std::string> out = Base64UrlDecode(in);
    if (!out) continue;
    ++accepted;
    ASSERT_EQ(Base64UrlEncode(*out), in) << "accepted a non-canonical encoding";
  }
  // Every 1- and 2-byte string has a 2- and 3-character encoding: 256 + 65536,
  // plus the empty string.
  EXPECT_EQ(accepted, 1u + 256u + 65536u);
}

class Base64DecodeLenientTest : public ::testing::Test {};

TEST_F(Base64DecodeLenientTest, AcceptsPaddingAndWhitespace) {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"", ""},
      {"Zm9vYmFy", "foobar"},
      {"Zm9vYg==", "foob"},
      {"Zm9vYg", "foob"},
      {"Zm9vYmE=", "fooba"},
      {"Zm9v\nYmFy\r\n", "foobar"},
      {" Zm9v\tYmFy ", "foobar"},
      {"Zm9vYg= =", "foob"},
      {"+/+/", "\xfb\xff\xbf"},
  };
  for (const auto& [in, bytes] : cases) {
    SCOPED_TRACE(in);
    EXPECT_EQ(Base64DecodeLenient(in), std::optional<std::string>(bytes));
  }
}

TEST_F(Base64DecodeLenientTest, RejectsBadCharactersAndDataAfterPadding) {
  const std::vector<std::string> cases = {
      "Zm9v-_",    // URL-safe alphabet is not standard base64
      "Zm9v.",     //
      "Zg==Zg",    // data after padding
      "Zg=\nZm8",  // data after padding, across a line
      "Zm9v\v",    // vertical tab is not skipped
      "Zm9v\xc3\xa9",
  };
  for (const std::string& in : cases) {
    SCOPED_TRACE(in);
    EXPECT_EQ(Base64DecodeLenient(in), std::nullopt);
  }
}

TEST_F(Base64DecodeLenientTest, DecodesWhatTheUrlEncoderProducesAfterTranslation) {
  std::mt19937 rng(testing_support::TestSeed(2));
  std::uniform_int_distribution<int> byte(0, 255);
  for (size_t len = 0; len <= 100; ++len) {
    std::string bytes(len, '\0');
    for (char& c : bytes) c = static_cast<char>(byte(rng));
    std::string std_alphabet = Base64UrlEncode(bytes);
    for (char& c : std_alphabet) {
      if (c == '-') c = '+';
      if (c == '_') c = '/';
    }
    while (std_alphabet.size() % 4 != 0) std_alphabet.push_back('=');
    SCOPED_TRACE(std_alphabet);
    EXPECT_EQ(Base64DecodeLenient(std_alphabet), std::optional<std::string>(bytes));
  }
}

}  // namespace
}  // namespace popguard
