// Runs the Store conformance suite against the SQLite backend, each test on
// a fresh database file in its own temporary directory, plus the things only
// a file-backed store has: reopening, WAL mode, schema version, bad paths.
#include "store/sqlite/sqlite_store.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sqlite3.h>
#include <sys/wait.h>
#include <unistd.h>

#include <csignal>
#include <filesystem>
#include <fstream>
#include <optional>
#include <string>
#include <vector>

#include "conformance.h"
#include "store/sqlite/sqlite_legacy.h"
#include "store/sqlite/sqlite_queries.h"
#include "store/sqlite/sqlite_schema.h"
#include "store/sqlite/sqlite_statement.h"
#include "temp_dir.h"

namespace ferry::store_test {
namespace {

namespace fs = std::filesystem;

std::unique_ptr<Store> OpenAt(const fs::path& file) {
  auto store = OpenSqliteStore(SqliteOptions{file.string()});
  EXPECT_TRUE(store) << file;
  return store ? std::move(*store) : nullptr;
}

// A Store that owns the directory its database lives in: forwards every
// call, then deletes the directory once the database is closed.
class TempFileStore final : public Store {
 public:
  TempFileStore() : inner_(OpenAt(dir_.path() / "ferry.db")) {}
  ~TempFileStore() override { inner_.reset(); }  // close before dir_ goes
  bool ok() const { return inner_ != nullptr; }

  Result<void> CreateUser(const std::string& user, const std::string& hash, Millis now) override {
    return inner_->CreateUser(user, hash, now);
  }
  Result<std::string> PasswordHash(const std::string& user) override {
    return inner_->PasswordHash(user);
  }
  Result<LoginResult> Login(const LoginRequest& request) override { return inner_->Login(request); }
  Result<ClientInfo> Authenticate(const std::string& token_hash) override {
    return inner_->Authenticate(token_hash);
  }
  Result<std::vector<ClientInfo>> ListClients(const std::string& user) override {
    return inner_->ListClients(user);
  }
  Result<void> DeleteClient(const std::string& user, const std::string& client_id) override {
    return inner_->DeleteClient(user, client_id);
  }
  Result<void> TouchClient(const std::string& client_id, Millis now) override {
    return inner_->TouchClient(client_id, now);
  }
  Result<std::vector<ChatInfo>> ListChats(const std::string& user) override {
    return inner_->ListChats(user);
  }
  Result<bool> SharesChat(const std::string& a, const std::string& b) override {
    return inner_->SharesChat(a, b);
  }
  Result<InboxPage> ReadInbox(const std::string& client_id, Seq after, std::size_t limit) override {
    return inner_->ReadInbox(client_id, after, limit);
  }
  Result<void> SetLastSeen(const std::string& user, Millis ts) override {
    return inner_->SetLastSeen(user, ts);
  }
  Result<std::optional<Millis>> GetLastSeen(const std::string& user) override {
    return inner_->GetLastSeen(user);
  }
  Result<void> WriteBatch(std::span<const WriteOp> ops) override { return inner_->WriteBatch(ops); }
  Result<void> CreateAttachment(const Attachment& attachment) override {
    return inner_->CreateAttachment(attachment);
  }
  Result<Attachment> GetAttachment(const std::string& attachment_id) override {
    return inner_->GetAttachment(attachment_id);
  }
  Result<void> MarkUploaded(const std::string& attachment_id, Millis expires) override {
    return inner_->MarkUploaded(attachment_id, expires);
  }
  Result<bool> IsRecipient(const std::string& attachment_id,
                           const std::string& client_id) override {
    return inner_->IsRecipient(attachment_id, client_id);
  }
  Result<bool> RecordFetch(const std::string& attachment_id,
                           const std::string& client_id) override {
    return inner_->RecordFetch(attachment_id, client_id);
  }
  Result<std::vector<std::string>> DeadAttachments(Millis now, std::size_t limit) override {
    return inner_->DeadAttachments(now, limit);
  }
  Result<void> DeleteAttachments(const std::vector<std::string>& attachment_ids) override {
    return inner_->DeleteAttachments(attachment_ids);
  }
  Result<SweepResult> Sweep(Millis now) override { return inner_->Sweep(now); }
  Result<InboxStats> Stats() override { return inner_->Stats(); }
  Result<std::vector<MemberReceipts>> ChatReceipts(const std::string& chat_id,
                                                   const std::string& user) override {
    return inner_->ChatReceipts(chat_id, user);
  }
  Result<Privacy> GetPrivacy(const std::string& user) override { return inner_->GetPrivacy(user); }
  Result<Privacy> SetPrivacy(const std::string& user, std::optional<bool> read_receipts,
                             std::optional<bool> last_seen_visible) override {
    return inner_->SetPrivacy(user, read_receipts, last_seen_visible);
  }
  Result<ChatRoster> Roster(const std::string& chat_id) override { return inner_->Roster(chat_id); }
  Result<std::string> Secret(const std::string& name, const std::string& candidate) override {
    return inner_->Secret(name, candidate);
  }

