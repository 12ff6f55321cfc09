// End-to-end protocol v1.1: delivered and read receipts, read state across
// a user's devices, chatReceipts, typing and privacy, against a real ferryd.
// Waits are on conditions (the next entry, a reply), never on fixed sleeps;
// the absence of a receipt is shown by what arrives first instead of it.
#include <gtest/gtest.h>

#include <set>
#include <thread>

#include "e2e/e2e_util.h"

namespace ferry::testing {
namespace {

using client::Session;

json::object PositionOf(const json::object& message) {
  return json::object{{"ts", message.at("ts")}, {"messageId", message.at("messageId")}};
}

// The next entry of `s` that is not a message or chat event.
json::object NextReceipt(Session& s, client::Ms timeout = 10s) {
  for (;;) {
    json::object e = NextEntry(s, timeout);
    if (e.empty() || Str(e, "type") == "receipt") return e;
  }
}

json::object MarkRead(Session& s, const std::string& chat, json::object up_to) {
  return s.Call(json::object{{"type", "markRead"}, {"chatId", chat}, {"upTo", std::move(up_to)}});
}

class Receipts : public ::testing::Test {
 protected:
  void SetUp() override { server.Start(); }

  // A second client of `user` (already registered), connected.
  std::unique_ptr<Session> Device(const std::string& user, const std::string& device) {
    return server.Connect(server.LoginAs(user, device).token);
  }

  // Reads entries until a message arrives; returns it (not acked).
  json::object NextMessage(Session& s) {
    for (;;) {
      json::object e = NextEntry(s);
      if (e.empty() || Str(e, "type") == "message") return e;
    }
  }

