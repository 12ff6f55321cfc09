// The Store conformance suite, part three (see conformance.h): receipts
// (delivered marks raised by acks, read marks by markRead, the `receipt`
// entries of ReceiptOp), chatReceipts, privacy, rosters and secrets.
#include <gmock/gmock.h>

#include <map>
#include <set>
#include <utility>

#include "conformance.h"

namespace ferry::store_test {
namespace {

using ::testing::ElementsAre;
using ::testing::IsEmpty;
using Kind = ChatOp::Kind;

Position At(const SendOp& op) { return Position{op.message.ts, op.message.message_id}; }

}  // namespace

MarkReadOp StoreConformance::MarkRead(const std::string& chat_id, const std::string& user,
                                      Position up_to) {
  MarkReadOp op;
  op.chat_id = chat_id;
  op.user = user;
  op.up_to = std::move(up_to);
  Write({&op});
  return op;
}

ReceiptOp StoreConformance::ReceiptFor(const std::string& chat_id, const std::string& user,
                                       ReceiptKind kind, const std::string& actor_client,
                                       std::size_t fanout_max) {
  ReceiptOp op;
  op.chat_id = chat_id;
  op.user = user;
  op.kind = kind;
  op.actor_client = actor_client;
  op.fanout_max = fanout_max;
  op.now = kNow + 1000;
  op.expires = kExpires;
  Write({&op});
  return op;
}

MemberReceipts StoreConformance::RowOf(const std::string& chat_id, const std::string& viewer,
                                       const std::string& member) {
  auto rows = store_->ChatReceipts(chat_id, viewer);
  EXPECT_EQ(CodeOf(rows), Errc::ok);
  if (rows) {
    for (const MemberReceipts& r : *rows) {
      if (r.user == member) return r;
    }
  }
  ADD_FAILURE() << "no row for " << member;
  return {};
}

std::vector<Receipt> StoreConformance::ReceiptsIn(const std::string& client_id) {
  std::vector<Receipt> out;
  for (const InboxEntry& e : Read(client_id).entries) {
    if (auto* r = std::get_if<Receipt>(&e.item)) out.push_back(*r);
  }
  return out;
}

// ---- Delivered marks from acks ----

TEST_P(StoreConformance, ReceiptsAnAckRaisesDeliveredToTheHighestMessageOfEachChatOnce) {
  ASSERT_NO_FATAL_FAILURE(SetUpCast());
  ASSERT_EQ(Chat(Kind::create, "c2", "alice", alice_phone_, {"alice", "bob", "carol"}).status,
            Errc::ok);
  SendOp m1 = Send("c1", "alice", alice_phone_, "m1", kNow + 1);
  SendOp m2 = Send("c1", "alice", alice_phone_, "m2", kNow + 2);
  SendOp g1 = Send("c2", "carol", carol_phone_, "g1", kNow + 3);
  AckOp ack = Ack(bob_phone_, Head(bob_phone_));
  ASSERT_EQ(ack.status, Errc::ok);
  std::map<std::string, Position> moved;
  for (const MarkMove& m : ack.moved) {
    EXPECT_EQ(m.kind, ReceiptKind::delivered);
    EXPECT_TRUE(moved.emplace(m.chat_id, m.up_to).second) << "two moves for " << m.chat_id;
  }
  EXPECT_EQ(moved, (std::map<std::string, Position>{{"c1", At(m2)}, {"c2", At(g1)}}));
  EXPECT_EQ(RowOf("c1", "alice", "bob").delivered, At(m2));
  EXPECT_EQ(RowOf("c1", "alice", "bob").read, std::nullopt);
  EXPECT_EQ(RowOf("c2", "carol", "bob").delivered, At(g1));
  (void)m1;
}

TEST_P(StoreConformance, ReceiptsOwnMessagesEventsAndReceiptsMoveNoMark) {
  ASSERT_NO_FATAL_FAILURE(SetUpCast());
  Send("c1", "alice", alice_phone_, "m1", kNow + 1);    // reaches alice's laptop too
  AckOp ack = Ack(alice_laptop_, Head(alice_laptop_));  // the created event and her own message
  EXPECT_THAT(ack.moved, IsEmpty());
  EXPECT_EQ(RowOf("c1", "bob", "alice").delivered, std::nullopt);
}

TEST_P(StoreConformance, ReceiptsDeliveredNeverGoesDown) {
  ASSERT_NO_FATAL_FAILURE(SetUpCast());
  SendOp late = Send("c1", "alice", alice_phone_, "late", kNow + 10);
  ASSERT_EQ(Ack(bob_phone_, Head(bob_phone_)).moved.size(), 1u);
  SendOp early = Send("c1", "alice", alice_phone_, "early", kNow + 5);  // an older ts, acked later
  EXPECT_THAT(Ack(bob_phone_, Head(bob_phone_)).moved, IsEmpty());
  EXPECT_EQ(RowOf("c1", "alice", "bob").delivered, At(late));
  (void)early;
}

TEST_P(StoreConformance, ReceiptsAShortAckMovesOnlyWhatItCovers) {
  ASSERT_NO_FATAL_FAILURE(SetUpCast());
  SendOp m1 = Send("c1", "alice", alice_phone_, "m1", kNow + 1);
  Send("c1", "alice", alice_phone_, "m2", kNow + 2);
  Seq first = Head(bob_phone_) - 1;  // up to m1
  AckOp ack = Ack(bob_phone_, first);
  ASSERT_EQ(ack.moved.size(), 1u);
  EXPECT_EQ(ack.moved[0].up_to, At(m1));
}

// ---- Read marks ----

TEST_P(StoreConformance, ReceiptsMarkReadRaisesReadAndDeliveredToAtLeastIt) {
  ASSERT_NO_FATAL_FAILURE(SetUpCast());
  SendOp m1 = Send("c1", "alice", alice_phone_, "m1", kNow + 1);
  MarkReadOp op = MarkRead("c1", "bob", At(m1));
  ASSERT_EQ(op.status, Errc::ok);
  ASSERT_EQ(op.moved.size(), 2u);
  EXPECT_EQ(op.moved[0].kind, ReceiptKind::read);
  EXPECT_EQ(op.moved[1].kind, ReceiptKind::delivered);
  MemberReceipts row = RowOf("c1", "alice", "bob");
  EXPECT_EQ(row.read, At(m1));
  EXPECT_EQ(row.delivered, At(m1));
}

TEST_P(StoreConformance, ReceiptsMarkReadLeavesAHigherDeliveredAlone) {
  ASSERT_NO_FATAL_FAILURE(SetUpCast());
  SendOp m1 = Send("c1", "alice", alice_phone_, "m1", kNow + 1);
  SendOp m2 = Send("c1", "alice", alice_phone_, "m2", kNow + 2);
  Ack(bob_phone_, Head(bob_phone_));
  MarkReadOp op = MarkRead("c1", "bob", At(m1));
  ASSERT_EQ(op.moved.size(), 1u);
  EXPECT_EQ(op.moved[0].kind, ReceiptKind::read);
  MemberReceipts row = RowOf("c1", "alice", "bob");
  EXPECT_EQ(row.delivered, At(m2));
  EXPECT_EQ(row.read, At(m1));
}

TEST_P(StoreConformance, ReceiptsAStaleMarkReadChangesNothing) {
  ASSERT_NO_FATAL_FAILURE(SetUpCast());
  SendOp m1 = Send("c1", "alice", alice_phone_, "m1", kNow + 1);
  SendOp m2 = Send("c1", "alice", alice_phone_, "m2", kNow + 2);
  ASSERT_EQ(MarkRead("c1", "bob", At(m2)).status, Errc::ok);
  MarkReadOp stale = MarkRead("c1", "bob", At(m1));
  EXPECT_EQ(stale.status, Errc::ok);
  EXPECT_THAT(stale.moved, IsEmpty());
  EXPECT_THAT(MarkRead("c1", "bob", At(m2)).moved, IsEmpty());  // the same again: nothing
  EXPECT_EQ(RowOf("c1", "alice", "bob").read, At(m2));
}

TEST_P(StoreConformance, ReceiptsMarkReadOfAnUnknownChatOrByANonMemberIsRefused) {
  ASSERT_NO_FATAL_FAILURE(SetUpCast());
  SendOp m1 = Send("c1", "alice", alice_phone_, "m1", kNow + 1);
  EXPECT_EQ(MarkRead("nope", "bob", At(m1)).status, Errc::not_found);
  MarkReadOp outsider = MarkRead("c1", "carol", At(m1));
  EXPECT_EQ(outsider.status, Errc::forbidden);
  EXPECT_THAT(outsider.moved, IsEmpty());
}

// ---- Receipt entries ----

TEST_P(StoreConformance, ReceiptsADeliveredReceiptGoesToTheOtherMembersOnceForAMove) {
  ASSERT_NO_FATAL_FAILURE(SetUpCast());
  SendOp m1 = Send("c1", "alice", alice_phone_, "m1", kNow + 1);
  Ack(bob_phone_, Head(bob_phone_));
  ReceiptOp op = ReceiptFor("c1", "bob", ReceiptKind::delivered, bob_phone_);
  ASSERT_EQ(op.status, Errc::ok);
  ASSERT_TRUE(op.receipt.has_value());
  EXPECT_EQ(op.receipt->chat_id, "c1");
  EXPECT_EQ(op.receipt->user, "bob");
  EXPECT_EQ(op.receipt->kind, ReceiptKind::delivered);
  EXPECT_EQ(op.receipt->up_to, At(m1));
  EXPECT_EQ(op.receipt->ts, kNow + 1000);
  EXPECT_EQ(RecipientsOf(op.deliveries),
            (Recipients{{alice_phone_, "alice"}, {alice_laptop_, "alice"}}));
  std::vector<Receipt> in_phone = ReceiptsIn(alice_phone_);
  ASSERT_EQ(in_phone.size(), 1u);
  EXPECT_EQ(in_phone[0].up_to, At(m1));
  EXPECT_EQ(in_phone[0].kind, ReceiptKind::delivered);
  EXPECT_EQ(in_phone[0].ts, kNow + 1000);
  for (const Delivery& d : op.deliveries) EXPECT_EQ(d.seq, Head(d.client_id));

  // Nothing moved since: nothing to say.
  ReceiptOp again = ReceiptFor("c1", "bob", ReceiptKind::delivered, bob_phone_);
  EXPECT_EQ(again.status, Errc::ok);
  EXPECT_FALSE(again.receipt.has_value());
  EXPECT_THAT(again.deliveries, IsEmpty());
  EXPECT_EQ(ReceiptsIn(alice_phone_).size(), 1u);
}

TEST_P(StoreConformance, ReceiptsAReadReceiptAlsoReachesTheReadersOtherClients) {
  ASSERT_NO_FATAL_FAILURE(SetUpCast());
  std::string bob_laptop = Client("bob", "laptop");
  SendOp m1 = Send("c1", "alice", alice_phone_, "m1", kNow + 1);
  MarkRead("c1", "bob", At(m1));
  ReceiptOp op = ReceiptFor("c1", "bob", ReceiptKind::read, bob_phone_);
  ASSERT_TRUE(op.receipt.has_value());
  EXPECT_EQ(op.receipt->kind, ReceiptKind::read);
  EXPECT_EQ(RecipientsOf(op.deliveries),
            (Recipients{{alice_phone_, "alice"}, {alice_laptop_, "alice"}, {bob_laptop, "bob"}}));
  // A delivered receipt is for the others only.
  ReceiptOp delivered = ReceiptFor("c1", "bob", ReceiptKind::delivered, bob_phone_);
  EXPECT_EQ(RecipientsOf(delivered.deliveries),
            (Recipients{{alice_phone_, "alice"}, {alice_laptop_, "alice"}}));
}

TEST_P(StoreConformance, ReceiptsReceiptsCarryTheMarkAtCommitAndNeverGoDown) {
  ASSERT_NO_FATAL_FAILURE(SetUpCast());
  SendOp m1 = Send("c1", "alice", alice_phone_, "m1", kNow + 1);
  SendOp m2 = Send("c1", "alice", alice_phone_, "m2", kNow + 2);
  MarkRead("c1", "bob", At(m1));
  MarkRead("c1", "bob", At(m2));  // two moves, one receipt: the latest
  ReceiptOp op = ReceiptFor("c1", "bob", ReceiptKind::read, bob_phone_);
  ASSERT_TRUE(op.receipt.has_value());
  EXPECT_EQ(op.receipt->up_to, At(m2));
  MarkRead("c1", "bob", At(m1));  // stale
  EXPECT_FALSE(ReceiptFor("c1", "bob", ReceiptKind::read, bob_phone_).receipt.has_value());
  std::vector<Receipt> got = ReceiptsIn(alice_phone_);
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].up_to, At(m2));
}