 private:
  TempDir dir_;  // declared first: removed after inner_ is closed
  std::unique_ptr<Store> inner_;
};

std::unique_ptr<Store> MakeSqliteStore() {
  auto store = std::make_unique<TempFileStore>();
  return store->ok() ? std::move(store) : nullptr;
}

INSTANTIATE_TEST_SUITE_P(Sqlite, StoreConformance,
                         ::testing::Values(StoreFactory(&MakeSqliteStore)),
                         [](const auto&) { return std::string("file"); });

// Runs one single-value query on a separate raw connection.
std::string QueryText(const fs::path& file, const char* sql) {
  sqlite3* db = nullptr;
  std::string value;
  if (sqlite3_open_v2(file.c_str(), &db, SQLITE_OPEN_READWRITE, nullptr) == SQLITE_OK) {
    sqlite3_stmt* stmt = nullptr;
    if (sqlite3_prepare_v2(db, sql, -1, &stmt, nullptr) == SQLITE_OK &&
        sqlite3_step(stmt) == SQLITE_ROW) {
      value = reinterpret_cast<const char*>(sqlite3_column_text(stmt, 0));
    }
    sqlite3_finalize(stmt);
  }
  sqlite3_close(db);
  return value;
}

// Runs `sql` (any number of statements) on a separate raw connection.
bool ExecSql(const fs::path& file, const char* sql) {
  sqlite3* db = nullptr;
  bool ok = sqlite3_open_v2(file.c_str(), &db, SQLITE_OPEN_READWRITE, nullptr) == SQLITE_OK &&
            sqlite3_exec(db, sql, nullptr, nullptr, nullptr) == SQLITE_OK;
  sqlite3_close(db);
  return ok;
}

// Column `column` of every row `sql` returns, on a separate raw connection.
std::vector<std::string> QueryColumn(const fs::path& file, const std::string& sql, int column) {
  sqlite3* db = nullptr;
  std::vector<std::string> values;
  if (sqlite3_open_v2(file.c_str(), &db, SQLITE_OPEN_READWRITE, nullptr) == SQLITE_OK) {
    sqlite3_stmt* stmt = nullptr;
    if (sqlite3_prepare_v2(db, sql.c_str(), -1, &stmt, nullptr) == SQLITE_OK) {
      while (sqlite3_step(stmt) == SQLITE_ROW) {
        const auto* text = sqlite3_column_text(stmt, column);
        values.emplace_back(text != nullptr ? reinterpret_cast<const char*>(text) : "");
      }
    }
    sqlite3_finalize(stmt);
  }
  sqlite3_close(db);
  return values;
}

// alice and bob; bob logged in on "phone" as client "bob-phone", token "tok".
void AddAliceAndBob(Store& store) {
  ASSERT_TRUE(store.CreateUser("alice", "h", kNow));
  ASSERT_TRUE(store.CreateUser("bob", "h", kNow));
  ASSERT_EQ(store.Login({"bob", "phone", "tok", "bob-phone", "e1", 3, kNow})->status, Errc::ok);
}

// The op creating chat "c1" of alice and bob.
ChatOp AliceBobChat() {
  ChatOp create;
  create.chat_id = "c1";
  create.actor_user = "alice";
  create.members = {"alice", "bob"};
  create.now = kNow;
  create.expires = kExpires;
  return create;
}

// A store at `file` holding AddAliceAndBob(), or null (with a failure).
std::unique_ptr<Store> OpenWithAliceAndBob(const fs::path& file) {
  auto store = OpenAt(file);
  if (store == nullptr) return nullptr;
  AddAliceAndBob(*store);
  return ::testing::Test::HasFailure() ? nullptr : std::move(store);
}

// The op of alice's message "m<n>" (client message id "cm<n>") to "c1".
SendOp AliceSends(int n, const std::string& body, Millis expires = kExpires) {
  SendOp send;
  std::string id = std::to_string(n);
  send.message = Message{"m" + id, "c1", "alice", "alice-x", "cm" + id, kNow, body, {}};
  send.expires = expires;
  return send;
}

TEST(SqliteStore, DataSurvivesReopen) {
  TempDir dir;
  fs::path file = dir.path() / "ferry.db";
  {
    auto store = OpenWithAliceAndBob(file);
    ASSERT_NE(store, nullptr);
    ChatOp create = AliceBobChat();
    SendOp send = AliceSends(1, "hello");
    ASSERT_TRUE(store->WriteBatch(std::vector<WriteOp>{&create, &send}));
    ASSERT_EQ(send.status, Errc::ok);
  }
  auto store = OpenAt(file);
  ASSERT_NE(store, nullptr);
  EXPECT_EQ(*store->PasswordHash("alice"), "h");
  EXPECT_EQ(store->Authenticate("tok")->client_id, "bob-phone");
  auto page = store->ReadInbox("bob-phone", 0, 10);
  ASSERT_TRUE(page);
  ASSERT_EQ(page->entries.size(), 2u);
  EXPECT_EQ(std::get<Message>(page->entries[1].item).body, "hello");
  EXPECT_EQ(page->head, 2);
}

// A committed batch must survive the process dying without closing the
// database (kill -9): the child commits and kills itself, the parent reopens.
TEST(SqliteStore, CommittedBatchSurvivesKill) {
  TempDir dir;
  fs::path file = dir.path() / "ferry.db";
  {
    auto store = OpenWithAliceAndBob(file);
    ASSERT_NE(store, nullptr);
  }
  pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    auto store = OpenSqliteStore(SqliteOptions{file.string()});
    ChatOp create = AliceBobChat();
    SendOp send = AliceSends(1, "kept");
    bool ok = store && (*store)->WriteBatch(std::vector<WriteOp>{&create, &send}) &&
              send.status == Errc::ok;
    if (ok) ::kill(::getpid(), SIGKILL);
    ::_exit(1);  // only reached if the batch failed
  }
  int status = 0;
  ASSERT_EQ(::waitpid(child, &status, 0), child);
  ASSERT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL) << "child failed to commit";
  auto store = OpenAt(file);
  ASSERT_NE(store, nullptr);
  auto page = store->ReadInbox("bob-phone", 0, 10);
  ASSERT_TRUE(page);
  ASSERT_EQ(page->entries.size(), 2u);
  EXPECT_EQ(std::get<Message>(page->entries[1].item).body, "kept");
}

