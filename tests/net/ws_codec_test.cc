// The frame reader and writer of ws_codec.h, byte by byte against RFC 6455.
#include "net/ws_codec.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace ferry::net::ws {
namespace {

// A client frame: `first` is FIN/RSV/opcode, the payload masked with `key`;
// `length_form` 0 picks the shortest length encoding, 2 or 8 forces one.
std::string ClientFrame(std::uint8_t first, std::string_view payload, int length_form = 0,
                        bool masked = true) {
  std::string f(1, static_cast<char>(first));
  const char mask_bit = masked ? '\x80' : '\0';
  std::size_t n = payload.size();
  if (length_form == 0) length_form = n < 126 ? 0 : n <= 0xFFFF ? 2 : 8;
  if (length_form == 0) {
    f += static_cast<char>(mask_bit | static_cast<char>(n));
  } else if (length_form == 2) {
    f += static_cast<char>(mask_bit | 126);
    f += static_cast<char>(n >> 8);
    f += static_cast<char>(n & 0xFF);
  } else {
    f += static_cast<char>(mask_bit | 127);
    for (int i = 7; i >= 0; --i)
      f += static_cast<char>((static_cast<std::uint64_t>(n) >> (8 * i)) & 0xFF);
  }
  const char key[4] = {'\x37', '\xfa', '\x21', '\x3d'};
  if (masked) f.append(key, 4);
  for (std::size_t i = 0; i < n; ++i)
    f += masked ? static_cast<char>(payload[i] ^ key[i % 4]) : payload[i];
  return f;
}
std::string Text(std::string_view payload) { return ClientFrame(0x81, payload); }

// What the reader made of the bytes: "message:...", "ping:...", "pong:...",
// "close:CODE:reason", "error:CODE".
struct ReadResult {
  std::vector<std::string> events;
  bool open = false;  // MessageOpen() after the last feed
};

std::string Describe(const Event& e) {
  switch (e.kind) {
    case Event::Kind::message:
      return "message:" + std::string(e.payload);
    case Event::Kind::ping:
      return "ping:" + std::string(e.payload);
    case Event::Kind::pong:
      return "pong:" + std::string(e.payload);
    case Event::Kind::close:
      return "close:" + std::to_string(e.code) + ":" + std::string(e.payload);
    case Event::Kind::error:
      return "error:" + std::to_string(e.code);
  }
  return "?";
}

// Feeds `bytes` in pieces of `chunk` bytes (0: all at once), each from a
// buffer of its own that is overwritten once kept, as a socket's would be.
ReadResult Read(const std::string& bytes, std::size_t chunk = 0,
                std::size_t max_message = 1 << 20) {
  FrameReader reader(max_message);
  ReadResult run;
  if (chunk == 0) chunk = bytes.size() ? bytes.size() : 1;
  for (std::size_t at = 0; at < bytes.size(); at += chunk) {
    std::string piece = bytes.substr(at, chunk);
    reader.Feed(piece.data(), piece.size());
    while (std::optional<Event> e = reader.Next()) run.events.push_back(Describe(*e));
    run.open = reader.MessageOpen();
    reader.Keep();
    piece.assign(piece.size(), '\xEE');
  }
  return run;
}

using Events = std::vector<std::string>;

TEST(WsFrameReader, WholeAndSplitFramesGiveTheSameMessages) {
  std::string bytes =
      Text("hello") + Text(std::string(300, 'x')) + Text("") + Text(std::string(70000, 'y'));
  Events expected = {"message:hello", "message:" + std::string(300, 'x'),
                     "message:", "message:" + std::string(70000, 'y')};
  for (std::size_t chunk : {0, 1, 2, 3, 7, 13, 256, 4096}) {
    ReadResult run = Read(bytes, chunk);
    EXPECT_EQ(run.events, expected) << "chunk " << chunk;
    EXPECT_FALSE(run.open);
  }
}

TEST(WsFrameReader, FragmentsMakeOneMessageAndControlFramesMayComeBetween) {
  std::string bytes = ClientFrame(0x01, "hel") + ClientFrame(0x89, "p1") + ClientFrame(0x00, "") +
                      ClientFrame(0x8A, "p2") + ClientFrame(0x80, "lo") + Text("next");
  Events expected = {"ping:p1", "pong:p2", "message:hello", "message:next"};
  for (std::size_t chunk : {0, 1, 5}) EXPECT_EQ(Read(bytes, chunk).events, expected) << chunk;
}

TEST(WsFrameReader, AnUnfinishedMessageIsOpen) {
  EXPECT_TRUE(Read(ClientFrame(0x01, "{")).open);      // a first fragment
  EXPECT_TRUE(Read(Text("hello").substr(0, 4)).open);  // part of a frame
  EXPECT_FALSE(Read(Text("hello")).open);
}

TEST(WsFrameReader, ProtocolErrorsClose1002) {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"continuation without a message", ClientFrame(0x80, "x")},
      {"text inside a fragmented message", ClientFrame(0x01, "a") + Text("b")},
      {"RSV1", ClientFrame(0xC1, "x")},
      {"RSV2", ClientFrame(0xA1, "x")},
      {"RSV3", ClientFrame(0x91, "x")},
      {"reserved data opcode", ClientFrame(0x83, "x")},
      {"reserved control opcode", ClientFrame(0x8B, "x")},
      {"opcode 15", ClientFrame(0x8F, "")},
      {"fragmented ping", ClientFrame(0x09, "x")},
      {"control frame of 126 bytes", ClientFrame(0x89, std::string(126, 'p'))},
      {"unmasked", ClientFrame(0x81, "x", 0, false)},
      {"16-bit length under 126", ClientFrame(0x81, "short", 2)},
      {"64-bit length under 65536", ClientFrame(0x81, std::string(200, 'z'), 8)},
      {"close of one byte", ClientFrame(0x88, "\x03")},
  };
  for (const auto& [what, bytes] : cases) {
    EXPECT_EQ(Read(bytes).events, Events{"error:1002"}) << what;
  }
}

