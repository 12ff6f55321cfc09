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
// - inbox rows carry either a message_id (kind 0) or an encoded chat event
//   (kind 1; see EncodeChatEvent in sqlite_write_batch.cc), plus created and
//   expires for Stats and Sweep.
// - messages.attachments holds the message's AttachmentRefs in the text form
//   of EncodeAttachments (sqlite_schema.h).
// - attachments.unfetched counts the recipient rows not yet fetched, kept in
//   step with attachment_recipients by every writer, so DeadAttachments is
//   two index searches (expires; state + unfetched) rather than a scan with
//   a join. attachment_recipients is keyed by attachment for RecordFetch and
//   DeleteAttachments and indexed by client for DeleteClient.
#include "store/sqlite/sqlite_schema.h"

#include <charconv>
#include <string>
#include <vector>

#include "common/log.h"
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
  client_id  TEXT NOT NULL,
  seq        INTEGER NOT NULL,
  kind       INTEGER NOT NULL,
  message_id TEXT,
  event      TEXT,
  created    INTEGER NOT NULL,
  expires    INTEGER NOT NULL,
  PRIMARY KEY(client_id, seq)
) WITHOUT ROWID;
CREATE INDEX inbox_by_expiry ON inbox(expires);

CREATE TABLE last_seen(
  user TEXT PRIMARY KEY,
  ts   INTEGER NOT NULL
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
    if (version == 0) {
      Exec(db, kSchema);
      Exec(db, kAttachmentSchema);
      Exec(db, ("PRAGMA user_version=" + std::to_string(kSchemaVersion)).c_str());
    } else if (version == 1) {
      // Version 1 kept messages.attachments as opaque JSON from service/;
      // those references are dropped (there was no blob store behind them).
      Exec(db, kAttachmentSchema);
      Exec(db, "UPDATE messages SET attachments = '' WHERE attachments <> ''");
      Exec(db, ("PRAGMA user_version=" + std::to_string(kSchemaVersion)).c_str());
      log::Info("sqlite: migrated schema 1 -> ", kSchemaVersion);
    } else if (version != kSchemaVersion) {
      throw SqliteError(SQLITE_ERROR, "schema version " + std::to_string(version) +
                                          " is not supported (this build knows " +
                                          std::to_string(kSchemaVersion) + ")");
    }
    Exec(db, "COMMIT");
  } catch (const SqliteError&) {
    if (!sqlite3_get_autocommit(db)) sqlite3_exec(db, "ROLLBACK", nullptr, nullptr, nullptr);
    throw;
  }
}

std::string EncodeChatEvent(const ChatEvent& event) {
  std::string text;
  text.reserve(64 + event.members.size() * 16);
  for (std::string_view field : {std::string_view(event.chat_id), std::string_view(event.event),
                                 std::string_view(event.by)}) {
    text += field;
    text += '\n';
  }
  text += std::to_string(event.ts);
  for (const std::string& member : event.members) {
    text += '\n';
    text += member;
  }
  return text;
}

ChatEvent DecodeChatEvent(std::string_view text) {
  std::vector<std::string_view> fields;
  for (std::size_t start = 0;;) {
    std::size_t end = text.find('\n', start);
    fields.push_back(text.substr(start, end - start));
    if (end == std::string_view::npos) break;
    start = end + 1;
  }
  ChatEvent event;
  if (fields.size() < 4 ||
      std::from_chars(fields[3].data(), fields[3].data() + fields[3].size(), event.ts).ec !=
          std::errc()) {
    throw SqliteError(SQLITE_CORRUPT, "malformed chat event in inbox");
  }
  event.chat_id = fields[0];
  event.event = fields[1];
  event.by = fields[2];
  event.members.assign(fields.begin() + 4, fields.end());
  return event;
}

std::string EncodeAttachments(const std::vector<AttachmentRef>& attachments) {
  std::string text;
  for (const AttachmentRef& a : attachments) {
    if (!text.empty()) text += '\n';
    text += a.attachment_id;
    text += ' ';
    text += std::to_string(a.size);
    text += ' ';
    text += a.sha256.empty() ? "-" : a.sha256;  // hex never contains a space
    text += ' ';
    text += a.content_type;
  }
  return text;
}

std::vector<AttachmentRef> DecodeAttachments(std::string_view text) {
  std::vector<AttachmentRef> attachments;
  if (text.empty()) return attachments;
  for (std::size_t start = 0;;) {
    std::size_t end = text.find('\n', start);
    std::string_view line = text.substr(start, end == std::string_view::npos ? end : end - start);
    std::size_t id_end = line.find(' ');
    std::size_t size_end = id_end == std::string_view::npos ? id_end : line.find(' ', id_end + 1);
    std::size_t sha_end = size_end == std::string_view::npos ? size_end : line.find(' ', size_end + 1);
    AttachmentRef ref;
    if (sha_end == std::string_view::npos ||
        std::from_chars(line.data() + id_end + 1, line.data() + size_end, ref.size).ec !=
            std::errc()) {
      throw SqliteError(SQLITE_CORRUPT, "malformed attachment list in messages");
    }
    ref.attachment_id = line.substr(0, id_end);
    std::string_view sha = line.substr(size_end + 1, sha_end - size_end - 1);
    if (sha != "-") ref.sha256 = sha;
    ref.content_type = line.substr(sha_end + 1);
    attachments.push_back(std::move(ref));
    if (end == std::string_view::npos) break;
    start = end + 1;
  }
  return attachments;
}

}  // namespace ferry::sqlite