// A SQLite error inside a batch (here injected by a trigger on the second
// send's entry) rolls back every op of it and reports unavailable; the
// store stays usable, and what it holds in memory (the heads the rolled
// back entries had taken) is forgotten with the rollback.
TEST(SqliteStore, FailedBatchRollsBackEveryOp) {
  TempDir dir;
  fs::path file = dir.path() / "ferry.db";
  auto store = OpenWithAliceAndBob(file);
  ASSERT_NE(store, nullptr);
  EXPECT_EQ(store->ReadInbox("bob-phone", 0, 10)->head, 0);
  ASSERT_TRUE(ExecSql(file,
                      "CREATE TRIGGER fail_two BEFORE INSERT ON inbox WHEN NEW.body = 'two' "
                      "BEGIN SELECT RAISE(ABORT, 'injected'); END"));
  ChatOp create = AliceBobChat();
  SendOp first = AliceSends(1, "one");
  SendOp second = AliceSends(2, "two");
  auto failed = store->WriteBatch(std::vector<WriteOp>{&create, &first, &second});
  ASSERT_FALSE(failed);
  EXPECT_EQ(ToErrc(failed.error()), Errc::unavailable);
  EXPECT_THAT(*store->ListChats("alice"), ::testing::IsEmpty());
  EXPECT_EQ(store->ReadInbox("bob-phone", 0, 10)->head, 0);
  EXPECT_EQ(store->Authenticate("tok")->head_seq, 0);

  ASSERT_TRUE(ExecSql(file, "DROP TRIGGER fail_two"));
  ASSERT_TRUE(store->WriteBatch(std::vector<WriteOp>{&create, &first, &second}));
  EXPECT_FALSE(first.duplicate);  // not recorded by the failed batch
  EXPECT_EQ(store->ReadInbox("bob-phone", 0, 10)->head, 3);
}

TEST(SqliteStore, UsesWalAndRecordsSchemaVersion) {
  TempDir dir;
  fs::path file = dir.path() / "ferry.db";
  auto store = OpenAt(file);
  ASSERT_NE(store, nullptr);
  EXPECT_EQ(QueryText(file, "PRAGMA journal_mode"), "wal");
  EXPECT_EQ(QueryText(file, "PRAGMA user_version"), "5");
}

// AliceBobChat()'s `created` event in the line format of schema versions 1
// and 2 (chat_id, event, by, ts, members), and in the JSON of version 3.
constexpr const char* kLineCreatedEvent = "c1\ncreated\nalice\n1700000000000\nalice\nbob";
constexpr const char* kJsonCreatedEvent =
    R"({"chatId":"c1","event":"created","members":["alice","bob"],"by":"alice",)"
    R"("ts":1700000000000})";

// Rewrites a (closed) database as schema version 3 held the same data:
// every message in a `messages` row (refs 1, as bob-phone is its only
// recipient) referred to by a kind 0 entry, no inline columns, and
// clients.head_seq exact.
void DowngradeToVersion4(const fs::path& file) {
  ASSERT_TRUE(ExecSql(file,
                      "DROP TABLE receipts; DROP TABLE privacy; DROP TABLE meta;"
                      "PRAGMA user_version=4;"));
}

