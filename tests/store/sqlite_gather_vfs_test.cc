// The gathering VFS (sqlite_gather_vfs.h) under a real database file: it
// must take a commit's WAL writes down to a few, and change nothing else.
// What is committed is read back through the plain default VFS, after a
// clean close and after a kill -9, and SQLite's integrity check must pass.
#include <gtest/gtest.h>
#include <sqlite3.h>
#include <sys/wait.h>
#include <unistd.h>

#include <csignal>
#include <filesystem>
#include <string>

#include "store/sqlite/sqlite_gather_vfs.h"
#include "temp_dir.h"

namespace ferry::store_test {
namespace {

namespace fs = std::filesystem;

// A raw connection, WAL and synchronous=FULL as the store opens it.
class Db {
 public:
  Db(const fs::path& file, const char* vfs) {
    rc_ = sqlite3_open_v2(file.c_str(), &db_, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, vfs);
    if (rc_ == SQLITE_OK) {
      rc_ = sqlite3_exec(db_, "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL;", nullptr,
                         nullptr, nullptr);
    }
  }
  ~Db() { sqlite3_close(db_); }
  Db(const Db&) = delete;
  Db& operator=(const Db&) = delete;

  bool ok() const { return rc_ == SQLITE_OK; }
  // Runs `sql`; the SQLite error message if it fails, "" if not.
  std::string Exec(const std::string& sql) {
    char* message = nullptr;
    int rc = sqlite3_exec(db_, sql.c_str(), nullptr, nullptr, &message);
    std::string error = rc == SQLITE_OK ? "" : (message != nullptr ? message : "error");
    sqlite3_free(message);
    return error;
  }
  // The first column of the first row of `sql`, as text.
  std::string Text(const std::string& sql) {
    sqlite3_stmt* stmt = nullptr;
    std::string value;
    if (sqlite3_prepare_v2(db_, sql.c_str(), -1, &stmt, nullptr) == SQLITE_OK &&
        sqlite3_step(stmt) == SQLITE_ROW && sqlite3_column_text(stmt, 0) != nullptr) {
      value = reinterpret_cast<const char*>(sqlite3_column_text(stmt, 0));
    }
    sqlite3_finalize(stmt);
    return value;
  }

