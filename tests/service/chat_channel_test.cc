// Chat channels: a chat above config.chat_channel_threshold (25) is
// published once on `c:{chat}` (and per user too during the grace period),
// and the sessions of its members subscribe that channel at hello, on an
// entry marked big, or when a heartbeat finds notifications missing.
#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <map>

#include "protocol/protocol.h"
#include "service/chat_channel_grace.h"
#include "service/session_harness.h"

namespace ferry::testing {
namespace {

class ChatChannelTest : public SessionTest {
 protected:
  // Registers `n` users (each logged in once, so each has a client) and
  // keeps their tokens; none of them connects.
  std::vector<std::string> Members(int n) {
    std::vector<std::string> names;
    for (int i = 0; i < n; ++i) {
      std::string name = "member" + std::to_string(i);
      tokens[name] = TokenFor(name);
      names.push_back(name);
    }
    return names;
  }

  std::string CreateChatWith(Conn& owner, const std::vector<std::string>& others) {
    json::array members;
    for (const std::string& m : others) members.emplace_back(m);
    json::object r = Call(owner, {{"type", "createChat"}, {"members", std::move(members)}});
    EXPECT_EQ(r.at("type"), "ok") << json::serialize(r);
    return std::string(r.at("chatId").as_string());
  }

  static protocol::BusEntries Decode(const std::string& payload) {
    std::optional<protocol::BusMessage> m = protocol::DecodeBus(payload);
    EXPECT_TRUE(m && std::holds_alternative<protocol::BusEntries>(*m));
    return m ? std::get<protocol::BusEntries>(*m) : protocol::BusEntries{};
  }

