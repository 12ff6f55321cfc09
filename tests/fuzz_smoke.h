// Runs a libFuzzer target's body (its LLVMFuzzerTestOneInput, linked into
// the test binary) in the normal test run, where no fuzzer is built: over
// each seed as it is, then over random mutations of the seeds (characters
// replaced or inserted from `alphabet`, runs erased, the input cut short).
// A crash, an abort or a sanitizer report fails the test. Deterministic: the
// random sequence has a fixed seed, so a failure reproduces.
#pragma once

#include <cstddef>
#include <cstdint>
#include <random>
#include <string>
#include <string_view>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size);

namespace ferry::fuzz_smoke {

inline void Feed(const std::string& input) {
  LLVMFuzzerTestOneInput(reinterpret_cast<const std::uint8_t*>(input.data()), input.size());
}

inline void RunMutations(const std::vector<std::string>& seeds, std::string_view alphabet,
                         int rounds = 20000) {
  for (const std::string& seed : seeds) Feed(seed);
  std::mt19937 rng(12345);
  for (int round = 0; round < rounds; ++round) {
    std::string input = seeds[rng() % seeds.size()];
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
    Feed(input);
  }
}

}  // namespace ferry::fuzz_smoke