void DowngradeToVersion3(const fs::path& file) {
  ASSERT_NO_FATAL_FAILURE(DowngradeToVersion4(file));
  ASSERT_TRUE(ExecSql(
      file,
      "INSERT INTO messages(message_id, chat_id, sender, sender_client, client_msg_id, ts, body, "
      "attachments, refs, expires) SELECT message_id, chat_id, sender, sender_client, "
      "client_msg_id, created, body, attachments, 1, expires FROM inbox WHERE kind = 2;"
      "UPDATE inbox SET kind = 0 WHERE kind = 2;"
      "ALTER TABLE inbox DROP COLUMN chat_id; ALTER TABLE inbox DROP COLUMN sender;"
      "ALTER TABLE inbox DROP COLUMN sender_client; ALTER TABLE inbox DROP COLUMN client_msg_id;"
      "ALTER TABLE inbox DROP COLUMN body; ALTER TABLE inbox DROP COLUMN attachments;"
      "UPDATE clients SET head_seq = max(head_seq, acked_seq, coalesce((SELECT max(seq) "
      "FROM inbox WHERE inbox.client_id = clients.client_id), 0));"
      "PRAGMA user_version=3;"));
}

// A version 3 database at `file` with alice and bob, AliceBobChat() and
// `messages` messages from alice, m1 ("b1") to mN, no attachments:
// bob-phone's inbox holds the chat event at seq 1 and the messages after it.
void WriteChatAndMessages(const fs::path& file, int messages) {
  auto store = OpenWithAliceAndBob(file);
  ASSERT_NE(store, nullptr);
  ChatOp create = AliceBobChat();
  std::vector<SendOp> sends(messages);
  std::vector<WriteOp> ops = {&create};
  for (int i = 0; i < messages; ++i) {
    sends[i] = AliceSends(i + 1, "b" + std::to_string(i + 1));
    ops.push_back(&sends[i]);
  }
  ASSERT_TRUE(store->WriteBatch(ops));
  store.reset();
  ASSERT_NO_FATAL_FAILURE(DowngradeToVersion3(file));
}

// Checks that bob-phone's inbox starts with AliceBobChat()'s event.
void ExpectCreatedEvent(const InboxPage& page) {
  ASSERT_FALSE(page.entries.empty());
  const auto* event = std::get_if<ChatEvent>(&page.entries[0].item);
  ASSERT_NE(event, nullptr);
  EXPECT_EQ(event->chat_id, "c1");
  EXPECT_EQ(event->event, "created");
  EXPECT_THAT(event->members, ::testing::ElementsAre("alice", "bob"));
  EXPECT_EQ(event->by, "alice");
  EXPECT_EQ(event->ts, kNow);
}

// A version 1 database (no attachment tables, messages.attachments as
// opaque JSON) is migrated on open: the tables appear and the legacy JSON
// reads as "no attachments".
TEST(SqliteStore, MigratesSchemaVersion1) {
  TempDir dir;
  fs::path file = dir.path() / "ferry.db";
  {
    auto store = OpenWithAliceAndBob(file);
    ASSERT_NE(store, nullptr);
    ChatOp create = AliceBobChat();
    SendOp with_json = AliceSends(1, "old");
    SendOp without = AliceSends(2, "plain");
    ASSERT_TRUE(store->WriteBatch(std::vector<WriteOp>{&create, &with_json, &without}));
  }
  ASSERT_NO_FATAL_FAILURE(DowngradeToVersion3(file));
  // Turn it into what version 1 wrote.
  ASSERT_TRUE(ExecSql(file, ("DROP TABLE attachment_recipients; DROP TABLE attachments;"
                             "UPDATE messages SET attachments = '[{\"attachmentId\":\"a1\"}]' "
                             "WHERE message_id = 'm1';"
                             "UPDATE messages SET attachments = '' WHERE message_id = 'm2';"
                             "UPDATE inbox SET event = '" +
                             std::string(kLineCreatedEvent) +
                             "' WHERE kind = 1;"
                             "PRAGMA user_version=1;")
                                .c_str()));
  ASSERT_EQ(QueryText(file, "PRAGMA user_version"), "1");

  // Migrated all the way: 1 -> 2 -> 3 -> 4.
  auto store = OpenAt(file);
  ASSERT_NE(store, nullptr);
  EXPECT_EQ(QueryText(file, "PRAGMA user_version"), "5");
  EXPECT_THAT(QueryColumn(file, "SELECT attachments FROM messages ORDER BY message_id", 0),
              ::testing::ElementsAre("[]", "[]"));
  EXPECT_THAT(QueryColumn(file, "SELECT event FROM inbox WHERE kind = 1", 0),
              ::testing::ElementsAre(kJsonCreatedEvent));
  auto page = store->ReadInbox("bob-phone", 0, 10);
  ASSERT_TRUE(page);
  ASSERT_EQ(page->entries.size(), 3u);
  ExpectCreatedEvent(*page);
  EXPECT_EQ(std::get<Message>(page->entries[1].item).body, "old");
  EXPECT_THAT(std::get<Message>(page->entries[1].item).attachments, ::testing::IsEmpty());
  EXPECT_EQ(std::get<Message>(page->entries[2].item).body, "plain");
  EXPECT_THAT(std::get<Message>(page->entries[2].item).attachments, ::testing::IsEmpty());

  Attachment a;
  a.attachment_id = "att-1";
  a.owner = "alice";
  a.content_type = "image/png";
  a.expires = kExpires;
  ASSERT_TRUE(store->CreateAttachment(a));
  EXPECT_EQ(store->GetAttachment("att-1")->owner, "alice");
  EXPECT_THAT(QueryColumn(file,
                          "SELECT name FROM sqlite_master WHERE type = 'index' AND "
                          "name LIKE 'attachment%' ORDER BY name",
                          0),
              ::testing::ElementsAre("attachment_recipients_by_client", "attachments_by_expiry",
                                     "attachments_by_unfetched"));
}