TEST(WsFrameReader, CloseCodesAreChecked) {
  auto close = [](std::uint16_t code, std::string_view reason = "") {
    std::string p{static_cast<char>(code >> 8), static_cast<char>(code & 0xFF)};
    return ClientFrame(0x88, p + std::string(reason));
  };
  for (std::uint16_t code :
       {1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 3000, 4000, 4999}) {
    EXPECT_EQ(Read(close(code, "bye")).events, Events{"close:" + std::to_string(code) + ":bye"});
  }
  for (std::uint16_t code : {0, 999, 1004, 1005, 1006, 1014, 1015, 1016, 2999, 5000, 65535}) {
    EXPECT_EQ(Read(close(code)).events, Events{"error:1002"}) << code;
  }
  EXPECT_EQ(Read(ClientFrame(0x88, "")).events, Events{"close:1005:"});
  EXPECT_EQ(Read(close(1000, "\xff")).events, Events{"error:1007"});
  // Nothing is read after a close.
  EXPECT_EQ(Read(close(1000) + Text("late")).events, Events{"close:1000:"});
}

TEST(WsFrameReader, InvalidUtf8Closes1007EvenAcrossFragments) {
  EXPECT_EQ(Read(Text("a\xff")).events, Events{"error:1007"});
  EXPECT_EQ(Read(Text("\xc0\xaf")).events, Events{"error:1007"});          // overlong '/'
  EXPECT_EQ(Read(Text("\xed\xa0\x80")).events, Events{"error:1007"});      // a surrogate
  EXPECT_EQ(Read(Text("\xf4\x90\x80\x80")).events, Events{"error:1007"});  // past U+10FFFF
  EXPECT_EQ(Read(Text("\xe2\x82")).events, Events{"error:1007"});          // cut short
  EXPECT_EQ(Read(ClientFrame(0x01, "ok") + ClientFrame(0x80, "\x80")).events, Events{"error:1007"});
  // A character split between fragments is fine; an error in the first
  // fragment is found before the message ends.
  EXPECT_EQ(Read(ClientFrame(0x01, "\xe2\x82") + ClientFrame(0x80, "\xac")).events,
            Events{"message:\xe2\x82\xac"});
  EXPECT_EQ(Read(ClientFrame(0x01, "\xff")).events, Events{"error:1007"});
  // A sequence cut short is found at the message's end, also when its
  // last fragment is empty (which Beast 1.81 let through).
  EXPECT_EQ(Read(ClientFrame(0x01, "abc\xe2\x82") + ClientFrame(0x80, "")).events,
            Events{"error:1007"});
}

TEST(WsFrameReader, TheMessageLimitIsCheckedOnTheHeader) {
  // Only the header of a frame over the limit is needed to refuse it.
  std::string header = ClientFrame(0x81, std::string(101, 'a')).substr(0, 6);
  EXPECT_EQ(Read(header, 0, 100).events, Events{"error:1009"});
  EXPECT_EQ(Read(Text(std::string(100, 'a')), 0, 100).events,
            Events{"message:" + std::string(100, 'a')});
  // Fragments count together.
  EXPECT_EQ(Read(ClientFrame(0x01, std::string(60, 'a')) + ClientFrame(0x80, std::string(41, 'a')),
                 0, 100)
                .events,
            Events{"error:1009"});
  // A 64-bit length past the limit, and one with the top bit set, which
  // RFC 6455 forbids outright.
  std::string huge = "\x81\xff\x7f";
  huge += std::string(7, '\0') + "abcd";
  EXPECT_EQ(Read(huge).events, Events{"error:1009"});
  huge[2] = '\x80';
  EXPECT_EQ(Read(huge).events, Events{"error:1002"});
}