TEST_P(StoreConformance, ReceiptsBigChatsGetNoReceiptsButTheReadersOwnClientsDo) {
  ASSERT_NO_FATAL_FAILURE(SetUpCast());
  std::string bob_laptop = Client("bob", "laptop");
  ASSERT_EQ(Chat(Kind::create, "c3", "alice", alice_phone_, {"alice", "bob", "carol"}).status,
            Errc::ok);
  SendOp m1 = Send("c3", "alice", alice_phone_, "m1", kNow + 1);
  MarkRead("c3", "bob", At(m1));
  ReceiptOp read = ReceiptFor("c3", "bob", ReceiptKind::read, bob_phone_, /*fanout_max=*/2);
  ASSERT_TRUE(read.receipt.has_value());
  EXPECT_EQ(RecipientsOf(read.deliveries), (Recipients{{bob_laptop, "bob"}}));
  ReceiptOp delivered =
      ReceiptFor("c3", "bob", ReceiptKind::delivered, bob_phone_, /*fanout_max=*/2);
  EXPECT_THAT(delivered.deliveries, IsEmpty());
  // At the limit it still goes to everyone.
  MarkRead("c1", "bob", At(Send("c1", "alice", alice_phone_, "m2", kNow + 2)));
  ReceiptOp small = ReceiptFor("c1", "bob", ReceiptKind::read, bob_phone_, /*fanout_max=*/2);
  EXPECT_EQ(RecipientsOf(small.deliveries),
            (Recipients{{alice_phone_, "alice"}, {alice_laptop_, "alice"}, {bob_laptop, "bob"}}));
}

