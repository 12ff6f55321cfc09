// Cluster e2e: users' connections on different ferryd nodes of one cluster
// (deploy/cluster, started by the ctest fixture), talking to the nodes
// directly so each test decides where everyone is.
//
// "Live" means through the bus: NextLive() answers pings with a pong but
// never syncs, so an entry the bus failed to route never arrives there (the
// server pushes an entry only on a notification or a client's sync).
#include <gtest/gtest.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <set>

#include "cluster/cluster_env.h"

namespace ferry::cluster_test {
namespace {

using namespace std::chrono_literals;

std::string Str(const json::object& o, std::string_view key) {
  const json::value* v = o.if_contains(key);
  return v && v->is_string() ? std::string(v->get_string()) : std::string();
}

std::int64_t Int(const json::object& o, std::string_view key) {
  const json::value* v = o.if_contains(key);
  return v && v->is_int64() ? v->get_int64() : -1;
}

// The next event of one of `types` pushed to `s`, skipping the others;
// nullopt (and a test failure) if none comes within `timeout`.
json::object NextOfType(client::Session& s, const std::set<std::string>& types,
                        client::Ms timeout = 5s) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    auto left = std::chrono::duration_cast<client::Ms>(deadline - std::chrono::steady_clock::now());
    auto e = s.NextEvent(left + 1ms);
    if (!e) {
      if (s.ws().close_info()) break;
      continue;
    }
    if (Str(*e, "type") == "ping") {
      s.ws().Send(json::object{{"type", "pong"}});
      continue;
    }
    if (types.contains(Str(*e, "type"))) return *e;
  }
  ADD_FAILURE() << "no entry was pushed in time"
                << (s.ws().close_info()
                        ? " (closed " + std::to_string(s.ws().close_info()->code) + ")"
                        : "");
  return {};
}

// The next message/chat entry pushed to `s` by a notification.
json::object NextLive(client::Session& s, client::Ms timeout = 5s) {
  return NextOfType(s, {"message", "chat"}, timeout);
}

class CrossNode : public ::testing::Test {
 protected:
  void SetUp() override {
    cluster_ = Cluster::Load();
    ASSERT_GE(cluster_.nodes.size(), 3u) << "the cluster suite needs 3 nodes";
    for (const Endpoint& e : cluster_.nodes) {
      ASSERT_TRUE(Cluster::WaitHealth(e, 200, 30s)) << "a node is not healthy";
    }
  }
  const Endpoint& Node(int k) const { return cluster_.nodes.at(k - 1); }
  Cluster cluster_;
};

TEST_F(CrossNode, OneToOneBothWays) {
  Account a = NewAccount(Node(1), "al");
  Account b = NewAccount(Node(2), "bo");
  auto alice = Connect(Node(1), a);
  auto bob = Connect(Node(2), b);
  std::string chat = alice->CreateChat({b.user}, "lunch");
  json::object created = NextLive(*bob);
  EXPECT_EQ(Str(created, "event"), "created");
  EXPECT_EQ(Int(created, "seq"), 1);

  json::object ok = alice->Send(chat, "hello across nodes", "m-1");
  json::object m = NextLive(*bob);
  EXPECT_EQ(Str(m, "body"), "hello across nodes");
  EXPECT_EQ(Str(m, "messageId"), Str(ok, "messageId"));
  EXPECT_EQ(Int(m, "seq"), 2);

  bob->Send(chat, "and back");
  json::object r = NextLive(*alice);
  EXPECT_EQ(Str(r, "body"), "and back");
  EXPECT_EQ(Int(r, "seq"), 1);
}

