// Runs the request decoder's fuzz target (request_fuzz.cc) over its seed
// corpus and mutations of it, where no fuzzer is built: a crash, a
// sanitizer report or a broken invariant fails the test.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "fuzz/corpus_seeds.h"
#include "fuzz_smoke.h"

namespace ferry::protocol {
namespace {

TEST(RequestFuzzSmoke, MutatedFramesNeverCrash) {
  std::vector<std::string> seeds = fuzz_smoke::CorpusSeeds("request_fuzz");
  ASSERT_FALSE(seeds.empty());
  fuzz_smoke::RunMutations(seeds, "{}[]\":,\\ 0123456789-.eEtrufalsn\xc3\xa9");
  SUCCEED();
}

}  // namespace
}  // namespace ferry::protocol
