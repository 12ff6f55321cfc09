// Schema and migrations of the PostgreSQL store.
//
// Layout choices, beyond ARCHITECTURE.md "Data" (and as in the SQLite
// backend where nothing below says otherwise):
// - Identifier columns are text COLLATE "C": byte order, the order the C++
//   code sorts in, the same on every server whatever its locale, and the
//   cheapest comparison. "user" is quoted: it is a reserved word here.
// - clients.created_order (an identity column) stands in for SQLite's rowid:
//   ListClients lists a user's clients in the order they were created.
//   fillfactor 80 leaves room on each page, so the updates of head_seq,
//   acked_seq and last_active on every send, ack and connect stay HOT (no
//   index entry per update). A partial unique index allows one active client
//   per (user, device): Login's user lock already guarantees it, and a bug
//   there would show up as a conflict, not as two clients.
// - send_ids is apart from messages: the idempotency record must outlive the
//   message, which goes once every recipient acknowledged it. Its primary
//   key is what makes a send retried on two nodes at once land once.
// - inbox rows carry either a message_id (kind 0), the chat event as jsonb
//   (kind 1) or, since version 2, a whole message of one recipient client
//   in their own columns (kind 2, "inline": no messages row, no reference
//   count), enforced by a CHECK; messages.attachments is jsonb too, so
//   what the database holds can be read with any SQL client. Both hold the
//   JSON of record_codec.h, the same as the SQLite store's text columns.
// - receipts (since version 3) holds a member's two marks in a chat and the
//   last position a `receipt` entry was written for, per mark; a position
//   is (ts, message id), "none" is (0, '') so that row comparisons order
//   it below every message without NULL cases. Marks are raised by every
//   ack, so the table is updated as often as clients: fillfactor 80, and
//   no index but the key, keeps those updates HOT. privacy holds only the
//   users who changed a setting; meta holds deployment-wide values
//   (Secret). A receipt inbox entry (kind 3) carries the receipt's JSON in
//   event, like a chat event.
// - attachments.unfetched counts the recipient rows not yet fetched, kept in
//   step by every writer (see postgres_queries.cc), so DeadAttachments is two
//   index searches rather than a join.
#include "store/postgres/postgres_schema.h"

#include <string>

#include "common/log.h"

