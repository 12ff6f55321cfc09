// Runs the fuzz target (slot_map_fuzz.cc) over mutations of a valid
// CLUSTER SLOTS reply, where no fuzzer is built: a crash or sanitizer
// report fails the test.
#include <gtest/gtest.h>

#include <cstdint>
#include <random>
#include <string>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size);

namespace {

TEST(SlotMapFuzzSmoke, MutatedRepliesNeverCrash) {
  const std::string seed =
      "*2\r\n*4\r\n:0\r\n:8191\r\n*4\r\n$9\r\n127.0.0.1\r\n:7000\r\n$2\r\nid\r\n*0\r\n"
      "*3\r\n$9\r\n127.0.0.1\r\n:7003\r\n$2\r\nid\r\n"
      "*3\r\n:8192\r\n:16383\r\n*3\r\n$0\r\n\r\n:7001\r\n$2\r\nid\r\n";
  const std::string alphabet = "*:$+-\r\n0123456789{}";
  std::mt19937 rng(12345);
  for (int round = 0; round < 20000; ++round) {
    std::string input = seed;
    int edits = 1 + static_cast<int>(rng() % 8);
    for (int e = 0; e < edits; ++e) {
      std::size_t at = rng() % (input.size() + 1);
      switch (rng() % 4) {
        case 0:
          if (at < input.size()) input[at] = alphabet[rng() % alphabet.size()];
          break;
        case 1:
          input.insert(at, 1, alphabet[rng() % alphabet.size()]);
          break;
        case 2:
          if (at < input.size()) input.erase(at, 1 + rng() % 4);
          break;
        case 3:
          input.resize(at);
          break;
      }
    }
    LLVMFuzzerTestOneInput(reinterpret_cast<const std::uint8_t*>(input.data()), input.size());
  }
  SUCCEED();
}

}  // namespace
