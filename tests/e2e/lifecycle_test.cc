// End-to-end: limits, membership, redelivery, heartbeats and last seen,
// against a real ferryd with short timers.
#include <sys/wait.h>

#include "e2e/e2e_util.h"

namespace ferry::testing {
namespace {

TEST(Limits, ThreeClientsPerUser) {
  FerrydProcess server;
  server.Start();
  server.Register("alice");
  auto phone = server.LoginAs("alice", "phone");
  auto again = server.LoginAs("alice", "phone");
  EXPECT_EQ(phone.client_id, again.client_id);  // same device label: same client
  EXPECT_NE(phone.token, again.token);
  server.LoginAs("alice", "laptop");
  server.LoginAs("alice", "tablet");
  auto r = client::Http(server.endpoint(), "POST", "/v1/login",
                        R"({"user":"alice","password":"password123","device":"watch"})");
  EXPECT_EQ(r.status, 409);
  EXPECT_EQ(Str(r.body.as_object(), "error"), "too_many_clients");
  EXPECT_EQ(r.body.at("clients").as_array().size(), 3u);
  // Both tokens of the phone still work; deleting the phone frees a slot.
  EXPECT_EQ(client::Http(server.endpoint(), "GET", "/v1/clients", {}, phone.token).status, 200);
  EXPECT_EQ(client::Http(server.endpoint(), "DELETE", "/v1/clients/" + phone.client_id, {},
                         again.token)
                .status,
            204);
  EXPECT_EQ(client::Http(server.endpoint(), "GET", "/v1/clients", {}, phone.token).status, 401);
  EXPECT_NE(server.LoginAs("alice", "watch").client_id, phone.client_id);
}

TEST(Limits, HundredMembersPerChat) {
  FerrydProcess server;
  server.Start();
  auto alice = server.NewUser("alice");
  json::array members;
  for (int i = 0; i < 100; ++i) {
    std::string name = "member" + std::to_string(i);
    server.Register(name);
    members.emplace_back(name);
  }
  // alice + 100 others = 101: too many.
  ExpectError(*alice, json::object{{"type", "createChat"}, {"members", members}},
              "too_many_members");
  json::array ninety_nine(members.begin(), members.begin() + 99);
  std::string chat = Str(
      alice->Request(json::object{{"type", "createChat"}, {"members", ninety_nine}}), "chatId");
  ExpectError(*alice,
              json::object{{"type", "addMembers"}, {"chatId", chat}, {"members", Users({"member99"})}},
              "too_many_members");
  alice->Request(json::object{
      {"type", "removeMembers"}, {"chatId", chat}, {"members", Users({"member0"})}});
  alice->Request(json::object{
      {"type", "addMembers"}, {"chatId", chat}, {"members", Users({"member99"})}});
}

TEST(Limits, BodySize) {
  FerrydProcess server;
  server.Start();
  auto alice = server.NewUser("alice");
  server.Register("bob");
  std::string chat = alice->CreateChat({"bob"});
  ExpectError(*alice,
              json::object{{"type", "send"}, {"chatId", chat}, {"clientMsgId", "big"},
                           {"body", std::string(65537, 'x')}},
              "too_large");
  EXPECT_EQ(Str(alice->Send(chat, std::string(65536, 'x')), "type"), "ok");
}

TEST(Membership, ChangesAndAuthorization) {
  FerrydProcess server;
  server.Start();
  auto alice = server.NewUser("alice");
  auto bob = server.NewUser("bob");
  auto carol = server.NewUser("carol");
  auto mallory = server.NewUser("mallory");
  std::string chat = alice->CreateChat({"bob"});
  EXPECT_EQ(Str(NextEntry(*bob), "event"), "created");

  // Outsiders can neither send nor change the chat.
  ExpectError(*mallory,
              json::object{{"type", "send"}, {"chatId", chat}, {"clientMsgId", "x"}, {"body", "hi"}},
              "forbidden");
  ExpectError(*mallory,
              json::object{{"type", "addMembers"}, {"chatId", chat}, {"members", Users({"mallory"})}},
              "forbidden");
  ExpectError(*alice,
              json::object{{"type", "addMembers"}, {"chatId", chat}, {"members", Users({"nobody_here"})}},
              "not_found");
  ExpectError(*alice,
              json::object{{"type", "createChat"}, {"members", Users({"nobody_here"})}},
              "not_found");
  ExpectError(*alice, json::object{{"type", "createChat"}, {"members", Users({"alice"})}},
              "bad_request");
  ExpectError(*alice,
              json::object{{"type", "send"}, {"chatId", "no-such-chat"}, {"clientMsgId", "x"},
                           {"body", "hi"}},
              "not_found");

  // bob (any member) adds carol: everyone but bob's acting client hears of it.
  bob->Request(json::object{{"type", "addMembers"}, {"chatId", chat}, {"members", Users({"carol"})}});
  json::object added = NextEntry(*carol);
  EXPECT_EQ(Str(added, "event"), "membersAdded");
  EXPECT_EQ(added["members"], Users({"carol"}));
  EXPECT_EQ(Str(added, "by"), "bob");
  EXPECT_EQ(Str(NextEntry(*alice), "event"), "membersAdded");

  // Adding an existing member changes nothing (no event); alice removes bob.
  bob->Request(json::object{{"type", "addMembers"}, {"chatId", chat}, {"members", Users({"carol"})}});
  alice->Request(json::object{{"type", "removeMembers"}, {"chatId", chat}, {"members", Users({"bob"})}});
  json::object removed = NextEntry(*bob);  // the removed user is told
  EXPECT_EQ(Str(removed, "event"), "membersRemoved");
  EXPECT_EQ(removed["members"], Users({"bob"}));
  EXPECT_EQ(Str(NextEntry(*carol), "event"), "membersRemoved");
  ExpectError(*bob,
              json::object{{"type", "send"}, {"chatId", chat}, {"clientMsgId", "y"}, {"body", "hi"}},
              "forbidden");

  // carol leaves; the chat may shrink below two.
  carol->Request(json::object{{"type", "removeMembers"}, {"chatId", chat}, {"members", Users({"carol"})}});
  EXPECT_EQ(Str(NextEntry(*alice), "event"), "membersRemoved");
  json::object chats = alice->Request(json::object{{"type", "listChats"}});
  EXPECT_EQ(chats["chats"].as_array()[0].as_object()["members"], Users({"alice"}));
}

TEST(Redelivery, UnackedEntryIsSentAgainThenConnectionCloses) {
  FerrydProcess server({"--ack-timeout-ms", "200", "--ack-retries", "2"});
  server.Start();
  auto alice = server.NewUser("alice");
  auto bob = server.NewUser("bob");
  std::string chat = alice->CreateChat({"bob"});
  // seq 1 arrives, then (not acked) again twice, then the server gives up.
  int seen = 0;
  while (auto e = bob->NextEntry(10s)) {
    EXPECT_EQ(Int(*e, "seq"), 1);
    ++seen;
  }
  EXPECT_EQ(seen, 3);  // first send + 2 resends
  ASSERT_TRUE(bob->ws().close_info());
  EXPECT_EQ(bob->ws().close_info()->code, 4408);
}

TEST(Redelivery, AckStopsResends) {
  FerrydProcess server({"--ack-timeout-ms", "200"});
  server.Start();
  auto alice = server.NewUser("alice");
  auto bob = server.NewUser("bob");
  std::string chat = alice->CreateChat({"bob"});
  EXPECT_EQ(Int(NextEntry(*bob), "seq"), 1);
  EXPECT_EQ(Int(NextEntry(*bob), "seq"), 1);  // resent after 200 ms
  bob->Ack(1);
  alice->Send(chat, "next");
  json::object m = NextEntry(*bob);  // not seq 1 again
  EXPECT_EQ(Int(m, "seq"), 2);
  bob->Ack(2);
  // Well past several ack timeouts, the connection is still healthy.
  EXPECT_EQ(Str(bob->Request(json::object{{"type", "listChats"}}), "type"), "ok");
}

TEST(Heartbeat, ClientThatDoesNotPongIsClosed) {
  FerrydProcess server({"--heartbeat-interval", "0.3", "--heartbeat-timeout", "0.3"});
  server.Start();
  server.Register("alice");
  auto la = server.LoginAs("alice");
  auto ws = client::WsConnection::Connect(server.endpoint());
  ws->Send(json::object{{"type", "hello"}, {"id", 1}, {"token", la.token}});
  bool pinged = false;
  while (auto f = ws->Receive(5s)) {
    if (Str(*f, "type") == "ping") {
      pinged = true;
      EXPECT_EQ(Int(*f, "head"), 0);
    }
  }
  EXPECT_TRUE(pinged);
  ASSERT_TRUE(ws->close_info());
  EXPECT_EQ(ws->close_info()->code, 4408);
}

TEST(Heartbeat, PongKeepsConnectionAliveAndPingCarriesHead) {
  FerrydProcess server({"--heartbeat-interval", "0.2", "--heartbeat-timeout", "0.5"});
  server.Start();
  auto alice = server.NewUser("alice");
  auto bob = server.NewUser("bob");
  alice->CreateChat({"bob"});
  int pings = 0;
  std::int64_t head = 0;
  while (pings < 5) {
    auto e = bob->NextEvent(5s);
    ASSERT_TRUE(e) << "connection closed despite pongs";
    if (Str(*e, "type") == "ping") {
      ++pings;
      head = Int(*e, "head");
      bob->ws().Send(json::object{{"type", "pong"}});
    }
  }
  EXPECT_EQ(head, 1);
}

TEST(LastSeen, OnlineOfflineAndAuthorization) {
  FerrydProcess server;
  server.Start();
  auto alice = server.NewUser("alice");
  FerrydProcess::Login lb;
  auto bob = server.NewUser("bob", &lb);
  auto stranger = server.NewUser("stranger");
  alice->CreateChat({"bob"});

  json::object r = alice->Request(json::object{{"type", "lastSeen"}, {"user", "bob"}});
  EXPECT_EQ(r["online"], true);
  EXPECT_TRUE(r["lastSeen"].is_null());

  std::int64_t before = std::chrono::duration_cast<std::chrono::milliseconds>(
                            std::chrono::system_clock::now().time_since_epoch())
                            .count();
  bob->ws().Close();
  // The disconnect is processed asynchronously: wait for the condition.
  json::object seen;
  for (int i = 0; i < 200; ++i) {
    seen = alice->Request(json::object{{"type", "lastSeen"}, {"user", "bob"}});
    if (seen["online"] == false) break;
  }
  EXPECT_EQ(seen["online"], false);
  ASSERT_TRUE(seen["lastSeen"].is_int64());
  EXPECT_GE(seen["lastSeen"].as_int64(), before);

  ExpectError(*stranger, json::object{{"type", "lastSeen"}, {"user", "bob"}}, "forbidden");
  ExpectError(*alice, json::object{{"type", "lastSeen"}, {"user", "ghost_user"}}, "forbidden");
  json::object self = stranger->Request(json::object{{"type", "lastSeen"}, {"user", "stranger"}});
  EXPECT_EQ(self["online"], true);
}

TEST(LastSeen, RecordedForUsersOnlineAtShutdown) {
  FerrydProcess server;
  server.Start();
  server.Register("alice");
  server.Register("bob");
  auto la = server.LoginAs("alice");
  auto lb = server.LoginAs("bob");
  server.Connect(la.token)->CreateChat({"bob"});
  auto bob = server.Connect(lb.token);
  std::int64_t before = std::chrono::duration_cast<std::chrono::milliseconds>(
                            std::chrono::system_clock::now().time_since_epoch())
                            .count();
  int status = server.Stop();  // SIGTERM while bob is online
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << status;
  // bob's client was not reading while ferryd stopped, so whether the 1001
  // frame arrived before the socket closed varies; the connection is gone.
  ASSERT_TRUE(bob->ws().WaitClosed(5s));
  server.Start();
  auto alice = server.Connect(la.token);
  json::object seen = alice->Request(json::object{{"type", "lastSeen"}, {"user", "bob"}});
  EXPECT_EQ(seen["online"], false);
  ASSERT_TRUE(seen["lastSeen"].is_int64()) << json::serialize(seen);
  EXPECT_GE(seen["lastSeen"].as_int64(), before);
}

}  // namespace
}  // namespace ferry::testing