// DeadAttachments runs on every sweep tick; it must search its two indexes,
// never scan the attachments table.
TEST(SqliteStore, DeadAttachmentsUsesIndexes) {
  TempDir dir;
  fs::path file = dir.path() / "ferry.db";
  ASSERT_NE(OpenAt(file), nullptr);
  std::vector<std::string> plan =
      QueryColumn(file, std::string("EXPLAIN QUERY PLAN ") + sqlite::kDeadAttachmentsSql, 3);
  std::string text;
  for (const std::string& line : plan) text += line + "\n";
  EXPECT_THAT(text, ::testing::HasSubstr("attachments_by_expiry")) << text;
  EXPECT_THAT(text, ::testing::HasSubstr("attachments_by_unfetched")) << text;
  EXPECT_THAT(text, ::testing::Not(::testing::HasSubstr("SCAN"))) << text;
}

// A version 2 database keeps chat events and attachment lists in line
// formats; opening it rewrites every value as JSON (schema version 3), and
// the Store reads back what version 2 held. The attachment lines cover both
// forms version 2 wrote: with a sha256 field ("-" for none) and, from
// builds before the sha256 was stored, without.
TEST(SqliteStore, MigratesSchemaVersion2) {
  TempDir dir;
  fs::path file = dir.path() / "ferry.db";
  ASSERT_NO_FATAL_FAILURE(WriteChatAndMessages(file, 3));
  const std::string sha(64, 'e');
  // What version 2 wrote: the same tables, line formats in two columns.
  const std::string v2 =
      "UPDATE inbox SET event = '" + std::string(kLineCreatedEvent) +
      "' WHERE kind = 1;"
      "UPDATE messages SET attachments = 'a1 7 " +
      sha +
      " text/plain; charset=utf-8' || char(10) ||"
      " 'a2 0 - image/png' WHERE message_id = 'm1';"
      "UPDATE messages SET attachments = 'a3 5 application/x-old format' WHERE message_id = 'm2';"
      "UPDATE messages SET attachments = '' WHERE message_id = 'm3';"
      "PRAGMA user_version=2;";
  ASSERT_TRUE(ExecSql(file, v2.c_str()));
  ASSERT_EQ(QueryText(file, "SELECT attachments FROM messages WHERE message_id = 'm2'"),
            "a3 5 application/x-old format");

  auto store = OpenAt(file);
  ASSERT_NE(store, nullptr);
  EXPECT_EQ(QueryText(file, "PRAGMA user_version"), "5");
  auto page = store->ReadInbox("bob-phone", 0, 10);
  ASSERT_TRUE(page);
  ASSERT_EQ(page->entries.size(), 4u);
  ExpectCreatedEvent(*page);
  const auto& m1 = std::get<Message>(page->entries[1].item);
  EXPECT_EQ(m1.body, "b1");
  ASSERT_EQ(m1.attachments.size(), 2u);
  EXPECT_EQ(m1.attachments[0].attachment_id, "a1");
  EXPECT_EQ(m1.attachments[0].size, 7);
  EXPECT_EQ(m1.attachments[0].sha256, sha);
  EXPECT_EQ(m1.attachments[0].content_type, "text/plain; charset=utf-8");
  EXPECT_EQ(m1.attachments[1].attachment_id, "a2");
  EXPECT_EQ(m1.attachments[1].sha256, "");
  EXPECT_EQ(m1.attachments[1].content_type, "image/png");
  const auto& m2 = std::get<Message>(page->entries[2].item);
  ASSERT_EQ(m2.attachments.size(), 1u);
  EXPECT_EQ(m2.attachments[0].size, 5);
  EXPECT_EQ(m2.attachments[0].sha256, "");
  EXPECT_EQ(m2.attachments[0].content_type, "application/x-old format");
  EXPECT_THAT(std::get<Message>(page->entries[3].item).attachments, ::testing::IsEmpty());

  // The columns themselves now hold the JSON, as the PostgreSQL store's do.
  EXPECT_THAT(QueryColumn(file, "SELECT event FROM inbox WHERE kind = 1", 0),
              ::testing::ElementsAre(kJsonCreatedEvent));
  EXPECT_THAT(
      QueryColumn(file, "SELECT attachments FROM messages ORDER BY message_id", 0),
      ::testing::ElementsAre(
          R"([{"attachmentId":"a1","contentType":"text/plain; charset=utf-8","size":7,"sha256":")" +
              sha + R"("},{"attachmentId":"a2","contentType":"image/png","size":0,"sha256":""}])",
          R"([{"attachmentId":"a3","contentType":"application/x-old format","size":5,"sha256":""}])",
          "[]"));
}

