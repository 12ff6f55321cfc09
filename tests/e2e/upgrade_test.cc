// End-to-end WebSocket upgrade on a raw TCP socket: the byte-level cases a
// client library hides, such as frames sent in the same write as the
// upgrade request.
#include "e2e/e2e_util.h"
#include "e2e/raw_connection.h"

namespace ferry::testing {
namespace {

// A client that does not wait for the 101 before its first frames: the
// bytes behind the upgrade request are the WebSocket's, and served.
TEST(Upgrade, FramesInTheSameWriteAsTheUpgradeRequestAreServed) {
  // A lost hello would close with 4408 after half a second.
  FerrydProcess server({"--hello-timeout", "0.5"});
  server.Start();
  server.Register("alice");
  std::string token = server.LoginAs("alice").token;

  RawConnection conn(server.endpoint());
  conn.Write(
      UpgradeRequest(server.endpoint()) +
      MaskedText(json::serialize(json::object{{"type", "hello"}, {"id", 1}, {"token", token}})) +
      MaskedText(R"({"type":"listChats","id":2})"));
  ASSERT_EQ(conn.ReadResponseHead(5s), "HTTP/1.1 101 Switching Protocols");
  for (std::int64_t id : {1, 2}) {
    std::optional<Frame> f = conn.ReadFrame(5s);
    ASSERT_TRUE(f) << "no reply to request " << id;
    ASSERT_EQ(f->opcode, 1) << f->Describe();
    json::object reply = json::parse(f->payload).as_object();
    EXPECT_EQ(Str(reply, "type"), "ok") << f->payload;
    EXPECT_EQ(Int(reply, "id"), id) << f->payload;
  }
}

}  // namespace
}  // namespace ferry::testing
