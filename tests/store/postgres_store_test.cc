// Runs the Store conformance suite against the PostgreSQL backend, each test
// on a database of its own in one throwaway server (the ctest fixture
// deploy/lib/pg-test-fixture starts it and writes its URL to the file named
// by FERRY_PG_DIR/pg_url), plus what only a shared, networked store has:
// several Store instances (nodes) writing to one database at once, schema
// versions, an unreachable server. (A server restart under live nodes is a
// cluster fault test: tests/cluster/faults_test.cc.)
//
// Run by hand: FERRY_PG_DIR=DIR after `deploy/lib/pg-test-fixture up DIR`.
#include "store/postgres/postgres_store.h"

#include <gtest/gtest.h>
#include <libpq-fe.h>

#include <algorithm>
#include <atomic>
#include <barrier>
#include <chrono>
#include <cstdlib>
#include <fstream>
#include <numeric>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "conformance.h"
#include "store/record_codec.h"

namespace ferry::store_test {
namespace {

// The fixture's directory, or "" when not run under ctest.
std::string FixtureDir() {
  const char* dir = std::getenv("FERRY_PG_DIR");
  return dir ? dir : "";
}

// postgresql://ferry@127.0.0.1:PORT/ferry, as the fixture wrote it.
std::string ServerUrl() {
  std::ifstream in(FixtureDir() + "/pg_url");
  std::string url;
  std::getline(in, url);
  return url;
}

// Runs one statement on a connection of its own; fails the test on error.
void Exec(const std::string& url, const std::string& sql) {
  PGconn* conn = PQconnectdb(url.c_str());
  ASSERT_EQ(PQstatus(conn), CONNECTION_OK) << PQerrorMessage(conn);
  PGresult* r = PQexec(conn, sql.c_str());
  EXPECT_TRUE(PQresultStatus(r) == PGRES_COMMAND_OK || PQresultStatus(r) == PGRES_TUPLES_OK)
      << sql << ": " << PQerrorMessage(conn);
  PQclear(r);
  PQfinish(conn);
}

// The first column of the first row of `sql` ("" if none, or on error).
std::string QueryText(const std::string& url, const std::string& sql) {
  PGconn* conn = PQconnectdb(url.c_str());
  std::string value;
  PGresult* r = PQexec(conn, sql.c_str());
  if (PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) > 0) value = PQgetvalue(r, 0, 0);
  PQclear(r);
  PQfinish(conn);
  return value;
}

// A new, empty database; returns its URL ("" on failure).
std::string NewDatabase() {
  static std::atomic<int> counter{0};
  std::string server = ServerUrl();
  std::string name = "t_" + std::to_string(::getpid()) + "_" + std::to_string(++counter);
  Exec(server, "CREATE DATABASE " + name);
  std::size_t slash = server.rfind('/');
  return slash == std::string::npos ? "" : server.substr(0, slash + 1) + name;
}

std::unique_ptr<Store> Open(const std::string& url) {
  PostgresOptions options;
  options.url = url;
  auto store = OpenPostgresStore(options);
  EXPECT_TRUE(store) << url;
  return store ? std::move(*store) : nullptr;
}

std::unique_ptr<Store> MakePostgresStore() {
  if (FixtureDir().empty()) return nullptr;
  return Open(NewDatabase());
}

// The whole suite, unchanged.
INSTANTIATE_TEST_SUITE_P(Postgres, StoreConformance,
                         ::testing::Values(StoreFactory(&MakePostgresStore)),
                         [](const auto&) { return std::string("pg"); });

// ---- Several instances on one database (several nodes) ----

// Two Store instances on one database: store_ (from the suite) and other_.
class TwoNodes : public ::testing::Test {
 protected:
  void SetUp() override {
    if (FixtureDir().empty()) GTEST_SKIP() << "FERRY_PG_DIR not set (run under ctest)";
    url_ = NewDatabase();
    a_ = Open(url_);
    b_ = Open(url_);
    ASSERT_TRUE(a_ && b_);
  }

