// libFuzzer target for the input Ferry parses from Redis: bytes through the
// RESP reader (hiredis's parser behind our object builder), every value
// through the CLUSTER SLOTS parser and the hash-slot function. Built as a
// fuzzer with clang (-fsanitize=fuzzer, target slot_map_fuzz); with other
// compilers slot_map_fuzz_smoke.cc runs it over generated inputs in
// bus_unit_test.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>

#include "bus/redis/resp.h"
#include "bus/redis/slot_map.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace ferry::redis;
  RespReader reader;
  // Fed in two pieces split where the first byte says, so split points get
  // fuzzed too.
  std::size_t split = size > 0 ? data[0] % (size + 1) : 0;
  reader.Feed(reinterpret_cast<const char*>(data), split);
  reader.Feed(reinterpret_cast<const char*>(data) + split, size - split);
  RespValue value;
  while (reader.Next(&value) == RespReader::Result::value) {
    if (auto map = ParseClusterSlots(value, "h")) {
      for (int slot = 0; slot < kSlots; slot += 97) {
        const std::string& master = map->MasterOf(slot);
        std::int16_t owner = map->owner[static_cast<std::size_t>(slot)];
        if ((owner < 0) != master.empty()) std::abort();
        if (owner >= static_cast<std::int16_t>(map->masters.size())) std::abort();
      }
    }
  }
  int slot = KeySlot(std::string_view(reinterpret_cast<const char*>(data), size));
  if (slot < 0 || slot >= kSlots) std::abort();
  return 0;
}
