// Runs the stored-value fuzz target (record_codec_fuzz.cc) over mutations
// of valid values in both the JSON and the legacy line forms, where no
// fuzzer is built: a crash, a sanitizer report or a broken round trip fails
// the test.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "fuzz_smoke.h"
#include "store/record_codec.h"

namespace ferry::record_codec {
namespace {

TEST(RecordCodecFuzzSmoke, MutatedValuesNeverCrash) {
  std::vector<std::string> seeds = {
      EncodeChatEvent(ChatEvent{"c1", "membersAdded", {"bob", "carol"}, "alice", 1234}),
      EncodeAttachments({{"a1", "text/plain; charset=\"utf-8\"", 7, std::string(64, 'a')},
                         {"a2", "image/png", 0, ""}}),
      "c1\nmembersAdded\nalice\n1234\nbob\ncarol",
      "a1 7 " + std::string(64, 'a') + " text/plain; q=1\na2 0 - image/png\na3 5 old/format",
  };
  fuzz_smoke::RunMutations(seeds, "{}[]\":,\\ \n0123456789-abcdef\xc3\xa9");
  SUCCEED();
}

}  // namespace
}  // namespace ferry::record_codec