  void AddUser(Store& s, const std::string& user) {
    ASSERT_TRUE(s.CreateUser(user, "hash", kNow)) << user;
  }
  std::string Login(Store& s, const std::string& user, const std::string& device,
                    Errc expect = Errc::ok) {
    LoginRequest request;
    request.user = user;
    request.device = device;
    request.token_hash = "tok-" + user + "-" + device + "-" + std::to_string(++tokens_);
    request.new_client_id = "c-" + user + "-" + device + "-" + std::to_string(tokens_);
    request.new_epoch = "e" + std::to_string(tokens_);
    request.now = kNow;
    auto r = s.Login(request);
    EXPECT_TRUE(r);
    if (!r) return "";
    EXPECT_EQ(r->status, expect) << user << "/" << device;
    return r->client_id;
  }
  ChatOp Chat(Store& s, ChatOp::Kind kind, const std::string& chat, const std::string& actor,
              const std::string& actor_client, std::vector<std::string> members) {
    ChatOp op;
    op.kind = kind;
    op.chat_id = chat;
    op.name = chat;
    op.actor_user = actor;
    op.actor_client = actor_client;
    op.members = std::move(members);
    op.now = kNow;
    op.expires = kExpires;
    WriteOp w = &op;
    EXPECT_TRUE(s.WriteBatch({&w, 1}));
    return op;
  }
  static SendOp MakeSend(const std::string& chat, const std::string& sender,
                         const std::string& sender_client, const std::string& client_msg_id,
                         const std::string& message_id) {
    SendOp op;
    op.message.message_id = message_id;
    op.message.chat_id = chat;
    op.message.sender = sender;
    op.message.sender_client = sender_client;
    op.message.client_msg_id = client_msg_id;
    op.message.body = "body " + client_msg_id;
    op.message.ts = kNow;
    op.expires = kExpires;
    return op;
  }
  // All of a client's inbox seqs.
  std::vector<Seq> Seqs(Store& s, const std::string& client) {
    std::vector<Seq> seqs;
    Seq after = 0;
    for (;;) {
      auto page = s.ReadInbox(client, after, 500);
      EXPECT_TRUE(page);
      if (!page || page->entries.empty()) return seqs;
      for (const InboxEntry& e : page->entries) seqs.push_back(e.seq);
      after = seqs.back();
    }
  }

