// ws::WriteQueue: what Gather hands out, partial writes, the close frame,
// dropping what is not begun, and that frames stay put while more are
// queued behind a write under way.
#include "net/ws_write_queue.h"

#include <gtest/gtest.h>

#include <string>
#include <utility>
#include <vector>

#include "net/ws_codec.h"

namespace ferry::net::ws {
namespace {

using Pieces = std::vector<std::pair<const char*, std::size_t>>;

Pieces GatherAll(WriteQueue& q, std::size_t max_pieces = 64, std::size_t max_bytes = 1 << 20,
                 std::size_t* frames = nullptr) {
  Pieces pieces;
  std::size_t n = q.Gather(max_pieces, max_bytes, [&](const char* data, std::size_t size) {
    pieces.emplace_back(data, size);
  });
  if (frames) *frames = n;
  return pieces;
}

std::string Bytes(const Pieces& pieces) {
  std::string out;
  for (auto [data, size] : pieces) out.append(data, size);
  return out;
}

std::string Framed(int opcode, const std::string& payload) {
  char header[10];
  std::size_t n = EncodeHeader(opcode, payload.size(), header);
  return std::string(header, n) + payload;
}

TEST(WsWriteQueue, GathersHeadersAndPayloadsInOrder) {
  WriteQueue q;
  EXPECT_TRUE(q.empty());
  q.PushRaw("HTTP/1.1 101\r\n\r\n");
  q.Push(kText, "hello");
  q.Push(kText, std::string(300, 'x'));
  EXPECT_EQ(q.bytes(), 16u + 5u + 300u);
  std::size_t frames = 0;
  Pieces p = GatherAll(q, 64, 1 << 20, &frames);
  EXPECT_EQ(frames, 3u);
  EXPECT_EQ(p.size(), 5u);  // the raw bytes have no header
  EXPECT_EQ(Bytes(p), "HTTP/1.1 101\r\n\r\n" + Framed(kText, "hello") +
                          Framed(kText, std::string(300, 'x')));
}

TEST(WsWriteQueue, APartialWriteResumesMidFrameAndFreesWhatIsDone) {
  WriteQueue q;
  q.Push(kText, "abcdef");  // 2-byte header
  q.Push(kText, "gh");
  EXPECT_FALSE(q.Written(4));  // the header and "ab"
  EXPECT_EQ(Bytes(GatherAll(q)), "cdef" + Framed(kText, "gh"));
  EXPECT_EQ(q.bytes(), 8u);
  EXPECT_FALSE(q.Written(5));  // "cdef" and the second frame's first header byte
  EXPECT_EQ(q.bytes(), 2u);
  EXPECT_EQ(Bytes(GatherAll(q)), Framed(kText, "gh").substr(1));
  EXPECT_FALSE(q.Written(3));
  EXPECT_TRUE(q.empty());
  EXPECT_EQ(q.bytes(), 0u);
}

TEST(WsWriteQueue, GatherStopsAtItsLimitsAndAfterTheCloseFrame) {
  WriteQueue q;
  for (int i = 0; i < 10; ++i) q.Push(kText, "frame" + std::to_string(i));
  std::size_t frames = 0;
  EXPECT_EQ(GatherAll(q, 6, 1 << 20, &frames).size(), 6u);  // 2 pieces a frame
  EXPECT_EQ(frames, 3u);
  GatherAll(q, 64, 10, &frames);  // past 10 bytes after the second frame
  EXPECT_EQ(frames, 2u);

  WriteQueue c;
  c.Push(kText, "last words");
  c.Push(kClose, ClosePayload(1000, ""), /*close=*/true);
  c.Push(kText, "never");
  GatherAll(c, 64, 1 << 20, &frames);
  EXPECT_EQ(frames, 2u);
  EXPECT_FALSE(c.Written(12));
  EXPECT_TRUE(c.Written(4));  // the close frame is out
}

TEST(WsWriteQueue, DropUnsentKeepsTheFramesOfTheWriteUnderWayAndTheOneBegun) {
  WriteQueue q;
  for (int i = 0; i < 5; ++i) q.Push(kText, "12345");
  q.DropUnsent(2);  // a write of the first two is under way
  EXPECT_EQ(q.bytes(), 10u);
  q.Push(kText, "after");  // queued behind what was kept
  EXPECT_EQ(Bytes(GatherAll(q)), Framed(kText, "12345") + Framed(kText, "12345") +
                                     Framed(kText, "after"));

  WriteQueue begun;
  begun.Push(kText, "12345");
  begun.Push(kText, "67890");
  begun.Written(3);      // its 2-byte header and "1"
  begun.DropUnsent(0);  // no write under way, but the first frame is begun
  EXPECT_EQ(Bytes(GatherAll(begun)), "2345");

  WriteQueue none;
  none.Push(kText, "12345");
  none.DropUnsent(0);
  EXPECT_TRUE(none.empty());
  EXPECT_EQ(none.bytes(), 0u);
}

// What a write under way holds stays valid and unchanged while thousands
// more frames are queued (a vector of frames moved them as it grew).
TEST(WsWriteQueue, GatheredBytesStayPutWhileMoreAreQueued) {
  WriteQueue q;
  for (int i = 0; i < 40; ++i) q.Push(kText, "f" + std::to_string(i));  // short: inside the frame
  Pieces held = GatherAll(q);
  std::string expected = Bytes(held);
  for (int i = 0; i < 5000; ++i) q.Push(kText, std::string(20, 'y'));
  EXPECT_EQ(Bytes(held), expected);
}

TEST(WsWriteQueue, ALongQueueIsFreedWithoutDeepRecursion) {
  auto q = std::make_unique<WriteQueue>();
  for (int i = 0; i < 1'000'000; ++i) q->Push(kText, "");
  q.reset();  // a recursive unique_ptr chain would overflow the stack here
  WriteQueue d;
  for (int i = 0; i < 1'000'000; ++i) d.Push(kText, "");
  d.DropUnsent(0);
  EXPECT_TRUE(d.empty());
}

}  // namespace
}  // namespace ferry::net::ws
