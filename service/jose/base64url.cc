#include "service/jose/base64url.h"

#include <array>
#include <cstdint>

namespace popguard {
namespace {

constexpr char kUrlAlphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

// Maps a byte to its 6-bit value, or 0xff when it is not in the alphabet.
constexpr std::array<uint8_t, 256> MakeDecodeTable(bool url) {
  std::array<uint8_t, 256> t{};
  for (auto& v : t) v = 0xff;
  for (int i = 0; i < 26; ++i) {
    t['A' + i] = static_cast<uint8_t>(i);
    t['a' + i] = static_cast<uint8_t>(26 + i);
  }
  for (int i = 0; i < 10; ++i) t['0' + i] = static_cast<uint8_t>(52 + i);
  if (url) {
    t['-'] = 62;
    t['_'] = 63;
  } else {
    t['+'] = 62;
    t['/'] = 63;
  }
  return t;
}

constexpr auto kUrlDecode = MakeDecodeTable(true);
constexpr auto kStdDecode = MakeDecodeTable(false);

}  // namespace

std::string Base64UrlEncode(std::string_view data) {
  std::string out;
  out.reserve((data.size() * 4 + 2) / 3);
  const auto* p = reinterpret_cast<const uint8_t*>(data.data());
  size_t i = 0;
  for (; i + 3 <= data.size(); i += 3) {
    uint32_t v = (p[i] << 16) | (p[i + 1] << 8) | p[i + 2];
    out.push_back(kUrlAlphabet[(v >> 18) & 63]);
    out.push_back(kUrlAlphabet[(v >> 12) & 63]);
    out.push_back(kUrlAlphabet[(v >> 6) & 63]);
    out.push_back(kUrlAlphabet[v & 63]);
  }
  size_t rest = data.size() - i;
  if (rest == 1) {
    uint32_t v = p[i] << 16;
    out.push_back(kUrlAlphabet[(v >> 18) & 63]);
    out.push_back(kUrlAlphabet[(v >> 12) & 63]);
  } else if (rest == 2) {
    uint32_t v = (p[i] << 16) | (p[i + 1] << 8);
    out.push_back(kUrlAlphabet[(v >> 18) & 63]);
    out.push_back(kUrlAlphabet[(v >> 12) & 63]);
    out.push_back(kUrlAlphabet[(v >> 6) & 63]);
  }
  return out;
}

bool Base64UrlDecode(std::string_view in, std::string* out) {
  out->clear();
  // A remainder of 1 character cannot encode a whole byte.
  if (in.size() % 4 == 1) return false;
  const size_t rest = in.size() % 4;
  // Sized once and written through a pointer: no per-byte capacity checks.
  out->resize(in.size() / 4 * 3 + (rest == 0 ? 0 : rest - 1));
  char* o = out->data();
  const auto* p = reinterpret_cast<const uint8_t*>(in.data());
  size_t i = 0;
  for (; i + 4 <= in.size(); i += 4, o += 3) {
    uint8_t a = kUrlDecode[p[i]], b = kUrlDecode[p[i + 1]], c = kUrlDecode[p[i + 2]],
            d = kUrlDecode[p[i + 3]];
    if ((a | b | c | d) & 0x80) return false;
    uint32_t v = (a << 18) | (b << 12) | (c << 6) | d;
    o[0] = static_cast<char>(v >> 16);
    o[1] = static_cast<char>(v >> 8);
    o[2] = static_cast<char>(v);
  }
  if (rest == 2) {
    uint8_t a = kUrlDecode[p[i]], b = kUrlDecode[p[i + 1]];
    if ((a | b) & 0x80) return false;
    if (b & 0x0f) return false;  // non-canonical trailing bits
    o[0] = static_cast<char>((a << 2) | (b >> 4));
  } else if (rest == 3) {
    uint8_t a = kUrlDecode[p[i]], b = kUrlDecode[p[i + 1]], c = kUrlDecode[p[i + 2]];
    if ((a | b | c) & 0x80) return false;
    if (c & 0x03) return false;  // non-canonical trailing bits
    uint32_t v = (a << 18) | (b << 12) | (c << 6);
    o[0] = static_cast<char>(v >> 16);
    o[1] = static_cast<char>(v >> 8);
  }
  return true;
}

std::optional<std::string> Base64UrlDecode(std::string_view in) {
  std::string out;
  if (!Base64UrlDecode(in, &out)) return std::nullopt;
  return out;
}

std::optional<std::string> Base64DecodeLenient(std::string_view in) {
  std::string out;
  uint32_t acc = 0;
  int bits = 0;
  bool padding = false;
  for (unsigned char ch : in) {
    if (ch == ' ' || ch == '\n' || ch == '\r' || ch == '\t') continue;
    if (ch == '=') {
      padding = true;
      continue;
    }
    if (padding) return std::nullopt;  // data after padding
    uint8_t v = kStdDecode[ch];
    if (v & 0x80) return std::nullopt;
    acc = (acc << 6) | v;
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out.push_back(static_cast<char>((acc >> bits) & 0xff));
    }
  }
  return out;
}

}  // namespace popguard
