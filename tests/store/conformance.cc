// The Store conformance suite (see conformance.h): accounts, clients and
// tokens, send/ack/inbox, chats, last seen, sweep and batch semantics.
#include "conformance.h"

#include <gmock/gmock.h>

#include <algorithm>
#include <set>
#include <utility>

namespace ferry::store_test {
namespace {

using ::testing::ElementsAre;
using ::testing::IsEmpty;
using ::testing::UnorderedElementsAre;
using Kind = ChatOp::Kind;

const Message& MessageAt(const InboxEntry& entry) { return std::get<Message>(entry.item); }

}  // namespace

// ---- Fixture helpers ----

void StoreConformance::SetUp() {
  store_ = GetParam()();
  ASSERT_NE(store_, nullptr);
}

void StoreConformance::AddUsers(const std::vector<std::string>& users) {
  for (const std::string& user : users) {
    EXPECT_EQ(CodeOf(store_->CreateUser(user, "hash-" + user, kNow)), Errc::ok) << user;
  }
}

Result<LoginResult> StoreConformance::LoginDevice(const std::string& user,
                                                  const std::string& device,
                                                  std::size_t max_clients) {
  std::string n = std::to_string(++counter_);
  LoginRequest request;
  request.user = user;
  request.device = device;
  request.token_hash = last_token_ = "token-" + n;
  request.new_client_id = "client-" + user + "-" + device + "-" + n;
  request.new_epoch = "epoch-" + n;
  request.max_clients = max_clients;
  request.now = kNow;
  return store_->Login(request);
}

std::string StoreConformance::Client(const std::string& user, const std::string& device) {
  auto result = LoginDevice(user, device);
  EXPECT_TRUE(result && result->status == Errc::ok) << user << "/" << device;
  if (!result || result->status != Errc::ok) return "";
  user_of_[result->client_id] = user;
  return result->client_id;
}

SendOp StoreConformance::MakeSend(const std::string& chat_id, const std::string& sender,
                                  const std::string& sender_client,
                                  const std::string& client_msg_id, Millis ts, Millis expires) {
  SendOp op;
  op.message.message_id = "msg-" + std::to_string(++counter_);
  op.message.chat_id = chat_id;
  op.message.sender = sender;
  op.message.sender_client = sender_client;
  op.message.client_msg_id = client_msg_id;
  op.message.ts = ts;
  op.message.body = "body of " + client_msg_id;
  op.expires = expires;
  return op;
}

ChatOp StoreConformance::MakeChat(Kind kind, const std::string& chat_id, const std::string& actor,
                                  const std::string& actor_client, std::vector<std::string> members,
                                  std::size_t max_members) {
  ChatOp op;
  op.kind = kind;
  op.chat_id = chat_id;
  op.name = "name of " + chat_id;
  op.actor_user = actor;
  op.actor_client = actor_client;
  op.members = std::move(members);
  op.max_members = max_members;
  op.now = kNow;
  op.expires = kExpires;
  return op;
}

void StoreConformance::Write(std::vector<WriteOp> ops) {
  EXPECT_EQ(CodeOf(store_->WriteBatch(ops)), Errc::ok);
}

SendOp StoreConformance::Send(const std::string& chat_id, const std::string& sender,
                              const std::string& sender_client, const std::string& client_msg_id,
                              Millis ts, Millis expires) {
  SendOp op = MakeSend(chat_id, sender, sender_client, client_msg_id, ts, expires);
  Write({&op});
  return op;
}

ChatOp StoreConformance::Chat(Kind kind, const std::string& chat_id, const std::string& actor,
                              const std::string& actor_client, std::vector<std::string> members,
                              std::size_t max_members) {
  ChatOp op = MakeChat(kind, chat_id, actor, actor_client, std::move(members), max_members);
  Write({&op});
  return op;
}

SendOp StoreConformance::SendWith(const std::string& chat_id, const std::string& sender,
                                  const std::string& sender_client,
                                  const std::string& client_msg_id, std::vector<std::string> ids,
                                  Millis ts, Millis expires) {
  SendOp op = MakeSend(chat_id, sender, sender_client, client_msg_id, ts, expires);
  op.attachment_ids = std::move(ids);
  Write({&op});
  return op;
}

AckOp StoreConformance::Ack(const std::string& client_id, Seq up_to) {
  AckOp op;
  op.client_id = client_id;
  op.user = user_of_[client_id];
  op.up_to = up_to;
  Write({&op});
  return op;
}

InboxPage StoreConformance::Read(const std::string& client_id, Seq after, std::size_t limit) {
  auto page = store_->ReadInbox(client_id, after, limit);
  EXPECT_EQ(CodeOf(page), Errc::ok) << client_id;
  return page ? *page : InboxPage{};
}

std::vector<Seq> StoreConformance::Seqs(const InboxPage& page) {
  std::vector<Seq> seqs;
  for (const InboxEntry& e : page.entries) seqs.push_back(e.seq);
  return seqs;
}

void StoreConformance::SetUpCast() {
  AddUsers({"alice", "bob", "carol", "dave"});
  alice_phone_ = Client("alice", "phone");
  alice_laptop_ = Client("alice", "laptop");
  bob_phone_ = Client("bob", "phone");
  bob_token_ = last_token();
  carol_phone_ = Client("carol", "phone");
  ASSERT_EQ(Chat(Kind::create, "c1", "alice", alice_phone_, {"alice", "bob"}).status, Errc::ok);
}

// ---- Users, clients, tokens ----

TEST_P(StoreConformance, CreateUserOnceAndReadHash) {
  EXPECT_EQ(CodeOf(store_->CreateUser("alice", "h1", kNow)), Errc::ok);
  EXPECT_EQ(CodeOf(store_->CreateUser("alice", "h2", kNow)), Errc::user_exists);
  auto hash = store_->PasswordHash("alice");
  ASSERT_TRUE(hash);
  EXPECT_EQ(*hash, "h1");
  EXPECT_EQ(CodeOf(store_->PasswordHash("bob")), Errc::not_found);
}

TEST_P(StoreConformance, LoginUnknownUserIsNotFound) {
  auto result = LoginDevice("nobody", "phone");
  ASSERT_TRUE(result);
  EXPECT_EQ(result->status, Errc::not_found);
  EXPECT_EQ(CodeOf(store_->Authenticate(last_token())), Errc::not_found);
}

TEST_P(StoreConformance, LoginReusesClientOfSameDevice) {
  AddUsers({"alice"});
  auto first = LoginDevice("alice", "phone");
  ASSERT_TRUE(first);
  ASSERT_EQ(first->status, Errc::ok);
  EXPECT_TRUE(first->created);
  EXPECT_EQ(first->client_id, "client-alice-phone-1");
  std::string token1 = last_token();

  auto second = LoginDevice("alice", "phone");
  ASSERT_TRUE(second);
  EXPECT_EQ(second->status, Errc::ok);
  EXPECT_FALSE(second->created);
  EXPECT_EQ(second->client_id, first->client_id);

  for (const std::string& token : {token1, last_token()}) {
    auto info = store_->Authenticate(token);
    ASSERT_TRUE(info) << token;
    EXPECT_EQ(info->client_id, first->client_id);
    EXPECT_EQ(info->user, "alice");
    EXPECT_EQ(info->device, "phone");
    EXPECT_EQ(info->epoch, "epoch-1");
    EXPECT_EQ(info->head_seq, 0);
    EXPECT_EQ(info->acked_seq, 0);
  }
  auto clients = store_->ListClients("alice");
  ASSERT_TRUE(clients);
  ASSERT_EQ(clients->size(), 1u);
  EXPECT_EQ((*clients)[0].client_id, first->client_id);
}

TEST_P(StoreConformance, LoginLimitsActiveClients) {
  AddUsers({"alice"});
  std::string phone = Client("alice", "phone");
  std::string laptop = Client("alice", "laptop");
  std::string tablet = Client("alice", "tablet");

  auto refused = LoginDevice("alice", "desktop", 3);
  ASSERT_TRUE(refused);
  EXPECT_EQ(refused->status, Errc::too_many_clients);
  std::vector<std::string> listed;
  for (const ClientInfo& c : refused->clients) listed.push_back(c.client_id + "/" + c.device);
  EXPECT_THAT(listed,
              UnorderedElementsAre(phone + "/phone", laptop + "/laptop", tablet + "/tablet"));
  EXPECT_EQ(CodeOf(store_->Authenticate(last_token())), Errc::not_found);
  EXPECT_EQ(store_->ListClients("alice")->size(), 3u);

  // An existing device logs in at the limit; a freed slot admits a new one.
  auto again = LoginDevice("alice", "phone", 3);
  EXPECT_EQ(again->status, Errc::ok);
  EXPECT_EQ(again->client_id, phone);
  EXPECT_EQ(CodeOf(store_->DeleteClient("alice", laptop)), Errc::ok);
  auto admitted = LoginDevice("alice", "desktop", 3);
  EXPECT_EQ(admitted->status, Errc::ok);
  EXPECT_TRUE(admitted->created);
}

TEST_P(StoreConformance, AuthenticateUnknownTokenIsNotFound) {
  EXPECT_EQ(CodeOf(store_->Authenticate("no-such-token")), Errc::not_found);
}

TEST_P(StoreConformance, DeleteClientRevokesTokensAndDropsInbox) {
  ASSERT_NO_FATAL_FAILURE(SetUpCast());
  ASSERT_EQ(LoginDevice("bob", "phone")->client_id, bob_phone_);  // a second token
  std::string token2 = last_token();
  std::string old_epoch = store_->Authenticate(token2)->epoch;
  ASSERT_EQ(Head(bob_phone_), 1);  // the "created" event

  ASSERT_EQ(CodeOf(store_->DeleteClient("bob", bob_phone_)), Errc::ok);
  EXPECT_EQ(CodeOf(store_->Authenticate(bob_token_)), Errc::not_found);
  EXPECT_EQ(CodeOf(store_->Authenticate(token2)), Errc::not_found);
  EXPECT_EQ(CodeOf(store_->ReadInbox(bob_phone_, 0, 10)), Errc::not_found);
  EXPECT_EQ(CodeOf(store_->TouchClient(bob_phone_, kNow)), Errc::not_found);
  EXPECT_EQ(CodeOf(store_->DeleteClient("bob", bob_phone_)), Errc::not_found);
  EXPECT_THAT(*store_->ListClients("bob"), IsEmpty());
  EXPECT_EQ(Ack(bob_phone_, 1).status, Errc::not_found);
  EXPECT_EQ(store_->Stats()->entries, 1);  // alice's laptop still holds its event

  // A deleted client receives nothing new.
  SendOp sent = Send("c1", "alice", alice_phone_, "m1");
  EXPECT_EQ(RecipientsOf(sent.deliveries),
            (std::set<std::pair<std::string, std::string>>{{alice_laptop_, "alice"}}));

  // The same device logging in again is a new client with a new epoch and
  // an empty inbox.
  auto relogin = LoginDevice("bob", "phone");
  ASSERT_TRUE(relogin);
  EXPECT_TRUE(relogin->created);
  EXPECT_NE(relogin->client_id, bob_phone_);
  auto info = store_->Authenticate(last_token());
  ASSERT_TRUE(info);
  EXPECT_EQ(info->client_id, relogin->client_id);
  EXPECT_NE(info->epoch, old_epoch);
  InboxPage page = Read(relogin->client_id);
  EXPECT_EQ(page.head, 0);
  EXPECT_THAT(page.entries, IsEmpty());
}

TEST_P(StoreConformance, DeleteClientOfAnotherUserIsNotFound) {
  AddUsers({"alice", "bob"});
  std::string phone = Client("alice", "phone");
  EXPECT_EQ(CodeOf(store_->DeleteClient("bob", phone)), Errc::not_found);
  EXPECT_EQ(CodeOf(store_->DeleteClient("alice", "no-such-client")), Errc::not_found);
  EXPECT_EQ(CodeOf(store_->Authenticate(last_token())), Errc::ok);
}

TEST_P(StoreConformance, TouchClientKeepsLatestActivity) {
  AddUsers({"alice"});
  std::string phone = Client("alice", "phone");
  EXPECT_EQ(CodeOf(store_->TouchClient(phone, kNow + 100)), Errc::ok);
  EXPECT_EQ(CodeOf(store_->TouchClient(phone, kNow + 50)), Errc::ok);
  EXPECT_EQ((*store_->ListClients("alice"))[0].last_active, kNow + 100);
  EXPECT_EQ(CodeOf(store_->TouchClient("no-such-client", kNow)), Errc::not_found);
}

TEST_P(StoreConformance, PresenceOpTouchesClientAndRaisesLastSeen) {
  AddUsers({"alice"});
  std::string phone = Client("alice", "phone");
  PresenceOp open{phone, "alice", kNow + 100, false};
  PresenceOp close{phone, "alice", kNow + 200, true};
  PresenceOp stale{phone, "alice", kNow + 150, true};
  PresenceOp unknown{"no-such-client", "alice", kNow + 10, false};
  std::vector<WriteOp> ops{&open, &close, &stale, &unknown};
  ASSERT_TRUE(store_->WriteBatch(ops));
  EXPECT_EQ(open.status, Errc::ok);
  EXPECT_EQ(unknown.status, Errc::not_found);
  EXPECT_EQ((*store_->ListClients("alice"))[0].last_active, kNow + 200);
  EXPECT_EQ(*store_->GetLastSeen("alice"), std::optional<Millis>(kNow + 200));
}

// ---- Send, inbox, ack ----

TEST_P(StoreConformance, SendReachesEveryOtherClientOfEveryMember) {
  ASSERT_NO_FATAL_FAILURE(SetUpCast());
  SendOp sent = Send("c1", "alice", alice_phone_, "m1");
  EXPECT_EQ(sent.status, Errc::ok);
  EXPECT_FALSE(sent.duplicate);
  EXPECT_EQ(RecipientsOf(sent.deliveries), (std::set<std::pair<std::string, std::string>>{
                                               {alice_laptop_, "alice"}, {bob_phone_, "bob"}}));
  for (const Delivery& d : sent.deliveries) EXPECT_EQ(d.seq, 2) << d.client_id;

  InboxPage bob = Read(bob_phone_);
  ASSERT_THAT(Seqs(bob), ElementsAre(1, 2));
  const Message& got = MessageAt(bob.entries[1]);
  EXPECT_EQ(got.message_id, sent.message.message_id);
  EXPECT_EQ(got.chat_id, "c1");
  EXPECT_EQ(got.sender, "alice");
  EXPECT_EQ(got.sender_client, alice_phone_);
  EXPECT_EQ(got.client_msg_id, "m1");
  EXPECT_EQ(got.ts, kNow);
  EXPECT_EQ(got.body, "body of m1");
  EXPECT_THAT(got.attachments, IsEmpty());

  InboxPage sender = Read(alice_phone_);
  EXPECT_EQ(sender.head, 0);
  EXPECT_THAT(sender.entries, IsEmpty());
  EXPECT_EQ(Head(carol_phone_), 0);
}

TEST_P(StoreConformance, SeqIsGapFreeAcrossMessagesAndEvents) {
  ASSERT_NO_FATAL_FAILURE(SetUpCast());
  std::vector<Seq> delivered = {1};
  for (const char* id : {"m1", "m2", "m3"}) {
    SendOp op = Send("c1", "alice", alice_phone_, id);
    for (const Delivery& d : op.deliveries) {
      if (d.client_id == bob_phone_) delivered.push_back(d.seq);
    }
  }
  ChatOp added = Chat(Kind::add, "c1", "alice", alice_phone_, {"carol"});
  for (const Delivery& d : added.deliveries) {
    if (d.client_id == bob_phone_) delivered.push_back(d.seq);
  }
  Send("c1", "carol", carol_phone_, "m4");
  EXPECT_THAT(delivered, ElementsAre(1, 2, 3, 4, 5));
  InboxPage page = Read(bob_phone_);
  EXPECT_THAT(Seqs(page), ElementsAre(1, 2, 3, 4, 5, 6));
  EXPECT_EQ(page.head, 6);
  EXPECT_THAT(Seqs(Read(carol_phone_)), ElementsAre(1));  // only the add event
}

TEST_P(StoreConformance, ClientCreatedAfterSendDoesNotGetIt) {
  ASSERT_NO_FATAL_FAILURE(SetUpCast());
  Send("c1", "alice", alice_phone_, "m1");
  std::string bob_laptop = Client("bob", "laptop");
  EXPECT_EQ(Head(bob_laptop), 0);
  SendOp later = Send("c1", "alice", alice_phone_, "m2");
  EXPECT_EQ(RecipientsOf(later.deliveries).count({bob_laptop, "bob"}), 1u);
  EXPECT_THAT(Seqs(Read(bob_laptop)), ElementsAre(1));
}

TEST_P(StoreConformance, DuplicateSendReturnsFirstIdsAndWritesNothing) {
  ASSERT_NO_FATAL_FAILURE(SetUpCast());
  SendOp first = Send("c1", "alice", alice_phone_, "m1", kNow);
  SendOp retry = Send("c1", "alice", alice_phone_, "m1", kNow + 5);
  EXPECT_EQ(retry.status, Errc::ok);
  EXPECT_TRUE(retry.duplicate);
  EXPECT_EQ(retry.message.message_id, first.message.message_id);
  EXPECT_EQ(retry.message.ts, kNow);
  EXPECT_THAT(retry.deliveries, IsEmpty());
  EXPECT_EQ(Head(bob_phone_), 2);
  EXPECT_EQ(store_->Stats()->entries, 4);  // 2 events + 2 copies of m1

  // The key is (sender_client, client_msg_id): another client may reuse it.
  SendOp other = Send("c1", "alice", alice_laptop_, "m1");
  EXPECT_FALSE(other.duplicate);
  EXPECT_EQ(Head(bob_phone_), 3);

  // Within one batch, the second op sees the first.
  SendOp a = MakeSend("c1", "bob", bob_phone_, "b1");
  SendOp b = MakeSend("c1", "bob", bob_phone_, "b1", kNow + 9);
  Write({&a, &b});
  EXPECT_FALSE(a.duplicate);
  EXPECT_TRUE(b.duplicate);
  EXPECT_EQ(b.message.message_id, a.message.message_id);
  EXPECT_EQ(b.message.ts, kNow);
  EXPECT_EQ(Head(alice_phone_), 2);  // the laptop's m1 and bob's b1, once
}

TEST_P(StoreConformance, DuplicateIsRecognizedAfterSenderLeftChat) {
  ASSERT_NO_FATAL_FAILURE(SetUpCast());
  SendOp first = Send("c1", "bob", bob_phone_, "m1");
  ASSERT_EQ(Chat(Kind::remove, "c1", "bob", bob_phone_, {"bob"}).status, Errc::ok);
  SendOp retry = Send("c1", "bob", bob_phone_, "m1");
  EXPECT_EQ(retry.status, Errc::ok);
  EXPECT_TRUE(retry.duplicate);
  EXPECT_EQ(retry.message.message_id, first.message.message_id);
  EXPECT_EQ(Send("c1", "bob", bob_phone_, "m2").status, Errc::forbidden);
}

TEST_P(StoreConformance, SendChecksChatAndMembership) {
  ASSERT_NO_FATAL_FAILURE(SetUpCast());
  SendOp unknown = Send("no-such-chat", "alice", alice_phone_, "m1");
  EXPECT_EQ(unknown.status, Errc::not_found);
  EXPECT_THAT(unknown.deliveries, IsEmpty());
  SendOp outsider = Send("c1", "carol", carol_phone_, "m2");
  EXPECT_EQ(outsider.status, Errc::forbidden);
  EXPECT_THAT(outsider.deliveries, IsEmpty());
  EXPECT_EQ(Head(bob_phone_), 1);
  // A refused send records no idempotency key.
  ASSERT_EQ(Chat(Kind::add, "c1", "bob", bob_phone_, {"carol"}).status, Errc::ok);
  SendOp member = Send("c1", "carol", carol_phone_, "m2");
  EXPECT_EQ(member.status, Errc::ok);
  EXPECT_FALSE(member.duplicate);
}

TEST_P(StoreConformance, MessageWithoutRecipientsIsNotKept) {
  ASSERT_NO_FATAL_FAILURE(SetUpCast());
  // dave has no client and erin sends from her only one.
  AddUsers({"erin"});
  std::string solo = Client("erin", "phone");
  ASSERT_EQ(Chat(Kind::create, "c2", "erin", solo, {"erin", "dave"}).status, Errc::ok);
  SendOp sent = Send("c2", "erin", solo, "m1");
  EXPECT_EQ(sent.status, Errc::ok);
  EXPECT_THAT(sent.deliveries, IsEmpty());
  SendOp retry = Send("c2", "erin", solo, "m1", kNow + 1);
  EXPECT_TRUE(retry.duplicate);  // the idempotency record is kept regardless
  EXPECT_EQ(retry.message.message_id, sent.message.message_id);
  auto swept = store_->Sweep(kFarFuture);
  ASSERT_TRUE(swept);
  EXPECT_EQ(swept->messages_deleted, 0);  // no message row was left behind
}

TEST_P(StoreConformance, AckDeletesUpToClampsAndNeverDecreases) {
  ASSERT_NO_FATAL_FAILURE(SetUpCast());
  for (const char* id : {"m1", "m2", "m3", "m4"}) Send("c1", "alice", alice_phone_, id);
  ASSERT_EQ(Head(bob_phone_), 5);

  AckOp ack = Ack(bob_phone_, 2);
  EXPECT_EQ(ack.status, Errc::ok);
  EXPECT_EQ(ack.acked, 2);
  EXPECT_THAT(Seqs(Read(bob_phone_)), ElementsAre(3, 4, 5));
  EXPECT_EQ(Ack(bob_phone_, 1).acked, 2);
  EXPECT_THAT(Seqs(Read(bob_phone_)), ElementsAre(3, 4, 5));

  EXPECT_EQ(Ack(bob_phone_, 100).acked, 5);  // clamped to head
  InboxPage page = Read(bob_phone_);
  EXPECT_THAT(page.entries, IsEmpty());
  EXPECT_EQ(page.head, 5);
  // The clamp means a later entry is not acknowledged in advance.
  Send("c1", "alice", alice_phone_, "m5");
  EXPECT_THAT(Seqs(Read(bob_phone_)), ElementsAre(6));
  EXPECT_EQ(Ack(bob_phone_, 6).acked, 6);
  EXPECT_EQ(Read(bob_phone_).head, 6);
}

TEST_P(StoreConformance, MessageIsDeletedOnceEveryEntryIsAcked) {
  ASSERT_NO_FATAL_FAILURE(SetUpCast());
  Send("c1", "alice", alice_phone_, "m1");  // seq 2 for bob and alice's laptop
  Send("c1", "alice", alice_phone_, "m2");  // seq 3
  Ack(bob_phone_, 3);
  Ack(alice_laptop_, 2);  // m2 is still held by the laptop
  auto stats = store_->Stats();
  ASSERT_TRUE(stats);
  EXPECT_EQ(stats->entries, 1);
  InboxPage laptop = Read(alice_laptop_);
  ASSERT_THAT(Seqs(laptop), ElementsAre(3));
  EXPECT_EQ(MessageAt(laptop.entries[0]).client_msg_id, "m2");
  // Only m2 is left to expire: m1 went when its last entry was acked.
  auto swept = store_->Sweep(kFarFuture);
  ASSERT_TRUE(swept);
  EXPECT_EQ(swept->inbox_deleted, 1);
  EXPECT_EQ(swept->messages_deleted, 1);
}

TEST_P(StoreConformance, AcksOfEveryRecipientInOneBatchDeleteTheMessage) {
  ASSERT_NO_FATAL_FAILURE(SetUpCast());
  Send("c1", "alice", alice_phone_, "m1");  // seq 2 for bob and alice's laptop
  Send("c1", "alice", alice_phone_, "m2");  // seq 3
  // One commit: both recipients release m1, only bob releases m2.
  AckOp bob{bob_phone_, 3};
  AckOp laptop{alice_laptop_, 2};
  std::vector<WriteOp> ops = {&bob, &laptop};
  ASSERT_TRUE(store_->WriteBatch(ops));
  EXPECT_EQ(bob.acked, 3);
  EXPECT_EQ(laptop.acked, 2);
  InboxPage held = Read(alice_laptop_);
  ASSERT_THAT(Seqs(held), ElementsAre(3));
  EXPECT_EQ(MessageAt(held.entries[0]).client_msg_id, "m2");  // still readable
  auto swept = store_->Sweep(kFarFuture);
  ASSERT_TRUE(swept);
  EXPECT_EQ(swept->messages_deleted, 1);  // m2 only: m1 went with the batch
}

TEST_P(StoreConformance, DeletingClientReleasesItsMessages) {
  ASSERT_NO_FATAL_FAILURE(SetUpCast());
  Send("c1", "alice", alice_phone_, "m1");
  Ack(alice_laptop_, 2);
  ASSERT_EQ(CodeOf(store_->DeleteClient("bob", bob_phone_)), Errc::ok);
  EXPECT_EQ(store_->Stats()->entries, 0);
  EXPECT_EQ(store_->Sweep(kFarFuture)->messages_deleted, 0);
}

TEST_P(StoreConformance, ReadInboxPagesInSeqOrder) {
  ASSERT_NO_FATAL_FAILURE(SetUpCast());
  for (const char* id : {"m1", "m2", "m3", "m4"}) Send("c1", "alice", alice_phone_, id);
  InboxPage p1 = Read(bob_phone_, 0, 2);
  EXPECT_THAT(Seqs(p1), ElementsAre(1, 2));
  EXPECT_EQ(p1.head, 5);
  EXPECT_THAT(Seqs(Read(bob_phone_, 2, 2)), ElementsAre(3, 4));
  EXPECT_THAT(Seqs(Read(bob_phone_, 4, 2)), ElementsAre(5));
  InboxPage end = Read(bob_phone_, 5, 2);
  EXPECT_THAT(end.entries, IsEmpty());
  EXPECT_EQ(end.head, 5);
  EXPECT_THAT(Read(bob_phone_, 0, 0).entries, IsEmpty());
  EXPECT_EQ(MessageAt(Read(bob_phone_, 3, 1).entries.at(0)).client_msg_id, "m3");
  EXPECT_EQ(CodeOf(store_->ReadInbox("no-such-client", 0, 10)), Errc::not_found);
}

TEST_P(StoreConformance, StatsCountsEntriesAndOldest) {
  auto empty = store_->Stats();
  ASSERT_TRUE(empty);
  EXPECT_EQ(empty->entries, 0);
  EXPECT_EQ(empty->oldest_ts, 0);
  ASSERT_NO_FATAL_FAILURE(SetUpCast());  // events created at kNow
  Send("c1", "alice", alice_phone_, "m1", kNow + 1000);
  EXPECT_EQ(store_->Stats()->entries, 4);
  EXPECT_EQ(store_->Stats()->oldest_ts, kNow);
  Ack(bob_phone_, 1);
  Ack(alice_laptop_, 1);
  EXPECT_EQ(store_->Stats()->entries, 2);
  EXPECT_EQ(store_->Stats()->oldest_ts, kNow + 1000);
}

}  // namespace ferry::store_test
