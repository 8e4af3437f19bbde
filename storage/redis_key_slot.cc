#include "storage/redis_key_slot.h"

#include <array>
#include <vector>

#include "absl/strings/str_cat.h"

namespace popguard {
namespace {

// The CRC16/XMODEM table: entry b is the CRC of the single byte b.
constexpr std::array<uint16_t, 256> MakeTable() {
  std::array<uint16_t, 256> table{};
  for (int b = 0; b < 256; ++b) {
    uint16_t crc = static_cast<uint16_t>(b << 8);
    for (int bit = 0; bit < 8; ++bit) {
      crc = (crc & 0x8000) != 0 ? static_cast<uint16_t>((crc << 1) ^ 0x1021)
                                : static_cast<uint16_t>(crc << 1);
    }
    table[b] = crc;
  }
  return table;
}

constexpr std::array<uint16_t, 256> kTable = MakeTable();

}  // namespace

uint16_t Crc16Xmodem(std::string_view data) {
  uint16_t crc = 0;
  for (unsigned char c : data) {
    crc = static_cast<uint16_t>((crc << 8) ^ kTable[((crc >> 8) ^ c) & 0xff]);
  }
  return crc;
}

std::string_view RedisHashTag(std::string_view key) {
  const size_t open = key.find('{');
  if (open == std::string_view::npos) return key;
  const size_t close = key.find('}', open + 1);
  // "{}" (nothing inside) and an unclosed '{' hash the whole key.
  if (close == std::string_view::npos || close == open + 1) return key;
  return key.substr(open + 1, close - open - 1);
}

int RedisKeySlot(std::string_view key) {
  return Crc16Xmodem(RedisHashTag(key)) & (kRedisClusterSlots - 1);
}

std::string SlotTag(int slot) {
  static const std::vector<int>* const tags = [] {
    auto* t = new std::vector<int>(kRedisClusterSlots, -1);
    int left = kRedisClusterSlots;
    for (int n = 0; left > 0 && n < (1 << 22); ++n) {
      int& tag = (*t)[Crc16Xmodem(std::to_string(n)) % kRedisClusterSlots];
      if (tag < 0) {
        tag = n;
        --left;
      }
    }
    return t;
  }();
  if (slot < 0 || slot >= kRedisClusterSlots || (*tags)[slot] < 0) return "";
  return absl::StrCat("{", (*tags)[slot], "}");
}

}  // namespace popguard