// 30 members (above the 25-member chat-channel threshold), spread over all
// three nodes; every one of them gets the message live.
TEST_F(CrossNode, ThirtyMemberGroupOverThreeNodes) {
  Account owner = NewAccount(Node(1), "own");
  auto owner_s = Connect(Node(1), owner);
  std::vector<Account> members;
  std::vector<std::unique_ptr<client::Session>> sessions;
  std::vector<std::string> names;
  for (int i = 0; i < 29; ++i) {
    const Endpoint& node = Node(1 + i % 3);
    members.push_back(NewAccount(node, "gm"));
    sessions.push_back(Connect(node, members.back()));
    names.push_back(members.back().user);
  }
  std::string chat = owner_s->CreateChat(names, "thirty");
  for (auto& s : sessions) EXPECT_EQ(Str(NextLive(*s), "event"), "created");
  owner_s->Send(chat, "to all thirty");
  for (auto& s : sessions) {
    json::object m = NextLive(*s);
    EXPECT_EQ(Str(m, "body"), "to all thirty");
    EXPECT_EQ(Int(m, "seq"), 2);
  }
  // A member on node 3 answers; the owner on node 1 and a member on node 2 get it.
  sessions[2]->Send(chat, "from node 3");
  EXPECT_EQ(Str(NextLive(*owner_s), "body"), "from node 3");
  EXPECT_EQ(Str(NextLive(*sessions[1]), "body"), "from node 3");
}

TEST_F(CrossNode, OfflineDeliveryOnAnotherNode) {
  Account a = NewAccount(Node(1), "al");
  Account b = NewAccount(Node(2), "bo");
  auto alice = Connect(Node(1), a);
  std::string chat;
  {
    auto bob = Connect(Node(2), b);
    chat = alice->CreateChat({b.user});
    EXPECT_EQ(Int(NextLive(*bob), "seq"), 1);
    bob->Ack(1);
    bob->ws().Close();
  }
  for (int i = 0; i < 5; ++i) alice->Send(chat, "missed " + std::to_string(i));
  auto bob = Connect(Node(3), b, 1);
  for (int i = 0; i < 5; ++i) {
    auto m = bob->NextEntry(10s);
    ASSERT_TRUE(m);
    EXPECT_EQ(Str(*m, "body"), "missed " + std::to_string(i));
    EXPECT_EQ(Int(*m, "seq"), 2 + i);
  }
}

TEST_F(CrossNode, MultiDeviceOnTwoNodes) {
  Account phone = NewAccount(Node(1), "md");
  Account laptop = Login(Node(2), phone.user, "laptop");
  Account b = NewAccount(Node(3), "bo");
  auto on_phone = Connect(Node(1), phone);
  auto on_laptop = Connect(Node(2), laptop);
  auto bob = Connect(Node(3), b);
  std::string chat = bob->CreateChat({phone.user});
  EXPECT_EQ(Str(NextLive(*on_phone), "event"), "created");
  EXPECT_EQ(Str(NextLive(*on_laptop), "event"), "created");
  bob->Send(chat, "to both devices");
  EXPECT_EQ(Str(NextLive(*on_phone), "body"), "to both devices");
  EXPECT_EQ(Str(NextLive(*on_laptop), "body"), "to both devices");
  // The phone's own send reaches the laptop (its other device) and bob.
  on_phone->Send(chat, "from the phone");
  EXPECT_EQ(Str(NextLive(*on_laptop), "body"), "from the phone");
  EXPECT_EQ(Str(NextLive(*bob), "body"), "from the phone");
}

TEST_F(CrossNode, NewHelloOnAnotherNodeReplacesTheOldConnection) {
  Account a = NewAccount(Node(1), "kk");
  auto first = Connect(Node(1), a);
  auto second = Connect(Node(2), a);
  auto closed = first->ws().WaitClosed(10s);
  ASSERT_TRUE(closed);
  EXPECT_EQ(closed->code, 4409);
  // The new connection is the one that stays.
  EXPECT_EQ(Str(second->Request(json::object{{"type", "listChats"}}), "type"), "ok");
}

TEST_F(CrossNode, DeletingAClientClosesItsConnectionOnAnotherNode) {
  Account phone = NewAccount(Node(1), "rv");
  Account laptop = Login(Node(1), phone.user, "laptop");
  auto on_laptop = Connect(Node(3), laptop);
  auto r = client::Http(Node(2), "DELETE", "/v1/clients/" + laptop.client_id, {}, phone.token);
  ASSERT_EQ(r.status, 204) << r.raw;
  auto closed = on_laptop->ws().WaitClosed(10s);
  ASSERT_TRUE(closed);
  EXPECT_EQ(closed->code, 4401);
}