  FerrydProcess server{{"--receipt-fanout-max", "25"}};
};

TEST_F(Receipts, OneToOneDeliveredThenReadReachEveryDeviceOnce) {
  auto alice = server.NewUser("alice");
  auto alice_laptop = Device("alice", "laptop");
  auto bob = server.NewUser("bob");
  auto bob_laptop = Device("bob", "laptop");
  std::string chat = alice->CreateChat({"bob"});
  alice->Send(chat, "one");
  alice->Send(chat, "two");
  alice->Send(chat, "three");
  json::object last;
  std::int64_t last_seq = 0;
  for (int i = 0; i < 3; ++i) {
    last = NextMessage(*bob);
    last_seq = Int(last, "seq");
  }
  ASSERT_EQ(Str(last, "body"), "three");
  bob->Ack(last_seq);  // one ack for the three: one delivered receipt, at the third

  for (Session* s : {alice.get(), alice_laptop.get()}) {
    json::object r = NextReceipt(*s);
    EXPECT_EQ(Str(r, "chatId"), chat);
    EXPECT_EQ(Str(r, "user"), "bob");
    EXPECT_EQ(Str(r, "kind"), "delivered");
    EXPECT_EQ(r["upTo"], PositionOf(last));
    EXPECT_GT(Int(r, "ts"), 0);
  }

  json::object read = MarkRead(*bob, chat, PositionOf(last));
  ASSERT_EQ(Str(read, "type"), "ok") << json::serialize(read);
  // alice's devices: the read receipt comes next (no second delivered one).
  for (Session* s : {alice.get(), alice_laptop.get()}) {
    json::object r = NextReceipt(*s);
    EXPECT_EQ(Str(r, "kind"), "read");
    EXPECT_EQ(Str(r, "user"), "bob");
    EXPECT_EQ(r["upTo"], PositionOf(last));
  }
  // bob's other device learns bob read it; the device that marked does not.
  json::object own = NextReceipt(*bob_laptop);
  EXPECT_EQ(Str(own, "kind"), "read");
  EXPECT_EQ(Str(own, "user"), "bob");
  EXPECT_EQ(own["upTo"], PositionOf(last));

  json::object info = alice->Request(json::object{{"type", "chatReceipts"}, {"chatId", chat}});
  json::array members = info["members"].as_array();
  ASSERT_EQ(members.size(), 1u);
  EXPECT_EQ(members[0].at("user"), "bob");
  EXPECT_EQ(members[0].at("delivered"), PositionOf(last));
  EXPECT_EQ(members[0].at("read"), PositionOf(last));
}

TEST_F(Receipts, AnOfflineSenderGetsTheReceiptsWhenItComesBack) {
  FerrydProcess::Login login;
  auto alice = server.NewUser("alice", &login);
  auto bob = server.NewUser("bob");
  std::string chat = alice->CreateChat({"bob"});
  alice->Send(chat, "while you were out");
  std::int64_t alice_seq = alice->last_seq();
  alice->ws().Close();
  alice.reset();

  json::object m = NextMessage(*bob);
  bob->Ack(Int(m, "seq"));
  ASSERT_EQ(Str(MarkRead(*bob, chat, PositionOf(m)), "type"), "ok");

  auto back = server.Connect(login.token, alice_seq);
  json::object delivered = NextReceipt(*back);
  EXPECT_EQ(Str(delivered, "kind"), "delivered");
  json::object read = NextReceipt(*back);
  EXPECT_EQ(Str(read, "kind"), "read");
  EXPECT_EQ(read["upTo"], PositionOf(m));
}

TEST_F(Receipts, AGroupOfFourGetsReceiptsFromEachMember) {
  auto alice = server.NewUser("alice");
  std::vector<std::unique_ptr<Session>> others;
  for (const char* name : {"bob", "carol", "dave"}) others.push_back(server.NewUser(name));
  std::string chat = alice->CreateChat({"bob", "carol", "dave"}, "four");
  alice->Send(chat, "hello all");
  for (auto& s : others) {
    json::object m = NextMessage(*s);
    s->Ack(Int(m, "seq"));
  }
  std::set<std::string> from;
  for (int i = 0; i < 3; ++i) {
    json::object r = NextReceipt(*alice);
    EXPECT_EQ(Str(r, "kind"), "delivered");
    from.insert(Str(r, "user"));
  }
  EXPECT_EQ(from, (std::set<std::string>{"bob", "carol", "dave"}));
}

TEST_F(Receipts, AGroupOfThirtyPushesNoReceiptsButChatReceiptsShowsEveryone) {
  auto alice = server.NewUser("alice");
  std::vector<std::string> names;
  std::vector<std::unique_ptr<Session>> members;
  for (int i = 1; i < 30; ++i) {
    names.push_back("member" + std::to_string(i));
    members.push_back(server.NewUser(names.back()));
  }
  std::string group = alice->CreateChat(names, "thirty");
  std::string direct = alice->CreateChat({"member1"});
  alice->Send(group, "to thirty");
  for (auto& s : members) {
    json::object m = NextMessage(*s);
    s->Ack(Int(m, "seq"));
  }
  // member1's acks are written in order: a receipt for the group would be
  // in alice's inbox before the one for the direct chat that follows.
  alice->Send(direct, "just you");
  json::object m = NextMessage(*members[0]);
  members[0]->Ack(Int(m, "seq"));
  json::object first = NextReceipt(*alice);
  EXPECT_EQ(Str(first, "chatId"), direct) << json::serialize(first);

  // chatReceipts: every member, each delivered, once the acks are in.
  auto deadline = std::chrono::steady_clock::now() + 10s;
  std::size_t delivered = 0;
  while (std::chrono::steady_clock::now() < deadline) {
    json::object info = alice->Request(json::object{{"type", "chatReceipts"}, {"chatId", group}});
    json::array rows = info["members"].as_array();
    ASSERT_EQ(rows.size(), 29u);
    delivered = 0;
    for (const json::value& row : rows) delivered += !row.at("delivered").is_null();
    if (delivered == 29) break;
    std::this_thread::sleep_for(20ms);  // polling a condition, bounded by the deadline
  }
  EXPECT_EQ(delivered, 29u);
}

TEST_F(Receipts, HiddenReadReceiptsStillReachTheReadersOwnDevices) {
  auto alice = server.NewUser("alice");
  auto bob = server.NewUser("bob");
  auto bob_laptop = Device("bob", "laptop");
  json::object privacy =
      bob->Request(json::object{{"type", "setPrivacy"}, {"readReceipts", false}});
  EXPECT_EQ(privacy["readReceipts"], false);
  EXPECT_EQ(privacy["lastSeen"], "everyone");
  std::string chat = alice->CreateChat({"bob"});
  alice->Send(chat, "read me");
  json::object m = NextMessage(*bob);
  ASSERT_EQ(Str(MarkRead(*bob, chat, PositionOf(m)), "type"), "ok");
  // bob's laptop hears of bob's read...
  json::object own = NextReceipt(*bob_laptop);
  EXPECT_EQ(Str(own, "kind"), "read");
  // ...alice only of the delivery (markRead raised delivered too), and
  // then of the next chat's creation, never of the read.
  json::object r = NextReceipt(*alice);
  EXPECT_EQ(Str(r, "kind"), "delivered");
  bob->CreateChat({"alice"}, "marker");
  json::object next = NextEntry(*alice);
  EXPECT_EQ(Str(next, "type"), "chat") << json::serialize(next);
  json::object info = alice->Request(json::object{{"type", "chatReceipts"}, {"chatId", chat}});
  EXPECT_TRUE(info["members"].as_array()[0].at("read").is_null());
  EXPECT_EQ(info["members"].as_array()[0].at("delivered"), PositionOf(m));
}

TEST_F(Receipts, LastSeenNobodyHidesItFromOthersOnly) {
  auto alice = server.NewUser("alice");
  auto bob = server.NewUser("bob");
  alice->CreateChat({"bob"});
  json::object set = bob->Request(json::object{{"type", "setPrivacy"}, {"lastSeen", "nobody"}});
  EXPECT_EQ(set["lastSeen"], "nobody");
  EXPECT_EQ(set["readReceipts"], true);
  json::object seen = alice->Request(json::object{{"type", "lastSeen"}, {"user", "bob"}});
  EXPECT_EQ(seen["online"], false);  // although bob is connected
  EXPECT_TRUE(seen["lastSeen"].is_null());
  json::object self = bob->Request(json::object{{"type", "lastSeen"}, {"user", "bob"}});
  EXPECT_EQ(self["online"], true);
  bob->Request(json::object{{"type", "setPrivacy"}, {"lastSeen", "everyone"}});
  EXPECT_EQ(alice->Request(json::object{{"type", "lastSeen"}, {"user", "bob"}})["online"], true);
}

TEST_F(Receipts, TypingReachesConnectedMembersOnlyAndIsRateLimited) {
  FerrydProcess::Login carol_login;
  auto alice = server.NewUser("alice");
  auto bob = server.NewUser("bob");
  auto carol = server.NewUser("carol", &carol_login);
  std::string chat = alice->CreateChat({"bob", "carol"});
  EXPECT_EQ(Str(NextEntry(*bob), "event"), "created");
  EXPECT_EQ(Str(NextEntry(*carol), "event"), "created");
  std::int64_t carol_seq = carol->last_seq();
  carol->Ack(carol_seq);
  carol->ws().Close();
  carol.reset();

  json::object typing{{"type", "typing"}, {"chatId", chat}, {"state", "composing"}};
  EXPECT_EQ(Str(alice->Call(typing), "type"), "ok");
  json::object again = alice->Call(typing);  // within the second: refused, with when to retry
  EXPECT_EQ(Str(again, "code"), "rate_limited") << json::serialize(again);
  EXPECT_GT(Int(again, "retryAfterMs"), 0);
  json::object paused{{"type", "typing"}, {"chatId", chat}, {"state", "paused"}};
  EXPECT_EQ(Str(alice->Call(paused), "type"), "ok");  // a pause always goes

  json::object t = NextEntry(*bob);
  EXPECT_EQ(Str(t, "type"), "typing");
  EXPECT_EQ(Str(t, "user"), "alice");
  EXPECT_EQ(Str(t, "chatId"), chat);
  EXPECT_EQ(Str(t, "state"), "composing");
  EXPECT_FALSE(t.contains("seq"));
  json::object p = NextEntry(*bob);
  EXPECT_EQ(Str(p, "state"), "paused");  // not a second composing
  // Never stored: carol, back, finds the next message and no typing before it.
  alice->Send(chat, "after typing");
  auto back = server.Connect(carol_login.token, carol_seq);
  json::object first = NextEntry(*back);
  EXPECT_EQ(Str(first, "type"), "message") << json::serialize(first);
}

TEST_F(Receipts, BadRequestsGetTheDocumentedErrors) {
  auto alice = server.NewUser("alice");
  auto bob = server.NewUser("bob");
  auto carol = server.NewUser("carol");
  std::string chat = alice->CreateChat({"bob"});
  std::string other = alice->CreateChat({"carol"});
  alice->Send(chat, "m");
  json::object m = NextMessage(*bob);
  json::object position = PositionOf(m);

  ExpectError(*bob, json::object{{"type", "markRead"}, {"chatId", "nochat"}, {"upTo", position}},
              "not_found");
  // A position of another chat is no message of this one.
  ExpectError(*carol, json::object{{"type", "markRead"}, {"chatId", other}, {"upTo", position}},
              "not_found");
  json::object forged = position;
  forged["ts"] = Int(m, "ts") + 1;
  ExpectError(*bob, json::object{{"type", "markRead"}, {"chatId", chat}, {"upTo", forged}},
              "not_found");
  ExpectError(*carol, json::object{{"type", "markRead"}, {"chatId", chat}, {"upTo", position}},
              "forbidden");
  ExpectError(*bob, json::object{{"type", "markRead"}, {"chatId", chat}, {"upTo", 5}},
              "bad_request");
  ExpectError(*carol, json::object{{"type", "chatReceipts"}, {"chatId", chat}}, "forbidden");
  ExpectError(*carol, json::object{{"type", "chatReceipts"}, {"chatId", "nochat"}}, "not_found");
  ExpectError(*carol, json::object{{"type", "typing"}, {"chatId", chat}, {"state", "composing"}},
              "forbidden");
  ExpectError(*carol, json::object{{"type", "typing"}, {"chatId", chat}, {"state", "shouting"}},
              "bad_request");
  // Without an id, typing is never answered, not even when refused: the
  // next frame carol gets is the reply to her next request.
  carol->ws().Send(json::object{{"type", "typing"}, {"chatId", "nochat"}, {"state", "composing"}});
  carol->ws().Send(json::object{{"type", "listChats"}, {"id", 77}});
  std::optional<json::object> next;
  do {  // entries and pings may come between: the first reply is what counts
    next = carol->ws().Receive(10s);
  } while (next && Str(*next, "type") != "ok" && Str(*next, "type") != "error");
  ASSERT_TRUE(next.has_value());
  EXPECT_EQ(Str(*next, "type"), "ok") << json::serialize(*next);
  EXPECT_EQ(Int(*next, "id"), 77);
  ExpectError(*carol, json::object{{"type", "setPrivacy"}}, "bad_request");
  ExpectError(*carol, json::object{{"type", "setPrivacy"}, {"lastSeen", "friends"}}, "bad_request");
}

}  // namespace
}  // namespace ferry::testing
