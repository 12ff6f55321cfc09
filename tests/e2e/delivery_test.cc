// End-to-end delivery: a real ferryd on port 0, driven over real sockets.
#include <set>

#include "e2e/e2e_util.h"
#include "e2e/raw_connection.h"

namespace ferry::testing {
namespace {

class Delivery : public ::testing::Test {
 protected:
  void SetUp() override { server.Start(); }

  // Alice, connected, in a chat with bob, who is registered and logged in
  // but not connected.
  struct Offline {
    std::unique_ptr<client::Session> alice;
    FerrydProcess::Login bob;
    std::string chat;
  };
  Offline BobOffline() {
    auto alice = server.NewUser("alice");
    server.Register("bob");
    FerrydProcess::Login bob = server.LoginAs("bob");
    std::string chat = alice->CreateChat({"bob"});
    return {std::move(alice), bob, chat};
  }

  // `count` sends from `from` into `chat`, pipelined (they share commits),
  // then their oks; send i has body(i).
  void SendPipelined(client::Session& from, const std::string& chat, int count,
                     const std::function<std::string(int)>& body) {
    for (int i = 0; i < count; ++i) {
      from.ws().Send(json::object{
          {"type", "send"}, {"id", i}, {"chatId", chat}, {"clientMsgId", i}, {"body", body(i)}});
    }
    for (int i = 0; i < count; ++i) {
      std::optional<json::object> reply = from.ws().Receive(10s);
      ASSERT_TRUE(reply);
      ASSERT_EQ(Str(*reply, "type"), "ok") << json::serialize(*reply);
    }
  }

  // A WebSocket on a raw socket with SO_RCVBUF `receive_buffer`, upgraded,
  // its hello (id 1) sent with `token`.
  std::unique_ptr<RawConnection> RawHello(const std::string& token, int receive_buffer) {
    auto c = std::make_unique<RawConnection>(server.endpoint(), receive_buffer);
    c->Write(UpgradeRequest(server.endpoint()));
    EXPECT_EQ(c->ReadResponseHead(5s), "HTTP/1.1 101 Switching Protocols");
    c->SendText(json::serialize(json::object{{"type", "hello"}, {"id", 1}, {"token", token}}));
    return c;
  }