// A version 2 value that is not in its line format fails the open, and the
// migration's transaction leaves the database as it was, still version 2.
TEST(SqliteStore, FailedMigrationChangesNothing) {
  TempDir dir;
  fs::path file = dir.path() / "ferry.db";
  ASSERT_NO_FATAL_FAILURE(WriteChatAndMessages(file, 1));
  ASSERT_TRUE(ExecSql(file,
                      "UPDATE messages SET attachments = 'a1 7 - image/png';"
                      "UPDATE inbox SET event = 'not an event' WHERE kind = 1;"
                      "PRAGMA user_version=2;"));
  auto store = OpenSqliteStore(SqliteOptions{file.string()});
  ASSERT_FALSE(store);
  EXPECT_EQ(ToErrc(store.error()), Errc::unavailable);
  EXPECT_EQ(QueryText(file, "PRAGMA user_version"), "2");
  EXPECT_EQ(QueryText(file, "SELECT attachments FROM messages"), "a1 7 - image/png");
  EXPECT_EQ(QueryText(file, "SELECT event FROM inbox WHERE kind = 1"), "not an event");
}

TEST(SqliteLegacy, LineChatEvent) {
  std::optional<ChatEvent> event = sqlite::legacy::DecodeLineChatEvent("c\nremoved\nbob\n-5");
  ASSERT_TRUE(event);
  EXPECT_EQ(event->chat_id, "c");
  EXPECT_EQ(event->event, "removed");
  EXPECT_EQ(event->by, "bob");
  EXPECT_EQ(event->ts, -5);
  EXPECT_THAT(event->members, ::testing::IsEmpty());
  EXPECT_FALSE(sqlite::legacy::DecodeLineChatEvent(""));
  EXPECT_FALSE(sqlite::legacy::DecodeLineChatEvent("c\ncreated\nbob"));
  EXPECT_FALSE(sqlite::legacy::DecodeLineChatEvent("c\ncreated\nbob\n12x\nalice"));
  EXPECT_FALSE(sqlite::legacy::DecodeLineChatEvent(kJsonCreatedEvent));
}

TEST(SqliteLegacy, LineAttachments) {
  const std::string sha(64, '0');
  auto list = sqlite::legacy::DecodeLineAttachments("x 1 " + sha + " a b  c \ny 2 - \nz 3 -");
  ASSERT_TRUE(list);
  ASSERT_EQ(list->size(), 3u);
  EXPECT_EQ((*list)[0].sha256, sha);
  EXPECT_EQ((*list)[0].content_type, "a b  c ");
  EXPECT_EQ((*list)[1].sha256, "");
  EXPECT_EQ((*list)[1].content_type, "");
  // No space after "-": the older form, whose content type was "-".
  EXPECT_EQ((*list)[2].sha256, "");
  EXPECT_EQ((*list)[2].content_type, "-");
  // The older form with a space in the content type.
  auto old = sqlite::legacy::DecodeLineAttachments("w 4 text/plain; q=1");
  ASSERT_TRUE(old);
  ASSERT_EQ(old->size(), 1u);
  EXPECT_EQ((*old)[0].sha256, "");
  EXPECT_EQ((*old)[0].content_type, "text/plain; q=1");
  EXPECT_TRUE(sqlite::legacy::DecodeLineAttachments("")->empty());
  EXPECT_FALSE(sqlite::legacy::DecodeLineAttachments("id notanumber - type"));
  EXPECT_FALSE(sqlite::legacy::DecodeLineAttachments("id 1"));
  EXPECT_FALSE(sqlite::legacy::DecodeLineAttachments("id 1 - type\nbroken"));
  EXPECT_FALSE(sqlite::legacy::DecodeLineAttachments("[]"));
}