  std::string url_;
  std::unique_ptr<Store> a_, b_;
  int tokens_ = 0;
};

// Sends to one recipient from two instances at once, in batches of several
// sends: every acknowledged send has exactly one inbox entry per recipient
// client, and each client's seqs are 1..N without a gap or a repeat.
TEST_F(TwoNodes, InterleavedSendsGiveGapFreeSeqs) {
  for (const char* u : {"alice", "bob", "carol"}) AddUser(*a_, u);
  std::string alice = Login(*a_, "alice", "phone");
  std::string carol = Login(*b_, "carol", "phone");
  std::string bob = Login(*a_, "bob", "phone");
  std::string bob2 = Login(*b_, "bob", "laptop");
  ASSERT_EQ(Chat(*a_, ChatOp::Kind::create, "ab", "alice", alice, {"bob"}).status, Errc::ok);
  ASSERT_EQ(Chat(*b_, ChatOp::Kind::create, "cb", "carol", carol, {"bob"}).status, Errc::ok);

  // bob's clients hold the two chats' `created` events already.
  const std::size_t events = Seqs(*a_, bob).size();
  ASSERT_EQ(events, 2u);
  constexpr int kBatches = 40, kPerBatch = 5;
  std::atomic<int> ok{0};
  auto sender = [&](Store* s, std::string chat, std::string user, std::string client) {
    for (int b = 0; b < kBatches; ++b) {
      std::vector<SendOp> sends;
      for (int i = 0; i < kPerBatch; ++i) {
        std::string n = user + "-" + std::to_string(b * kPerBatch + i);
        sends.push_back(MakeSend(chat, user, client, n, "m-" + n));
      }
      std::vector<WriteOp> ops;
      for (SendOp& op : sends) ops.push_back(&op);
      ASSERT_TRUE(s->WriteBatch(ops));
      for (SendOp& op : sends) {
        EXPECT_EQ(op.status, Errc::ok);
        EXPECT_EQ(op.deliveries.size(), 2u);  // bob's two clients
        ok += op.status == Errc::ok ? 1 : 0;
      }
    }
  };
  std::thread t1(sender, a_.get(), "ab", "alice", alice);
  std::thread t2(sender, b_.get(), "cb", "carol", carol);
  t1.join();
  t2.join();
  ASSERT_EQ(ok.load(), 2 * kBatches * kPerBatch);
  for (const std::string& client : {bob, bob2}) {
    std::vector<Seq> seqs = Seqs(*a_, client);
    ASSERT_EQ(seqs.size(), events + static_cast<std::size_t>(ok.load())) << client;
    for (std::size_t i = 0; i < seqs.size(); ++i) ASSERT_EQ(seqs[i], Seq(i + 1)) << client;
    auto head = b_->ReadInbox(client, 0, 0);
    ASSERT_TRUE(head);
    EXPECT_EQ(head->head, Seq(seqs.size()));
  }
}

// Two instances log in new devices of one user at once: the 3-client limit
// holds across them.
TEST_F(TwoNodes, DeviceLimitHoldsAcrossInstances) {
  AddUser(*a_, "dana");
  std::atomic<int> created{0}, refused{0};
  auto login = [&](Store* s, std::string prefix) {
    for (int i = 0; i < 4; ++i) {
      LoginRequest request;
      request.user = "dana";
      request.device = prefix + std::to_string(i);
      request.token_hash = "tok-" + request.device;
      request.new_client_id = "c-" + request.device;
      request.new_epoch = "e-" + request.device;
      request.max_clients = 3;
      request.now = kNow;
      auto r = s->Login(request);
      ASSERT_TRUE(r);
      if (r->status == Errc::ok) ++created;
      if (r->status == Errc::too_many_clients) ++refused;
    }
  };
  std::thread t1(login, a_.get(), "a");
  std::thread t2(login, b_.get(), "b");
  t1.join();
  t2.join();
  EXPECT_EQ(created.load(), 3);
  EXPECT_EQ(refused.load(), 5);
  auto clients = a_->ListClients("dana");
  ASSERT_TRUE(clients);
  EXPECT_EQ(clients->size(), 3u);
}

// Two instances add different members to a chat of 98 at once: the
// 100-member limit holds (one add of two wins, the other is refused).
TEST_F(TwoNodes, MemberLimitHoldsAcrossInstances) {
  std::vector<std::string> users;
  for (int i = 0; i < 102; ++i) {
    users.push_back("u" + std::to_string(100 + i));
    AddUser(*a_, users.back());
  }
  std::string owner = Login(*a_, users[0], "phone");
  std::vector<std::string> first(users.begin(), users.begin() + 98);
  ASSERT_EQ(Chat(*a_, ChatOp::Kind::create, "big", users[0], owner, first).status, Errc::ok);

  for (int round = 0; round < 5; ++round) {
    ChatOp on_a, on_b;
    std::thread t1([&] {
      on_a = Chat(*a_, ChatOp::Kind::add, "big", users[0], owner, {users[98], users[99]});
    });
    std::thread t2([&] {
      on_b = Chat(*b_, ChatOp::Kind::add, "big", users[0], owner, {users[100], users[101]});
    });
    t1.join();
    t2.join();
    std::multiset<Errc> outcomes{on_a.status, on_b.status};
    EXPECT_EQ(outcomes, (std::multiset<Errc>{Errc::ok, Errc::too_many_members})) << round;
    auto chats = a_->ListChats(users[0]);
    ASSERT_TRUE(chats);
    ASSERT_EQ(chats->size(), 1u);
    EXPECT_EQ(chats->front().members.size(), 100u) << round;
    // Back to 98 for the next round.
    std::vector<std::string> extra = on_a.status == Errc::ok
                                         ? std::vector<std::string>{users[98], users[99]}
                                         : std::vector<std::string>{users[100], users[101]};
    ASSERT_EQ(Chat(*a_, ChatOp::Kind::remove, "big", users[0], owner, extra).status, Errc::ok);
  }
}

// A send retried on the other instance (the client reconnected to another
// node) is the same message: duplicate, same id and ts, one inbox entry.
TEST_F(TwoNodes, IdempotentRetryOnTheOtherInstance) {
  AddUser(*a_, "alice");
  AddUser(*a_, "bob");
  std::string alice = Login(*a_, "alice", "phone");
  std::string bob = Login(*a_, "bob", "phone");
  ASSERT_EQ(Chat(*a_, ChatOp::Kind::create, "ab", "alice", alice, {"bob"}).status, Errc::ok);

  SendOp first = MakeSend("ab", "alice", alice, "k1", "m-first");
  WriteOp w1 = &first;
  ASSERT_TRUE(a_->WriteBatch({&w1, 1}));
  ASSERT_EQ(first.status, Errc::ok);

  SendOp retry = MakeSend("ab", "alice", alice, "k1", "m-retry");
  retry.message.ts = kNow + 5000;
  WriteOp w2 = &retry;
  ASSERT_TRUE(b_->WriteBatch({&w2, 1}));
  EXPECT_EQ(retry.status, Errc::ok);
  EXPECT_TRUE(retry.duplicate);
  EXPECT_EQ(retry.message.message_id, "m-first");
  EXPECT_EQ(retry.message.ts, kNow);
  EXPECT_EQ(Seqs(*b_, bob), (std::vector<Seq>{1, 2}));  // the chat event, the message
}

// The same send arriving at both instances at the same moment (a client
// that retried before the first answer): one message, one entry, both
// answered with the same id.
TEST_F(TwoNodes, SimultaneousRetryOnBothInstances) {
  AddUser(*a_, "alice");
  AddUser(*a_, "bob");
  std::string alice = Login(*a_, "alice", "phone");
  std::string bob = Login(*a_, "bob", "phone");
  ASSERT_EQ(Chat(*a_, ChatOp::Kind::create, "ab", "alice", alice, {"bob"}).status, Errc::ok);
  for (int i = 0; i < 20; ++i) {
    std::string key = "k" + std::to_string(i);
    SendOp on_a = MakeSend("ab", "alice", alice, key, "ma" + key);
    SendOp on_b = MakeSend("ab", "alice", alice, key, "mb" + key);
    std::thread t1([&] {
      WriteOp w = &on_a;
      EXPECT_TRUE(a_->WriteBatch({&w, 1}));
    });
    std::thread t2([&] {
      WriteOp w = &on_b;
      EXPECT_TRUE(b_->WriteBatch({&w, 1}));
    });
    t1.join();
    t2.join();
    EXPECT_EQ(on_a.status, Errc::ok);
    EXPECT_EQ(on_b.status, Errc::ok);
    EXPECT_EQ(on_a.message.message_id, on_b.message.message_id) << key;
    EXPECT_NE(on_a.duplicate, on_b.duplicate) << key;
  }
  EXPECT_EQ(Seqs(*a_, bob).size(), 21u);  // the chat event, 20 messages
}

// The first column of a one-row query on a connection of its own (-1 on error).
std::int64_t QueryInt(const std::string& url, const std::string& sql) {
  PGconn* conn = PQconnectdb(url.c_str());
  std::int64_t n = -1;
  if (PQstatus(conn) == CONNECTION_OK) {
    PGresult* r = PQexec(conn, sql.c_str());
    if (PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1) {
      n = std::stoll(PQgetvalue(r, 0, 0));
    }
    PQclear(r);
  }
  PQfinish(conn);
  return n;
}

// The deadlocks the server counted in database `name`, once every session
// on it has ended (a session publishes its statistics as it exits), or -1.
std::int64_t Deadlocks(const std::string& server_url, const std::string& name) {
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (QueryInt(server_url,
                  "SELECT count(*) FROM pg_stat_activity WHERE datname = '" + name + "'") != 0) {
    if (std::chrono::steady_clock::now() > deadline) return -1;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return QueryInt(server_url,
                  "SELECT deadlocks FROM pg_stat_database WHERE datname = '" + name + "'");
}

// Two instances commit batches of sends to three overlapping 30-member
// groups, in opposite chat orders: every batch commits, and the server saw
// no deadlock (the batch locks all its recipients at once, in one order).
TEST_F(TwoNodes, BatchesToOverlappingGroupsDoNotDeadlock) {
  std::vector<std::string> users, clients;
  for (int i = 0; i < 60; ++i) {
    users.push_back("g" + std::to_string(100 + i));
    AddUser(*a_, users.back());
    clients.push_back(Login(*a_, users.back(), "phone"));
  }
  const std::vector<std::string> chats{"x", "y", "z"};
  for (int c = 0; c < 3; ++c) {  // x: users 0-29, y: 15-44, z: 30-59
    std::vector<std::string> members(users.begin() + 15 * c, users.begin() + 15 * c + 30);
    ASSERT_EQ(
        Chat(*a_, ChatOp::Kind::create, chats[c], members[0], clients[15 * c], members).status,
        Errc::ok);
  }
  auto sender = [&](Store* s, bool reverse, std::string tag) {
    for (int b = 0; b < 10; ++b) {
      std::vector<SendOp> sends;
      for (int i = 0; i < 30; ++i) {
        int c = reverse ? 2 - i % 3 : i % 3;
        int from = 15 * c + 2 + (reverse ? 1 : 0);  // a member of chat c
        std::string n = tag + std::to_string(b * 30 + i);
        sends.push_back(MakeSend(chats[c], users[from], clients[from], n, "m-" + n));
      }
      std::vector<WriteOp> ops;
      for (SendOp& op : sends) ops.push_back(&op);
      ASSERT_TRUE(s->WriteBatch(ops)) << tag << " batch " << b;
      for (SendOp& op : sends) ASSERT_EQ(op.status, Errc::ok);
    }
  };
  std::thread t1(sender, a_.get(), false, "a");
  std::thread t2(sender, b_.get(), true, "b");
  t1.join();
  t2.join();
  a_.reset();  // their sessions end, and publish their statistics
  b_.reset();
  std::string name = url_.substr(url_.rfind('/') + 1);
  EXPECT_EQ(Deadlocks(ServerUrl(), name), 0);
}

// ---- Inline messages ----

// A message with one recipient client lives in its entry alone (kind 2, no
// messages row), reads back whole, and goes with its ack; with a second
// recipient client it is shared again (kind 0, refs 2).
TEST_F(TwoNodes, MessageOfOneRecipientIsInline) {
  for (const char* u : {"alice", "bob"}) AddUser(*a_, u);
  std::string alice = Login(*a_, "alice", "phone");
  std::string bob = Login(*a_, "bob", "phone");
  ASSERT_EQ(Chat(*a_, ChatOp::Kind::create, "ab", "alice", alice, {"bob"}).status, Errc::ok);
  SendOp one = MakeSend("ab", "alice", alice, "cm1", "m1");
  WriteOp w = &one;
  ASSERT_TRUE(a_->WriteBatch({&w, 1}));
  ASSERT_EQ(one.deliveries.size(), 1u);
  EXPECT_EQ(QueryText(url_, "SELECT count(*) FROM messages"), "0");
  EXPECT_EQ(QueryText(url_, "SELECT kind FROM inbox WHERE message_id = 'm1'"), "2");
  auto page = b_->ReadInbox(bob, 1, 10);
  ASSERT_TRUE(page);
  ASSERT_EQ(page->entries.size(), 1u);
  const auto& m = std::get<Message>(page->entries[0].item);
  EXPECT_EQ(m.message_id, "m1");
  EXPECT_EQ(m.chat_id, "ab");
  EXPECT_EQ(m.sender, "alice");
  EXPECT_EQ(m.sender_client, alice);
  EXPECT_EQ(m.client_msg_id, "cm1");
  EXPECT_EQ(m.ts, kNow);
  EXPECT_EQ(m.body, "body cm1");
  EXPECT_TRUE(m.attachments.empty());

  AckOp ack{bob, 2, "bob"};
  WriteOp wa = &ack;
  ASSERT_TRUE(b_->WriteBatch({&wa, 1}));
  EXPECT_EQ(ack.acked, 2);
  EXPECT_EQ(QueryText(url_, "SELECT count(*) FROM inbox WHERE client_id = '" + bob + "'"), "0");

  Login(*b_, "bob", "laptop");
  SendOp two = MakeSend("ab", "alice", alice, "cm2", "m2");
  WriteOp w2 = &two;
  ASSERT_TRUE(a_->WriteBatch({&w2, 1}));
  EXPECT_EQ(two.deliveries.size(), 2u);
  EXPECT_EQ(QueryText(url_, "SELECT refs FROM messages WHERE message_id = 'm2'"), "2");
  EXPECT_EQ(QueryText(url_, "SELECT DISTINCT kind FROM inbox WHERE message_id = 'm2'"), "0");

  // Both kinds expire with their entries; the inline one counts as a message.
  auto swept = a_->Sweep(kExpires + 1);
  ASSERT_TRUE(swept);
  EXPECT_EQ(swept->messages_deleted, 1);
}

// ---- Marks and receipts across instances ----

// A client's receipts of `kind`, in seq order.
std::vector<Position> ReceiptsOf(Store& s, const std::string& client, ReceiptKind kind) {
  std::vector<Position> out;
  auto page = s.ReadInbox(client, 0, 10000);
  EXPECT_TRUE(page);
  if (!page) return out;
  for (const InboxEntry& e : page->entries) {
    const auto* r = std::get_if<Receipt>(&e.item);
    if (r != nullptr && r->kind == kind) out.push_back(r->up_to);
  }
  return out;
}

bool StrictlyRising(const std::vector<Position>& positions) {
  return std::adjacent_find(positions.begin(), positions.end(),
                            [](const Position& a, const Position& b) { return !(a < b); }) ==
         positions.end();
}

// bob acks and reads one chat from two devices on two instances at once,
// and a third instance marks it read too, each in its own jittered order;
// the first two follow every write with both receipts in the same batch.
// The marks end at the newest message, no move is reported twice (a mark
// that went down would rise to some position again), and every inbox gets
// the receipts of each kind strictly rising.
TEST_F(TwoNodes, ConcurrentMarksNeverGoDownAndReceiptsOnlyRise) {
  for (const char* u : {"alice", "bob"}) AddUser(*a_, u);
  std::string alice = Login(*a_, "alice", "phone");
  std::string phone = Login(*a_, "bob", "phone");
  std::string laptop = Login(*a_, "bob", "laptop");
  ASSERT_EQ(Chat(*a_, ChatOp::Kind::create, "ab", "alice", alice, {"bob"}).status, Errc::ok);
  constexpr int kMessages = 60;
  std::vector<Position> positions;  // rising; pairs share a ts, so ids decide
  for (int i = 0; i < kMessages; ++i) {
    SendOp op =
        MakeSend("ab", "alice", alice, "k" + std::to_string(i), "m" + std::to_string(100 + i));
    op.message.ts = kNow + i / 2;
    WriteOp w = &op;
    ASSERT_TRUE(a_->WriteBatch({&w, 1}));
    positions.push_back(Position{op.message.ts, op.message.message_id});
  }
  std::unique_ptr<Store> c = Open(url_);
  ASSERT_NE(c, nullptr);

  struct Moves {
    std::vector<Position> read, delivered;
  };
  // The messages are seqs 2.. of bob's clients (1 is the chat's `created`).
  // Each step starts on all three at once, so their batches collide.
  std::barrier step(3);
  auto reader = [&](Store* s, std::string client, unsigned seed, Moves* moves) {
    // Rising, with neighbours swapped at random: the three race each other
    // up the same positions, and each also writes stale ones.
    std::vector<int> order(kMessages);
    std::iota(order.begin(), order.end(), 0);
    std::mt19937 random(seed);
    for (int k = 0; k + 1 < kMessages; ++k) {
      if (random() % 2 != 0) std::swap(order[k], order[k + 1]);
    }
    for (int k = 0; k < kMessages; ++k) {
      MarkReadOp mark{"ab", "bob", positions[order[k]]};
      AckOp ack{client, order[k] + 2, "bob"};
      std::vector<ReceiptOp> receipts(2);
      std::vector<WriteOp> ops;
      if (!client.empty()) ops.push_back(&ack);
      ops.push_back(&mark);
      for (ReceiptKind kind : {ReceiptKind::delivered, ReceiptKind::read}) {
        if (client.empty()) break;
        ReceiptOp& r = receipts[static_cast<int>(kind)];
        r.chat_id = "ab";
        r.user = "bob";
        r.kind = kind;
        r.actor_client = client;
        r.now = kNow + k;
        r.expires = kExpires;
        ops.push_back(&r);
      }
      step.arrive_and_wait();
      // EXPECT, not ASSERT: a thread that left would leave the others
      // waiting at the barrier.
      EXPECT_TRUE(s->WriteBatch(ops));
      EXPECT_EQ(mark.status, Errc::ok);
      for (const MarkMove& m : ack.moved) moves->delivered.push_back(m.up_to);
      for (const MarkMove& m : mark.moved) {
        (m.kind == ReceiptKind::read ? moves->read : moves->delivered).push_back(m.up_to);
      }
    }
  };
  Moves on_a, on_b, on_c;
  std::thread t1(reader, a_.get(), phone, 1u, &on_a);
  std::thread t2(reader, b_.get(), laptop, 2u, &on_b);
  std::thread t3(reader, c.get(), "", 3u, &on_c);  // markRead only: no client locks
  t1.join();
  t2.join();
  t3.join();

  for (auto member : {&Moves::read, &Moves::delivered}) {
    std::vector<Position> all = on_a.*member;
    all.insert(all.end(), (on_b.*member).begin(), (on_b.*member).end());
    all.insert(all.end(), (on_c.*member).begin(), (on_c.*member).end());
    std::sort(all.begin(), all.end());
    EXPECT_EQ(std::adjacent_find(all.begin(), all.end()), all.end()) << "a move reported twice";
    ASSERT_FALSE(all.empty());
    EXPECT_EQ(all.back(), positions.back());
  }
  auto rows = a_->ChatReceipts("ab", "alice");
  ASSERT_TRUE(rows);
  ASSERT_EQ(rows->size(), 1u);
  EXPECT_EQ(rows->at(0).delivered, positions.back());
  EXPECT_EQ(rows->at(0).read, positions.back());
  for (ReceiptKind kind : {ReceiptKind::delivered, ReceiptKind::read}) {
    std::vector<Position> got = ReceiptsOf(*a_, alice, kind);
    EXPECT_TRUE(StrictlyRising(got)) << static_cast<int>(kind);
    ASSERT_FALSE(got.empty());
    EXPECT_EQ(got.back(), positions.back());
  }
  // Each device gets the read receipts of the other's batches (how many
  // depends on the interleaving; the newest goes to one of them).
  std::size_t own = 0;
  for (const std::string& client : {phone, laptop}) {
    std::vector<Position> got = ReceiptsOf(*b_, client, ReceiptKind::read);
    own += got.size();
    EXPECT_TRUE(StrictlyRising(got)) << client;
    EXPECT_TRUE(ReceiptsOf(*b_, client, ReceiptKind::delivered).empty()) << client;
  }
  EXPECT_GT(own, 0u);
}

// A receipt entry holds the codec's JSON of the receipt (record_codec.h),
// although the statement puts the position in on the server.
TEST_F(TwoNodes, ReceiptEntryHoldsTheCodecsJson) {
  for (const char* u : {"alice", "bob"}) AddUser(*a_, u);
  std::string alice = Login(*a_, "alice", "phone");
  std::string bob = Login(*a_, "bob", "phone");
  ASSERT_EQ(Chat(*a_, ChatOp::Kind::create, "ab", "alice", alice, {"bob"}).status, Errc::ok);
  SendOp send = MakeSend("ab", "alice", alice, "k\"1", "m\"1");  // a quote to escape
  MarkReadOp mark{"ab", "bob", Position{kNow, "m\"1"}};
  ReceiptOp receipt;
  receipt.chat_id = "ab";
  receipt.user = "bob";
  receipt.kind = ReceiptKind::read;
  receipt.actor_client = bob;
  receipt.now = kNow + 7;
  receipt.expires = kExpires;
  std::vector<WriteOp> ops = {&send, &mark, &receipt};
  ASSERT_TRUE(a_->WriteBatch(ops));
  ASSERT_TRUE(receipt.receipt.has_value());
  std::string json = record_codec::EncodeReceipt(*receipt.receipt);
  std::string quoted;  // as an SQL literal
  for (char ch : json) quoted += ch == '\'' ? std::string("''") : std::string(1, ch);
  EXPECT_EQ(
      QueryText(url_, "SELECT bool_and(event = '" + quoted +
                          "'::jsonb) FROM inbox WHERE kind = 3 AND client_id = '" + alice + "'"),
      "t")
      << json << " vs " << QueryText(url_, "SELECT event FROM inbox WHERE kind = 3");
}

// Two instances asking for one secret at the same moment, each with its own
// candidate, both get the one that was stored.
TEST_F(TwoNodes, ASecretRacedByTwoInstancesIsOneValue) {
  for (int i = 0; i < 20; ++i) {
    std::string name = "key" + std::to_string(i), on_a, on_b;
    std::thread t1([&] {
      auto r = a_->Secret(name, "from-a");
      on_a = r ? *r : "";
    });
    std::thread t2([&] {
      auto r = b_->Secret(name, "from-b");
      on_b = r ? *r : "";
    });
    t1.join();
    t2.join();
    EXPECT_TRUE(on_a == "from-a" || on_a == "from-b") << on_a;
    EXPECT_EQ(on_a, on_b) << name;
  }
}

// ---- Schema versions ----

// Takes a database of the newest schema back to `version`, as that version
// left it: each step undoes one migration (and what only it allowed).
void Downgrade(const std::string& url, int version) {
  if (version < 3) {
    Exec(url, "DELETE FROM inbox WHERE kind = 3");
    Exec(url, "DROP TABLE receipts, privacy, meta");
    Exec(url,
         "ALTER TABLE inbox DROP CONSTRAINT inbox_kind, ADD CONSTRAINT inbox_kind CHECK ("
         "(kind = 0 AND message_id IS NOT NULL AND event IS NULL) OR "
         "(kind = 1 AND message_id IS NULL AND event IS NOT NULL) OR "
         "(kind = 2 AND message_id IS NOT NULL AND event IS NULL AND body IS NOT NULL))");
  }
  if (version < 2) {
    Exec(url,
         "ALTER TABLE inbox DROP CONSTRAINT inbox_kind, DROP COLUMN chat_id, DROP COLUMN sender, "
         "DROP COLUMN sender_client, DROP COLUMN client_msg_id, DROP COLUMN body, "
         "DROP COLUMN attachments, ADD CHECK ((kind = 0 AND message_id IS NOT NULL AND event IS "
         "NULL) OR (kind = 1 AND message_id IS NULL AND event IS NOT NULL))");
  }
  Exec(url, "DELETE FROM schema_version WHERE version > " + std::to_string(version));
}

// A version 1 database (shared messages only) gains the inline columns and
// the kind 2 rule on open, and then version 3; its messages read and
// release as before.
TEST_F(TwoNodes, MigratesSchemaVersion1) {
  for (const char* u : {"alice", "bob"}) AddUser(*a_, u);
  std::string alice = Login(*a_, "alice", "phone");
  std::string bob = Login(*a_, "bob", "phone");
  ASSERT_EQ(Chat(*a_, ChatOp::Kind::create, "ab", "alice", alice, {"bob"}).status, Errc::ok);
  a_.reset();
  b_.reset();
  Downgrade(url_, 1);
  // What version 1 held after a send of m1 to bob's one client.
  Exec(url_,
       "INSERT INTO messages(message_id, chat_id, sender, sender_client, client_msg_id, ts, "
       "body, attachments, refs, expires) VALUES('m1', 'ab', 'alice', '" +
           alice + "', 'cm1', 1, 'old', '[]', 1, " + std::to_string(kExpires) + ")");
  Exec(url_, "UPDATE clients SET head_seq = 2 WHERE client_id = '" + bob + "'");
  Exec(url_,
       "INSERT INTO inbox(client_id, seq, kind, message_id, event, created, expires) VALUES('" +
           bob + "', 2, 0, 'm1', NULL, 1, " + std::to_string(kExpires) + ")");

  a_ = Open(url_);
  ASSERT_NE(a_, nullptr);
  EXPECT_EQ(QueryText(url_, "SELECT max(version) FROM schema_version"), "3");
  auto page = a_->ReadInbox(bob, 1, 10);
  ASSERT_TRUE(page);
  ASSERT_EQ(page->entries.size(), 1u);
  EXPECT_EQ(std::get<Message>(page->entries[0].item).body, "old");
  AckOp ack{bob, 2, "bob"};
  SendOp next = MakeSend("ab", "alice", alice, "cm2", "m2");
  std::vector<WriteOp> ops = {&ack, &next};
  ASSERT_TRUE(a_->WriteBatch(ops));
  EXPECT_EQ(QueryText(url_, "SELECT count(*) FROM messages"), "0");  // m1 released, m2 inline
  ASSERT_EQ(next.deliveries.size(), 1u);
  EXPECT_EQ(next.deliveries[0].seq, 3);
  EXPECT_EQ(std::get<Message>(a_->ReadInbox(bob, 2, 10)->entries.at(0).item).body, "body cm2");
  // The entry written under version 1 moved bob's mark like any other.
  ASSERT_EQ(ack.moved.size(), 1u);
  EXPECT_EQ(ack.moved[0].up_to, (Position{1, "m1"}));
}

// A version 2 database (the v1.0 schema) gains receipts, privacy and meta
// and the kind 3 rule on open: entries written before the upgrade raise
// marks when acked, and receipts go into the inboxes it kept.
TEST_F(TwoNodes, MigratesSchemaVersion2) {
  for (const char* u : {"alice", "bob"}) AddUser(*a_, u);
  std::string alice = Login(*a_, "alice", "phone");
  std::string bob = Login(*a_, "bob", "phone");
  std::string bob2 = Login(*a_, "bob", "laptop");
  ASSERT_EQ(Chat(*a_, ChatOp::Kind::create, "ab", "alice", alice, {"bob"}).status, Errc::ok);
  SendOp shared = MakeSend("ab", "alice", alice, "cm1", "m1");  // kind 0: bob's two clients
  WriteOp w = &shared;
  ASSERT_TRUE(a_->WriteBatch({&w, 1}));
  a_.reset();
  b_.reset();
  Downgrade(url_, 2);
  EXPECT_EQ(QueryText(url_, "SELECT to_regclass('receipts') IS NULL"), "t");

  a_ = Open(url_);
  ASSERT_NE(a_, nullptr);
  EXPECT_EQ(QueryText(url_, "SELECT max(version) FROM schema_version"), "3");
  AckOp ack{bob, 2, "bob"};
  ReceiptOp receipt;
  receipt.chat_id = "ab";
  receipt.user = "bob";
  receipt.actor_client = bob;
  receipt.now = kNow + 1;
  receipt.expires = kExpires;
  std::vector<WriteOp> ops = {&ack, &receipt};
  ASSERT_TRUE(a_->WriteBatch(ops));
  ASSERT_EQ(ack.moved.size(), 1u);
  EXPECT_EQ(ack.moved[0].up_to, (Position{kNow, "m1"}));
  ASSERT_TRUE(receipt.receipt.has_value());
  ASSERT_EQ(receipt.deliveries.size(), 1u);
  EXPECT_EQ(receipt.deliveries[0].client_id, alice);
  auto page = a_->ReadInbox(alice, 0, 10);  // the creator's client got no `created`
  ASSERT_TRUE(page);
  ASSERT_EQ(page->entries.size(), 1u);
  EXPECT_EQ(std::get<Receipt>(page->entries[0].item).up_to, (Position{kNow, "m1"}));
  EXPECT_TRUE(a_->GetPrivacy("bob")->read_receipts);
  EXPECT_EQ(*a_->Secret("k", "v"), "v");
  // The laptop's entry of m1, from before the upgrade, still reads.
  EXPECT_EQ(std::get<Message>(a_->ReadInbox(bob2, 1, 10)->entries.at(0).item).body, "body cm1");
}

TEST_F(TwoNodes, RefusesASchemaNewerThanItKnows) {
  Exec(url_, "INSERT INTO schema_version(version, description) VALUES(999, 'from the future')");
  PostgresOptions options;
  options.url = url_;
  auto store = OpenPostgresStore(options);
  ASSERT_FALSE(store);
  EXPECT_EQ(ToErrc(store.error()), Errc::unavailable);
}

TEST_F(TwoNodes, UnreachableServerIsUnavailable) {
  PostgresOptions options;
  options.url = "postgresql://ferry@127.0.0.1:1/ferry";
  options.connect_timeout_seconds = 2;
  auto store = OpenPostgresStore(options);
  ASSERT_FALSE(store);
  EXPECT_EQ(ToErrc(store.error()), Errc::unavailable);
}

}  // namespace
}  // namespace ferry::store_test