 private:
  sqlite3* db_ = nullptr;
  int rc_ = SQLITE_ERROR;
};

// Inserts rows first..last into t(k, v), each with a 1,000-byte value that
// depends on k, in one transaction.
std::string InsertRows(Db& db, int first, int last) {
  return db.Exec("BEGIN; WITH RECURSIVE n(k) AS (SELECT " + std::to_string(first) +
                 " UNION ALL SELECT k + 1 FROM n WHERE k < " + std::to_string(last) +
                 ") INSERT INTO t SELECT k, printf('%.1000c', char(65 + k % 26)) FROM n; COMMIT;");
}

// What a reader through the default VFS finds: "rows:sum:integrity".
std::string Contents(const fs::path& file) {
  Db db(file, nullptr);
  return db.Text("SELECT count(*) || ':' || sum(k) || ':' || sum(length(v)) FROM t") + ":" +
         db.Text("PRAGMA integrity_check");
}

class GatherVfsTest : public ::testing::Test {
 protected:
  TempDir dir_;
  fs::path file_ = dir_.path() / "gather.db";
  const char* vfs_ = sqlite::GatherVfsName(nullptr);
};

TEST_F(GatherVfsTest, ACommitReachesTheWalInOneWrite) {
  Db db(file_, vfs_);
  ASSERT_TRUE(db.ok());
  ASSERT_EQ(db.Exec("CREATE TABLE t(k INTEGER PRIMARY KEY, v TEXT)"), "");
  ASSERT_EQ(InsertRows(db, 1, 10), "");  // the WAL's header is behind us

  const sqlite::GatherCounts before = sqlite::GatherCountsNow();
  ASSERT_EQ(InsertRows(db, 11, 60), "");  // ~13 pages of 4 KiB: under the limit
  const sqlite::GatherCounts after = sqlite::GatherCountsNow();
  // SQLite writes a header and a page per frame.
  EXPECT_GE(after.writes_in - before.writes_in, 26u);
  EXPECT_EQ(after.writes_out - before.writes_out, 1u);
  EXPECT_EQ(Contents(file_), "60:1830:60000:ok");
}

// One write() of SQLite's unix VFS takes at most 0x1ffff bytes; a longer
// one fails as a full disk. A commit of ~3 MiB goes down in pieces.
TEST_F(GatherVfsTest, ACommitLargerThanTheLimitIsWrittenInPieces) {
  {
    Db db(file_, vfs_);
    ASSERT_TRUE(db.ok());
    ASSERT_EQ(db.Exec("CREATE TABLE t(k INTEGER PRIMARY KEY, v TEXT)"), "");
    const sqlite::GatherCounts before = sqlite::GatherCountsNow();
    ASSERT_EQ(InsertRows(db, 1, 3000), "");
    const std::uint64_t writes = sqlite::GatherCountsNow().writes_out - before.writes_out;
    EXPECT_GE(writes, 3'000'000 / sqlite::kGatherLimit);
    EXPECT_LE(writes, 2 * 3'100'000 / sqlite::kGatherLimit);
  }
  EXPECT_EQ(Contents(file_), "3000:4501500:3000000:ok");
}

// A tiny page cache makes SQLite spill pages of an open transaction into
// the WAL and rewrite them there (frames overwritten in place, checksums
// rewritten at commit), and a rollback leaves frames past the last commit.
TEST_F(GatherVfsTest, SpilledRewrittenAndRolledBackFramesStayCorrect) {
  {
    Db db(file_, vfs_);
    ASSERT_TRUE(db.ok());
    ASSERT_EQ(db.Exec("PRAGMA cache_size=8; CREATE TABLE t(k INTEGER PRIMARY KEY, v TEXT)"), "");
    ASSERT_EQ(InsertRows(db, 1, 500), "");
    ASSERT_EQ(db.Exec("BEGIN; UPDATE t SET v = lower(v); UPDATE t SET v = upper(v) WHERE k % 2 = 0;"
                      "DELETE FROM t WHERE k > 400; COMMIT;"),
              "");
    ASSERT_EQ(db.Exec("BEGIN; DELETE FROM t; INSERT INTO t VALUES (9999, 'x'); ROLLBACK;"), "");
    EXPECT_EQ(db.Text("SELECT count(*) FROM t WHERE v = lower(v)"), "200");
  }
  EXPECT_EQ(Contents(file_), "400:80200:400000:ok");
}

// Everything a commit wrote is in the file once COMMIT returns, so a crash
// right after it loses nothing.
TEST_F(GatherVfsTest, CommittedRowsSurviveAKill) {
  {
    Db db(file_, vfs_);
    ASSERT_EQ(db.Exec("CREATE TABLE t(k INTEGER PRIMARY KEY, v TEXT)"), "");
  }
  pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    Db db(file_, vfs_);
    bool ok = db.ok();
    for (int i = 0; ok && i < 20; ++i) ok = InsertRows(db, i * 50 + 1, i * 50 + 50).empty();
    if (ok) ::kill(::getpid(), SIGKILL);
    ::_exit(1);
  }
  int status = 0;
  ASSERT_EQ(::waitpid(child, &status, 0), child);
  ASSERT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL) << "the child failed to commit";
  EXPECT_EQ(Contents(file_), "1000:500500:1000000:ok");
}

TEST_F(GatherVfsTest, OneVfsPerParent) {
  EXPECT_STREQ(sqlite::GatherVfsName(nullptr), vfs_);
  EXPECT_EQ(sqlite::GatherVfsName("no-such-vfs"), nullptr);
  sqlite3_vfs* root = sqlite3_vfs_find(nullptr);
  EXPECT_EQ(std::string(vfs_), std::string("ferry-gather/") + root->zName);
}

}  // namespace
}  // namespace ferry::store_test
