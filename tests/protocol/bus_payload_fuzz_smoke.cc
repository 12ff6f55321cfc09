// Runs the bus payload fuzz target (bus_payload_fuzz.cc) over mutations of
// valid payloads of each kind, where no fuzzer is built: a crash, a
// sanitizer report or a broken round trip fails the test.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "fuzz_smoke.h"
#include "protocol/protocol.h"

namespace ferry::protocol {
namespace {

TEST(BusPayloadFuzzSmoke, MutatedPayloadsNeverCrash) {
  BusEntries big{{"message", R"("chatId":"c1","body":"h\u00e9 \"x\"","n":[1,{"a":null}]})",
                  {{"a1", "text/plain; charset=\"utf-8\"", 7, std::string(64, 'a')}}},
                 {{"clientA", 5}, {"clientB", 9}},
                 "c1",
                 true};
  BusEntries small{{"chat", R"("event":"created","members":["a","b"]})", {}}, {{"c", 1}}};
  std::vector<std::string> seeds = {EncodeBus(big), EncodeBus(small),
                                    EncodeBus(BusKick{"c1", "conn9"}), EncodeBus(BusRevoke{"c2"}),
                                    R"({"kind":"revoke","clientId":"c","x":[{"y":[]}]})"};
  fuzz_smoke::RunMutations(seeds, "{}[]\":,\\ 0123456789-.eEtrufalsn\xc3\xa9");
  SUCCEED();
}

}  // namespace
}  // namespace ferry::protocol