TEST_P(StoreConformance, ReceiptsHiddenReadReceiptsGoOnlyToTheReadersOwnClients) {
  ASSERT_NO_FATAL_FAILURE(SetUpCast());
  std::string bob_laptop = Client("bob", "laptop");
  ASSERT_EQ(CodeOf(store_->SetPrivacy("bob", false, std::nullopt)), Errc::ok);
  SendOp m1 = Send("c1", "alice", alice_phone_, "m1", kNow + 1);
  MarkRead("c1", "bob", At(m1));
  ReceiptOp read = ReceiptFor("c1", "bob", ReceiptKind::read, bob_phone_);
  ASSERT_TRUE(read.receipt.has_value());
  EXPECT_EQ(RecipientsOf(read.deliveries), (Recipients{{bob_laptop, "bob"}}));
  MemberReceipts row = RowOf("c1", "alice", "bob");
  EXPECT_EQ(row.read, std::nullopt);  // hidden from alice
  EXPECT_EQ(row.delivered, At(m1));   // delivered is not
  ReceiptOp delivered = ReceiptFor("c1", "bob", ReceiptKind::delivered, bob_phone_);
  EXPECT_EQ(RecipientsOf(delivered.deliveries),
            (Recipients{{alice_phone_, "alice"}, {alice_laptop_, "alice"}}));
}

