// The Store conformance suite, part two (see conformance.h): chat creation
// and membership changes, SharesChat/ListChats, last seen, Sweep, and the
// all-or-nothing-per-op semantics of WriteBatch.
#include <gmock/gmock.h>

#include <algorithm>
#include <set>
#include <utility>

#include "conformance.h"

namespace ferry::store_test {
namespace {

using ::testing::ElementsAre;
using ::testing::IsEmpty;
using Kind = ChatOp::Kind;

std::vector<std::string> ChatIds(const std::vector<ChatInfo>& chats) {
  std::vector<std::string> ids;
  for (const ChatInfo& c : chats) ids.push_back(c.chat_id);
  return ids;
}

}  // namespace

// ---- Chats ----

TEST_P(StoreConformance, CreateChatDeliversCreatedEvent) {
  ASSERT_NO_FATAL_FAILURE(SetUpCast());
  ChatOp op = Chat(Kind::create, "c2", "alice", alice_phone_, {"carol", "bob", "alice"});
  ASSERT_EQ(op.status, Errc::ok);
  ASSERT_TRUE(op.event.has_value());
  EXPECT_EQ(op.event->chat_id, "c2");
  EXPECT_EQ(op.event->event, "created");
  EXPECT_THAT(op.event->members, ElementsAre("alice", "bob", "carol"));
  EXPECT_EQ(op.event->by, "alice");
  EXPECT_EQ(op.event->ts, kNow);
  EXPECT_EQ(RecipientsOf(op.deliveries),
            (Recipients{{alice_laptop_, "alice"}, {bob_phone_, "bob"}, {carol_phone_, "carol"}}));

  InboxPage bob = Read(bob_phone_);
  ASSERT_THAT(Seqs(bob), ElementsAre(1, 2));
  const ChatEvent& got = std::get<ChatEvent>(bob.entries[1].item);
  EXPECT_EQ(got.chat_id, "c2");
  EXPECT_EQ(got.event, "created");
  EXPECT_THAT(got.members, ElementsAre("alice", "bob", "carol"));
  EXPECT_EQ(got.by, "alice");
  EXPECT_EQ(got.ts, kNow);

  auto chats = store_->ListChats("carol");
  ASSERT_TRUE(chats);
  ASSERT_EQ(chats->size(), 1u);
  EXPECT_EQ((*chats)[0].chat_id, "c2");
  EXPECT_EQ((*chats)[0].name, "name of c2");
  EXPECT_THAT((*chats)[0].members, ElementsAre("alice", "bob", "carol"));
}

TEST_P(StoreConformance, CreateChatWithUnknownUserWritesNothing) {
  ASSERT_NO_FATAL_FAILURE(SetUpCast());
  ChatOp op = Chat(Kind::create, "c2", "alice", alice_phone_, {"alice", "bob", "nobody"});
  EXPECT_EQ(op.status, Errc::not_found);
  EXPECT_FALSE(op.event.has_value());
  EXPECT_THAT(op.deliveries, IsEmpty());
  EXPECT_THAT(ChatIds(*store_->ListChats("bob")), ElementsAre("c1"));
  EXPECT_EQ(Head(bob_phone_), 1);
  EXPECT_EQ(Send("c2", "alice", alice_phone_, "m1").status, Errc::not_found);
}

TEST_P(StoreConformance, CreateChatRespectsMaxMembers) {
  ASSERT_NO_FATAL_FAILURE(SetUpCast());
  ChatOp over = Chat(Kind::create, "c2", "alice", alice_phone_, {"alice", "bob", "carol"}, 2);
  EXPECT_EQ(over.status, Errc::too_many_members);
  EXPECT_THAT(over.deliveries, IsEmpty());
  EXPECT_THAT(*store_->ListChats("carol"), IsEmpty());
  ChatOp at = Chat(Kind::create, "c3", "alice", alice_phone_, {"alice", "bob", "carol"}, 3);
  EXPECT_EQ(at.status, Errc::ok);
}

TEST_P(StoreConformance, AddMembersAnnouncesOnlyNewMembers) {
  ASSERT_NO_FATAL_FAILURE(SetUpCast());
  ChatOp op = Chat(Kind::add, "c1", "bob", bob_phone_, {"carol", "alice"});
  ASSERT_EQ(op.status, Errc::ok);
  ASSERT_TRUE(op.event.has_value());
  EXPECT_EQ(op.event->event, "membersAdded");
  EXPECT_THAT(op.event->members, ElementsAre("carol"));
  EXPECT_EQ(op.event->by, "bob");
  EXPECT_EQ(
      RecipientsOf(op.deliveries),
      (Recipients{{alice_phone_, "alice"}, {alice_laptop_, "alice"}, {carol_phone_, "carol"}}));
  InboxPage carol = Read(carol_phone_);
  ASSERT_EQ(carol.entries.size(), 1u);
  EXPECT_THAT(std::get<ChatEvent>(carol.entries[0].item).members, ElementsAre("carol"));
  EXPECT_THAT((*store_->ListChats("carol"))[0].members, ElementsAre("alice", "bob", "carol"));

  // Adding members again changes nothing and notifies nobody.
  ChatOp again = Chat(Kind::add, "c1", "alice", alice_phone_, {"carol", "bob"});
  EXPECT_EQ(again.status, Errc::ok);
  EXPECT_FALSE(again.event.has_value());
  EXPECT_THAT(again.deliveries, IsEmpty());
  EXPECT_EQ(Head(bob_phone_), 1);
}

TEST_P(StoreConformance, AddMembersChecksActorUsersAndLimit) {
  ASSERT_NO_FATAL_FAILURE(SetUpCast());
  EXPECT_EQ(Chat(Kind::add, "c1", "carol", carol_phone_, {"carol"}).status, Errc::forbidden);
  EXPECT_EQ(Chat(Kind::add, "nope", "alice", alice_phone_, {"carol"}).status, Errc::not_found);
  ChatOp unknown = Chat(Kind::add, "c1", "alice", alice_phone_, {"carol", "nobody"});
  EXPECT_EQ(unknown.status, Errc::not_found);
  EXPECT_THAT(unknown.deliveries, IsEmpty());
  ChatOp over = Chat(Kind::add, "c1", "alice", alice_phone_, {"carol", "dave"}, 3);
  EXPECT_EQ(over.status, Errc::too_many_members);
  EXPECT_FALSE(over.event.has_value());
  EXPECT_THAT((*store_->ListChats("alice"))[0].members, ElementsAre("alice", "bob"));
  EXPECT_EQ(Head(bob_phone_), 1);
  EXPECT_EQ(Chat(Kind::add, "c1", "alice", alice_phone_, {"carol"}, 3).status, Errc::ok);
}

TEST_P(StoreConformance, RemoveMembersNotifiesRemainingAndRemoved) {
  ASSERT_NO_FATAL_FAILURE(SetUpCast());
  ASSERT_EQ(Chat(Kind::add, "c1", "alice", alice_phone_, {"carol"}).status, Errc::ok);
  ChatOp op = Chat(Kind::remove, "c1", "alice", alice_phone_, {"carol", "dave"});
  ASSERT_EQ(op.status, Errc::ok);
  ASSERT_TRUE(op.event.has_value());
  EXPECT_EQ(op.event->event, "membersRemoved");
  EXPECT_THAT(op.event->members, ElementsAre("carol"));  // dave was never a member
  EXPECT_EQ(RecipientsOf(op.deliveries),
            (Recipients{{alice_laptop_, "alice"}, {bob_phone_, "bob"}, {carol_phone_, "carol"}}));
  EXPECT_THAT(*store_->ListChats("carol"), IsEmpty());

  // The removed user no longer sends or receives in the chat.
  EXPECT_EQ(Send("c1", "carol", carol_phone_, "m1").status, Errc::forbidden);
  SendOp sent = Send("c1", "bob", bob_phone_, "m2");
  EXPECT_EQ(RecipientsOf(sent.deliveries),
            (Recipients{{alice_phone_, "alice"}, {alice_laptop_, "alice"}}));
  EXPECT_EQ(Head(carol_phone_), 2);

  ChatOp nothing = Chat(Kind::remove, "c1", "alice", alice_phone_, {"carol"});
  EXPECT_EQ(nothing.status, Errc::ok);
  EXPECT_FALSE(nothing.event.has_value());
  EXPECT_THAT(nothing.deliveries, IsEmpty());
}

TEST_P(StoreConformance, RemoveMembersChecksActorAndUsers) {
  ASSERT_NO_FATAL_FAILURE(SetUpCast());
  EXPECT_EQ(Chat(Kind::remove, "c1", "carol", carol_phone_, {"bob"}).status, Errc::forbidden);
  EXPECT_EQ(Chat(Kind::remove, "nope", "alice", alice_phone_, {"bob"}).status, Errc::not_found);
  EXPECT_EQ(Chat(Kind::remove, "c1", "alice", alice_phone_, {"bob", "nobody"}).status,
            Errc::not_found);
  EXPECT_THAT((*store_->ListChats("bob"))[0].members, ElementsAre("alice", "bob"));

  // Leaving: the leaver's acting client is skipped, its other clients not.
  std::string bob_laptop = Client("bob", "laptop");
  ChatOp leave = Chat(Kind::remove, "c1", "bob", bob_phone_, {"bob"});
  ASSERT_EQ(leave.status, Errc::ok);
  EXPECT_THAT(leave.event->members, ElementsAre("bob"));
  EXPECT_EQ(RecipientsOf(leave.deliveries),
            (Recipients{{alice_phone_, "alice"}, {alice_laptop_, "alice"}, {bob_laptop, "bob"}}));
  EXPECT_EQ(Head(bob_phone_), 1);
  EXPECT_THAT((*store_->ListChats("alice"))[0].members, ElementsAre("alice"));
}

TEST_P(StoreConformance, SharesChatFollowsMembership) {
  ASSERT_NO_FATAL_FAILURE(SetUpCast());
  EXPECT_TRUE(*store_->SharesChat("alice", "bob"));
  EXPECT_TRUE(*store_->SharesChat("bob", "alice"));
  EXPECT_FALSE(*store_->SharesChat("alice", "carol"));
  EXPECT_FALSE(*store_->SharesChat("alice", "nobody"));
  EXPECT_TRUE(*store_->SharesChat("dave", "dave"));
  EXPECT_FALSE(*store_->SharesChat("nobody", "nobody"));
  ASSERT_EQ(Chat(Kind::remove, "c1", "alice", alice_phone_, {"bob"}).status, Errc::ok);
  EXPECT_FALSE(*store_->SharesChat("alice", "bob"));
}

TEST_P(StoreConformance, ListChatsShowsEveryChatOfUser) {
  ASSERT_NO_FATAL_FAILURE(SetUpCast());
  ASSERT_EQ(Chat(Kind::create, "c0", "bob", bob_phone_, {"bob", "carol", "alice"}).status,
            Errc::ok);
  auto chats = store_->ListChats("alice");
  ASSERT_TRUE(chats);
  std::vector<std::string> ids = ChatIds(*chats);
  std::sort(ids.begin(), ids.end());
  EXPECT_THAT(ids, ElementsAre("c0", "c1"));
  for (const ChatInfo& chat : *chats) {
    EXPECT_EQ(chat.name, "name of " + chat.chat_id);
    std::vector<std::string> expected = {"alice", "bob"};
    if (chat.chat_id == "c0") expected.push_back("carol");
    EXPECT_EQ(chat.members, expected);
  }
  EXPECT_THAT(*store_->ListChats("dave"), IsEmpty());
  EXPECT_THAT(*store_->ListChats("nobody"), IsEmpty());
}

// ---- Last seen ----

TEST_P(StoreConformance, LastSeenOnlyIncreases) {
  AddUsers({"alice", "bob"});
  EXPECT_EQ(*store_->GetLastSeen("alice"), std::nullopt);
  EXPECT_EQ(CodeOf(store_->SetLastSeen("alice", kNow + 100)), Errc::ok);
  EXPECT_EQ(*store_->GetLastSeen("alice"), kNow + 100);
  EXPECT_EQ(CodeOf(store_->SetLastSeen("alice", kNow + 50)), Errc::ok);
  EXPECT_EQ(*store_->GetLastSeen("alice"), kNow + 100);
  EXPECT_EQ(CodeOf(store_->SetLastSeen("alice", kNow + 200)), Errc::ok);
  EXPECT_EQ(*store_->GetLastSeen("alice"), kNow + 200);
  EXPECT_EQ(*store_->GetLastSeen("bob"), std::nullopt);
}

// ---- Sweep ----

TEST_P(StoreConformance, SweepRemovesExpiredEntriesMessagesAndSendIds) {
  ASSERT_NO_FATAL_FAILURE(SetUpCast());
  const Millis early = kNow + kMillisPerDay;
  Send("c1", "alice", alice_phone_, "m1", kNow, early);     // seq 2
  Send("c1", "alice", alice_phone_, "m2", kNow, kExpires);  // seq 3

  auto none = store_->Sweep(early - 1);
  ASSERT_TRUE(none);
  EXPECT_EQ(none->inbox_deleted, 0);
  EXPECT_EQ(none->messages_deleted, 0);

  auto swept = store_->Sweep(early);
  ASSERT_TRUE(swept);
  EXPECT_EQ(swept->inbox_deleted, 2);  // bob's and alice's laptop's copy of m1
  EXPECT_EQ(swept->messages_deleted, 1);
  EXPECT_THAT(Seqs(Read(bob_phone_)), ElementsAre(1, 3));
  EXPECT_EQ(Read(bob_phone_).head, 3);
  EXPECT_EQ(store_->Stats()->entries, 4);

  // m1's idempotency record expired with it; m2's is still held.
  SendOp resend = Send("c1", "alice", alice_phone_, "m1");
  EXPECT_FALSE(resend.duplicate);
  EXPECT_EQ(resend.deliveries.at(0).seq, 4);  // seqs are never reused
  EXPECT_TRUE(Send("c1", "alice", alice_phone_, "m2").duplicate);

  auto rest = store_->Sweep(kFarFuture);
  ASSERT_TRUE(rest);
  EXPECT_EQ(rest->inbox_deleted, 6);  // 2 events, 2 x m2, 2 x resent m1
  EXPECT_EQ(rest->messages_deleted, 2);
  EXPECT_EQ(store_->Stats()->entries, 0);
  EXPECT_FALSE(Send("c1", "alice", alice_phone_, "m2").duplicate);
}

TEST_P(StoreConformance, SendIdOutlivesAckedMessage) {
  ASSERT_NO_FATAL_FAILURE(SetUpCast());
  SendOp first = Send("c1", "alice", alice_phone_, "m1");
  Ack(bob_phone_, 2);
  Ack(alice_laptop_, 2);
  ASSERT_EQ(store_->Stats()->entries, 0);
  SendOp retry = Send("c1", "alice", alice_phone_, "m1", kNow + 7);
  EXPECT_TRUE(retry.duplicate);
  EXPECT_EQ(retry.message.message_id, first.message.message_id);
  EXPECT_EQ(retry.message.ts, kNow);
  EXPECT_EQ(store_->Stats()->entries, 0);
}

// ---- WriteBatch ----

TEST_P(StoreConformance, BatchIsolatesFailedOps) {
  ASSERT_NO_FATAL_FAILURE(SetUpCast());
  SendOp good1 = MakeSend("c1", "alice", alice_phone_, "g1");
  SendOp no_chat = MakeSend("nope", "alice", alice_phone_, "x1");
  SendOp outsider = MakeSend("c1", "carol", carol_phone_, "x2");
  AckOp no_client;
  no_client.client_id = "no-such-client";
  no_client.up_to = 5;
  ChatOp bad_create = MakeChat(Kind::create, "c9", "carol", carol_phone_, {"carol", "nobody"});
  ChatOp bad_add = MakeChat(Kind::add, "c1", "carol", carol_phone_, {"carol"});
  SendOp good2 = MakeSend("c1", "bob", bob_phone_, "g2");
  AckOp good_ack;
  good_ack.client_id = alice_laptop_;
  good_ack.up_to = 2;
  Write({&good1, &no_chat, &outsider, &no_client, &bad_create, &bad_add, &good2, &good_ack});

  EXPECT_EQ(good1.status, Errc::ok);
  EXPECT_EQ(no_chat.status, Errc::not_found);
  EXPECT_EQ(outsider.status, Errc::forbidden);
  EXPECT_EQ(no_client.status, Errc::not_found);
  EXPECT_EQ(bad_create.status, Errc::not_found);
  EXPECT_EQ(bad_add.status, Errc::forbidden);
  EXPECT_EQ(good2.status, Errc::ok);
  EXPECT_EQ(good_ack.status, Errc::ok);
  EXPECT_EQ(good_ack.acked, 2);
  for (const auto* failed : {&no_chat, &outsider}) EXPECT_THAT(failed->deliveries, IsEmpty());
  EXPECT_THAT(bad_create.deliveries, IsEmpty());

  EXPECT_THAT(Seqs(Read(bob_phone_)), ElementsAre(1, 2));
  EXPECT_THAT(Seqs(Read(alice_laptop_)), ElementsAre(3));
  EXPECT_EQ(Head(carol_phone_), 0);
  EXPECT_THAT(*store_->ListChats("carol"), IsEmpty());
  // The failed sends recorded no idempotency key.
  ASSERT_EQ(Chat(Kind::add, "c1", "bob", bob_phone_, {"carol"}).status, Errc::ok);
  EXPECT_FALSE(Send("c1", "carol", carol_phone_, "x2").duplicate);
}

TEST_P(StoreConformance, BatchOpsSeeEarlierOps) {
  ASSERT_NO_FATAL_FAILURE(SetUpCast());
  ChatOp create = MakeChat(Kind::create, "c2", "carol", carol_phone_, {"carol", "bob"});
  SendOp send = MakeSend("c2", "carol", carol_phone_, "m1");
  AckOp ack;
  ack.client_id = bob_phone_;
  ack.up_to = 3;
  Write({&create, &send, &ack});
  EXPECT_EQ(create.status, Errc::ok);
  EXPECT_EQ(send.status, Errc::ok);
  ASSERT_EQ(send.deliveries.size(), 1u);
  EXPECT_EQ(send.deliveries[0].seq, 3);  // after c1's and c2's created events
  EXPECT_EQ(ack.acked, 3);
  EXPECT_EQ(Read(bob_phone_).entries.size(), 0u);
}

}  // namespace ferry::store_test
