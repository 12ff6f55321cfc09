// The SQLite store on a disk that fails: a full disk (ENOSPC), EIO on write
// and EIO on fsync, injected under a real database file by the fault VFS
// (sqlite_fault_vfs.h). What store.h promises must hold through them: a
// write either commits or fails whole (unavailable, nothing of it visible
// afterwards), reads go on, and once the disk works again so do writes,
// with every seq handed out exactly once and nothing committed lost.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <csignal>
#include <filesystem>
#include <fstream>
#include <optional>
#include <string>
#include <vector>

#include "conformance.h"
#include "store/sqlite/sqlite_fault_vfs.h"
#include "store/sqlite/sqlite_store.h"
#include "temp_dir.h"

namespace ferry::store_test {
namespace {

namespace fs = std::filesystem;
using sqlite::DiskFault;
using ::testing::ElementsAre;
using ::testing::IsEmpty;

std::unique_ptr<Store> OpenAt(const fs::path& file, bool inject_faults) {
  auto store = OpenSqliteStore(SqliteOptions{file.string(), inject_faults});
  EXPECT_TRUE(store) << file;
  return store ? std::move(*store) : nullptr;
}

// alice's message "m<n>" (client message id "cm<n>") to chat "c1".
SendOp AliceSends(int n) {
  SendOp send;
  std::string id = std::to_string(n);
  send.message = Message{"m" + id, "c1", "alice", "alice-x", "cm" + id, kNow, "body " + id, {}};
  send.expires = kExpires;
  return send;
}

std::vector<Seq> SeqsOf(const InboxPage& page) {
  std::vector<Seq> seqs;
  for (const InboxEntry& e : page.entries) seqs.push_back(e.seq);
  return seqs;
}

std::vector<std::string> BodiesOf(const InboxPage& page) {
  std::vector<std::string> bodies;
  for (const InboxEntry& e : page.entries) {
    if (const auto* m = std::get_if<Message>(&e.item)) bodies.push_back(m->body);
  }
  return bodies;
}

// Each test runs once per fault, on a store opened through the fault VFS
// that holds alice, bob (client "bob-phone", token "tok") and their chat
// "c1" with two messages: bob's entries 1 (created), 2 and 3.
class SqliteDiskFault : public ::testing::TestWithParam<DiskFault> {
 protected:
  void SetUp() override {
    sqlite::SetDiskFault(DiskFault::none);
    store_ = OpenAt(file_, /*inject_faults=*/true);
    ASSERT_NE(store_, nullptr);
    ASSERT_TRUE(store_->CreateUser("alice", "h", kNow));
    ASSERT_TRUE(store_->CreateUser("bob", "h", kNow));
    ASSERT_EQ(store_->Login({"bob", "phone", "tok", "bob-phone", "e1", 3, kNow})->status, Errc::ok);
    ChatOp create;
    create.chat_id = "c1";
    create.actor_user = "alice";
    create.members = {"alice", "bob"};
    create.now = kNow;
    create.expires = kExpires;
    SendOp one = AliceSends(1), two = AliceSends(2);
    ASSERT_TRUE(store_->WriteBatch(std::vector<WriteOp>{&create, &one, &two}));
    ASSERT_EQ(two.deliveries.at(0).seq, 3);
  }
  void TearDown() override { sqlite::SetDiskFault(DiskFault::none); }

  // What bob's inbox must hold after SetUp, through every fault.
  void ExpectBobsBacklog(Store& store) {
    auto page = store.ReadInbox("bob-phone", 0, 100);
    ASSERT_TRUE(page) << page.error().message();
    EXPECT_THAT(SeqsOf(*page), ElementsAre(1, 2, 3));
    EXPECT_THAT(BodiesOf(*page), ElementsAre("body 1", "body 2"));
    EXPECT_EQ(page->head, 3);
  }