TEST_P(StoreConformance, ReceiptsReceiptEntriesAreAckedLikeAnyEntry) {
  ASSERT_NO_FATAL_FAILURE(SetUpCast());
  SendOp m1 = Send("c1", "alice", alice_phone_, "m1", kNow + 1);
  Ack(bob_phone_, Head(bob_phone_));
  ReceiptFor("c1", "bob", ReceiptKind::delivered, bob_phone_);
  Seq head = Head(alice_phone_);
  AckOp ack = Ack(alice_phone_, head);
  EXPECT_EQ(ack.acked, head);
  EXPECT_THAT(ack.moved, IsEmpty());
  EXPECT_THAT(Read(alice_phone_).entries, IsEmpty());
  (void)m1;
}

// ---- chatReceipts ----

TEST_P(StoreConformance, ReceiptsChatReceiptsListsEveryOtherMember) {
  ASSERT_NO_FATAL_FAILURE(SetUpCast());
  ASSERT_EQ(
      Chat(Kind::create, "c3", "alice", alice_phone_, {"alice", "bob", "carol", "dave"}).status,
      Errc::ok);
  SendOp m1 = Send("c3", "alice", alice_phone_, "m1", kNow + 1);
  MarkRead("c3", "carol", At(m1));
  auto rows = store_->ChatReceipts("c3", "alice");
  ASSERT_TRUE(rows);
  ASSERT_EQ(rows->size(), 3u);
  EXPECT_EQ((*rows)[0].user, "bob");
  EXPECT_EQ((*rows)[0].delivered, std::nullopt);
  EXPECT_EQ((*rows)[0].read, std::nullopt);
  EXPECT_EQ((*rows)[1].user, "carol");
  EXPECT_EQ((*rows)[1].read, At(m1));
  EXPECT_EQ((*rows)[2].user, "dave");
  EXPECT_EQ(CodeOf(store_->ChatReceipts("nope", "alice")), Errc::not_found);
  EXPECT_EQ(CodeOf(store_->ChatReceipts("c1", "carol")), Errc::forbidden);
}