  std::map<std::string, std::string> tokens;
};

// 30 members: one chat-channel publish listing all 29 recipients; per-user
// publishes only for the chat event and within the grace period after it.
TEST_F(ChatChannelTest, BigChatPublishesOnceOnTheChatChannelAfterTheGrace) {
  Conn& owner = Connect("owner");
  std::vector<std::string> names = Members(29);
  bus.ClearPublished();
  std::string chat = CreateChatWith(owner, names);
  // The `created` event: per user only, marked big.
  EXPECT_EQ(bus.EntriesOn("c:").size(), 0u);
  std::vector<std::string> created = bus.EntriesOn("u:");
  ASSERT_EQ(created.size(), 29u);
  EXPECT_TRUE(Decode(created[0]).big_chat);
  EXPECT_EQ(Decode(created[0]).chat_id, chat);

  bus.ClearPublished();
  SendMsg(owner, chat, "in the grace period");
  std::vector<std::string> on_chat = bus.EntriesOn(ChatChannel(chat));
  ASSERT_EQ(on_chat.size(), 1u);
  protocol::BusEntries all = Decode(on_chat[0]);
  EXPECT_EQ(all.deliveries.size(), 29u);  // every recipient client, in one publish
  EXPECT_TRUE(all.big_chat);
  EXPECT_EQ(bus.EntriesOn("u:").size(), 29u);  // and per user, while nodes subscribe

  Settle();
  clock.Advance(config.chat_channel_grace_ms);
  bus.ClearPublished();
  SendMsg(owner, chat, "after the grace period");
  EXPECT_EQ(bus.EntriesOn(ChatChannel(chat)).size(), 1u);
  EXPECT_EQ(bus.EntriesOn("u:").size(), 0u);
  EXPECT_EQ(bus.EntriesOn("c:").size(), 1u);
}

TEST_F(ChatChannelTest, SmallChatPublishesOnlyPerUser) {
  Conn& alice = Connect("alice");
  Connect("bob");
  std::string chat = CreateChat(alice, "bob");
  bus.ClearPublished();
  SendMsg(alice, chat, "two of us");
  EXPECT_EQ(bus.EntriesOn("c:").size(), 0u);
  std::vector<std::string> per_user = bus.EntriesOn(UserChannel("bob"));
  ASSERT_EQ(per_user.size(), 1u);
  EXPECT_EQ(bus.EntriesOn("u:").size(), 1u);  // alice's only client sent it
  EXPECT_FALSE(Decode(per_user[0]).big_chat);
}

// A member connecting later subscribes the chat channel at hello, and its
// first inbox read waits until the bus confirmed it.
TEST_F(ChatChannelTest, MemberSubscribesTheChatChannelBeforeItsFirstRead) {
  Conn& owner = Connect("owner");
  std::vector<std::string> names = Members(29);
  std::string chat = CreateChatWith(owner, names);
  SendMsg(owner, chat, "waiting in the inbox");
  bus.HoldReady("c:");
  Conn& member = ConnectWithToken(tokens[names[0]]);
  ASSERT_TRUE(RunUntil([&] { return bus.HeldCount() == 1; }));
  EXPECT_EQ(bus.SubscribeCalls(ChatChannel(chat)), 1);
  Call(member, {{"type", "listChats"}});  // a store round trip: a read would have pushed by now
  EXPECT_TRUE(member.Entries().empty());
  bus.ReleaseHeld();
  ASSERT_TRUE(RunUntil([&] { return member.Entries().size() == 2; }));
  EXPECT_EQ(member.Entries()[1].at("body"), "waiting in the inbox");
}

// A connected member learns of the chat from its `created` event (marked
// big), subscribes once, and then receives over the chat channel alone.
TEST_F(ChatChannelTest, EntryMarkedBigMakesTheSessionSubscribeOnce) {
  Conn& member = Connect("early");
  Conn& owner = Connect("owner");
  std::vector<std::string> names = Members(28);
  names.push_back("early");
  std::string chat = CreateChatWith(owner, names);
  ASSERT_TRUE(RunUntil([&] { return bus.Subscriptions(ChatChannel(chat)) == 1; }));
  Settle();
  clock.Advance(config.chat_channel_grace_ms);  // from now on the chat channel only
  SendMsg(owner, chat, "one");
  SendMsg(owner, chat, "two");
  ASSERT_TRUE(RunUntil([&] { return member.Entries().size() == 3; }));
  EXPECT_EQ(member.Entries()[2].at("body"), "two");
  EXPECT_EQ(bus.SubscribeCalls(ChatChannel(chat)), 1);  // once per session and chat
}

// What the chat channel carried before the bus confirmed the subscription
// is read from the inbox once it is confirmed.
TEST_F(ChatChannelTest, EntriesBeforeALateSubscriptionIsConfirmedAreReadFromTheInbox) {
  Conn& member = Connect("early");
  Conn& owner = Connect("owner");
  std::vector<std::string> names = Members(28);
  names.push_back("early");
  bus.HoldReady("c:");
  std::string chat = CreateChatWith(owner, names);
  ASSERT_TRUE(RunUntil([&] { return bus.HeldCount() == 1; }));
  Settle();
  clock.Advance(config.chat_channel_grace_ms);
  SendMsg(owner, chat, "before the confirmation");
  Call(member, {{"type", "listChats"}});   // a store round trip
  EXPECT_EQ(member.Entries().size(), 1u);  // only `created`: the message went to c: alone
  bus.ReleaseHeld();
  ASSERT_TRUE(RunUntil([&] { return member.Entries().size() == 2; }));
  EXPECT_EQ(member.Entries()[1].at("body"), "before the confirmation");
}

// The mark was lost: a heartbeat finds the store ahead of the notifications,
// re-reads the chat list and subscribes.
TEST_F(ChatChannelTest, HeartbeatBehindTheStoreRefreshesChatChannels) {
  Conn& member = Connect("early");
  Conn& owner = Connect("owner");
  std::vector<std::string> names = Members(28);
  names.push_back("early");
  bus.drop = true;
  std::string chat = CreateChatWith(owner, names);
  bus.drop = false;
  Settle();
  clock.Advance(config.chat_channel_grace_ms);
  SendMsg(owner, chat, "healed");
  ASSERT_TRUE(RunUntil([&] { return member.Entries().size() == 2; }));
  EXPECT_EQ(member.Entries()[1].at("body"), "healed");
  EXPECT_EQ(bus.Subscriptions(ChatChannel(chat)), 1);
}

TEST_F(ChatChannelTest, ClosingReleasesTheChatChannels) {
  Conn& owner = Connect("owner");
  std::vector<std::string> names = Members(29);
  std::string chat = CreateChatWith(owner, names);
  Conn& member = ConnectWithToken(tokens[names[0]]);
  ASSERT_TRUE(RunUntil([&] { return bus.Subscriptions(ChatChannel(chat)) == 1; }));
  member.session->OnClosed();
  EXPECT_EQ(bus.Subscriptions(ChatChannel(chat)), 0);
  EXPECT_EQ(bus.UnsubscribeCalls(ChatChannel(chat)), 1);
}

TEST(ChatChannelGraceTest, GraceStartsAtFirstSightAndAgainAfterShrinking) {
  ChatChannelGrace grace(/*grace_ms=*/100, /*max_chats=*/2);
  EXPECT_TRUE(grace.InGrace("a", 1000, false));
  EXPECT_TRUE(grace.InGrace("a", 1099, false));
  EXPECT_FALSE(grace.InGrace("a", 1100, false));
  EXPECT_TRUE(grace.InGrace("a", 1100, /*restart=*/true));  // a membership change
  EXPECT_FALSE(grace.InGrace("a", 1200, false));
  grace.Forget("a");  // published small: the next crossing gets a grace
  EXPECT_TRUE(grace.InGrace("a", 1300, false));
  EXPECT_FALSE(grace.InGrace("a", 1400, false));
  // Full (2 chats): a third forgets them all, so "a" is new again.
  EXPECT_TRUE(grace.InGrace("b", 1400, false));
  EXPECT_TRUE(grace.InGrace("c", 1400, false));
  EXPECT_TRUE(grace.InGrace("a", 1400, false));
}

}  // namespace
}  // namespace ferry::testing
