// Runs the WebSocket frame layer's fuzz target (websocket_fuzz.cc) over its
// seed corpus (client frames: masked text, fragmented, control frames,
// oversized) and mutations of it, where no fuzzer is built: a crash, a
// sanitizer report, a message over the limit or an operation left waiting
// fails the test.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "fuzz/corpus_seeds.h"
#include "fuzz_smoke.h"

namespace {

TEST(WebSocketFuzzSmoke, MutatedFramesNeverCrash) {
  std::vector<std::string> seeds = ferry::fuzz_smoke::CorpusSeeds("websocket_fuzz");
  ASSERT_FALSE(seeds.empty());
  // Fewer rounds than the default: each runs an io_context and a handshake
  // (about 1 ms under ASan).
  const std::string alphabet("\x81\x01\x00\x80\x88\x89\x8a\x09\x7e\x7f\xfe\xff{}\"a\xc3\xa9", 18);
  ferry::fuzz_smoke::RunMutations(seeds, alphabet, 5000);
  SUCCEED();
}

}  // namespace
