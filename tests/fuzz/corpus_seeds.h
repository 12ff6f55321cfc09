// Reads a fuzzer's committed seed corpus (tests/fuzz/corpus/NAME/, one
// input a file) for the replays of fuzz bodies in the normal test run
// (fuzz_smoke.h), so a crash the fuzzer found, added there, is replayed by
// every test run. FERRY_FUZZ_CORPUS is that directory, set by CMake.
#pragma once

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <string_view>
#include <vector>

namespace ferry::fuzz_smoke {

// Returns the seeds of fuzzer `name`, in file name order (empty if none).
inline std::vector<std::string> CorpusSeeds(std::string_view name) {
  std::filesystem::path dir = std::filesystem::path(FERRY_FUZZ_CORPUS) / name;
  std::vector<std::filesystem::path> files;
  if (std::filesystem::is_directory(dir)) {
    for (const auto& entry : std::filesystem::directory_iterator(dir)) {
      if (entry.is_regular_file()) files.push_back(entry.path());
    }
  }
  std::sort(files.begin(), files.end());
  std::vector<std::string> seeds;
  for (const auto& file : files) {
    std::ifstream in(file, std::ios::binary);
    seeds.emplace_back(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  }
  return seeds;
}

}  // namespace ferry::fuzz_smoke
