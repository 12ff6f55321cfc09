#include "bus/redis/slot_map.h"

#include <algorithm>
#include <array>
#include <charconv>

namespace ferry::redis {
namespace {

constexpr std::array<std::uint16_t, 256> MakeCrcTable() {
  std::array<std::uint16_t, 256> table{};
  for (int i = 0; i < 256; ++i) {
    std::uint16_t crc = static_cast<std::uint16_t>(i << 8);
    for (int bit = 0; bit < 8; ++bit) {
      crc = static_cast<std::uint16_t>((crc & 0x8000) ? (crc << 1) ^ 0x1021 : crc << 1);
    }
    table[static_cast<std::size_t>(i)] = crc;
  }
  return table;
}

constexpr std::array<std::uint16_t, 256> kCrcTable = MakeCrcTable();

// One node of a slot range: [host, port, id?, ...].
std::optional<std::string> ParseNode(const RespValue& node, std::string_view asked_host) {
  if (!node.is_array() || node.array.size() < 2) return std::nullopt;
  const RespValue& host = node.array[0];
  const RespValue& port = node.array[1];
  if (host.type != RespValue::Type::string || port.type != RespValue::Type::integer) {
    return std::nullopt;
  }
  if (port.integer <= 0 || port.integer > 65535) return std::nullopt;
  // "?" is Redis's "unknown endpoint"; an empty host means the one asked.
  if (host.str == "?") return std::nullopt;
  std::string address = host.str.empty() ? std::string(asked_host) : host.str;
  if (address.empty()) return std::nullopt;
  address += ':';
  address += std::to_string(port.integer);
  return address;
}

int IndexOf(std::vector<std::string>& list, const std::string& address) {
  auto it = std::find(list.begin(), list.end(), address);
  if (it != list.end()) return static_cast<int>(it - list.begin());
  list.push_back(address);
  return static_cast<int>(list.size() - 1);
}

}  // namespace

std::uint16_t Crc16(std::string_view data) {
  std::uint16_t crc = 0;
  for (unsigned char c : data) {
    crc = static_cast<std::uint16_t>((crc << 8) ^ kCrcTable[((crc >> 8) ^ c) & 0xff]);
  }
  return crc;
}

int KeySlot(std::string_view key) {
  std::size_t open = key.find('{');
  if (open != std::string_view::npos) {
    std::size_t close = key.find('}', open + 1);
    if (close != std::string_view::npos && close > open + 1) {
      key = key.substr(open + 1, close - open - 1);
    }
  }
  return Crc16(key) & (kSlots - 1);
}

bool SlotMap::Complete() const {
  return std::none_of(owner.begin(), owner.end(), [](std::int16_t s) { return s < 0; });
}

const std::string& SlotMap::MasterOf(int slot) const {
  static const std::string kNone;
  if (slot < 0 || slot >= kSlots) return kNone;
  std::int16_t shard = owner[static_cast<std::size_t>(slot)];
  return shard < 0 ? kNone : masters[static_cast<std::size_t>(shard)];
}

std::optional<SlotMap> ParseClusterSlots(const RespValue& reply, std::string_view asked_host) {
  if (!reply.is_array()) return std::nullopt;
  SlotMap map;
  std::vector<std::string> replicas;
  for (const RespValue& range : reply.array) {
    if (!range.is_array() || range.array.size() < 3) return std::nullopt;
    const RespValue& start = range.array[0];
    const RespValue& end = range.array[1];
    if (start.type != RespValue::Type::integer || end.type != RespValue::Type::integer) {
      return std::nullopt;
    }
    if (start.integer < 0 || end.integer >= kSlots || start.integer > end.integer) {
      return std::nullopt;
    }
    std::optional<std::string> master = ParseNode(range.array[2], asked_host);
    if (!master) return std::nullopt;
    if (map.masters.size() >= 0x7fff) return std::nullopt;  // shard ids are int16
    int shard = IndexOf(map.masters, *master);
    std::fill(map.owner.begin() + start.integer, map.owner.begin() + end.integer + 1,
              static_cast<std::int16_t>(shard));
    for (std::size_t i = 3; i < range.array.size(); ++i) {
      // A replica without a usable endpoint is skipped, not an error.
      if (auto replica = ParseNode(range.array[i], asked_host)) IndexOf(replicas, *replica);
    }
  }
  map.nodes = map.masters;
  for (const std::string& r : replicas) IndexOf(map.nodes, r);
  return map;
}

bool SplitAddress(std::string_view address, std::string* host, std::uint16_t* port) {
  std::size_t colon = address.rfind(':');
  if (colon == std::string_view::npos || colon == 0) return false;
  std::string_view digits = address.substr(colon + 1);
  unsigned value = 0;
  auto [ptr, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), value);
  if (ec != std::errc() || ptr != digits.data() + digits.size() || value == 0 || value > 65535) {
    return false;
  }
  host->assign(address.substr(0, colon));
  *port = static_cast<std::uint16_t>(value);
  return true;
}

}  // namespace ferry::redis