TEST_F(CrossNode, LastSeenAcrossNodes) {
  Account a = NewAccount(Node(1), "ls");
  Account b = NewAccount(Node(2), "ls");
  auto alice = Connect(Node(1), a);
  std::string chat;
  {
    auto bob = Connect(Node(2), b);
    chat = alice->CreateChat({b.user});
    json::object seen = alice->Request(json::object{{"type", "lastSeen"}, {"user", b.user}});
    EXPECT_EQ(seen["online"], true) << json::serialize(seen);
    bob->ws().Close();
  }
  // Offline once node 2 has seen the close; the time is bob's disconnect.
  json::object seen;
  auto deadline = std::chrono::steady_clock::now() + 10s;
  do {
    seen = alice->Request(json::object{{"type", "lastSeen"}, {"user", b.user}});
    if (seen["online"] == false) break;
    std::this_thread::sleep_for(50ms);
  } while (std::chrono::steady_clock::now() < deadline);
  EXPECT_EQ(seen["online"], false) << json::serialize(seen);
  EXPECT_GT(Int(seen, "lastSeen"), 0) << json::serialize(seen);
}

// Protocol v1.1 across nodes: typing goes over the bus only (never
// stored), a receipt is an inbox entry of the sender's, written and
// published by the node the recipient acked on.
TEST_F(CrossNode, TypingAndReceiptsAcrossNodes) {
  Account a = NewAccount(Node(1), "ty");
  Account b = NewAccount(Node(3), "ty");
  auto alice = Connect(Node(1), a);
  auto bob = Connect(Node(3), b);
  std::string chat = alice->CreateChat({b.user});
  EXPECT_EQ(Str(NextLive(*bob), "event"), "created");

  json::object typing{{"type", "typing"}, {"chatId", chat}, {"state", "composing"}};
  json::object accepted = alice->Call(typing);
  ASSERT_EQ(Str(accepted, "type"), "ok") << json::serialize(accepted);
  json::object t = NextOfType(*bob, {"typing"});
  EXPECT_EQ(Str(t, "user"), a.user);
  EXPECT_EQ(Str(t, "chatId"), chat);
  EXPECT_EQ(Str(t, "state"), "composing");

  json::object ok = alice->Send(chat, "did you see it?", "m-1");
  json::object m = NextLive(*bob);
  ASSERT_EQ(Str(m, "messageId"), Str(ok, "messageId"));
  bob->Ack(Int(m, "seq"));
  json::object r = NextOfType(*alice, {"receipt"});
  EXPECT_EQ(Str(r, "kind"), "delivered");
  EXPECT_EQ(Str(r, "user"), b.user);
  EXPECT_EQ(Str(r, "chatId"), chat);
  ASSERT_TRUE(r.contains("upTo")) << json::serialize(r);
  EXPECT_EQ(Str(r.at("upTo").as_object(), "messageId"), Str(ok, "messageId"));
}

TEST_F(CrossNode, AttachmentUploadedOnOneNodeFetchedOnAnother) {
  Account a = NewAccount(Node(1), "at");
  Account b = NewAccount(Node(2), "at");
  auto alice = Connect(Node(1), a);
  auto bob = Connect(Node(2), b);
  std::string chat = alice->CreateChat({b.user});
  NextLive(*bob);
  std::string bytes(100'000, 'x');
  for (std::size_t i = 0; i < bytes.size(); ++i) bytes[i] = static_cast<char>('a' + i % 26);
  json::object target = alice->AttachTarget("application/octet-stream", bytes.size());
  // The URL names the one cluster URL (HAProxy), whichever node minted it.
  std::string put_url = Str(target, "uploadUrl");
  EXPECT_EQ(put_url.rfind(cluster_.url, 0), 0u) << put_url;
  auto put = client::PutBytes(put_url, bytes, {{"Content-Type", "application/octet-stream"}});
  ASSERT_EQ(put.status / 100, 2) << put.raw;
  alice->Send(chat, "a file", {}, {Str(target, "attachmentId")});
  json::object m = NextLive(*bob);
  ASSERT_TRUE(m["attachments"].is_array());
  ASSERT_EQ(m["attachments"].as_array().size(), 1u);
  std::string get_url = Str(m["attachments"].as_array()[0].as_object(), "url");
  auto got = client::GetUrl(get_url);
  ASSERT_EQ(got.status, 200);
  EXPECT_EQ(got.raw, bytes);
}

}  // namespace
}  // namespace ferry::cluster_test
