// Redis Cluster key slots: which of the 16384 hash slots a key lives in.
//
// The slot of a key is CRC16(key) mod 16384 with the XMODEM variant of CRC16
// (polynomial 0x1021, initial value 0, no reflection, no final xor), as the
// Redis Cluster specification defines it. When the key holds a hash tag, a
// "{...}" with at least one byte inside, only the bytes between the first '{'
// and the first '}' after it are hashed, so "{user1000}.following" and
// "{user1000}.followers" share a slot.
#ifndef POPGUARD_STORAGE_REDIS_KEY_SLOT_H_
#define POPGUARD_STORAGE_REDIS_KEY_SLOT_H_

#include <cstdint>
#include <string>
#include <string_view>

namespace popguard {

inline constexpr int kRedisClusterSlots = 16384;

// Crc16Xmodem returns the CRC16/XMODEM of `data` ("123456789" -> 0x31C3).
uint16_t Crc16Xmodem(std::string_view data);

// RedisHashTag returns the part of `key` that is hashed: the hash tag when
// there is a non-empty one, else the whole key.
std::string_view RedisHashTag(std::string_view key);

// RedisKeySlot returns the cluster slot of `key`, in [0, 16384).
int RedisKeySlot(std::string_view key);

// SlotTag returns a hash tag "{n}" (n the smallest such number) that steers a
// key holding it (as its first tag) to `slot`, or "" for a slot out of range.
// The table behind it (16384 entries, ~1 ms to build) is built by the first
// call: make it outside latency-critical threads.
std::string SlotTag(int slot);

}  // namespace popguard

#endif  // POPGUARD_STORAGE_REDIS_KEY_SLOT_H_
