// CRC16, hash tags and the CLUSTER SLOTS parser, against values Redis
// itself gives (CLUSTER KEYSLOT) and replies fed through the RESP reader.
#include "bus/redis/slot_map.h"

#include <gtest/gtest.h>

#include "bus/redis/redis_bus.h"
#include "bus/redis/resp.h"

namespace ferry::redis {
namespace {

TEST(Crc16, KnownValues) {
  EXPECT_EQ(Crc16("123456789"), 0x31C3);  // the CRC16/XMODEM check value
  EXPECT_EQ(Crc16(""), 0);
}

TEST(KeySlot, MatchesClusterKeyslot) {
  // From `redis-cli cluster keyslot ...` on Redis 7.0.
  EXPECT_EQ(KeySlot("foo"), 12182);
  EXPECT_EQ(KeySlot("bar"), 5061);
  EXPECT_EQ(KeySlot("user1000"), 3443);
  EXPECT_EQ(KeySlot("{user1000}.following"), KeySlot("{user1000}.followers"));
  EXPECT_EQ(KeySlot("{user1000}.following"), 3443);
  EXPECT_EQ(KeySlot("u:{alice}"), KeySlot("pr:{alice}"));
  EXPECT_EQ(KeySlot("u:{alice}"), KeySlot("alice"));
  EXPECT_EQ(KeySlot("u:{alice}"), 749);
  EXPECT_EQ(KeySlot("foo{}{bar}"), 8363);
  EXPECT_EQ(KeySlot("foo{{bar}}zap"), 4015);
  EXPECT_EQ(KeySlot("foo{bar}{zap}"), 5061);
  EXPECT_EQ(KeySlot("{foo"), 13308);
}

TEST(KeySlot, HashTagRules) {
  // Empty braces: the whole key is hashed.
  EXPECT_EQ(KeySlot("foo{}{bar}"), Crc16("foo{}{bar}") % 16384);
  // Only the first "{...}" counts, up to the first '}' after it.
  EXPECT_EQ(KeySlot("foo{{bar}}zap"), KeySlot("{bar"));
  EXPECT_EQ(KeySlot("foo{bar}{zap}"), KeySlot("bar"));
  // No closing brace: the whole key.
  EXPECT_EQ(KeySlot("{foo"), Crc16("{foo") % 16384);
}

RespValue Parse(const std::string& bytes) {
  RespReader reader;
  reader.Feed(bytes.data(), bytes.size());
  RespValue v;
  EXPECT_EQ(reader.Next(&v), RespReader::Result::value) << reader.error();
  return v;
}

// A node entry as Redis 7 writes it: host, port, id, metadata map (an
// array in RESP2).
std::string Node(const std::string& host, int port) {
  return "*4\r\n$" + std::to_string(host.size()) + "\r\n" + host + "\r\n:" + std::to_string(port) +
         "\r\n$3\r\nid1\r\n*0\r\n";
}

std::string Range(int start, int end, const std::string& nodes, int count) {
  return "*" + std::to_string(2 + count) + "\r\n:" + std::to_string(start) +
         "\r\n:" + std::to_string(end) + "\r\n" + nodes;
}

TEST(ParseClusterSlots, ThreeShardsWithReplicas) {
  std::string reply = "*3\r\n" +
                      Range(0, 5460, Node("127.0.0.1", 7000) + Node("127.0.0.1", 7003), 2) +
                      Range(5461, 10922, Node("127.0.0.1", 7001) + Node("127.0.0.1", 7004), 2) +
                      Range(10923, 16383, Node("127.0.0.1", 7002), 1);
  std::optional<SlotMap> map = ParseClusterSlots(Parse(reply), "10.0.0.1");
  ASSERT_TRUE(map);
  EXPECT_TRUE(map->Complete());
  EXPECT_EQ(map->masters,
            (std::vector<std::string>{"127.0.0.1:7000", "127.0.0.1:7001", "127.0.0.1:7002"}));
  EXPECT_EQ(map->nodes.size(), 5u);
  EXPECT_EQ(map->MasterOf(0), "127.0.0.1:7000");
  EXPECT_EQ(map->MasterOf(5460), "127.0.0.1:7000");
  EXPECT_EQ(map->MasterOf(5461), "127.0.0.1:7001");
  EXPECT_EQ(map->MasterOf(16383), "127.0.0.1:7002");
  EXPECT_EQ(map->MasterOf(KeySlot("foo")), "127.0.0.1:7002");
  EXPECT_EQ(map->MasterOf(16384), "");
}

TEST(ParseClusterSlots, SeveralRangesOneMasterAndEmptyHost) {
  std::string reply =
      "*2\r\n" + Range(0, 99, Node("", 7000), 1) + Range(200, 16383, Node("", 7000), 1);
  std::optional<SlotMap> map = ParseClusterSlots(Parse(reply), "10.0.0.1");
  ASSERT_TRUE(map);
  EXPECT_EQ(map->masters, std::vector<std::string>{"10.0.0.1:7000"});
  EXPECT_FALSE(map->Complete());  // 100..199 uncovered
  EXPECT_EQ(map->MasterOf(150), "");
  EXPECT_EQ(map->MasterOf(99), "10.0.0.1:7000");
}

TEST(ParseClusterSlots, RejectsMalformed) {
  auto bad = [](const std::string& bytes) {
    return !ParseClusterSlots(Parse(bytes), "h").has_value();
  };
  EXPECT_TRUE(bad("-ERR This instance has cluster support disabled\r\n"));
  EXPECT_TRUE(bad("+OK\r\n"));
  EXPECT_TRUE(bad("*1\r\n:5\r\n"));                                  // range not an array
  EXPECT_TRUE(bad("*1\r\n" + Range(0, 16384, Node("h", 1), 1)));     // slot out of range
  EXPECT_TRUE(bad("*1\r\n" + Range(10, 5, Node("h", 1), 1)));        // reversed
  EXPECT_TRUE(bad("*1\r\n" + Range(-1, 5, Node("h", 1), 1)));        // negative
  EXPECT_TRUE(bad("*1\r\n" + Range(0, 5, Node("h", 0), 1)));         // port 0
  EXPECT_TRUE(bad("*1\r\n" + Range(0, 5, Node("h", 70000), 1)));     // port too big
  EXPECT_TRUE(bad("*1\r\n" + Range(0, 5, Node("?", 7000), 1)));      // unknown endpoint
  EXPECT_TRUE(bad("*1\r\n*3\r\n$1\r\n0\r\n:5\r\n" + Node("h", 1)));  // start a string
  EXPECT_TRUE(bad("*1\r\n*3\r\n:0\r\n:5\r\n*1\r\n$1\r\nh\r\n"));     // node without port
  EXPECT_TRUE(bad("*1\r\n*2\r\n:0\r\n:5\r\n"));                      // no master
  // An empty reply is a (useless, incomplete) map, not an error.
  std::optional<SlotMap> empty = ParseClusterSlots(Parse("*0\r\n"), "h");
  ASSERT_TRUE(empty);
  EXPECT_FALSE(empty->Complete());
}

TEST(SplitAddress, HostAndPort) {
  std::string host;
  std::uint16_t port = 0;
  EXPECT_TRUE(SplitAddress("127.0.0.1:6379", &host, &port));
  EXPECT_EQ(host, "127.0.0.1");
  EXPECT_EQ(port, 6379);
  EXPECT_TRUE(SplitAddress("::1:7000", &host, &port));
  EXPECT_EQ(host, "::1");
  EXPECT_FALSE(SplitAddress("host", &host, &port));
  EXPECT_FALSE(SplitAddress(":80", &host, &port));
  EXPECT_FALSE(SplitAddress("h:0", &host, &port));
  EXPECT_FALSE(SplitAddress("h:65536", &host, &port));
  EXPECT_FALSE(SplitAddress("h:80x", &host, &port));
}

TEST(RespReader, StreamsRepliesInPieces) {
  RespReader reader;
  using namespace std::string_literals;
  std::string bytes = "+PONG\r\n*3\r\n$8\r\nsmessage\r\n$3\r\nu:x\r\n$5\r\na\r\nb\0\r\n:42\r\n"s;
  RespValue v;
  // Byte by byte: every split point must work.
  std::vector<RespValue> got;
  for (char c : bytes) {
    reader.Feed(&c, 1);
    while (reader.Next(&v) == RespReader::Result::value) got.push_back(v);
  }
  ASSERT_EQ(got.size(), 3u);
  EXPECT_TRUE(got[0].Is("PONG"));
  ASSERT_TRUE(got[1].is_array());
  EXPECT_EQ(got[1].array[2].str, std::string("a\r\nb\0", 5));
  EXPECT_EQ(got[2].integer, 42);
}

TEST(RespReader, ProtocolErrorsAreReported) {
  RespReader reader;
  reader.Feed("!oops\r\n", 7);
  RespValue v;
  EXPECT_EQ(reader.Next(&v), RespReader::Result::error);
  EXPECT_FALSE(reader.error().empty());
  EXPECT_EQ(reader.Next(&v), RespReader::Result::error);  // stays broken
}

TEST(RespReader, HugeArrayIsAnErrorNotAnAllocation) {
  RespReader reader;
  std::string bytes = "*2000000000\r\n";
  reader.Feed(bytes.data(), bytes.size());
  RespValue v;
  EXPECT_EQ(reader.Next(&v), RespReader::Result::error);
}

TEST(AppendCommand, EncodesBulkStrings) {
  std::string out;
  AppendCommand(out, {"SPUBLISH", "u:{a}", std::string_view("x\0y", 3)});
  EXPECT_EQ(out, std::string("*3\r\n$8\r\nSPUBLISH\r\n$5\r\nu:{a}\r\n$3\r\nx\0y\r\n", 38));
}

// Lease renewals are spread over the period: with 19,000 users (one
// node's share in bench/cluster's idle run) no tick renews more than 15%
// of them (all at once reset the Redis links), and every user has a slice.
TEST(LeaseSlice, SpreadsUsersOverTheTicks) {
  std::vector<int> per_slice(kLeaseSlices);
  for (int i = 0; i < 19000; ++i) {
    std::size_t slice = LeaseSlice("user" + std::to_string(i), kLeaseSlices);
    ASSERT_LT(slice, kLeaseSlices);
    ++per_slice[slice];
  }
  for (int n : per_slice) EXPECT_LT(n, 19000 * 15 / 100);
}

}  // namespace
}  // namespace ferry::redis
