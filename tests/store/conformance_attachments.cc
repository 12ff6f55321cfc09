// The Store conformance suite, part three (see conformance.h): attachment
// records (create, upload, fetch, dead, delete) and how send, ack,
// DeleteClient and Sweep treat them.
#include <gmock/gmock.h>

#include <algorithm>
#include <string>
#include <utility>
#include <vector>

#include "conformance.h"

namespace ferry::store_test {
namespace {

using ::testing::ElementsAre;
using ::testing::IsEmpty;
using Kind = ChatOp::Kind;
using Ids = std::vector<std::string>;

constexpr Millis kPendingExpires = kNow + 60 * 60 * 1000;  // an hour to upload
constexpr Millis kUploadedExpires = kNow + kMillisPerDay;  // a day to be sent

Attachment NewAttachment(const std::string& id, const std::string& owner,
                         const std::string& content_type = "image/png", std::int64_t size = 100) {
  Attachment a;
  a.attachment_id = id;
  a.owner = owner;
  a.content_type = content_type;
  a.size = size;
  a.sha256 = std::string(64, 'a');
  a.created = kNow;
  a.expires = kPendingExpires;
  return a;
}

// Comparable form of an AttachmentRef list.
std::vector<std::string> Refs(const std::vector<AttachmentRef>& refs) {
  std::vector<std::string> out;
  for (const AttachmentRef& r : refs) {
    out.push_back(r.attachment_id + "|" + r.content_type + "|" + std::to_string(r.size));
  }
  return out;
}

void Create(Store& store, const Attachment& a) {
  EXPECT_EQ(CodeOf(store.CreateAttachment(a)), Errc::ok) << a.attachment_id;
}

// Creates and uploads an attachment of `owner`.
void Uploaded(Store& store, const std::string& id, const std::string& owner,
              const std::string& content_type = "image/png", std::int64_t size = 100) {
  Create(store, NewAttachment(id, owner, content_type, size));
  EXPECT_EQ(CodeOf(store.MarkUploaded(id, kUploadedExpires)), Errc::ok) << id;
}

Attachment Get(Store& store, const std::string& id) {
  auto a = store.GetAttachment(id);
  EXPECT_EQ(CodeOf(a), Errc::ok) << id;
  return a ? *a : Attachment{};
}

std::vector<std::string> Dead(Store& store, Millis now, std::size_t limit = 1000) {
  auto dead = store.DeadAttachments(now, limit);
  EXPECT_EQ(CodeOf(dead), Errc::ok);
  std::vector<std::string> ids = dead ? *dead : std::vector<std::string>{};
  std::sort(ids.begin(), ids.end());
  return ids;
}

bool Recipient(Store& store, const std::string& id, const std::string& client) {
  auto r = store.IsRecipient(id, client);
  EXPECT_EQ(CodeOf(r), Errc::ok) << id << "/" << client;
  return r && *r;
}

}  // namespace

// ---- Records ----

TEST_P(StoreConformance, AttachmentCreateAndGet) {
  Attachment a = NewAttachment("att-1", "alice", "text/plain; charset=\"utf-8\"", 4321);
  a.state = AttachmentState::sent;  // ignored: a new record is pending
  a.message_id = "ignored";
  ASSERT_EQ(CodeOf(store_->CreateAttachment(a)), Errc::ok);
  Attachment got = Get(*store_, "att-1");
  EXPECT_EQ(got.attachment_id, "att-1");
  EXPECT_EQ(got.owner, "alice");
  EXPECT_EQ(got.content_type, "text/plain; charset=\"utf-8\"");
  EXPECT_EQ(got.size, 4321);
  EXPECT_EQ(got.sha256, std::string(64, 'a'));
  EXPECT_EQ(got.state, AttachmentState::pending);
  EXPECT_EQ(got.message_id, "");
  EXPECT_EQ(got.created, kNow);
  EXPECT_EQ(got.expires, kPendingExpires);

  Attachment unannounced = NewAttachment("att-2", "bob");
  unannounced.sha256 = "";
  ASSERT_EQ(CodeOf(store_->CreateAttachment(unannounced)), Errc::ok);
  EXPECT_EQ(Get(*store_, "att-2").sha256, "");
  EXPECT_EQ(Get(*store_, "att-2").owner, "bob");

  EXPECT_EQ(CodeOf(store_->GetAttachment("no-such-attachment")), Errc::not_found);
}

TEST_P(StoreConformance, MarkUploadedOnlyFromPending) {
  Create(*store_, NewAttachment("att-1", "alice"));
  ASSERT_EQ(CodeOf(store_->MarkUploaded("att-1", kUploadedExpires)), Errc::ok);
  Attachment got = Get(*store_, "att-1");
  EXPECT_EQ(got.state, AttachmentState::uploaded);
  EXPECT_EQ(got.expires, kUploadedExpires);

  // A second upload changes nothing.
  EXPECT_EQ(CodeOf(store_->MarkUploaded("att-1", kFarFuture)), Errc::bad_request);
  got = Get(*store_, "att-1");
  EXPECT_EQ(got.state, AttachmentState::uploaded);
  EXPECT_EQ(got.expires, kUploadedExpires);

  EXPECT_EQ(CodeOf(store_->MarkUploaded("no-such-attachment", kUploadedExpires)), Errc::not_found);
  EXPECT_EQ(CodeOf(store_->GetAttachment("no-such-attachment")), Errc::not_found);
}

// ---- Send with attachments ----

TEST_P(StoreConformance, SendFillsAttachmentsAndRecordsRecipients) {
  ASSERT_NO_FATAL_FAILURE(SetUpCast());
  Uploaded(*store_, "att-x", "alice", "image/png", 1234);
  Uploaded(*store_, "att-y", "alice", "text/plain; charset=\"utf-8\"", 5);
  // Sent in the order given, not the order created.
  SendOp sent = SendWith("c1", "alice", alice_phone_, "m1", Ids{"att-y", "att-x"});
  ASSERT_EQ(sent.status, Errc::ok);
  EXPECT_FALSE(sent.duplicate);
  EXPECT_THAT(Refs(sent.message.attachments),
              ElementsAre("att-y|text/plain; charset=\"utf-8\"|5", "att-x|image/png|1234"));
  ASSERT_EQ(sent.deliveries.size(), 2u);

  for (const std::string& client : {bob_phone_, alice_laptop_}) {
    InboxPage page = Read(client);
    ASSERT_FALSE(page.entries.empty()) << client;
    const Message& got = std::get<Message>(page.entries.back().item);
    EXPECT_EQ(got.message_id, sent.message.message_id);
    EXPECT_THAT(Refs(got.attachments),
                ElementsAre("att-y|text/plain; charset=\"utf-8\"|5", "att-x|image/png|1234"))
        << client;
    // The announced checksum travels with the message, so recipients can verify.
    ASSERT_EQ(got.attachments.size(), 2u);
    EXPECT_EQ(got.attachments[0].sha256, std::string(64, 'a')) << client;
  }

  for (const char* id : {"att-x", "att-y"}) {
    Attachment a = Get(*store_, id);
    EXPECT_EQ(a.state, AttachmentState::sent) << id;
    EXPECT_EQ(a.message_id, sent.message.message_id) << id;
    EXPECT_EQ(a.expires, kExpires) << id;
    EXPECT_EQ(a.owner, "alice") << id;
    EXPECT_TRUE(Recipient(*store_, id, bob_phone_)) << id;
    EXPECT_TRUE(Recipient(*store_, id, alice_laptop_)) << id;
    EXPECT_FALSE(Recipient(*store_, id, alice_phone_)) << id;  // the sending client
    EXPECT_FALSE(Recipient(*store_, id, carol_phone_)) << id;  // not in the chat
    EXPECT_FALSE(Recipient(*store_, id, "no-such-client")) << id;
  }
  EXPECT_FALSE(Recipient(*store_, "no-such-attachment", bob_phone_));
  EXPECT_THAT(Dead(*store_, kNow), IsEmpty());

  // A later message without attachments carries none.
  SendOp plain = Send("c1", "alice", alice_phone_, "m2");
  EXPECT_THAT(plain.message.attachments, IsEmpty());
  EXPECT_THAT(std::get<Message>(Read(bob_phone_).entries.back().item).attachments, IsEmpty());
}

TEST_P(StoreConformance, SendRefusesUnusableAttachmentsAndChangesNothing) {
  ASSERT_NO_FATAL_FAILURE(SetUpCast());
  Uploaded(*store_, "att-a", "alice");
  Create(*store_, NewAttachment("att-pending", "alice"));
  Uploaded(*store_, "att-bob", "bob");

  struct Case {
    Ids ids;
    Errc want;
  };
  const std::vector<Case> cases = {
      {{"att-bob"}, Errc::not_found},             // someone else's
      {{"no-such-attachment"}, Errc::not_found},  // unknown
      {{"att-pending"}, Errc::bad_request},       // not uploaded yet
      {{"att-a", "att-a"}, Errc::bad_request},    // the same id twice
      {{"att-a", "att-bob"}, Errc::not_found},    // one good, one not
      {{"att-a", "att-pending"}, Errc::bad_request},
  };
  int n = 0;
  for (const Case& c : cases) {
    std::string cmid = "bad-" + std::to_string(++n);
    SendOp op = SendWith("c1", "alice", alice_phone_, cmid, c.ids);
    EXPECT_EQ(op.status, c.want) << cmid;
    EXPECT_FALSE(op.duplicate) << cmid;
    EXPECT_THAT(op.deliveries, IsEmpty()) << cmid;
    EXPECT_THAT(op.message.attachments, IsEmpty()) << cmid;
  }

  // Nothing was written: states, expiries and recipients as before, no
  // inbox entry, no idempotency record.
  Attachment a = Get(*store_, "att-a");
  EXPECT_EQ(a.state, AttachmentState::uploaded);
  EXPECT_EQ(a.message_id, "");
  EXPECT_EQ(a.expires, kUploadedExpires);
  EXPECT_EQ(Get(*store_, "att-pending").state, AttachmentState::pending);
  EXPECT_EQ(Get(*store_, "att-pending").expires, kPendingExpires);
  EXPECT_EQ(Get(*store_, "att-bob").state, AttachmentState::uploaded);
  EXPECT_FALSE(Recipient(*store_, "att-a", bob_phone_));
  EXPECT_EQ(Head(bob_phone_), 1);
  SendOp retry = SendWith("c1", "alice", alice_phone_, "bad-1", Ids{"att-a"});
  EXPECT_EQ(retry.status, Errc::ok);
  EXPECT_FALSE(retry.duplicate);
  EXPECT_THAT(Refs(retry.message.attachments), ElementsAre("att-a|image/png|100"));
}

TEST_P(StoreConformance, SendChecksChatAndMembershipBeforeAttachments) {
  ASSERT_NO_FATAL_FAILURE(SetUpCast());
  Create(*store_, NewAttachment("att-pending", "alice"));
  Create(*store_, NewAttachment("att-carol", "carol"));
  // Each would be bad_request if the attachment were checked first.
  EXPECT_EQ(SendWith("no-such-chat", "alice", alice_phone_, "m1", Ids{"att-pending"}).status,
            Errc::not_found);
  EXPECT_EQ(SendWith("c1", "carol", carol_phone_, "m2", Ids{"att-carol"}).status, Errc::forbidden);
}

TEST_P(StoreConformance, AttachmentIsSentAtMostOnce) {
  ASSERT_NO_FATAL_FAILURE(SetUpCast());
  Uploaded(*store_, "att-a", "alice");
  SendOp first = SendWith("c1", "alice", alice_phone_, "m1", Ids{"att-a"});
  ASSERT_EQ(first.status, Errc::ok);

  // A retry of the same send is a duplicate, not a second use.
  SendOp retry = SendWith("c1", "alice", alice_phone_, "m1", Ids{"att-a"});
  EXPECT_EQ(retry.status, Errc::ok);
  EXPECT_TRUE(retry.duplicate);
  EXPECT_EQ(retry.message.message_id, first.message.message_id);

  // A new send of it, from any of the owner's clients, is refused.
  SendOp again = SendWith("c1", "alice", alice_laptop_, "m2", Ids{"att-a"});
  EXPECT_EQ(again.status, Errc::bad_request);
  EXPECT_THAT(again.deliveries, IsEmpty());
  EXPECT_FALSE(Recipient(*store_, "att-a", alice_phone_));  // m2 would have reached it
  EXPECT_EQ(Get(*store_, "att-a").message_id, first.message.message_id);
  EXPECT_EQ(CodeOf(store_->MarkUploaded("att-a", kFarFuture)), Errc::bad_request);
  EXPECT_EQ(Get(*store_, "att-a").expires, kExpires);

  // Within one batch the second send sees the first.
  Uploaded(*store_, "att-b", "bob");
  SendOp a = MakeSend("c1", "bob", bob_phone_, "b1");
  a.attachment_ids = {"att-b"};
  SendOp b = MakeSend("c1", "bob", bob_phone_, "b2");
  b.attachment_ids = {"att-b"};
  Write({&a, &b});
  EXPECT_EQ(a.status, Errc::ok);
  EXPECT_EQ(b.status, Errc::bad_request);
  EXPECT_EQ(Get(*store_, "att-b").message_id, a.message.message_id);
}

// ---- Fetches ----

TEST_P(StoreConformance, RecordFetchCountsEveryRecipient) {
  ASSERT_NO_FATAL_FAILURE(SetUpCast());
  Uploaded(*store_, "att-a", "alice");
  ASSERT_EQ(SendWith("c1", "alice", alice_phone_, "m1", Ids{"att-a"}).status, Errc::ok);

  auto bob = store_->RecordFetch("att-a", bob_phone_);
  ASSERT_TRUE(bob);
  EXPECT_FALSE(*bob);  // alice's laptop has not fetched it yet
  auto bob_again = store_->RecordFetch("att-a", bob_phone_);
  ASSERT_TRUE(bob_again);
  EXPECT_FALSE(*bob_again);  // idempotent
  EXPECT_THAT(Dead(*store_, kNow), IsEmpty());

  EXPECT_EQ(CodeOf(store_->RecordFetch("att-a", alice_phone_)), Errc::not_found);
  EXPECT_EQ(CodeOf(store_->RecordFetch("att-a", carol_phone_)), Errc::not_found);
  EXPECT_EQ(CodeOf(store_->RecordFetch("no-such-attachment", bob_phone_)), Errc::not_found);

  auto laptop = store_->RecordFetch("att-a", alice_laptop_);
  ASSERT_TRUE(laptop);
  EXPECT_TRUE(*laptop);
  auto laptop_again = store_->RecordFetch("att-a", alice_laptop_);
  ASSERT_TRUE(laptop_again);
  EXPECT_TRUE(*laptop_again);
  auto bob_last = store_->RecordFetch("att-a", bob_phone_);
  ASSERT_TRUE(bob_last);
  EXPECT_TRUE(*bob_last);
  // Fetched recipients are still recipients.
  EXPECT_TRUE(Recipient(*store_, "att-a", bob_phone_));
  EXPECT_TRUE(Recipient(*store_, "att-a", alice_laptop_));
  EXPECT_EQ(Get(*store_, "att-a").state, AttachmentState::sent);
}

// ---- Dead attachments ----

TEST_P(StoreConformance, DeadAttachmentsPendingAndUploadedAtExpiry) {
  Create(*store_, NewAttachment("att-pending", "alice"));
  Uploaded(*store_, "att-uploaded", "alice");
  EXPECT_THAT(Dead(*store_, kNow), IsEmpty());
  EXPECT_THAT(Dead(*store_, kPendingExpires - 1), IsEmpty());
  EXPECT_THAT(Dead(*store_, kPendingExpires), ElementsAre("att-pending"));
  EXPECT_THAT(Dead(*store_, kUploadedExpires - 1), ElementsAre("att-pending"));
  EXPECT_THAT(Dead(*store_, kUploadedExpires), ElementsAre("att-pending", "att-uploaded"));
}

TEST_P(StoreConformance, DeadAttachmentsSentOnceAllFetchedOrExpired) {
  ASSERT_NO_FATAL_FAILURE(SetUpCast());
  Uploaded(*store_, "att-fetched", "alice");
  Uploaded(*store_, "att-waiting", "alice");
  Uploaded(*store_, "att-short", "alice");
  ASSERT_EQ(SendWith("c1", "alice", alice_phone_, "m1", Ids{"att-fetched", "att-waiting"}).status,
            Errc::ok);
  constexpr Millis kShort = kNow + 5000;
  ASSERT_EQ(SendWith("c1", "alice", alice_phone_, "m2", Ids{"att-short"}, kNow, kShort).status,
            Errc::ok);
  EXPECT_THAT(Dead(*store_, kNow), IsEmpty());

  ASSERT_TRUE(store_->RecordFetch("att-fetched", bob_phone_));
  ASSERT_TRUE(store_->RecordFetch("att-waiting", bob_phone_));
  EXPECT_THAT(Dead(*store_, kNow), IsEmpty());  // the laptop still owes both
  ASSERT_TRUE(store_->RecordFetch("att-fetched", alice_laptop_));
  EXPECT_THAT(Dead(*store_, kNow), ElementsAre("att-fetched"));

  // Sent ones also go with their message's expiry, fetched or not.
  EXPECT_THAT(Dead(*store_, kShort - 1), ElementsAre("att-fetched"));
  EXPECT_THAT(Dead(*store_, kShort), ElementsAre("att-fetched", "att-short"));
  EXPECT_THAT(Dead(*store_, kExpires), ElementsAre("att-fetched", "att-short", "att-waiting"));
}

TEST_P(StoreConformance, DeadAttachmentsWhenUnfetchedRecipientsAreDeleted) {
  ASSERT_NO_FATAL_FAILURE(SetUpCast());
  Uploaded(*store_, "att-a", "alice");
  Uploaded(*store_, "att-b", "alice");
  ASSERT_EQ(SendWith("c1", "alice", alice_phone_, "m1", Ids{"att-a", "att-b"}).status, Errc::ok);
  ASSERT_TRUE(store_->RecordFetch("att-a", bob_phone_));

  // The laptop owed both; deleting it leaves att-a with nobody to wait for
  // and att-b still waiting for bob.
  ASSERT_EQ(CodeOf(store_->DeleteClient("alice", alice_laptop_)), Errc::ok);
  EXPECT_FALSE(Recipient(*store_, "att-a", alice_laptop_));
  EXPECT_EQ(CodeOf(store_->RecordFetch("att-b", alice_laptop_)), Errc::not_found);
  EXPECT_THAT(Dead(*store_, kNow), ElementsAre("att-a"));

  ASSERT_EQ(CodeOf(store_->DeleteClient("bob", bob_phone_)), Errc::ok);
  EXPECT_THAT(Dead(*store_, kNow), ElementsAre("att-a", "att-b"));
}

TEST_P(StoreConformance, DeletingAFetchedRecipientKeepsOthersWaiting) {
  ASSERT_NO_FATAL_FAILURE(SetUpCast());
  Uploaded(*store_, "att-a", "alice");
  ASSERT_EQ(SendWith("c1", "alice", alice_phone_, "m1", Ids{"att-a"}).status, Errc::ok);
  ASSERT_TRUE(store_->RecordFetch("att-a", bob_phone_));
  // bob had fetched it: his deletion must not count against the laptop.
  ASSERT_EQ(CodeOf(store_->DeleteClient("bob", bob_phone_)), Errc::ok);
  EXPECT_THAT(Dead(*store_, kNow), IsEmpty());
  auto last = store_->RecordFetch("att-a", alice_laptop_);
  ASSERT_TRUE(last);
  EXPECT_TRUE(*last);
  EXPECT_THAT(Dead(*store_, kNow), ElementsAre("att-a"));
}

TEST_P(StoreConformance, AttachmentSentToNobodyIsDead) {
  ASSERT_NO_FATAL_FAILURE(SetUpCast());
  AddUsers({"erin"});
  std::string solo = Client("erin", "phone");
  ASSERT_EQ(Chat(Kind::create, "c2", "erin", solo, {"erin", "dave"}).status, Errc::ok);
  Uploaded(*store_, "att-e", "erin");
  SendOp sent = SendWith("c2", "erin", solo, "m1", Ids{"att-e"});
  ASSERT_EQ(sent.status, Errc::ok);
  EXPECT_THAT(sent.deliveries, IsEmpty());
  EXPECT_THAT(Refs(sent.message.attachments), ElementsAre("att-e|image/png|100"));
  Attachment a = Get(*store_, "att-e");
  EXPECT_EQ(a.state, AttachmentState::sent);
  EXPECT_EQ(a.message_id, sent.message.message_id);
  EXPECT_FALSE(Recipient(*store_, "att-e", solo));
  EXPECT_THAT(Dead(*store_, kNow), ElementsAre("att-e"));
}

TEST_P(StoreConformance, AcksAndSweepDoNotKillAttachments) {
  ASSERT_NO_FATAL_FAILURE(SetUpCast());
  Uploaded(*store_, "att-a", "alice");
  ASSERT_EQ(SendWith("c1", "alice", alice_phone_, "m1", Ids{"att-a"}).status, Errc::ok);
  EXPECT_EQ(Ack(bob_phone_, 2).acked, 2);
  EXPECT_EQ(Ack(alice_laptop_, 2).acked, 2);
  EXPECT_EQ(store_->Stats()->entries, 0);  // the message is gone

  Attachment a = Get(*store_, "att-a");
  EXPECT_EQ(a.state, AttachmentState::sent);
  EXPECT_TRUE(Recipient(*store_, "att-a", bob_phone_));
  EXPECT_THAT(Dead(*store_, kNow), IsEmpty());  // nobody fetched it yet

  // Sweep removes messages, not attachment records.
  ASSERT_TRUE(store_->Sweep(kFarFuture));
  EXPECT_EQ(Get(*store_, "att-a").state, AttachmentState::sent);
  EXPECT_TRUE(Recipient(*store_, "att-a", alice_laptop_));
  EXPECT_THAT(Dead(*store_, kNow), IsEmpty());
  EXPECT_THAT(Dead(*store_, kExpires), ElementsAre("att-a"));
}

TEST_P(StoreConformance, DeadAttachmentsRespectsLimit) {
  for (const char* id : {"att-1", "att-2", "att-3", "att-4", "att-5"}) {
    Create(*store_, NewAttachment(id, "alice"));
  }
  Create(*store_, [] {
    Attachment later = NewAttachment("att-later", "alice");
    later.expires = kFarFuture;
    return later;
  }());
  std::vector<std::string> all = {"att-1", "att-2", "att-3", "att-4", "att-5"};
  EXPECT_EQ(Dead(*store_, kPendingExpires), all);
  EXPECT_THAT(Dead(*store_, kPendingExpires, 0), IsEmpty());
  std::vector<std::string> two = Dead(*store_, kPendingExpires, 2);
  ASSERT_EQ(two.size(), 2u);
  for (const std::string& id : two) EXPECT_NE(std::find(all.begin(), all.end(), id), all.end());
  EXPECT_EQ(Dead(*store_, kPendingExpires, 5), all);
}

// ---- Deletion ----

TEST_P(StoreConformance, DeleteAttachmentsRemovesRecordsAndRecipients) {
  ASSERT_NO_FATAL_FAILURE(SetUpCast());
  Uploaded(*store_, "att-a", "alice");
  Uploaded(*store_, "att-keep", "alice");
  Create(*store_, NewAttachment("att-pending", "alice"));
  ASSERT_EQ(SendWith("c1", "alice", alice_phone_, "m1", Ids{"att-a"}).status, Errc::ok);
  ASSERT_TRUE(store_->RecordFetch("att-a", bob_phone_));
  ASSERT_TRUE(store_->RecordFetch("att-a", alice_laptop_));
  EXPECT_THAT(Dead(*store_, kPendingExpires), ElementsAre("att-a", "att-pending"));

  ASSERT_EQ(CodeOf(store_->DeleteAttachments({"att-a", "no-such-attachment", "att-pending"})),
            Errc::ok);
  EXPECT_EQ(CodeOf(store_->GetAttachment("att-a")), Errc::not_found);
  EXPECT_EQ(CodeOf(store_->GetAttachment("att-pending")), Errc::not_found);
  EXPECT_FALSE(Recipient(*store_, "att-a", bob_phone_));
  EXPECT_EQ(CodeOf(store_->RecordFetch("att-a", bob_phone_)), Errc::not_found);
  EXPECT_EQ(CodeOf(store_->MarkUploaded("att-pending", kFarFuture)), Errc::not_found);
  EXPECT_THAT(Dead(*store_, kPendingExpires), IsEmpty());
  EXPECT_EQ(Get(*store_, "att-keep").state, AttachmentState::uploaded);
  EXPECT_EQ(CodeOf(store_->DeleteAttachments({})), Errc::ok);

  // The message still lists the attachment; only its record is gone.
  EXPECT_THAT(Refs(std::get<Message>(Read(bob_phone_).entries.back().item).attachments),
              ElementsAre("att-a|image/png|100"));
}

}  // namespace ferry::store_test
