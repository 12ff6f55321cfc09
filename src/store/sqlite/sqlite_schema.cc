// Schema and connection settings of the embedded store.
//
// Layout choices, beyond ARCHITECTURE.md "Data":
// - Small, key-addressed tables are WITHOUT ROWID so the primary key is the
//   table (one B-tree per insert instead of two). `messages` keeps a rowid
//   because bodies can be large (WITHOUT ROWID suits rows far below a page);
//   `clients` keeps one so ORDER BY rowid lists a user's clients in the
//   order they were created.
// - send_ids is apart from messages: the idempotency record must outlive the
//   message, which is deleted once every recipient acknowledged it.
// - inbox rows carry a message_id (kind 0, the message in `messages`), a
//   chat event (kind 1) in the JSON of record_codec.h, or a whole message
//   (kind 2, "inline"), plus created and expires for Stats and Sweep. A
//   message with one recipient client, the common 1:1 case, is written
//   inline: its entry is its only copy, so there is no `messages` row to
//   insert, count references to and delete (its ts is `created`).
// - clients.head_seq is a lower bound: the store's single writer keeps the
//   head seqs in memory and a client's true head is the largest of
//   head_seq, acked_seq and its inbox's highest seq. Every path that deletes
//   entries keeps it: an ack raises acked_seq in the same commit, Sweep
//   raises head_seq to the seq of the unacked entries it expires.
// - messages.attachments holds the message's AttachmentRefs, also in the
//   JSON of record_codec.h: the same bytes as the PostgreSQL store's jsonb.
// - attachments.unfetched counts the recipient rows not yet fetched, kept in
//   step with attachment_recipients by every writer, so DeadAttachments is
//   two index searches (expires; state + unfetched) rather than a scan with
//   a join. attachment_recipients is keyed by attachment for RecordFetch and
//   DeleteAttachments and indexed by client for DeleteClient.
#include "store/sqlite/sqlite_schema.h"

#include <optional>
#include <string>
#include <vector>

#include "common/log.h"
#include "store/record_codec.h"
#include "store/sqlite/sqlite_legacy.h"
#include "store/sqlite/sqlite_statement.h"

namespace ferry::sqlite {
namespace {

constexpr const char* kSchema = R"sql(
CREATE TABLE users(
  user          TEXT PRIMARY KEY,
  password_hash TEXT NOT NULL,
  created       INTEGER NOT NULL
) WITHOUT ROWID;

CREATE TABLE clients(
  client_id   TEXT PRIMARY KEY,
  user        TEXT NOT NULL,
  device      TEXT NOT NULL,
  head_seq    INTEGER NOT NULL DEFAULT 0,
  acked_seq   INTEGER NOT NULL DEFAULT 0,
  epoch       TEXT NOT NULL,
  last_active INTEGER NOT NULL,
  active      INTEGER NOT NULL DEFAULT 1
);
CREATE INDEX clients_by_user ON clients(user);

CREATE TABLE tokens(
  token_hash TEXT PRIMARY KEY,
  client_id  TEXT NOT NULL
) WITHOUT ROWID;
CREATE INDEX tokens_by_client ON tokens(client_id);

CREATE TABLE chats(
  chat_id    TEXT PRIMARY KEY,
  name       TEXT NOT NULL,
  created_by TEXT NOT NULL,
  created    INTEGER NOT NULL
) WITHOUT ROWID;

CREATE TABLE members(
  chat_id TEXT NOT NULL,
  user    TEXT NOT NULL,
  PRIMARY KEY(chat_id, user)
) WITHOUT ROWID;
CREATE INDEX members_by_user ON members(user, chat_id);

CREATE TABLE messages(
  message_id    TEXT PRIMARY KEY,
  chat_id       TEXT NOT NULL,
  sender        TEXT NOT NULL,
  sender_client TEXT NOT NULL,
  client_msg_id TEXT NOT NULL,
  ts            INTEGER NOT NULL,
  body          TEXT NOT NULL,
  attachments   TEXT NOT NULL,
  refs          INTEGER NOT NULL,
  expires       INTEGER NOT NULL
);
CREATE INDEX messages_by_expiry ON messages(expires);

CREATE TABLE send_ids(
  sender_client TEXT NOT NULL,
  client_msg_id TEXT NOT NULL,
  message_id    TEXT NOT NULL,
  ts            INTEGER NOT NULL,
  expires       INTEGER NOT NULL,
  PRIMARY KEY(sender_client, client_msg_id)
) WITHOUT ROWID;
CREATE INDEX send_ids_by_expiry ON send_ids(expires);

CREATE TABLE inbox(
  client_id     TEXT NOT NULL,
  seq           INTEGER NOT NULL,
  kind          INTEGER NOT NULL,
  message_id    TEXT,
  event         TEXT,
  created       INTEGER NOT NULL,
  expires       INTEGER NOT NULL,
  chat_id       TEXT,
  sender        TEXT,
  sender_client TEXT,
  client_msg_id TEXT,
  body          TEXT,
  attachments   TEXT,
  PRIMARY KEY(client_id, seq)
) WITHOUT ROWID;
CREATE INDEX inbox_by_expiry ON inbox(expires);

CREATE TABLE last_seen(
  user TEXT PRIMARY KEY,
  ts   INTEGER NOT NULL
) WITHOUT ROWID;
)sql";

// Added in version 5 (protocol v1.1). receipts: per (chat, member) the two
// marks, and the last position a `receipt` entry reported for each (the
// *_sent columns), so receipts only ever go up; (0, '') is no position.
// privacy: a row only for users who changed a setting. meta: named secrets.
constexpr const char* kReceiptSchema = R"sql(
CREATE TABLE receipts(
  chat_id           TEXT NOT NULL,
  user              TEXT NOT NULL,
  delivered_ts      INTEGER NOT NULL DEFAULT 0,
  delivered_id      TEXT NOT NULL DEFAULT '',
  read_ts           INTEGER NOT NULL DEFAULT 0,
  read_id           TEXT NOT NULL DEFAULT '',
  delivered_sent_ts INTEGER NOT NULL DEFAULT 0,
  delivered_sent_id TEXT NOT NULL DEFAULT '',
  read_sent_ts      INTEGER NOT NULL DEFAULT 0,
  read_sent_id      TEXT NOT NULL DEFAULT '',
  PRIMARY KEY(chat_id, user)
) WITHOUT ROWID;

CREATE TABLE privacy(
  user              TEXT PRIMARY KEY,
  read_receipts     INTEGER NOT NULL,
  last_seen_visible INTEGER NOT NULL
) WITHOUT ROWID;

CREATE TABLE meta(
  name  TEXT PRIMARY KEY,
  value TEXT NOT NULL
) WITHOUT ROWID;
)sql";

