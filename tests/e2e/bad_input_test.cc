// End-to-end bad input: every malformed request gets its documented error
// or close code, the server keeps serving others, and nothing stored is lost.
#include "e2e/e2e_util.h"

namespace ferry::testing {
namespace {

class BadInput : public ::testing::Test {
 protected:
  void SetUp() override {
    server.Start();
    alice = server.NewUser("alice", &la);
    bob = server.NewUser("bob", &lb);
    chat = alice->CreateChat({"bob"});
    EXPECT_EQ(Int(NextEntry(*bob), "seq"), 1);
  }

  // The server still works for others, and bob's inbox is intact.
  void ExpectServerHealthy() {
    EXPECT_EQ(client::Http(server.endpoint(), "GET", "/healthz").status, 200);
    auto alice2 = server.Connect(server.LoginAs("alice", "tablet").token);
    alice2->Send(chat, "still here");
    json::object m = NextEntry(*bob);
    EXPECT_EQ(Str(m, "body"), "still here");
  }

  std::unique_ptr<client::WsConnection> Raw() {
    return client::WsConnection::Connect(server.endpoint());
  }

  FerrydProcess server{{"--hello-timeout", "0.5"}};
  FerrydProcess::Login la, lb;
  std::unique_ptr<client::Session> alice, bob;
  std::string chat;
};

TEST_F(BadInput, MalformedFramesGetBadRequestAndConnectionStaysOpen) {
  auto& ws = alice->ws();
  ws.SendText("{not json");
  json::object e1 = *ws.Receive(5s);
  EXPECT_EQ(Str(e1, "type"), "error");
  EXPECT_EQ(Str(e1, "code"), "bad_request");
  EXPECT_TRUE(e1["id"].is_null());

  ws.SendText("[1,2,3]");
  EXPECT_EQ(Str(*ws.Receive(5s), "code"), "bad_request");

  ExpectError(*alice, json::object{{"type", "teleport"}}, "bad_request");
  ExpectError(*alice, json::object{{"type", "send"}, {"chatId", chat}}, "bad_request");
  ExpectError(*alice,
              json::object{{"type", "send"}, {"chatId", 42}, {"clientMsgId", "a"}, {"body", "x"}},
              "bad_request");
  ExpectError(*alice, json::object{{"type", "ack"}, {"upTo", "ten"}}, "bad_request");
  ExpectError(*alice, json::object{{"type", "ack"}, {"upTo", -1}}, "bad_request");
  ExpectError(*alice, json::object{{"type", "createChat"}, {"members", "bob"}}, "bad_request");
  ExpectError(*alice, json::object{{"type", "sync"}}, "bad_request");
  ExpectError(*alice, json::object{{"type", "hello"}, {"token", la.token}}, "bad_request");

  // The id is echoed when it could be read.
  ws.SendText(R"({"type":"nope","id":"abc"})");
  json::object e2 = *ws.Receive(5s);
  EXPECT_EQ(Str(e2, "id"), "abc");

  // An id of a type the contract does not allow: refused, and not run.
  ws.SendText(R"({"type":"createChat","id":1.5,"members":["bob"]})");
  json::object e3 = *ws.Receive(5s);
  EXPECT_EQ(Str(e3, "code"), "bad_request");
  EXPECT_TRUE(e3["id"].is_null());

  json::object chats = alice->Request(json::object{{"type", "listChats"}});
  EXPECT_EQ(chats["chats"].as_array().size(), 1u);  // only the fixture's chat
  ExpectServerHealthy();
}

TEST_F(BadInput, BinaryFrameCloses1003) {
  alice->ws().SendBinary("\x01\x02");
  auto c = alice->ws().WaitClosed(5s);
  ASSERT_TRUE(c);
  EXPECT_EQ(c->code, 1003);
  ExpectServerHealthy();
}

TEST_F(BadInput, InvalidUtf8Closes1007) {
  alice->ws().SendText("{\"type\":\"send\",\"body\":\"\xff\xfe\"}");
  auto c = alice->ws().WaitClosed(5s);
  ASSERT_TRUE(c);
  EXPECT_EQ(c->code, 1007);
  ExpectServerHealthy();
}

TEST_F(BadInput, OversizeMessageCloses1009) {
  alice->ws().SendText(std::string(1024 * 1024 + 10, ' '));
  auto c = alice->ws().WaitClosed(10s);
  ASSERT_TRUE(c);
  EXPECT_EQ(c->code, 1009);
  ExpectServerHealthy();
}

TEST_F(BadInput, FirstFrameMustBeHello) {
  auto ws = Raw();
  ws->Send(json::object{{"type", "listChats"}, {"id", 1}});
  auto c = ws->WaitClosed(5s);
  ASSERT_TRUE(c);
  EXPECT_EQ(c->code, 1008);

  auto ws2 = Raw();
  ws2->SendText("garbage");
  auto c2 = ws2->WaitClosed(5s);
  ASSERT_TRUE(c2);
  EXPECT_EQ(c2->code, 1008);
  ExpectServerHealthy();
}

TEST_F(BadInput, NoHelloInTimeCloses4408) {
  auto ws = Raw();
  auto c = ws->WaitClosed(10s);
  ASSERT_TRUE(c);
  EXPECT_EQ(c->code, 4408);
}

TEST_F(BadInput, BadTokenCloses4401) {
  auto ws = Raw();
  ws->Send(json::object{{"type", "hello"}, {"id", 1}, {"token", "not-a-token"}});
  auto c = ws->WaitClosed(5s);
  ASSERT_TRUE(c);
  EXPECT_EQ(c->code, 4401);
  ExpectServerHealthy();
}

TEST_F(BadInput, RevokedClientIsClosedAndItsTokenRefused) {
  // bob logs in a second device and deletes the first (connected) one.
  auto laptop = server.LoginAs("bob", "laptop");
  auto r = client::Http(server.endpoint(), "DELETE", "/v1/clients/" + lb.client_id, {},
                        laptop.token);
  EXPECT_EQ(r.status, 204);
  auto c = bob->ws().WaitClosed(5s);
  ASSERT_TRUE(c);
  EXPECT_EQ(c->code, 4401);

  auto ws = Raw();
  ws->Send(json::object{{"type", "hello"}, {"id", 1}, {"token", lb.token}});
  auto c2 = ws->WaitClosed(5s);
  ASSERT_TRUE(c2);
  EXPECT_EQ(c2->code, 4401);
}

TEST_F(BadInput, HttpErrors) {
  auto& ep = server.endpoint();
  auto code = [](const client::HttpReply& r) {
    return r.body.is_object() ? Str(r.body.as_object(), "error") : std::string("<not json>");
  };
  auto r = client::Http(ep, "POST", "/v1/register", R"({"user":"Bad Name","password":"password123"})");
  EXPECT_EQ(r.status, 400);
  EXPECT_EQ(code(r), "bad_request");
  r = client::Http(ep, "POST", "/v1/register", R"({"user":"alice","password":"password123"})");
  EXPECT_EQ(r.status, 409);
  EXPECT_EQ(code(r), "user_exists");
  r = client::Http(ep, "POST", "/v1/register", "{oops");
  EXPECT_EQ(r.status, 400);
  r = client::Http(ep, "POST", "/v1/register", R"({"user":"carol"})");
  EXPECT_EQ(r.status, 400);
  r = client::Http(ep, "POST", "/v1/login", R"({"user":"alice","password":"wrong-pass","device":"x"})");
  EXPECT_EQ(r.status, 401);
  EXPECT_EQ(code(r), "unauthorized");
  r = client::Http(ep, "POST", "/v1/login", R"({"user":"nobody","password":"wrong-pass","device":"x"})");
  EXPECT_EQ(r.status, 401);
  r = client::Http(ep, "GET", "/v1/clients");
  EXPECT_EQ(r.status, 401);
  r = client::Http(ep, "GET", "/v1/clients", {}, "bogus");
  EXPECT_EQ(r.status, 401);
  // Deleting another user's client, or an unknown one, is 404.
  r = client::Http(ep, "DELETE", "/v1/clients/" + lb.client_id, {}, la.token);
  EXPECT_EQ(r.status, 404);
  r = client::Http(ep, "DELETE", "/v1/clients/unknown", {}, la.token);
  EXPECT_EQ(r.status, 404);
  r = client::Http(ep, "GET", "/no/such/path");
  EXPECT_EQ(r.status, 404);
  r = client::Http(ep, "POST", "/v1/register", std::string(70 * 1024, ' '));
  EXPECT_EQ(r.status, 413);
  EXPECT_EQ(code(r), "too_large");
  r = client::Http(ep, "GET", "/metrics");
  EXPECT_EQ(r.status, 200);
  EXPECT_NE(r.raw.find("ferry_send_durable_seconds_bucket"), std::string::npos);
  ExpectServerHealthy();
}

}  // namespace
}  // namespace ferry::testing
