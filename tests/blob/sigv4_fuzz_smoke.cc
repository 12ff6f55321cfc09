// Runs the SigV4 verifier's fuzz target (sigv4_fuzz.cc) over its seed
// corpus, the URLs of its signed requests as Presign makes them now, and
// mutations of both, where no fuzzer is built: a crash, a sanitizer report,
// an accepted URL that was never signed or a broken time window fails the
// test.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "fuzz/corpus_seeds.h"
#include "fuzz_smoke.h"
#include "sigv4_fuzz.h"

namespace ferry::sigv4::fuzz {
namespace {

// "METHOD\nHOST\nTARGET" for each signed request: each verifies.
std::vector<std::string> FreshSeeds() {
  std::vector<std::string> seeds;
  for (const PresignRequest& req : SignedRequests()) {
    std::string url = Presign(Creds(), req);
    std::string target = url.substr(url.find('/', url.find("://") + 3));
    EXPECT_EQ(Verify(Creds(), req.method, req.host, target, kNowMs, nullptr), VerifyResult::ok)
        << url;
    seeds.push_back(req.method + "\n" + req.host + "\n" + target);
  }
  return seeds;
}

TEST(SigV4FuzzSmoke, CorpusIsSignedByTheFuzzKey) {
  // The committed seeds must still verify, or the fuzzer starts far from
  // the accepting paths: regenerate them from FreshSeeds() if this fails.
  int verified = 0;
  for (const std::string& seed : fuzz_smoke::CorpusSeeds("sigv4_fuzz")) {
    std::size_t nl1 = seed.find('\n'), nl2 = seed.find('\n', nl1 + 1);
    if (nl2 == std::string::npos) continue;
    verified += Verify(Creds(), seed.substr(0, nl1), seed.substr(nl1 + 1, nl2 - nl1 - 1),
                       seed.substr(nl2 + 1), kNowMs, nullptr) == VerifyResult::ok;
  }
  EXPECT_GE(verified, static_cast<int>(SignedRequests().size()));
}

TEST(SigV4FuzzSmoke, MutatedUrlsNeverVerifyAsUnsigned) {
  std::vector<std::string> seeds = fuzz_smoke::CorpusSeeds("sigv4_fuzz");
  for (std::string& seed : FreshSeeds()) seeds.push_back(std::move(seed));
  fuzz_smoke::RunMutations(seeds, "%&=?/+ \t\n0123456789abcdefABCDEF-._~XAmz");
  SUCCEED();
}

}  // namespace
}  // namespace ferry::sigv4::fuzz