// A version 3 database gains the inline columns; its messages keep their
// `messages` rows and reference counts, read and release as before, and
// the seqs go on from where they were.
TEST(SqliteStore, MigratesSchemaVersion3) {
  TempDir dir;
  fs::path file = dir.path() / "ferry.db";
  ASSERT_NO_FATAL_FAILURE(WriteChatAndMessages(file, 2));
  ASSERT_EQ(QueryText(file, "SELECT count(*) FROM messages"), "2");
  auto store = OpenAt(file);
  ASSERT_NE(store, nullptr);
  EXPECT_EQ(QueryText(file, "PRAGMA user_version"), "5");
  auto page = store->ReadInbox("bob-phone", 0, 10);
  ASSERT_TRUE(page);
  EXPECT_EQ(page->head, 3);
  ASSERT_EQ(page->entries.size(), 3u);
  ExpectCreatedEvent(*page);
  EXPECT_EQ(std::get<Message>(page->entries[2].item).body, "b2");

  AckOp ack{"bob-phone", 2};
  SendOp send = AliceSends(3, "b3");
  ASSERT_TRUE(store->WriteBatch(std::vector<WriteOp>{&ack, &send}));
  ASSERT_EQ(send.deliveries.size(), 1u);
  EXPECT_EQ(send.deliveries[0].seq, 4);
  EXPECT_EQ(QueryText(file, "SELECT group_concat(message_id) FROM messages"), "m2");
  EXPECT_EQ(QueryText(file, "SELECT kind FROM inbox WHERE seq = 4"), "2");
  page = store->ReadInbox("bob-phone", 0, 10);
  ASSERT_EQ(page->entries.size(), 2u);
  EXPECT_EQ(std::get<Message>(page->entries[0].item).body, "b2");
  EXPECT_EQ(std::get<Message>(page->entries[1].item).body, "b3");
}

// A version 4 database gains the receipts, privacy and meta tables; its
// entries and seqs are as they were, and marks work at once.
TEST(SqliteStore, MigratesSchemaVersion4) {
  TempDir dir;
  fs::path file = dir.path() / "ferry.db";
  {
    auto store = OpenWithAliceAndBob(file);
    ASSERT_NE(store, nullptr);
    ChatOp create = AliceBobChat();
    SendOp m1 = AliceSends(1, "b1");
    ASSERT_TRUE(store->WriteBatch(std::vector<WriteOp>{&create, &m1}));
  }
  ASSERT_NO_FATAL_FAILURE(DowngradeToVersion4(file));
  auto store = OpenAt(file);
  ASSERT_NE(store, nullptr);
  EXPECT_EQ(QueryText(file, "PRAGMA user_version"), "5");
  auto page = store->ReadInbox("bob-phone", 0, 10);
  ASSERT_TRUE(page);
  ASSERT_EQ(page->head, 2);
  AckOp ack{"bob-phone", 2, "bob"};
  ASSERT_TRUE(store->WriteBatch(std::vector<WriteOp>{&ack}));
  ASSERT_EQ(ack.moved.size(), 1u);
  EXPECT_EQ(ack.moved[0].chat_id, AliceBobChat().chat_id);
  EXPECT_EQ(store->GetPrivacy("bob")->read_receipts, true);
}

// A message with one recipient client lives in that client's entry alone:
// no `messages` row, every field read back, gone with the ack. With a
// second recipient client it is shared again.
TEST(SqliteStore, MessageOfOneRecipientIsInline) {
  TempDir dir;
  fs::path file = dir.path() / "ferry.db";
  auto store = OpenWithAliceAndBob(file);
  ASSERT_NE(store, nullptr);
  ChatOp create = AliceBobChat();
  SendOp send;
  send.message = Message{"m1", "c1", "alice", "alice-x", "cm1", kNow + 5, "hi\nthere", {}};
  send.expires = kExpires;
  ASSERT_TRUE(store->WriteBatch(std::vector<WriteOp>{&create, &send}));
  ASSERT_EQ(send.status, Errc::ok);
  EXPECT_EQ(QueryText(file, "SELECT count(*) FROM messages"), "0");
  EXPECT_EQ(QueryText(file, "SELECT kind FROM inbox WHERE seq = 2"), "2");
  auto page = store->ReadInbox("bob-phone", 1, 10);
  ASSERT_TRUE(page);
  ASSERT_EQ(page->entries.size(), 1u);
  const auto& m = std::get<Message>(page->entries[0].item);
  EXPECT_EQ(m.message_id, "m1");
  EXPECT_EQ(m.chat_id, "c1");
  EXPECT_EQ(m.sender, "alice");
  EXPECT_EQ(m.sender_client, "alice-x");
  EXPECT_EQ(m.client_msg_id, "cm1");
  EXPECT_EQ(m.ts, kNow + 5);
  EXPECT_EQ(m.body, "hi\nthere");
  EXPECT_THAT(m.attachments, ::testing::IsEmpty());

  AckOp ack{"bob-phone", 2};
  ASSERT_TRUE(store->WriteBatch(std::vector<WriteOp>{&ack}));
  EXPECT_EQ(QueryText(file, "SELECT count(*) FROM inbox"), "0");

  ASSERT_EQ(store->Login({"bob", "laptop", "tok2", "bob-laptop", "e2", 3, kNow})->status, Errc::ok);
  SendOp shared = AliceSends(2, "both");
  ASSERT_TRUE(store->WriteBatch(std::vector<WriteOp>{&shared}));
  EXPECT_EQ(shared.deliveries.size(), 2u);  // the new client is a recipient at once
  EXPECT_EQ(QueryText(file, "SELECT refs FROM messages WHERE message_id = 'm2'"), "2");
}