// ---- Privacy, rosters, secrets ----

TEST_P(StoreConformance, ReceiptsPrivacyDefaultsAndChangesFieldByField) {
  ASSERT_NO_FATAL_FAILURE(SetUpCast());
  auto initial = store_->GetPrivacy("bob");
  ASSERT_TRUE(initial);
  EXPECT_TRUE(initial->read_receipts);
  EXPECT_TRUE(initial->last_seen_visible);
  auto set = store_->SetPrivacy("bob", std::nullopt, false);
  ASSERT_TRUE(set);
  EXPECT_TRUE(set->read_receipts);
  EXPECT_FALSE(set->last_seen_visible);
  set = store_->SetPrivacy("bob", false, std::nullopt);
  ASSERT_TRUE(set);
  EXPECT_FALSE(set->read_receipts);
  EXPECT_FALSE(set->last_seen_visible);
  auto read = store_->GetPrivacy("bob");
  ASSERT_TRUE(read);
  EXPECT_FALSE(read->read_receipts);
  EXPECT_FALSE(read->last_seen_visible);
  EXPECT_TRUE(store_->GetPrivacy("alice")->last_seen_visible);  // others unchanged
  EXPECT_EQ(CodeOf(store_->SetPrivacy("nobody", true, true)), Errc::not_found);
}

TEST_P(StoreConformance, ReceiptsRosterListsMembersAndTheirActiveClients) {
  ASSERT_NO_FATAL_FAILURE(SetUpCast());
  ASSERT_EQ(Chat(Kind::create, "c3", "alice", alice_phone_, {"alice", "dave", "bob"}).status,
            Errc::ok);
  auto roster = store_->Roster("c3");
  ASSERT_TRUE(roster);
  EXPECT_THAT(roster->members, ElementsAre("alice", "bob", "dave"));
  EXPECT_EQ(RecipientsOf(roster->clients),
            (Recipients{{alice_phone_, "alice"}, {alice_laptop_, "alice"}, {bob_phone_, "bob"}}));
  EXPECT_EQ(CodeOf(store_->Roster("nope")), Errc::not_found);
}

TEST_P(StoreConformance, ReceiptsASecretIsStoredOnceAndThenKept) {
  auto first = store_->Secret("message-id-key", "one");
  ASSERT_TRUE(first);
  EXPECT_EQ(*first, "one");
  auto second = store_->Secret("message-id-key", "two");
  ASSERT_TRUE(second);
  EXPECT_EQ(*second, "one");
  auto other = store_->Secret("another", "three");
  ASSERT_TRUE(other);
  EXPECT_EQ(*other, "three");
}

}  // namespace ferry::store_test
