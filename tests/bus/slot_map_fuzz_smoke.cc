// Runs the fuzz target (slot_map_fuzz.cc) over mutations of a valid
// CLUSTER SLOTS reply, where no fuzzer is built: a crash or sanitizer
// report fails the test.
#include <gtest/gtest.h>

#include <string>

#include "fuzz_smoke.h"

namespace {

TEST(SlotMapFuzzSmoke, MutatedRepliesNeverCrash) {
  const std::string seed =
      "*2\r\n*4\r\n:0\r\n:8191\r\n*4\r\n$9\r\n127.0.0.1\r\n:7000\r\n$2\r\nid\r\n*0\r\n"
      "*3\r\n$9\r\n127.0.0.1\r\n:7003\r\n$2\r\nid\r\n"
      "*3\r\n:8192\r\n:16383\r\n*3\r\n$0\r\n\r\n:7001\r\n$2\r\nid\r\n";
  ferry::fuzz_smoke::RunMutations({seed}, "*:$+-\r\n0123456789{}");
  SUCCEED();
}

}  // namespace