  TempDir dir_;
  fs::path file_ = dir_.path() / "ferry.db";
  std::unique_ptr<Store> store_;
};

INSTANTIATE_TEST_SUITE_P(Faults, SqliteDiskFault,
                         ::testing::Values(DiskFault::full, DiskFault::write_error,
                                           DiskFault::fsync_error),
                         [](const auto& p) {
                           std::string name = sqlite::DiskFaultName(p.param);
                           std::erase(name, '-');
                           return name;
                         });

// While the disk fails, every call that writes fails with unavailable and
// every read answers; a group of ops fails whole, however often it is tried.
TEST_P(SqliteDiskFault, WritesFailAndReadsWork) {
  sqlite::SetDiskFault(GetParam());
  for (int attempt = 0; attempt < 3; ++attempt) {
    SendOp three = AliceSends(3);
    AckOp ack{"bob-phone", 2};
    PresenceOp seen{"bob-phone", "bob", kNow + 1, true};
    auto failed = store_->WriteBatch(std::vector<WriteOp>{&three, &ack, &seen});
    ASSERT_FALSE(failed) << "a write reported success on a failing disk";
    EXPECT_EQ(ToErrc(failed.error()), Errc::unavailable);
  }
  EXPECT_EQ(CodeOf(store_->CreateUser("carol", "h", kNow)), Errc::unavailable);
  EXPECT_EQ(CodeOf(store_->Login({"bob", "laptop", "tok2", "bob-laptop", "e2", 3, kNow})),
            Errc::unavailable);
  EXPECT_EQ(CodeOf(store_->SetLastSeen("alice", kNow)), Errc::unavailable);

  ExpectBobsBacklog(*store_);
  EXPECT_EQ(store_->Authenticate("tok")->head_seq, 3);
  EXPECT_EQ(*store_->PasswordHash("alice"), "h");
  EXPECT_EQ(CodeOf(store_->PasswordHash("carol")), Errc::not_found);
  EXPECT_EQ(store_->ListChats("alice")->size(), 1u);
  EXPECT_EQ(store_->ListClients("bob")->size(), 1u);
  EXPECT_EQ(*store_->GetLastSeen("bob"), std::nullopt);
  EXPECT_EQ(store_->Stats()->entries, 3);
}

// Once the disk works again the next write succeeds without reopening: the
// failed ops left nothing behind (the retried send is not a duplicate, the
// failed ack deleted nothing) and seqs go on from the last committed one.
TEST_P(SqliteDiskFault, NextWriteSucceedsOnceTheDiskRecovers) {
  sqlite::SetDiskFault(GetParam());
  SendOp three = AliceSends(3);
  AckOp ack{"bob-phone", 2};
  ASSERT_FALSE(store_->WriteBatch(std::vector<WriteOp>{&three, &ack}));
  ASSERT_FALSE(store_->WriteBatch(std::vector<WriteOp>{&three, &ack}));
  sqlite::SetDiskFault(DiskFault::none);

  ExpectBobsBacklog(*store_);
  SendOp retry = AliceSends(3);
  ASSERT_TRUE(store_->WriteBatch(std::vector<WriteOp>{&retry}));
  EXPECT_EQ(retry.status, Errc::ok);
  EXPECT_FALSE(retry.duplicate) << "the failed batch's send was recorded";
  ASSERT_EQ(retry.deliveries.size(), 1u);
  EXPECT_EQ(retry.deliveries[0].seq, 4) << "a seq was lost to, or reused after, the failure";
  SendOp four = AliceSends(4);
  ASSERT_TRUE(store_->WriteBatch(std::vector<WriteOp>{&four}));
  EXPECT_EQ(four.deliveries.at(0).seq, 5);
  EXPECT_TRUE(store_->CreateUser("carol", "h", kNow));

  auto page = store_->ReadInbox("bob-phone", 0, 100);
  ASSERT_TRUE(page);
  EXPECT_THAT(SeqsOf(*page), ElementsAre(1, 2, 3, 4, 5));
  EXPECT_THAT(BodiesOf(*page), ElementsAre("body 1", "body 2", "body 3", "body 4"));
  EXPECT_EQ(page->head, 5);
}

// What was committed before and after the fault is on disk, once: a fresh
// store (not through the fault VFS) reads exactly that.
TEST_P(SqliteDiskFault, CommittedDataSurvivesReopen) {
  sqlite::SetDiskFault(GetParam());
  SendOp lost = AliceSends(3);
  ASSERT_FALSE(store_->WriteBatch(std::vector<WriteOp>{&lost}));
  sqlite::SetDiskFault(DiskFault::none);
  SendOp four = AliceSends(4);
  ASSERT_TRUE(store_->WriteBatch(std::vector<WriteOp>{&four}));
  store_.reset();

  auto store = OpenAt(file_, /*inject_faults=*/false);
  ASSERT_NE(store, nullptr);
  auto page = store->ReadInbox("bob-phone", 0, 100);
  ASSERT_TRUE(page);
  EXPECT_THAT(SeqsOf(*page), ElementsAre(1, 2, 3, 4));
  EXPECT_THAT(BodiesOf(*page), ElementsAre("body 1", "body 2", "body 4"));
  EXPECT_EQ(page->head, 4);
}

// The batch the tests below fail: two sends and an ack of bob's first two
// entries.
struct FailedBatch {
  SendOp three = AliceSends(3);
  SendOp four = AliceSends(4);
  AckOp ack{"bob-phone", 2};
  std::vector<WriteOp> ops() { return {&three, &four, &ack}; }
};

// A reopened store holds SetUp's data and either none of FailedBatch or, if
// `whole_allowed`, all of it; never a part.
void ExpectNoneOrAllOfTheFailedBatch(Store& store, bool whole_allowed) {
  auto page = store.ReadInbox("bob-phone", 0, 100);
  ASSERT_TRUE(page);
  if (page->head == 3) {
    EXPECT_THAT(SeqsOf(*page), ElementsAre(1, 2, 3));
    EXPECT_THAT(BodiesOf(*page), ElementsAre("body 1", "body 2"));
  } else {
    EXPECT_TRUE(whole_allowed) << "a failed batch came back";
    EXPECT_EQ(page->head, 5) << "part of a failed batch came back";
    EXPECT_THAT(SeqsOf(*page), ElementsAre(3, 4, 5));
    EXPECT_THAT(BodiesOf(*page), ElementsAre("body 2", "body 3", "body 4"));
  }
  SendOp next = AliceSends(5);
  ASSERT_TRUE(store.WriteBatch(std::vector<WriteOp>{&next}));
  EXPECT_EQ(next.deliveries.at(0).seq, page->head + 1);
}

// A store closed while the disk still fails (ferryd stopped on a broken
// disk) keeps what it committed: its last checkpoint fails, and the WAL is
// read at the next open. What it read there of a batch that failed its
// fsync is not defined: every write() of it had succeeded, so its commit
// record may be whole in the WAL, and then the batch comes back, whole
// (SQLite's WAL recovery takes a transaction only with its commit frame).
// Callers were told `unavailable`, not `ok`, and a retried send with the same
// clientMsgId finds it. PostgreSQL does the same: it stops at a failed fsync
// and replays its WAL.
TEST_P(SqliteDiskFault, ClosingWhileTheDiskFailsKeepsWhatWasCommitted) {
  sqlite::SetDiskFault(GetParam());
  FailedBatch failed;
  ASSERT_FALSE(store_->WriteBatch(failed.ops()));
  store_.reset();
  sqlite::SetDiskFault(DiskFault::none);

  auto store = OpenAt(file_, /*inject_faults=*/false);
  ASSERT_NE(store, nullptr);
  ExpectNoneOrAllOfTheFailedBatch(*store, GetParam() == DiskFault::fsync_error);
}

// Likewise when the process dies (kill -9) right after the failed write.
TEST_P(SqliteDiskFault, CommittedDataSurvivesCrashAfterAFailedWrite) {
  store_.reset();
  pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    auto store = OpenSqliteStore(SqliteOptions{file_.string(), true});
    sqlite::SetDiskFault(GetParam());
    FailedBatch failed;
    if (store && !(*store)->WriteBatch(failed.ops())) ::kill(::getpid(), SIGKILL);
    ::_exit(1);
  }
  int status = 0;
  ASSERT_EQ(::waitpid(child, &status, 0), child);
  ASSERT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL) << "the batch did not fail";