// The store keeps heads in memory; clients.head_seq is only a lower bound.
// Once every entry is acked and deleted, a reopened store must still not
// hand out a seq again.
TEST(SqliteStore, HeadSurvivesAckOfEverythingAndReopen) {
  TempDir dir;
  fs::path file = dir.path() / "ferry.db";
  {
    auto store = OpenWithAliceAndBob(file);
    ASSERT_NE(store, nullptr);
    ChatOp create = AliceBobChat();
    SendOp send = AliceSends(1, "b1");
    AckOp ack{"bob-phone", 100};
    ASSERT_TRUE(store->WriteBatch(std::vector<WriteOp>{&create, &send, &ack}));
    EXPECT_EQ(ack.acked, 2);
  }
  EXPECT_EQ(QueryText(file, "SELECT count(*) FROM inbox"), "0");
  auto store = OpenAt(file);
  ASSERT_NE(store, nullptr);
  EXPECT_EQ(store->Authenticate("tok")->head_seq, 2);
  EXPECT_EQ(store->ReadInbox("bob-phone", 0, 10)->head, 2);
  SendOp next = AliceSends(2, "b2");
  ASSERT_TRUE(store->WriteBatch(std::vector<WriteOp>{&next}));
  ASSERT_EQ(next.deliveries.size(), 1u);
  EXPECT_EQ(next.deliveries[0].seq, 3);
}

// Likewise when the entries go unacked, expired by Sweep.
TEST(SqliteStore, HeadSurvivesSweepOfUnackedEntriesAndReopen) {
  TempDir dir;
  fs::path file = dir.path() / "ferry.db";
  {
    auto store = OpenWithAliceAndBob(file);
    ASSERT_NE(store, nullptr);
    ChatOp create = AliceBobChat();
    SendOp send = AliceSends(1, "b1");
    ASSERT_TRUE(store->WriteBatch(std::vector<WriteOp>{&create, &send}));
    auto swept = store->Sweep(kFarFuture);
    ASSERT_TRUE(swept);
    EXPECT_EQ(swept->inbox_deleted, 2);
    EXPECT_EQ(swept->messages_deleted, 1);  // the inline message went with its entry
  }
  EXPECT_EQ(QueryText(file, "SELECT count(*) FROM inbox"), "0");
  auto store = OpenAt(file);
  ASSERT_NE(store, nullptr);
  EXPECT_EQ(store->ReadInbox("bob-phone", 0, 10)->head, 2);
  SendOp next = AliceSends(2, "b2", kFarFuture + 1);
  ASSERT_TRUE(store->WriteBatch(std::vector<WriteOp>{&next}));
  ASSERT_EQ(next.deliveries.size(), 1u);
  EXPECT_EQ(next.deliveries[0].seq, 3);
}

TEST(SqliteStore, RefusesNewerSchema) {
  TempDir dir;
  fs::path file = dir.path() / "ferry.db";
  ASSERT_NE(OpenAt(file), nullptr);
  QueryText(file, "PRAGMA user_version=99");
  auto store = OpenSqliteStore(SqliteOptions{file.string()});
  ASSERT_FALSE(store);
  EXPECT_EQ(ToErrc(store.error()), Errc::unavailable);
}

TEST(SqliteStore, UnopenablePathIsUnavailable) {
  TempDir dir;
  auto missing_dir = OpenSqliteStore(SqliteOptions{(dir.path() / "no/such/dir.db").string()});
  ASSERT_FALSE(missing_dir);
  EXPECT_EQ(ToErrc(missing_dir.error()), Errc::unavailable);

  fs::path junk = dir.path() / "junk.db";
  std::ofstream(junk) << std::string(4096, 'x');
  auto not_a_db = OpenSqliteStore(SqliteOptions{junk.string()});
  ASSERT_FALSE(not_a_db);
  EXPECT_EQ(ToErrc(not_a_db.error()), Errc::unavailable);
}

TEST(SqliteStore, InMemoryDatabaseWorks) {
  auto store = OpenSqliteStore(SqliteOptions{":memory:"});
  ASSERT_TRUE(store);
  EXPECT_TRUE((*store)->CreateUser("alice", "h", kNow));
  EXPECT_EQ(*(*store)->PasswordHash("alice"), "h");
}

}  // namespace
}  // namespace ferry::store_test