namespace ferry::postgres {
namespace {

struct Migration {
  int version;
  const char* description;
  const char* sql;
};

constexpr Migration kMigrations[] = {
    {1, "initial schema", R"sql(
CREATE TABLE users(
  "user"        text COLLATE "C" PRIMARY KEY,
  password_hash text NOT NULL,
  created       bigint NOT NULL
);

CREATE TABLE clients(
  client_id     text COLLATE "C" PRIMARY KEY,
  "user"        text COLLATE "C" NOT NULL,
  device        text COLLATE "C" NOT NULL,
  head_seq      bigint NOT NULL DEFAULT 0,
  acked_seq     bigint NOT NULL DEFAULT 0,
  epoch         text NOT NULL,
  last_active   bigint NOT NULL,
  active        boolean NOT NULL DEFAULT true,
  created_order bigint GENERATED ALWAYS AS IDENTITY
) WITH (fillfactor = 80);
CREATE INDEX clients_by_user ON clients("user");
CREATE UNIQUE INDEX clients_active_device ON clients("user", device) WHERE active;

CREATE TABLE tokens(
  token_hash text COLLATE "C" PRIMARY KEY,
  client_id  text COLLATE "C" NOT NULL
);
CREATE INDEX tokens_by_client ON tokens(client_id);

CREATE TABLE chats(
  chat_id    text COLLATE "C" PRIMARY KEY,
  name       text NOT NULL,
  created_by text COLLATE "C" NOT NULL,
  created    bigint NOT NULL
);

CREATE TABLE members(
  chat_id text COLLATE "C" NOT NULL,
  "user"  text COLLATE "C" NOT NULL,
  PRIMARY KEY(chat_id, "user")
);
CREATE INDEX members_by_user ON members("user", chat_id);

CREATE TABLE messages(
  message_id    text COLLATE "C" PRIMARY KEY,
  chat_id       text COLLATE "C" NOT NULL,
  sender        text COLLATE "C" NOT NULL,
  sender_client text COLLATE "C" NOT NULL,
  client_msg_id text COLLATE "C" NOT NULL,
  ts            bigint NOT NULL,
  body          text NOT NULL,
  attachments   jsonb NOT NULL,
  refs          bigint NOT NULL,
  expires       bigint NOT NULL
);
CREATE INDEX messages_by_expiry ON messages(expires);

CREATE TABLE send_ids(
  sender_client text COLLATE "C" NOT NULL,
  client_msg_id text COLLATE "C" NOT NULL,
  message_id    text COLLATE "C" NOT NULL,
  ts            bigint NOT NULL,
  expires       bigint NOT NULL,
  PRIMARY KEY(sender_client, client_msg_id)
);
CREATE INDEX send_ids_by_expiry ON send_ids(expires);

CREATE TABLE inbox(
  client_id  text COLLATE "C" NOT NULL,
  seq        bigint NOT NULL,
  kind       smallint NOT NULL,
  message_id text COLLATE "C",
  event      jsonb,
  created    bigint NOT NULL,
  expires    bigint NOT NULL,
  PRIMARY KEY(client_id, seq),
  CHECK ((kind = 0 AND message_id IS NOT NULL AND event IS NULL) OR
         (kind = 1 AND message_id IS NULL AND event IS NOT NULL))
);
CREATE INDEX inbox_by_expiry ON inbox(expires);

CREATE TABLE last_seen(
  "user" text COLLATE "C" PRIMARY KEY,
  ts     bigint NOT NULL
);

CREATE TABLE attachments(
  attachment_id text COLLATE "C" PRIMARY KEY,
  owner         text COLLATE "C" NOT NULL,
  content_type  text NOT NULL,
  size          bigint NOT NULL,
  sha256        text NOT NULL,
  state         smallint NOT NULL CHECK (state IN (0, 1, 2)),
  message_id    text COLLATE "C" NOT NULL,
  created       bigint NOT NULL,
  expires       bigint NOT NULL,
  unfetched     bigint NOT NULL
);
CREATE INDEX attachments_by_expiry ON attachments(expires);
CREATE INDEX attachments_by_unfetched ON attachments(state, unfetched);

CREATE TABLE attachment_recipients(
  attachment_id text COLLATE "C" NOT NULL,
  client_id     text COLLATE "C" NOT NULL,
  fetched       boolean NOT NULL,
  PRIMARY KEY(attachment_id, client_id)
);
CREATE INDEX attachment_recipients_by_client ON attachment_recipients(client_id);
)sql"},
    {2, "inline messages of one recipient in inbox", R"sql(
ALTER TABLE inbox
  ADD COLUMN chat_id       text COLLATE "C",
  ADD COLUMN sender        text COLLATE "C",
  ADD COLUMN sender_client text COLLATE "C",
  ADD COLUMN client_msg_id text,
  ADD COLUMN body          text,
  ADD COLUMN attachments   jsonb,
  DROP CONSTRAINT inbox_check,
  ADD CONSTRAINT inbox_kind CHECK (
    (kind = 0 AND message_id IS NOT NULL AND event IS NULL) OR
    (kind = 1 AND message_id IS NULL AND event IS NOT NULL) OR
    (kind = 2 AND message_id IS NOT NULL AND event IS NULL AND body IS NOT NULL));
)sql"},
    {3, "receipts, privacy, meta; receipt entries in inbox", R"sql(
CREATE TABLE receipts(
  chat_id           text COLLATE "C" NOT NULL,
  "user"            text COLLATE "C" NOT NULL,
  delivered_ts      bigint NOT NULL DEFAULT 0,
  delivered_id      text COLLATE "C" NOT NULL DEFAULT '',
  read_ts           bigint NOT NULL DEFAULT 0,
  read_id           text COLLATE "C" NOT NULL DEFAULT '',
  delivered_sent_ts bigint NOT NULL DEFAULT 0,
  delivered_sent_id text COLLATE "C" NOT NULL DEFAULT '',
  read_sent_ts      bigint NOT NULL DEFAULT 0,
  read_sent_id      text COLLATE "C" NOT NULL DEFAULT '',
  PRIMARY KEY(chat_id, "user")
) WITH (fillfactor = 80);

CREATE TABLE privacy(
  "user"            text COLLATE "C" PRIMARY KEY,
  read_receipts     boolean NOT NULL,
  last_seen_visible boolean NOT NULL
);

CREATE TABLE meta(
  name  text COLLATE "C" PRIMARY KEY,
  value text NOT NULL
);

ALTER TABLE inbox
  DROP CONSTRAINT inbox_kind,
  ADD CONSTRAINT inbox_kind CHECK (
    (kind = 0 AND message_id IS NOT NULL AND event IS NULL) OR
    (kind = 1 AND message_id IS NULL AND event IS NOT NULL) OR
    (kind = 2 AND message_id IS NOT NULL AND event IS NULL AND body IS NOT NULL) OR
    (kind = 3 AND message_id IS NULL AND event IS NOT NULL));
)sql"},
};

static_assert(sizeof(kMigrations) / sizeof(kMigrations[0]) == kSchemaVersion,
              "one migration per schema version, the last one kSchemaVersion");

// Any constant will do, as long as every Ferry node uses the same one and
// nothing else in the database does: ASCII "FerrySch".
constexpr const char* kLockSql = "SELECT pg_advisory_xact_lock(5072586391290078056)";

}  // namespace

void EnsureSchema(Connection& conn) {
  // Outside pipeline mode on purpose: the migrations are multi-statement
  // scripts, which only the simple protocol runs, and this happens once.
  conn.Exec("BEGIN");
  try {
    conn.Exec(kLockSql);
    conn.Exec(
        "CREATE TABLE IF NOT EXISTS schema_version("
        "version integer PRIMARY KEY, description text NOT NULL, "
        "applied_at timestamptz NOT NULL DEFAULT now())");
    PgResult current = conn.Exec("SELECT coalesce(max(version), 0) FROM schema_version");
    int version = static_cast<int>(current.Int(0, 0));
    if (version > kSchemaVersion) {
      throw PgError(PgError::Kind::statement, "",
                    "database schema version " + std::to_string(version) +
                        " is newer than this build knows (" + std::to_string(kSchemaVersion) +
                        "): refusing to use it");
    }
    for (const Migration& m : kMigrations) {
      if (m.version <= version) continue;
      conn.Exec(m.sql);
      std::string record = "INSERT INTO schema_version(version, description) VALUES(" +
                           std::to_string(m.version) + ", '" + m.description + "')";
      conn.Exec(record.c_str());
      log::Info("postgres store: applied schema migration ", m.version, " (", m.description, ")");
    }
    conn.Exec("COMMIT");
  } catch (const PgError&) {
    if (conn.get() != nullptr && PQtransactionStatus(conn.get()) != PQTRANS_IDLE) {
      PQclear(PQexec(conn.get(), "ROLLBACK"));
    }
    throw;
  }
}

}  // namespace ferry::postgres