  FerrydProcess server;
};

TEST_F(Delivery, OneToOneLive) {
  FerrydProcess::Login la, lb;
  auto alice = server.NewUser("alice", &la);
  auto bob = server.NewUser("bob", &lb);
  std::string chat = alice->CreateChat({"bob"}, "lunch");

  json::object created = NextEntry(*bob);
  EXPECT_EQ(Str(created, "type"), "chat");
  EXPECT_EQ(Str(created, "event"), "created");
  EXPECT_EQ(Int(created, "seq"), 1);
  EXPECT_EQ(created["members"], Users({"alice", "bob"}));
  EXPECT_EQ(Str(created, "by"), "alice");

  json::object ok = alice->Send(chat, "hello bob", "c-1");
  json::object m = NextEntry(*bob);
  EXPECT_EQ(Str(m, "type"), "message");
  EXPECT_EQ(Int(m, "seq"), 2);
  EXPECT_EQ(Str(m, "chatId"), chat);
  EXPECT_EQ(Str(m, "messageId"), Str(ok, "messageId"));
  EXPECT_EQ(Int(m, "ts"), Int(ok, "ts"));
  EXPECT_EQ(Str(m, "from"), "alice");
  EXPECT_EQ(Str(m, "fromClient"), la.client_id);
  EXPECT_EQ(Str(m, "body"), "hello bob");
  EXPECT_EQ(Str(m, "clientMsgId"), "c-1");
  EXPECT_TRUE(m["attachments"].is_array());

  // The sender's own client gets nothing: the first entry alice sees is bob's reply.
  bob->Send(chat, "hi alice");
  json::object reply = NextEntry(*alice);
  EXPECT_EQ(Str(reply, "body"), "hi alice");
  EXPECT_EQ(Int(reply, "seq"), 1);
}

TEST_F(Delivery, GroupFanOut) {
  auto alice = server.NewUser("alice");
  std::vector<std::unique_ptr<client::Session>> others;
  std::vector<std::string> names;
  for (int i = 0; i < 5; ++i) {
    names.push_back("user" + std::to_string(i));
    others.push_back(server.NewUser(names.back()));
  }
  std::string chat = alice->CreateChat(names, "group");
  alice->Send(chat, "to everyone");
  for (auto& s : others) {
    EXPECT_EQ(Str(NextEntry(*s), "event"), "created");
    json::object m = NextEntry(*s);
    EXPECT_EQ(Str(m, "body"), "to everyone");
    EXPECT_EQ(Int(m, "seq"), 2);
  }
}

TEST_F(Delivery, OfflineClientGetsMissedMessagesOnReconnect) {
  FerrydProcess::Login lb;
  auto alice = server.NewUser("alice");
  auto bob = server.NewUser("bob", &lb);
  std::string chat = alice->CreateChat({"bob"});
  EXPECT_EQ(Int(NextEntry(*bob), "seq"), 1);
  bob->Ack(1);
  bob->ws().Close();

  for (int i = 0; i < 3; ++i) alice->Send(chat, "missed " + std::to_string(i));

  auto bob2 = server.Connect(lb.token, 1);
  for (int i = 0; i < 3; ++i) {
    json::object m = NextEntry(*bob2);
    EXPECT_EQ(Int(m, "seq"), 2 + i);
    EXPECT_EQ(Str(m, "body"), "missed " + std::to_string(i));
  }
}

TEST_F(Delivery, HelloWithoutAfterStreamsEverythingHeld) {
  FerrydProcess::Login lb;
  auto alice = server.NewUser("alice");
  server.Register("bob");
  lb = server.LoginAs("bob");
  std::string chat = alice->CreateChat({"bob"});
  alice->Send(chat, "one");
  auto bob = server.Connect(lb.token);
  EXPECT_EQ(Int(NextEntry(*bob), "seq"), 1);
  EXPECT_EQ(Str(NextEntry(*bob), "body"), "one");
}

TEST_F(Delivery, SendersOtherDevicesGetTheMessage) {
  FerrydProcess::Login phone, laptop;
  server.Register("alice");
  phone = server.LoginAs("alice", "phone");
  laptop = server.LoginAs("alice", "laptop");
  EXPECT_NE(phone.client_id, laptop.client_id);
  auto alice_phone = server.Connect(phone.token);
  auto alice_laptop = server.Connect(laptop.token);
  auto bob = server.NewUser("bob");

  std::string chat = alice_phone->CreateChat({"bob"});
  EXPECT_EQ(Str(NextEntry(*alice_laptop), "event"), "created");  // the actor's other client
  EXPECT_EQ(Str(NextEntry(*bob), "event"), "created");
  alice_phone->Send(chat, "from my phone");
  json::object on_laptop = NextEntry(*alice_laptop);
  EXPECT_EQ(Str(on_laptop, "body"), "from my phone");
  EXPECT_EQ(Str(on_laptop, "fromClient"), phone.client_id);
  EXPECT_EQ(Str(NextEntry(*bob), "body"), "from my phone");
  // The phone itself got neither the chat event nor its own message.
  bob->Send(chat, "marker");
  EXPECT_EQ(Str(NextEntry(*alice_phone), "body"), "marker");
}

TEST_F(Delivery, ClientCreatedLaterDoesNotGetEarlierMessages) {
  auto alice = server.NewUser("alice");
  auto bob = server.NewUser("bob");
  std::string chat = alice->CreateChat({"bob"});
  alice->Send(chat, "before the tablet existed");
  FerrydProcess::Login tablet = server.LoginAs("bob", "tablet");
  auto bob_tablet = server.Connect(tablet.token);
  alice->Send(chat, "after");
  json::object m = NextEntry(*bob_tablet);
  EXPECT_EQ(Str(m, "body"), "after");
  EXPECT_EQ(Int(m, "seq"), 1);
}

TEST_F(Delivery, IdempotentSend) {
  auto alice = server.NewUser("alice");
  auto bob = server.NewUser("bob");
  std::string chat = alice->CreateChat({"bob"});
  json::object first = alice->Send(chat, "once", "same-id");
  json::object again = alice->Send(chat, "once", "same-id");
  EXPECT_EQ(Str(first, "messageId"), Str(again, "messageId"));
  EXPECT_EQ(Int(first, "ts"), Int(again, "ts"));
  alice->Send(chat, "next", "other-id");
  EXPECT_EQ(Str(NextEntry(*bob), "event"), "created");
  EXPECT_EQ(Str(NextEntry(*bob), "body"), "once");
  json::object next = NextEntry(*bob);  // no duplicate in between
  EXPECT_EQ(Str(next, "body"), "next");
  EXPECT_EQ(Int(next, "seq"), 3);
}

TEST_F(Delivery, AckedEntriesAreDeleted) {
  FerrydProcess::Login lb;
  auto alice = server.NewUser("alice");
  auto bob = server.NewUser("bob", &lb);
  std::string chat = alice->CreateChat({"bob"});
  alice->Send(chat, "one");
  alice->Send(chat, "two");
  EXPECT_EQ(Int(NextEntry(*bob), "seq"), 1);
  EXPECT_EQ(Int(NextEntry(*bob), "seq"), 2);
  EXPECT_EQ(Int(NextEntry(*bob), "seq"), 3);
  json::object ok = bob->Request(json::object{{"type", "ack"}, {"upTo", 2}});
  EXPECT_EQ(Str(ok, "type"), "ok");
  bob->ws().Close();
  // A fresh connection without `after` streams what is still held: only seq 3.
  auto bob2 = server.Connect(lb.token);
  json::object m = NextEntry(*bob2);
  EXPECT_EQ(Int(m, "seq"), 3);
  EXPECT_EQ(Str(m, "body"), "two");
}

TEST_F(Delivery, AckAboveHeadCountsAsHead) {
  FerrydProcess::Login lb;
  auto alice = server.NewUser("alice");
  auto bob = server.NewUser("bob", &lb);
  std::string chat = alice->CreateChat({"bob"});
  EXPECT_EQ(Int(NextEntry(*bob), "seq"), 1);
  bob->Request(json::object{{"type", "ack"}, {"upTo", 1000}});
  alice->Send(chat, "after the big ack");
  json::object m = NextEntry(*bob);  // seq 2 was not swallowed by the ack
  EXPECT_EQ(Int(m, "seq"), 2);
  bob->ws().Close();
  auto bob2 = server.Connect(lb.token);
  EXPECT_EQ(Int(NextEntry(*bob2), "seq"), 2);
}

TEST_F(Delivery, SyncResendsHeldEntries) {
  auto alice = server.NewUser("alice");
  auto bob = server.NewUser("bob");
  std::string chat = alice->CreateChat({"bob"});
  alice->Send(chat, "one");
  EXPECT_EQ(Int(NextEntry(*bob), "seq"), 1);
  EXPECT_EQ(Int(NextEntry(*bob), "seq"), 2);
  json::object ok = bob->Request(json::object{{"type", "sync"}, {"after", 0}});
  EXPECT_EQ(Int(ok, "head"), 2);
  EXPECT_EQ(Int(NextEntry(*bob), "seq"), 1);
  EXPECT_EQ(Int(NextEntry(*bob), "seq"), 2);
}

TEST_F(Delivery, ListChats) {
  auto alice = server.NewUser("alice");
  auto bob = server.NewUser("bob");
  std::string chat = alice->CreateChat({"bob"}, "pair");
  json::object r = bob->Request(json::object{{"type", "listChats"}});
  ASSERT_EQ(r["chats"].as_array().size(), 1u);
  json::object c = r["chats"].as_array()[0].as_object();
  EXPECT_EQ(Str(c, "chatId"), chat);
  EXPECT_EQ(Str(c, "name"), "pair");
  EXPECT_EQ(c["members"], Users({"alice", "bob"}));
}

TEST_F(Delivery, NewConnectionOfSameClientReplacesOld) {
  FerrydProcess::Login la;
  auto first = server.NewUser("alice", &la);
  auto second = server.Connect(la.token);
  auto closed = first->ws().WaitClosed(10s);
  ASSERT_TRUE(closed);
  EXPECT_EQ(closed->code, 4409);
  // The new one works.
  EXPECT_EQ(Str(second->Request(json::object{{"type", "listChats"}}), "type"), "ok");
}

// A write that waits for a full socket holds the addresses of the frames
// it writes (their headers included) while more frames are queued behind
// it: the queue must not move them. Thousands of small entries to a client
// with a small receive buffer keep a write waiting while every ack lets
// more pushes in; every frame must arrive whole and in order. (The queue
// was a vector of frames, which moved them when it grew: the waiting write
// then sent the freed headers, and this test read frames with opcodes 7
// and 14 in two runs of three.)
TEST_F(Delivery, ManySmallFramesToASlowReaderArriveIntact) {
  constexpr int kMessages = 3000;
  auto [alice, lb, chat] = BobOffline();
  auto body = [](int i) { return "m" + std::to_string(i) + std::string(400, '.'); };
  ASSERT_NO_FATAL_FAILURE(SendPipelined(*alice, chat, kMessages, body));

  std::unique_ptr<RawConnection> bob = RawHello(lb.token, /*receive_buffer=*/4 * 1024);
  std::int64_t last_seq = 0;
  while (last_seq < kMessages + 1) {  // seq 1 is the chat's creation
    std::optional<Frame> f = bob->ReadFrame(10s);
    ASSERT_TRUE(f) << "nothing whole in 10 s after seq " << last_seq;
    ASSERT_EQ(f->opcode, 1) << "after seq " << last_seq << ": " << f->Describe();
    boost::system::error_code ec;
    json::value v = json::parse(f->payload, ec);
    ASSERT_FALSE(ec) << "after seq " << last_seq << ": " << f->Describe();
    const json::object& event = v.as_object();
    if (!event.contains("seq")) continue;  // the hello's ok, a ping
    ASSERT_EQ(Int(event, "seq"), last_seq + 1);
    last_seq = Int(event, "seq");
    if (last_seq > 1) {
      ASSERT_EQ(Str(event, "body"), body(static_cast<int>(last_seq - 2)));
    }
    bob->SendText(json::serialize(json::object{{"type", "ack"}, {"upTo", last_seq}}));
  }
}

// Issue 10: a backlog bigger than the send queue's hard cap, and any request
// while it goes out, closed a client that reads and acks as fast as it can
// with 4429: the reply found the whole first page of the backlog queued.
// It drains instead. The request is the first frame after the backlog
// began (ferryd reads no more while the queue is over its soft limit), and
// the client's small receive buffer stands for a slow link. Even so the
// kernel takes in about 2 MB before the reply, so the backlog is 150 x
// 60 kB (the issue's 75 fits then).
TEST_F(Delivery, BigBacklogDrainsToAReadingClientWhoseRequestIsAnswered) {
  constexpr int kMessages = 150;
  auto [alice, lb, chat] = BobOffline();
  const std::string body(60'000, 'x');
  ASSERT_NO_FATAL_FAILURE(SendPipelined(*alice, chat, kMessages, [&](int) { return body; }));

  std::unique_ptr<RawConnection> bob = RawHello(lb.token, /*receive_buffer=*/64 * 1024);
  std::int64_t last_seq = 0;
  bool answered = false;
  while (last_seq < kMessages + 1 || !answered) {
    std::optional<Frame> f = bob->ReadFrame(10s);
    ASSERT_TRUE(f) << "nothing in 10 s after seq " << last_seq;
    ASSERT_EQ(f->opcode, 1) << "after seq " << last_seq << ": " << f->Describe();
    json::object event = json::parse(f->payload).as_object();
    if (Int(event, "id") == 2) {
      EXPECT_EQ(Str(event, "type"), "ok") << f->payload;
      answered = true;
    } else if (Int(event, "seq") > 0) {
      ASSERT_EQ(Int(event, "seq"), last_seq + 1);
      last_seq = Int(event, "seq");
      if (last_seq == 1) bob->SendText(R"({"type":"listChats","id":2})");
      bob->SendText(json::serialize(json::object{{"type", "ack"}, {"upTo", last_seq}}));
    }
  }
}

class DeliveryCrash : public ::testing::Test {
 protected:
  FerrydProcess server;
};

TEST_F(DeliveryCrash, AckedSendSurvivesKill9) {
  server.Start();
  server.Register("alice");
  server.Register("bob");
  auto la = server.LoginAs("alice");
  auto lb = server.LoginAs("bob");
  std::string chat, message_id;
  {
    auto alice = server.Connect(la.token);
    chat = alice->CreateChat({"bob"});
    message_id = Str(alice->Send(chat, "durable"), "messageId");
  }
  server.Kill9();  // right after the ok: only what was fsync'd survives
  server.Start();
  auto bob = server.Connect(lb.token);
  EXPECT_EQ(Str(NextEntry(*bob), "event"), "created");
  json::object m = NextEntry(*bob);
  EXPECT_EQ(Str(m, "body"), "durable");
  EXPECT_EQ(Str(m, "messageId"), message_id);
  // The idempotency record survived too.
  auto alice = server.Connect(la.token);
  EXPECT_EQ(Str(alice->Send(chat, "durable", "m1"), "messageId"), message_id);
}

TEST_F(DeliveryCrash, ManyConcurrentSendsAllSurviveKill9) {
  server.Start();
  server.Register("alice");
  server.Register("bob");
  auto la = server.LoginAs("alice");
  auto lb = server.LoginAs("bob");
  std::set<std::string> acknowledged;
  {
    auto alice = server.Connect(la.token);
    std::string chat = alice->CreateChat({"bob"});
    // Pipeline 200 sends, so they share group commits, then collect the oks.
    for (int i = 0; i < 200; ++i) {
      alice->ws().Send(json::object{{"type", "send"}, {"id", "s" + std::to_string(i)},
                                    {"chatId", chat}, {"clientMsgId", std::to_string(i)},
                                    {"body", "n" + std::to_string(i)}});
    }
    while (acknowledged.size() < 200) {
      auto f = alice->ws().Receive(10s);
      ASSERT_TRUE(f);
      if (Str(*f, "type") == "ok") acknowledged.insert(Str(*f, "messageId"));
    }
  }
  server.Kill9();
  server.Start();
  auto bob = server.Connect(lb.token);
  EXPECT_EQ(Str(NextEntry(*bob), "event"), "created");
  std::set<std::string> received;
  for (int i = 0; i < 200; ++i) {
    json::object m = NextEntry(*bob);
    EXPECT_EQ(Int(m, "seq"), 2 + i);
    received.insert(Str(m, "messageId"));
  }
  EXPECT_EQ(received, acknowledged);
}

}  // namespace
}  // namespace ferry::testing
