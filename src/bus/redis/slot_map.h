// The Redis Cluster key space: CRC16 hash slots and the map from slot to the
// master that owns it, parsed from a CLUSTER SLOTS reply. Pure functions and
// plain data; any thread.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "bus/redis/resp.h"

namespace ferry::redis {

inline constexpr int kSlots = 16384;

// CRC16/XMODEM (poly 0x1021, init 0), the checksum Redis Cluster uses.
std::uint16_t Crc16(std::string_view data);

// The hash slot of a key or shard channel: CRC16 mod 16384 of the whole key,
// or, if the key holds a "{...}" with at least one character inside, of the
// part inside the first such braces ("{user1000}.following" hashes
// "user1000").
int KeySlot(std::string_view key);

// Which master ("host:port") serves each slot.
struct SlotMap {
  std::vector<std::string> masters;  // one per shard; index = shard
  std::vector<std::string> nodes;    // every address listed, masters first
  std::vector<std::int16_t> owner = std::vector<std::int16_t>(kSlots, -1);  // shard or -1

  // Every slot has a master.
  bool Complete() const;
  // The owner of `slot`, or "" if none.
  const std::string& MasterOf(int slot) const;
  bool operator==(const SlotMap&) const = default;
};

// Parses a CLUSTER SLOTS reply: [[start, end, [host, port, id, ...],
// replicas...], ...]. `asked_host` replaces an empty host (Redis's "the
// host you asked"). Returns nullopt for anything malformed (wrong types,
// ranges outside 0..16383 or reversed, no master, bad port); the map may
// still be incomplete (uncovered slots) — check Complete().
std::optional<SlotMap> ParseClusterSlots(const RespValue& reply, std::string_view asked_host);

// "host:port" split; false for a missing or bad port.
bool SplitAddress(std::string_view address, std::string* host, std::uint16_t* port);

}  // namespace ferry::redis