  auto store = OpenAt(file_, /*inject_faults=*/false);
  ASSERT_NE(store, nullptr);
  ExpectNoneOrAllOfTheFailedBatch(*store, GetParam() == DiskFault::fsync_error);
}

// A chat change in a failed batch must not leave its recipients cached: the
// next send to the chat goes to the members the database holds.
TEST_P(SqliteDiskFault, FailedMemberChangeIsForgotten) {
  ASSERT_TRUE(store_->CreateUser("carol", "h", kNow));
  ASSERT_EQ(store_->Login({"carol", "phone", "tok3", "carol-phone", "e3", 3, kNow})->status,
            Errc::ok);
  sqlite::SetDiskFault(GetParam());
  ChatOp add;
  add.kind = ChatOp::Kind::add;
  add.chat_id = "c1";
  add.actor_user = "alice";
  add.actor_client = "alice-x";
  add.members = {"carol"};
  add.now = kNow;
  add.expires = kExpires;
  SendOp three = AliceSends(3);
  ASSERT_FALSE(store_->WriteBatch(std::vector<WriteOp>{&add, &three}));
  sqlite::SetDiskFault(DiskFault::none);

  SendOp retry = AliceSends(3);
  ASSERT_TRUE(store_->WriteBatch(std::vector<WriteOp>{&retry}));
  ASSERT_EQ(retry.deliveries.size(), 1u);
  EXPECT_EQ(retry.deliveries[0].client_id, "bob-phone");
  EXPECT_EQ(retry.deliveries[0].seq, 4);
  EXPECT_THAT(SeqsOf(*store_->ReadInbox("carol-phone", 0, 100)), IsEmpty());
  EXPECT_EQ(store_->ReadInbox("carol-phone", 0, 100)->head, 0);
}

