// Runs the HTTP request reading fuzz target (http_fuzz.cc) over its seed
// corpus (requests of the JSON API, an upgrade, chunked and pipelined ones)
// and mutations of it, where no fuzzer is built: a crash, a sanitizer
// report, a limit not kept or a read left waiting fails the test.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "fuzz/corpus_seeds.h"
#include "fuzz_smoke.h"

namespace {

TEST(HttpFuzzSmoke, MutatedRequestsNeverCrash) {
  std::vector<std::string> seeds = ferry::fuzz_smoke::CorpusSeeds("http_fuzz");
  ASSERT_FALSE(seeds.empty());
  ferry::fuzz_smoke::RunMutations(seeds, "\r\n :/?#%&=;,0123456789abcdefGETPOST{}\"\t\x7f\x80");
  SUCCEED();
}

}  // namespace
