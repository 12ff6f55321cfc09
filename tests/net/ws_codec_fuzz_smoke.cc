// Runs ws_codec's differential fuzz target (ws_codec_fuzz.cc: our frame
// reader against beast's on the same client bytes) where no fuzzer is
// built: over its seed corpus, over mutations of it, and over inputs longer
// than the fuzzer makes (a 64-bit length, a message at the 1 MiB limit, a
// flood of empty fragments). A difference the fuzz body cannot explain, a
// crash or a sanitizer report fails the test.
#include <gtest/gtest.h>

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "fuzz/corpus_seeds.h"
#include "fuzz_smoke.h"

namespace ferry::ws_codec_fuzz {
// Defined in ws_codec_fuzz.cc: how many inputs so far (in this process)
// showed the tolerated difference `rule`.
std::size_t ToleratedCount(std::string_view rule);
}  // namespace ferry::ws_codec_fuzz

namespace {

using ferry::ws_codec_fuzz::ToleratedCount;

// A masked client frame, with the 7-, 16- or 64-bit length its size needs.
std::string Frame(int opcode, std::string_view payload, bool fin = true) {
  static constexpr unsigned char kKey[4] = {0x37, 0xfa, 0x21, 0x3d};
  std::string frame(1, static_cast<char>((fin ? 0x80 : 0) | opcode));
  const std::uint64_t n = payload.size();
  if (n < 126) {
    frame += static_cast<char>(0x80 | n);
  } else if (n <= 0xFFFF) {
    frame += static_cast<char>(0x80 | 126);
    for (int shift = 8; shift >= 0; shift -= 8) frame += static_cast<char>(n >> shift);
  } else {
    frame += static_cast<char>(0x80 | 127);
    for (int shift = 56; shift >= 0; shift -= 8) frame += static_cast<char>(n >> shift);
  }
  frame.append(reinterpret_cast<const char*>(kKey), 4);
  for (std::size_t i = 0; i < payload.size(); ++i) {
    frame += static_cast<char>(payload[i] ^ static_cast<char>(kKey[i & 3]));
  }
  return frame;
}

// Byte 0 of an input: reads of `read_size` (0: one read), the small limit or ferryd's.
std::string Input(std::size_t read_size, bool small_limit, std::string_view frames) {
  return std::string(1, static_cast<char>(read_size << 1 | (small_limit ? 1 : 0))) +
         std::string(frames);
}

TEST(WsCodecFuzzSmoke, SeedsAgreeWithBeast) {
  std::vector<std::string> seeds = ferry::fuzz_smoke::CorpusSeeds("ws_codec_fuzz");
  ASSERT_GE(seeds.size(), 24u);
  for (const std::string& seed : seeds) ferry::fuzz_smoke::Feed(seed);
  // Every difference the fuzz body tolerates is shown by a seed (named for
  // it), but the wire budget's, which takes an input longer than a seed
  // should be (FragmentFloodMeetsTheWireBudget).
  for (std::string_view rule :
       {"binary_at_header", "early_header", "early_utf8", "close_reason_utf8",
        "close_code_over_4999", "length_top_bit", "beast_unchecked_utf8"}) {
    EXPECT_GT(ToleratedCount(rule), 0u) << rule;
  }
}

TEST(WsCodecFuzzSmoke, MutatedFramesAgreeWithBeast) {
  std::vector<std::string> seeds = ferry::fuzz_smoke::CorpusSeeds("ws_codec_fuzz");
  ASSERT_FALSE(seeds.empty());
  // Frame heads (text, continuation, close, ping, pong, binary; FIN and
  // mask bits; 16- and 64-bit lengths), reserved bits, UTF-8 lead and
  // continuation bytes, overlong and surrogate starts.
  const std::string alphabet(
      "\x81\x01\x00\x80\x88\x89\x8a\x82\x02\x09\x7e\x7f\xfe\xff\x40\x10"
      "a{\xc3\xa9\xe2\x82\xac\xf0\x9f\xed\xa0\xc0\xf4\x90\x03\xe8",
      33);
  // Fewer rounds than the default: each runs beast (an io_context and a
  // handshake) and our reader twice.
  ferry::fuzz_smoke::RunMutations(seeds, alphabet, 5000);
  SUCCEED();
}

TEST(WsCodecFuzzSmoke, LongMessagesAgreeWithBeast) {
  const std::size_t kLimit = 1024 * 1024;  // Config::max_frame_bytes
  std::string text(65536, 'x');
  text.replace(65530, 2, "\xc3\xa9");
  for (std::size_t read_size : {0u, 127u, 5u}) {
    // A 64-bit length, whole and in a message's fragments, with pings between.
    ferry::fuzz_smoke::Feed(Input(read_size, false, Frame(1, text)));
    ferry::fuzz_smoke::Feed(Input(
        read_size, false,
        Frame(1, text.substr(0, 65531), false) + Frame(9, "p") + Frame(0, text.substr(65531))));
    // A 64-bit length cut between the halves of a character (beast fails
    // it at the cut, ours when the frame is whole).
    ferry::fuzz_smoke::Feed(Input(read_size, false, Frame(1, text).substr(0, 65531 + 14)));
  }
  // At the limit, and one byte over it (in one frame, and over fragments).
  std::string big(kLimit, 'y');
  ferry::fuzz_smoke::Feed(Input(0, false, Frame(1, big)));
  ferry::fuzz_smoke::Feed(Input(127, false, Frame(1, big + "z")));
  ferry::fuzz_smoke::Feed(Input(0, false, Frame(1, big, false) + Frame(0, "z")));
  SUCCEED();
}

TEST(WsCodecFuzzSmoke, FragmentFloodMeetsTheWireBudget) {
  // Empty fragments cost six bytes each on the wire and nothing in the
  // message: past 2 x 100 + 64 KiB of them our reader closes with 1008,
  // beast keeps reading (the difference the fuzz body names wire_budget).
  std::string flood = Frame(1, "a", false);
  while (flood.size() <= 2 * 100 + 64 * 1024) flood += Frame(0, "", false);
  flood += Frame(0, "b");
  ferry::fuzz_smoke::Feed(Input(0, true, flood));
  ferry::fuzz_smoke::Feed(Input(100, true, flood));
  EXPECT_EQ(ToleratedCount("wire_budget"), 2u);
  // With ferryd's limit the same flood is within budget: both read it whole.
  ferry::fuzz_smoke::Feed(Input(0, false, flood));
  EXPECT_EQ(ToleratedCount("wire_budget"), 2u);
}

}  // namespace