TEST(WsFrameReader, EmptyFragmentsCannotHoldAMessageOpen) {
  std::string flood = ClientFrame(0x01, "{");
  for (int i = 0; i < 40'000; ++i) flood += ClientFrame(0x00, "");
  // 2 x 100 + 64 KiB of wire for a 100-byte message: 1008 long before the end.
  EXPECT_EQ(Read(flood, 0, 100).events, Events{"error:1008"});
}

TEST(WsFrameReader, BinaryIsRefusedWith1003) {
  EXPECT_EQ(Read(ClientFrame(0x82, "\x01")).events, Events{"error:1003"});
  EXPECT_EQ(Read(Text("a") + ClientFrame(0x02, "\x01")).events,
            (Events{"message:a", "error:1003"}));
}

TEST(WsFrameReader, KeptBytesSurviveTheCallersBuffer) {
  // Stop after the first message, as a paused session does, then go on.
  std::string bytes = Text("one") + Text("two") + Text("thr");
  FrameReader reader(1000);
  std::string buffer = bytes.substr(0, bytes.size() - 2);  // "thr" frame incomplete
  reader.Feed(buffer.data(), buffer.size());
  ASSERT_EQ(Describe(*reader.Next()), "message:one");
  reader.Keep();
  buffer.assign(buffer.size(), '\0');
  std::string rest = bytes.substr(bytes.size() - 2);
  reader.Feed(rest.data(), rest.size());
  EXPECT_EQ(Describe(*reader.Next()), "message:two");
  EXPECT_EQ(Describe(*reader.Next()), "message:thr");
  EXPECT_FALSE(reader.Next());
  reader.Keep();
  EXPECT_EQ(reader.capacity(), 2 * std::string().capacity()) << "nothing held between messages";
}

TEST(Utf8Validator, AgreesWithTheUnicodeTable) {
  EXPECT_TRUE(IsUtf8(""));
  EXPECT_TRUE(IsUtf8("plain ascii, longer than a word"));
  EXPECT_TRUE(IsUtf8(
      "\xc2\x80\xdf\xbf\xe0\xa0\x80\xed\x9f\xbf\xee\x80\x80\xf0\x90\x80\x80\xf4\x8f\xbf\xbf"));
  for (std::string_view bad :
       {"\x80", "\xc1\xbf", "\xe0\x9f\xbf", "\xed\xa0\x80", "\xf0\x8f\xbf\xbf", "\xf4\x90\x80\x80",
        "\xf5\x80\x80\x80", "\xff", "\xc2", "\xe2\x82"}) {
    EXPECT_FALSE(IsUtf8(bad)) << testing::PrintToString(std::string(bad));
  }
  // Fed a byte at a time.
  Utf8Validator v;
  for (char c : std::string_view("\xf0\x9f\x98\x80")) EXPECT_TRUE(v.Feed(std::string_view(&c, 1)));
  EXPECT_TRUE(v.Complete());
}

TEST(WsFrameWriter, HeadersUseTheShortestLength) {
  char h[10];
  EXPECT_EQ(EncodeHeader(kText, 0, h), 2u);
  EXPECT_EQ(std::string(h, 2), std::string("\x81\x00", 2));
  EXPECT_EQ(EncodeHeader(kText, 125, h), 2u);
  EXPECT_EQ(EncodeHeader(kText, 126, h), 4u);
  EXPECT_EQ(std::string(h, 4), std::string("\x81\x7e\x00\x7e", 4));
  EXPECT_EQ(EncodeHeader(kPong, 65535, h), 4u);
  EXPECT_EQ(EncodeHeader(kText, 65536, h), 10u);
  EXPECT_EQ(std::string(h, 10), std::string("\x81\x7f\x00\x00\x00\x00\x00\x01\x00\x00", 10));
}

TEST(WsFrameWriter, ClosePayloadFitsAControlFrameWithoutSplittingACharacter) {
  EXPECT_EQ(ClosePayload(4401, "bad token"), std::string("\x11\x31") + "bad token");
  std::string reason = std::string(122, 'a') + "\xc3\xa9";  // the é straddles byte 123
  std::string p = ClosePayload(1008, reason);
  EXPECT_EQ(p.size(), 2u + 122u);
  EXPECT_TRUE(IsUtf8(p.substr(2)));
}

TEST(WsHandshake, AcceptKeyIsRfc6455s) {
  EXPECT_EQ(AcceptKey("dGhlIHNhbXBsZSBub25jZQ=="), "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
  EXPECT_TRUE(ValidKey("dGhlIHNhbXBsZSBub25jZQ=="));
  EXPECT_FALSE(ValidKey(""));
  EXPECT_FALSE(ValidKey("dGhlIHNhbXBsZSBub25jZQ="));
  EXPECT_FALSE(ValidKey("dGhlIHNhbXBsZSBub25jZ!=="));
  EXPECT_FALSE(ValidKey("dGhlIHNhbXBsZSBub25jZQAA"));
}

}  // namespace
}  // namespace ferry::net::ws