TEST(SqliteFaultVfs, ParsesControlText) {
  EXPECT_EQ(sqlite::DiskFaultFromText(""), DiskFault::none);
  EXPECT_EQ(sqlite::DiskFaultFromText("none\n"), DiskFault::none);
  EXPECT_EQ(sqlite::DiskFaultFromText(" full\n"), DiskFault::full);
  EXPECT_EQ(sqlite::DiskFaultFromText("write-error"), DiskFault::write_error);
  EXPECT_EQ(sqlite::DiskFaultFromText("fsync-error\n"), DiskFault::fsync_error);
  EXPECT_EQ(sqlite::DiskFaultFromText("ful"), std::nullopt);
}

// The control file a ferryd under test reads: written by the test, read at
// each write.
TEST(SqliteFaultVfs, FollowsTheControlFile) {
  TempDir dir;
  fs::path control = dir.path() / "fault";
  sqlite::SetDiskFaultFile(control.string());
  EXPECT_EQ(sqlite::CurrentDiskFault(), DiskFault::none);  // no file yet
  auto store = OpenAt(dir.path() / "ferry.db", /*inject_faults=*/true);
  ASSERT_NE(store, nullptr);
  { std::ofstream(control) << "full\n"; }
  EXPECT_EQ(sqlite::CurrentDiskFault(), DiskFault::full);
  EXPECT_EQ(CodeOf(store->CreateUser("alice", "h", kNow)), Errc::unavailable);
  { std::ofstream(control) << ""; }
  EXPECT_TRUE(store->CreateUser("alice", "h", kNow));
  sqlite::SetDiskFault(DiskFault::none);
}

}  // namespace
}  // namespace ferry::store_test