// Added in version 2; also what a version 1 database gains on migration.
constexpr const char* kAttachmentSchema = R"sql(
CREATE TABLE attachments(
  attachment_id TEXT PRIMARY KEY,
  owner         TEXT NOT NULL,
  content_type  TEXT NOT NULL,
  size          INTEGER NOT NULL,
  sha256        TEXT NOT NULL,
  state         INTEGER NOT NULL,
  message_id    TEXT NOT NULL,
  created       INTEGER NOT NULL,
  expires       INTEGER NOT NULL,
  unfetched     INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX attachments_by_expiry ON attachments(expires);
CREATE INDEX attachments_by_unfetched ON attachments(state, unfetched);

CREATE TABLE attachment_recipients(
  attachment_id TEXT NOT NULL,
  client_id     TEXT NOT NULL,
  fetched       INTEGER NOT NULL,
  PRIMARY KEY(attachment_id, client_id)
) WITHOUT ROWID;
CREATE INDEX attachment_recipients_by_client ON attachment_recipients(client_id);
)sql";

int UserVersion(sqlite3* db) {
  Statement statement(db, "PRAGMA user_version");
  Cursor cursor(statement);
  return cursor.Next() ? static_cast<int>(cursor.Int(0)) : 0;
}

// Version 1 kept messages.attachments as opaque JSON from service/; those
// references are dropped (there was no blob store behind them). Version 2
// reads "" as no attachments.
void MigrateToVersion2(sqlite3* db) {
  Exec(db, kAttachmentSchema);
  Exec(db, "UPDATE messages SET attachments = '' WHERE attachments <> ''");
}

// The SQL functions of MigrateToVersion3: the legacy line text of their one
// argument as record_codec JSON, or an error that fails the UPDATE (and so
// the migration) if it is not in the line format.
template <class T>
void LineToJson(sqlite3_context* context, sqlite3_value* arg,
                std::optional<T> (*decode)(std::string_view), std::string (*encode)(const T&),
                const char* column) {
  const auto* text = reinterpret_cast<const char*>(sqlite3_value_text(arg));
  std::optional<T> value;
  if (text != nullptr) value = decode(std::string_view(text, sqlite3_value_bytes(arg)));
  if (!value) {
    std::string error = std::string(column) + " is not in the version 2 line format";
    sqlite3_result_error(context, error.c_str(), -1);
    return;
  }
  std::string json = encode(*value);
  sqlite3_result_text64(context, json.data(), json.size(), SQLITE_TRANSIENT, SQLITE_UTF8);
}

void ChatEventLineToJson(sqlite3_context* context, int, sqlite3_value** args) {
  LineToJson<ChatEvent>(context, args[0], legacy::DecodeLineChatEvent,
                        record_codec::EncodeChatEvent, "inbox.event");
}

