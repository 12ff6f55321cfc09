// Service and ClientSession logic without sockets, on the harness of
// session_harness.h (test executor, FakeTransport, TestBus, in-memory
// SQLite behind a FailingStore).
#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <future>

#include "service/session_harness.h"

namespace ferry::testing {
namespace {

TEST_F(SessionTest, StorageDownGivesUnavailableAndRecovers) {
  Conn& alice = Connect("alice");
  Conn& bob = Connect("bob");
  std::string chat = CreateChat(alice, "bob");
  store->fail_writes = true;
  json::object r = SendMsg(alice, chat, "lost?");
  EXPECT_EQ(r.at("type"), "error");
  EXPECT_EQ(r.at("code"), "unavailable");
  EXPECT_FALSE(alice.transport.closed);  // the connection survives
  store->fail_writes = false;
  EXPECT_EQ(SendMsg(alice, chat, "after recovery").at("type"), "ok");
  ASSERT_TRUE(RunUntil([&] { return bob.Entries().size() == 2; }));
  EXPECT_EQ(bob.Entries()[1].at("body"), "after recovery");
  EXPECT_EQ(bob.Entries()[1].at("seq"), 2);  // nothing from the failed send
}

TEST_F(SessionTest, WindowBoundsUnackedEntries) {
  Conn& alice = Connect("alice");
  Conn& bob = Connect("bob");
  std::string chat = CreateChat(alice, "bob");
  for (int i = 0; i < 9; ++i) SendMsg(alice, chat, "m" + std::to_string(i));
  ASSERT_TRUE(RunUntil([&] { return bob.Entries().size() == 4; }));
  Call(bob, {{"type", "listChats"}});  // a full round trip through the store
  EXPECT_EQ(bob.Entries().size(), 4u);  // window 4: nothing more until an ack
  Call(bob, {{"type", "ack"}, {"upTo", 4}});
  ASSERT_TRUE(RunUntil([&] { return bob.Entries().size() == 8; }));
  for (std::size_t i = 0; i < 8; ++i) EXPECT_EQ(bob.Entries()[i].at("seq"), std::int64_t(i + 1));
}

TEST_F(SessionTest, FullSendQueuePausesPushesUntilDrained) {
  Conn& alice = Connect("alice");
  Conn& bob = Connect("bob");
  std::string chat = CreateChat(alice, "bob");
  ASSERT_TRUE(RunUntil([&] { return bob.Entries().size() == 1; }));
  Call(bob, {{"type", "ack"}, {"upTo", 1}});
  bob.transport.queued = config.send_queue_high_bytes + 1;  // a slow reader
  SendMsg(alice, chat, "waits");
  Call(bob, {{"type", "listChats"}});
  EXPECT_EQ(bob.Entries().size(), 1u);
  EXPECT_FALSE(bob.transport.closed);
  bob.transport.queued = 0;
  bob.session->OnDrained();
  ASSERT_TRUE(RunUntil([&] { return bob.Entries().size() == 2; }));
  EXPECT_EQ(bob.Entries()[1].at("body"), "waits");
}

TEST_F(SessionTest, SendQueueOverHardCapClosesSlowConsumer) {
  Conn& bob = Connect("bob");
  bob.transport.queued = config.send_queue_max_bytes + 1;
  bob.session->OnText(R"({"type":"listChats","id":99})");
  ASSERT_TRUE(RunUntil([&] { return bob.transport.closed.has_value(); }));
  EXPECT_EQ(*bob.transport.closed, close_code::kSlowConsumer);
}

// Issue 10: a client that never read held the 4 MiB queued in ferryd and as
// much again in the kernel's send buffer. The kernel's part (a fixed
// SO_SNDBUF, doubled by Linux) now counts against the cap.
TEST_F(SessionTest, TheKernelSendBufferCountsAgainstTheHardCap) {
  Conn& bob = Connect("bob");
  bob.transport.queued = config.send_queue_max_bytes - 2 * config.ws_send_buffer_bytes + 1;
  bob.session->OnText(R"({"type":"listChats","id":99})");
  ASSERT_TRUE(RunUntil([&] { return bob.transport.closed.has_value(); }));
  EXPECT_EQ(*bob.transport.closed, close_code::kSlowConsumer);
}

// The production window (1,024 unacked entries), so that a backlog is
// bounded by the send queue's bytes, not by the window.
class SessionBacklogTest : public SessionTest {
 protected:
  void Configure() override { config.delivery_window = Config{}.delivery_window; }
};

// Issue 10: a backlog of big entries pushed in one page filled the queue
// past the hard cap, and the next reply closed a client that reads (4429).
// Pushes stop at the soft limit; the rest follows as the client drains.
TEST_F(SessionBacklogTest, BigBacklogWaitsAtSoftLimitAndRequestsAreAnswered) {
  constexpr std::size_t kMessages = 75;
  const std::string body(60'000, 'x');  // 75 x 60 kB: over the 4 MiB hard cap
  ASSERT_GT(kMessages * body.size(), config.send_queue_max_bytes);
  std::string bob_token = TokenFor("bob");  // bob is offline meanwhile
  Conn& alice = Connect("alice");
  std::string chat = CreateChat(alice, "bob");
  for (std::size_t i = 0; i < kMessages; ++i) SendMsg(alice, chat, body);

  Conn& bob = StartHello(bob_token);
  bob.transport.counts_bytes = true;  // bob reads only when the test says so
  ASSERT_TRUE(RunUntil([&] { return bob.Reply(0) && bob.EntryCount() > 0; }));
  Settle();  // the first page is pushed as far as it goes
  // A request while the backlog waits: answered, not closed with 4429.
  bob.session->OnText(R"({"type":"listChats","id":1})");
  ASSERT_TRUE(RunUntil([&] { return bob.Reply(1) || bob.transport.closed; }));
  ASSERT_FALSE(bob.transport.closed) << "closed with " << *bob.transport.closed;
  EXPECT_EQ(bob.Reply(1)->at("type"), "ok");
  // Entries of 60 kB: at most one of them past the soft limit.
  const std::size_t bound = config.send_queue_high_bytes + body.size() + 1024;
  EXPECT_LE(bob.transport.queued, bound);

  // bob reads everything queued and acks, again and again: the rest of the
  // backlog follows, in order, never past the bound.
  while (bob.EntryCount() < kMessages + 1) {
    std::size_t before = bob.EntryCount();
    bob.session->OnText(json::serialize(json::object{{"type", "ack"}, {"upTo", before}}));
    bob.transport.queued = 0;
    bob.session->OnDrained();
    ASSERT_TRUE(RunUntil([&] { return bob.EntryCount() > before || bob.transport.closed; }));
    ASSERT_FALSE(bob.transport.closed) << "closed with " << *bob.transport.closed;
    EXPECT_LE(bob.transport.queued, bound);
  }
  std::vector<json::object> entries = bob.Entries();
  for (std::size_t i = 0; i < entries.size(); ++i) {
    EXPECT_EQ(entries[i].at("seq"), std::int64_t(i + 1));
  }
  // Each read asks for about what fits: the backlog is read from the store
  // about twice in all (147 entries; the first read cannot know the
  // entries' size), not its rest again at every drain (601).
  EXPECT_LE(store->inbox_entries_read, 3 * (kMessages + 1));
}

TEST_F(SessionTest, GapInNotificationsIsFilledFromTheStore) {
  Conn& alice = Connect("alice");
  Conn& bob = Connect("bob");
  std::string chat = CreateChat(alice, "bob");
  ASSERT_TRUE(RunUntil([&] { return bob.Entries().size() == 1; }));
  bus.drop = true;
  SendMsg(alice, chat, "lost notification");
  bus.drop = false;
  SendMsg(alice, chat, "arrives");
  ASSERT_TRUE(RunUntil([&] { return bob.Entries().size() == 3; }));
  EXPECT_EQ(bob.Entries()[1].at("body"), "lost notification");
  EXPECT_EQ(bob.Entries()[1].at("seq"), 2);
  EXPECT_EQ(bob.Entries()[2].at("seq"), 3);
}

TEST_F(SessionTest, PingCarriesStoreHeadAfterLostNotification) {
  Conn& alice = Connect("alice");
  Conn& bob = Connect("bob");
  std::string chat = CreateChat(alice, "bob");
  ASSERT_TRUE(RunUntil([&] { return bob.Entries().size() == 1; }));
  bus.drop = true;
  SendMsg(alice, chat, "only in the store");
  clock.Advance(config.heartbeat_interval_ms);
  auto ping = [&]() -> const json::object* {
    for (const auto& f : bob.transport.sent) {
      if (f.at("type") == "ping" && f.at("head") == 2) return &f;
    }
    return nullptr;
  };
  ASSERT_TRUE(RunUntil([&] { return ping() != nullptr; }));
  // The client sees head 2 > its last seq 1 and syncs.
  json::object ok = Call(bob, {{"type", "sync"}, {"after", 1}});
  EXPECT_EQ(ok.at("head"), 2);
  ASSERT_TRUE(RunUntil([&] { return bob.Entries().size() == 2; }));
  EXPECT_EQ(bob.Entries()[1].at("body"), "only in the store");
}

TEST_F(SessionTest, RequestsPipelinedBehindHelloAreServedAfterIt) {
  Conn& c = StartHello(TokenFor("alice"));
  c.session->OnText(R"({"type":"listChats","id":1})");
  c.session->OnText(R"({"type":"lastSeen","id":2,"user":"alice"})");
  // Replies may come in any order (they carry ids); both come, after hello's.
  ASSERT_TRUE(RunUntil([&] { return c.Reply(1) && c.Reply(2); }));
  EXPECT_EQ(c.transport.sent[0].at("id"), 0);  // hello's ok first
  EXPECT_EQ(c.Reply(1)->at("type"), "ok");
  EXPECT_EQ(c.Reply(2)->at("online"), true);
}

// A hello is answered only once the node hears the user's channel: until
// then a newer connection's kick (4409) published from another node would
// miss this one, and both would stay open.
TEST_F(SessionTest, HelloIsAnsweredOnceTheUserChannelIsConfirmed) {
  std::string token = TokenFor("alice");
  bus.HoldReady("u:");
  Conn& c = StartHello(token);
  c.session->OnText(R"({"type":"listChats","id":1})");
  // The subscribe is made where the hello used to be answered at once.
  ASSERT_TRUE(RunUntil([&] { return bus.SubscribeCalls(UserChannel("alice")) == 1; }));
  EXPECT_EQ(c.Reply(0), nullptr) << "hello answered before its user channel was confirmed";
  EXPECT_EQ(c.Reply(1), nullptr);
  bus.ReleaseHeld();
  ASSERT_TRUE(RunUntil([&] { return c.Reply(0) && c.Reply(1); }));
  EXPECT_EQ(c.transport.sent[0].at("id"), 0);  // hello's ok first
}

// The bus never confirms the user channel: the client is not left waiting
// for its hello's answer forever, but closed once the hello timeout passed.
TEST_F(SessionTest, HelloTheServerCannotCompleteInTimeClosesUnavailable) {
  std::string token = TokenFor("alice");
  bus.HoldReady("u:");
  Conn& c = StartHello(token);
  ASSERT_TRUE(RunUntil([&] { return bus.SubscribeCalls(UserChannel("alice")) == 1; }));
  clock.Advance(config.hello_timeout_ms - 1);
  RunUntil([] { return false; }, 50ms);
  EXPECT_FALSE(c.transport.closed) << "closed before the hello timeout";
  clock.Advance(1);
  ASSERT_TRUE(RunUntil([&] { return c.transport.closed.has_value(); }));
  EXPECT_EQ(*c.transport.closed, close_code::kUnavailable);
  EXPECT_EQ(c.Reply(0), nullptr);
}

// The heartbeat and the ack timer run on the injected clock: nothing here
// waits for real time to pass.
TEST_F(SessionTest, UnackedEntryIsResentAfterTheAckTimeoutThenClosed) {
  Conn& bob = BobWithOneMessage();
  ASSERT_EQ(bob.Entries().size(), 2u);
  for (int resend = 1; resend <= config.ack_retries; ++resend) {
    clock.Advance(config.ack_timeout_ms);
    ASSERT_TRUE(RunUntil([&] { return bob.Entries().size() == 2u + 2 * resend; })) << resend;
    bob.session->OnText(R"({"type":"pong"})");  // alive, just not acking
  }
  EXPECT_FALSE(bob.transport.closed);
  clock.Advance(config.ack_timeout_ms);
  ASSERT_TRUE(RunUntil([&] { return bob.transport.closed.has_value(); }));
  EXPECT_EQ(*bob.transport.closed, close_code::kTimeout);
}

// The store worker only commits; the notifications of a send and of a
// chat change are encoded and published on the connection's executor (here
// the test thread), so fan-out never holds up the next transaction.
TEST_F(SessionTest, NotificationsArePublishedOffTheStoreThread) {
  Conn& alice = Connect("alice");
  Conn& bob = Connect("bob");
  bus.ClearPublished();
  SendMsg(alice, CreateChat(alice, "bob"), "hi");
  ASSERT_TRUE(RunUntil([&] { return bob.Entries().size() == 2; }));
  EXPECT_EQ(bus.PublishThreads(), std::set<std::thread::id>{std::this_thread::get_id()});
}

TEST_F(SessionTest, StorageDownDuringHelloClosesUnavailable) {
  std::string token = TokenFor("alice");
  store->fail_reads = true;
  Conn& c = StartHello(token);
  ASSERT_TRUE(RunUntil([&] { return c.transport.closed.has_value(); }));
  EXPECT_EQ(*c.transport.closed, close_code::kUnavailable);
}

TEST_F(SessionTest, SweepExpiresEntriesPastRetention) {
  Conn& alice = Connect("alice");
  std::string token = TokenFor("bob");  // bob stays offline
  {
    json::object r = Call(alice, {{"type", "createChat"}, {"members", json::array{"bob"}}});
    std::string chat(r.at("chatId").as_string());
    SendMsg(alice, chat, "old");
  }
  auto inbox_depth = [&] {
    service->Tick();
    std::promise<std::int64_t> depth;
    service->store().Lane(0).Submit([&](Store& s) { depth.set_value(s.Stats()->entries); });
    return depth.get_future().get();
  };
  EXPECT_EQ(inbox_depth(), 2);  // bob's chat event and message
  clock.Advance(config.RetentionMs() + 1);
  // Tick() sweeps at most once per sweep interval; the clock jump covers it.
  EXPECT_EQ(inbox_depth(), 0);

  // bob connects and gets nothing; a new message still flows.
  Conn& bob = ConnectWithToken(token);
  EXPECT_EQ(bob.Reply(0)->at("head"), 2);
  json::object chats = Call(bob, {{"type", "listChats"}});
  std::string chat(chats.at("chats").as_array()[0].at("chatId").as_string());
  SendMsg(alice, chat, "new");
  ASSERT_TRUE(RunUntil([&] { return bob.Entries().size() == 1; }));
  EXPECT_EQ(bob.Entries()[0].at("body"), "new");
  EXPECT_EQ(bob.Entries()[0].at("seq"), 3);
}

// Simulates the blob store's PUT handler for `key` (reserve, store, mark).
bool Upload(Service& service, const std::string& key) {
  std::promise<bool> began, done;
  service.uploads().BeginUpload(key, [&](Result<Attachment> a) { began.set_value(bool(a)); });
  if (!began.get_future().get()) return false;
  service.uploads().FinishUpload(key, true, [&](Result<void> r) { done.set_value(bool(r)); });
  return done.get_future().get();
}

// Waits until the store worker ran everything queued before this call.
void DrainStore(Service& service) {
  std::promise<void> ran;
  service.store().Lane(0).Submit([&](Store&) { ran.set_value(); });
  ran.get_future().get();
}

// Holds the store worker until the returned promise is set, so requests'
// store work queues up behind it.
std::promise<void> HoldStore(Service& service) {
  std::promise<void> release;
  std::shared_future<void> released = release.get_future().share();
  // Returns once the worker is inside the job: everything queued from here
  // on waits for `release` (a job queued before it may run first, as a
  // round runs its writes before its other jobs).
  std::promise<void> holding;
  service.store().Lane(0).Submit([released, &holding](Store&) {
    holding.set_value();
    released.wait();
  });
  holding.get_future().wait();
  return release;
}

// The acked_seq of `user`'s first client as the store has it, read on the store's own thread.
Seq StoredAckedSeq(Service& service, const std::string& user) {
  std::promise<Seq> acked;
  service.store().Lane(0).Submit([&](Store& s) {
    auto clients = s.ListClients(user);
    acked.set_value(clients && !clients->empty() ? clients->front().acked_seq : -1);
  });
  return acked.get_future().get();
}

TEST_F(SessionTest, TooMuchQueuedStoreWorkPausesReading) {
  Conn& alice = Connect("alice");
  std::promise<void> release = HoldStore(*service);  // the requests' jobs queue up
  for (int i = 0; i < 100; ++i) {
    alice.session->OnText(R"({"type":"listChats","id":)" + std::to_string(1000 + i) + "}");
  }
  EXPECT_TRUE(alice.transport.reading_paused);  // 100 queued jobs > the limit
  release.set_value();
  ASSERT_TRUE(RunUntil([&] { return alice.Reply(1099) != nullptr; }));
  EXPECT_FALSE(alice.transport.reading_paused);
  EXPECT_EQ(alice.Reply(1050)->at("type"), "ok");  // nothing was refused
}

// Overload: once the store queue is further behind than store_max_wait_ms,
// a send is answered `unavailable` at once and nothing of it is stored;
// the send already queued completes, and sends are taken again once the
// store has caught up.
class SessionOverloadTest : public SessionTest {
 protected:
  void SetUp() override {
    config.store_max_wait_ms = 250;  // off by default
    SessionTest::SetUp();
  }
};

TEST_F(SessionOverloadTest, SendIsRefusedWhileTheStoreIsBehind) {
  Conn& alice = Connect("alice");
  Conn& bob = Connect("bob");
  std::string chat = CreateChat(alice, "bob");
  std::promise<void> release = HoldStore(*service);
  alice.session->OnText(R"({"type":"send","id":500,"chatId":")" + chat +
                        R"(","clientMsgId":"q","body":"queued"})");
  EXPECT_EQ(alice.Reply(500), nullptr);  // queued behind the held job
  clock.Advance(config.store_max_wait_ms + 1);
  json::object refused = SendMsg(alice, chat, "refused");
  EXPECT_EQ(refused.at("type"), "error");
  EXPECT_EQ(refused.at("code"), "unavailable");
  EXPECT_EQ(service->metrics().store_shed_total.load(), 1);
  release.set_value();
  ASSERT_TRUE(RunUntil([&] { return alice.Reply(500) != nullptr; }));
  EXPECT_EQ(alice.Reply(500)->at("type"), "ok");
  EXPECT_EQ(SendMsg(alice, chat, "after").at("type"), "ok");
  ASSERT_TRUE(RunUntil([&] { return bob.Entries().size() == 3; }));
  EXPECT_EQ(bob.Entries()[1].at("body"), "queued");
  EXPECT_EQ(bob.Entries()[2].at("body"), "after");
  EXPECT_EQ(bob.Entries()[2].at("seq"), 3);  // the refused send took no seq
}

TEST_F(SessionTest, AcksDuringAnAckWriteAreMergedIntoOneWrite) {
  Conn& bob = BobWithMessages(3);
  ASSERT_EQ(bob.Entries().size(), 4u);
  const int acks_before = store->ack_ops;
  std::promise<void> release = HoldStore(*service);
  bob.session->OnText(R"({"type":"ack","upTo":1})");            // written at once
  bob.session->OnText(R"({"type":"ack","id":501,"upTo":2})");  // these two wait,
  bob.session->OnText(R"({"type":"ack","id":502,"upTo":4})");  // and merge
  release.set_value();
  ASSERT_TRUE(RunUntil([&] { return bob.Reply(502) != nullptr; }));
  EXPECT_EQ(bob.Reply(501)->at("type"), "ok");
  EXPECT_EQ(bob.Reply(502)->at("type"), "ok");
  EXPECT_EQ(store->ack_ops - acks_before, 2);  // not 3
  EXPECT_EQ(StoredAckedSeq(*service, "bob"), 4);
}

// A client acking a burst entry by entry: the first ack is written at once,
// the next ones wait for ack_write_interval_ms and go as one write; an ack
// with an id does not wait.
TEST_F(SessionTest, AcksWithoutAnIdAreWrittenAtMostEveryInterval) {
  Conn& bob = BobWithMessages(3);
  ASSERT_EQ(bob.Entries().size(), 4u);
  const int acks_before = store->ack_ops;
  bob.session->OnText(R"({"type":"ack","upTo":1})");
  Settle();
  EXPECT_EQ(store->ack_ops - acks_before, 1);
  bob.session->OnText(R"({"type":"ack","upTo":2})");
  bob.session->OnText(R"({"type":"ack","upTo":3})");
  Settle();
  EXPECT_EQ(store->ack_ops - acks_before, 1);  // waiting for the interval
  EXPECT_EQ(StoredAckedSeq(*service, "bob"), 1);
  clock.Advance(config.ack_write_interval_ms);
  ASSERT_TRUE(RunUntil([&] { return store->ack_ops - acks_before == 2; }));
  Settle();
  EXPECT_EQ(StoredAckedSeq(*service, "bob"), 3);
  bob.session->OnText(R"({"type":"ack","id":701,"upTo":4})");  // within the interval
  ASSERT_TRUE(RunUntil([&] { return bob.Reply(701) != nullptr; }));
  EXPECT_EQ(bob.Reply(701)->at("type"), "ok");
  EXPECT_EQ(store->ack_ops - acks_before, 3);
  EXPECT_EQ(StoredAckedSeq(*service, "bob"), 4);
}

TEST_F(SessionTest, AckWithIdRepeatingAnAckIsAnsweredOnceThatIsDurable) {
  Conn& bob = BobWithOneMessage();
  std::promise<void> release = HoldStore(*service);
  bob.session->OnText(R"({"type":"ack","upTo":2})");            // queued, not durable
  bob.session->OnText(R"({"type":"ack","id":601,"upTo":2})");  // nothing new to ack
  while (executor.RunOne()) {
  }
  EXPECT_EQ(bob.Reply(601), nullptr);  // the ack it repeats is not committed yet
  release.set_value();
  ASSERT_TRUE(RunUntil([&] { return bob.Reply(601) != nullptr; }));
  EXPECT_EQ(bob.Reply(601)->at("type"), "ok");
  EXPECT_EQ(StoredAckedSeq(*service, "bob"), 2);
}

TEST_F(SessionTest, AckMergingBehindAWriteIsStoredWhenTheConnectionCloses) {
  Conn& bob = BobWithOneMessage();
  std::promise<void> release = HoldStore(*service);
  bob.session->OnText(R"({"type":"ack","upTo":1})");
  bob.session->OnText(R"({"type":"ack","upTo":2})");  // waits behind the first
  bob.session->OnClosed();
  release.set_value();
  EXPECT_EQ(StoredAckedSeq(*service, "bob"), 2);
}

// Another node answers lastSeen from the bus (online?) and then the store:
// presence must not drop before the disconnect time is committed, or a
// node would answer "offline, never seen".
TEST_F(SessionTest, PresenceDropsOnlyOnceLastSeenIsDurable) {
  Conn& bob = Connect("bob");
  auto online = [&] {
    bool on = false;
    bus.inner.IsOnline("bob", [&](bool b) { on = b; });
    return on;
  };
  ASSERT_TRUE(online());
  std::promise<void> release = HoldStore(*service);  // the last-seen write waits
  bob.session->OnClosed();
  EXPECT_TRUE(online()) << "presence dropped before last seen was written";
  release.set_value();
  ASSERT_TRUE(RunUntil([&] { return !online(); }));
  std::promise<bool> stored;
  service->store().Lane(0).Submit([&](Store& s) {
    auto seen = s.GetLastSeen("bob");
    stored.set_value(seen && seen->has_value());
  });
  EXPECT_TRUE(stored.get_future().get());
}

TEST_F(SessionTest, AttachmentUrlsAreMintedPerRecipientClient) {
  Conn& alice = Connect("alice");
  Conn& bob = Connect("bob");
  std::string chat = CreateChat(alice, "bob");
  json::object t = Call(alice, {{"type", "attachTarget"}, {"contentType", "text/plain"}, {"size", 3}});
  std::string key(t.at("attachmentId").as_string());
  EXPECT_EQ(t.at("uploadUrl"), json::value("http://blobs/put/" + key));
  ASSERT_TRUE(Upload(*service, key));
  json::object ok = Call(alice, {{"type", "send"}, {"chatId", chat}, {"clientMsgId", "f"},
                                 {"body", ""}, {"attachments", json::array{json::value(key)}}});
  ASSERT_EQ(ok.at("type"), "ok") << json::serialize(ok);
  ASSERT_TRUE(RunUntil([&] { return bob.Entries().size() == 2; }));
  std::vector<json::object> entries = bob.Entries();
  const json::array& atts = entries[1].at("attachments").as_array();
  ASSERT_EQ(atts.size(), 1u);
  EXPECT_EQ(atts[0].at("size"), 3);
  EXPECT_EQ(atts[0].at("contentType"), "text/plain");
  EXPECT_EQ(atts[0].at("url"),
            json::value("http://blobs/get/" + key + "/" + bob.session->client_id()));
  // A second upload of the same id is refused.
  std::promise<bool> again;
  service->uploads().BeginUpload(key, [&](Result<Attachment> a) { again.set_value(bool(a)); });
  EXPECT_FALSE(again.get_future().get());
}

TEST_F(SessionTest, UnsentUploadIsDeletedAfterADay) {
  Conn& alice = Connect("alice");
  json::object t = Call(alice, {{"type", "attachTarget"}, {"contentType", "text/plain"}, {"size", 3}});
  std::string key(t.at("attachmentId").as_string());
  ASSERT_TRUE(Upload(*service, key));
  service->Tick();
  DrainStore(*service);
  {
    std::lock_guard lock(blobs.mu);
    EXPECT_TRUE(blobs.deleted.empty());
  }
  clock.Advance(config.unsent_blob_ms + 1000);
  service->Tick();
  DrainStore(*service);
  std::lock_guard lock(blobs.mu);
  EXPECT_EQ(blobs.deleted, std::vector<std::string>{key});
}

}  // namespace
}  // namespace ferry::testing