void AttachmentsLineToJson(sqlite3_context* context, int, sqlite3_value** args) {
  LineToJson<std::vector<AttachmentRef>>(context, args[0], legacy::DecodeLineAttachments,
                                         record_codec::EncodeAttachments, "messages.attachments");
}

// Registers one of the functions above on `db` for its lifetime.
class ScopedSqlFunction {
 public:
  ScopedSqlFunction(sqlite3* db, const char* name,
                    void (*function)(sqlite3_context*, int, sqlite3_value**))
      : db_(db), name_(name) {
    int rc = sqlite3_create_function_v2(db, name, 1, SQLITE_UTF8 | SQLITE_DETERMINISTIC, nullptr,
                                        function, nullptr, nullptr, nullptr);
    if (rc != SQLITE_OK) Fail(db, rc, std::string("create function ") + name);
  }
  ~ScopedSqlFunction() {
    sqlite3_create_function_v2(db_, name_, 1, SQLITE_UTF8, nullptr, nullptr, nullptr, nullptr,
                               nullptr);
  }
  ScopedSqlFunction(const ScopedSqlFunction&) = delete;
  ScopedSqlFunction& operator=(const ScopedSqlFunction&) = delete;

 private:
  sqlite3* db_;
  const char* name_;
};

// Version 4 adds the inline message columns to inbox (kind 2). Version 3
// rows keep their kinds and read as before.
void MigrateToVersion4(sqlite3* db) {
  for (const char* column :
       {"chat_id", "sender", "sender_client", "client_msg_id", "body", "attachments"}) {
    Exec(db, (std::string("ALTER TABLE inbox ADD COLUMN ") + column + " TEXT").c_str());
  }
}

// Version 3 keeps inbox.event and messages.attachments as the JSON of
// record_codec.h instead of line formats, as the PostgreSQL store does.
// Rewritten in SQL, row by row inside SQLite, so that a large database is
// not held in memory; a value that does not decode fails the UPDATE, and
// EnsureSchema's transaction leaves the database as it was.
void MigrateToVersion3(sqlite3* db) {
  ScopedSqlFunction event(db, "ferry_v2_chat_event_to_json", ChatEventLineToJson);
  ScopedSqlFunction attachments(db, "ferry_v2_attachments_to_json", AttachmentsLineToJson);
  Exec(db, ("UPDATE inbox SET event = ferry_v2_chat_event_to_json(event) WHERE kind = " +
            std::to_string(kKindChatEvent))
               .c_str());
  Exec(db, "UPDATE messages SET attachments = ferry_v2_attachments_to_json(attachments)");
}

}  // namespace

void ConfigureConnection(sqlite3* db) {
  // synchronous=FULL in WAL mode fsyncs the log at every commit, so a
  // committed WriteBatch survives power loss, not only a process crash.
  Exec(db,
       "PRAGMA synchronous=FULL;"
       "PRAGMA busy_timeout=5000;"
       "PRAGMA cache_size=-65536;"  // 64 MiB: the hot inbox tail stays cached
       "PRAGMA temp_store=MEMORY;"
       "PRAGMA foreign_keys=OFF;");
  Statement wal(db, "PRAGMA journal_mode=WAL");
  Cursor cursor(wal);
  std::string mode = cursor.Next() ? cursor.Text(0) : "";
  // ":memory:" databases answer "memory"; a file system without shared
  // memory keeps a rollback journal, which is slower but still durable.
  if (mode != "wal" && mode != "memory") {
    log::Warn("sqlite: journal_mode is ", mode, ", not wal");
  }
}

void EnsureSchema(sqlite3* db) {
  Exec(db, "BEGIN IMMEDIATE");
  try {
    int version = UserVersion(db);
    if (version < 0 || version > kSchemaVersion) {
      throw SqliteError(SQLITE_ERROR, "schema version " + std::to_string(version) +
                                          " is not supported (this build knows " +
                                          std::to_string(kSchemaVersion) + ")");
    }
    if (version == 0) {
      Exec(db, kSchema);
      Exec(db, kAttachmentSchema);
      Exec(db, kReceiptSchema);
    } else {
      if (version < 2) MigrateToVersion2(db);
      if (version < 3) MigrateToVersion3(db);
      if (version < 4) MigrateToVersion4(db);
      if (version < 5) Exec(db, kReceiptSchema);
    }
    if (version != kSchemaVersion) {
      Exec(db, ("PRAGMA user_version=" + std::to_string(kSchemaVersion)).c_str());
    }
    Exec(db, "COMMIT");
    if (version != 0 && version != kSchemaVersion) {
      log::Info("sqlite: migrated schema ", version, " -> ", kSchemaVersion);
    }
  } catch (...) {
    if (!sqlite3_get_autocommit(db)) sqlite3_exec(db, "ROLLBACK", nullptr, nullptr, nullptr);
    throw;
  }
}

}  // namespace ferry::sqlite
