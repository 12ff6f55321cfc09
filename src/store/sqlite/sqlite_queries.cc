// The embedded store's SQL, in one place so the schema and its uses can be
// read side by side (schema: sqlite_schema.cc).
#include "store/sqlite/sqlite_queries.h"

// Column list shared by every query that returns a ClientInfo
// (see ReadClient in sqlite_store.cc).
#define FERRY_CLIENT_COLUMNS "client_id, user, device, epoch, head_seq, acked_seq, last_active"

namespace ferry::sqlite {

// ?1 now, ?2 limit. "expires <= now" covers every state (pending, uploaded
// and sent all die at their expiry), so the store.h condition reduces to two
// index searches, attachments_by_expiry and attachments_by_unfetched, which
// SQLite runs as a MULTI-INDEX OR (the literal per-state form would search
// the state index for every row of each state instead).
const char* const kDeadAttachmentsSql =
    "SELECT attachment_id FROM attachments "
    "WHERE expires <= ?1 OR (state = 2 AND unfetched = 0) LIMIT ?2";

Queries::Queries(sqlite3* db)
    : begin(db, "BEGIN IMMEDIATE"),
      commit(db, "COMMIT"),
      rollback(db, "ROLLBACK"),

      // ?1 user, ?2 hash, ?3 created
      insert_user(db,
                  "INSERT INTO users(user, password_hash, created) VALUES(?1, ?2, ?3) "
                  "ON CONFLICT DO NOTHING"),
      password_hash(db, "SELECT password_hash FROM users WHERE user = ?1"),
      user_exists(db, "SELECT 1 FROM users WHERE user = ?1"),

      // ?1 user, ?2 device
      client_by_device(db,
                       "SELECT client_id FROM clients "
                       "WHERE user = ?1 AND device = ?2 AND active = 1"),
      count_active_clients(db, "SELECT count(*) FROM clients WHERE user = ?1 AND active = 1"),
      // ?1 client_id, ?2 user, ?3 device, ?4 epoch, ?5 last_active
      insert_client(db,
                    "INSERT INTO clients(client_id, user, device, head_seq, acked_seq, epoch, "
                    "last_active, active) VALUES(?1, ?2, ?3, 0, 0, ?4, ?5, 1)"),
      // ?1 client_id, ?2 now
      touch_client(db,
                   "UPDATE clients SET last_active = max(last_active, ?2) "
                   "WHERE client_id = ?1 AND active = 1"),
      // ?1 token_hash, ?2 client_id
      insert_token(db, "INSERT INTO tokens(token_hash, client_id) VALUES(?1, ?2)"),
      authenticate(db, "SELECT " FERRY_CLIENT_COLUMNS
                       " FROM clients WHERE active = 1 AND client_id = "
                       "(SELECT client_id FROM tokens WHERE token_hash = ?1)"),
      list_clients(db, "SELECT " FERRY_CLIENT_COLUMNS
                       " FROM clients WHERE user = ?1 AND active = 1 ORDER BY rowid"),
      // ?1 client_id, ?2 user
      client_of_user(db, "SELECT 1 FROM clients WHERE client_id = ?1 AND user = ?2 AND active = 1"),
      deactivate_client(db, "UPDATE clients SET active = 0 WHERE client_id = ?1"),
      delete_tokens(db, "DELETE FROM tokens WHERE client_id = ?1"),
      // The true head: clients.head_seq is only a lower bound (sqlite_schema.cc).
      client_seqs(db,
                  "SELECT max(head_seq, acked_seq, "
                  "coalesce((SELECT max(seq) FROM inbox WHERE client_id = ?1), 0)), acked_seq "
                  "FROM clients WHERE client_id = ?1 AND active = 1"),
      // ?1 client_id, ?2 acked_seq
      set_acked(db, "UPDATE clients SET acked_seq = ?2 WHERE client_id = ?1"),
      // ?1 user
      active_clients_of_user(db, "SELECT client_id FROM clients WHERE user = ?1 AND active = 1"),

      // ?1 client_id, ?2 after, ?3 limit. Columns 3-10 are a shared message
      // (kind 0), 11-18 the same fields of an inline one (kind 2). A shared
      // message row may be gone (expired earlier than this entry); the LEFT
      // JOIN lets the reader skip it.
      read_inbox(db,
                 "SELECT i.seq, i.kind, i.event, m.message_id, m.chat_id, m.sender, "
                 "m.sender_client, m.client_msg_id, m.ts, m.body, m.attachments, "
                 "i.message_id, i.chat_id, i.sender, i.sender_client, i.client_msg_id, "
                 "i.created, i.body, i.attachments "
                 "FROM inbox i LEFT JOIN messages m ON i.kind = 0 AND m.message_id = i.message_id "
                 "WHERE i.client_id = ?1 AND i.seq > ?2 ORDER BY i.seq LIMIT ?3"),
      // ?1 client_id, ?2 seq, ?3 kind, ?4 message_id, ?5 event, ?6 created, ?7 expires,
      // inline messages only (else NULL): ?8 chat_id, ?9 sender, ?10 sender_client,
      // ?11 client_msg_id, ?12 body, ?13 attachments
      insert_inbox(db,
                   "INSERT INTO inbox(client_id, seq, kind, message_id, event, created, expires, "
                   "chat_id, sender, sender_client, client_msg_id, body, attachments) "
                   "VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)"),
      // ?1 client_id, ?2 up_to. Releasing row by row is deliberate: the
      // set-based form (UPDATE ... WHERE message_id IN (SELECT ...)) builds a
      // temporary table per call and cost several times more for the usual
      // ack of a few entries.
      inbox_messages_up_to(db,
                           "SELECT message_id FROM inbox "
                           "WHERE client_id = ?1 AND seq <= ?2 AND kind = 0"),
      delete_inbox_up_to(db, "DELETE FROM inbox WHERE client_id = ?1 AND seq <= ?2"),
      // ?1 message_id, ?2 number of references released. The message goes
      // if no reference remains, else its count drops.
      delete_unreferenced(db, "DELETE FROM messages WHERE message_id = ?1 AND refs <= ?2"),
      drop_refs(db, "UPDATE messages SET refs = refs - ?2 WHERE message_id = ?1"),

      // ?1 sender_client, ?2 client_msg_id
      send_id(db,
              "SELECT message_id, ts FROM send_ids "
              "WHERE sender_client = ?1 AND client_msg_id = ?2"),
      // ?1 sender_client, ?2 client_msg_id, ?3 message_id, ?4 ts, ?5 expires
      insert_send_id(db,
                     "INSERT INTO send_ids(sender_client, client_msg_id, message_id, ts, expires) "
                     "VALUES(?1, ?2, ?3, ?4, ?5)"),
      // ?1 chat_id: one row per (member, active client); client_id is NULL
      // for a member without active clients, so membership is visible too.
      chat_recipients(db,
                      "SELECT m.user, c.client_id FROM members m "
                      "LEFT JOIN clients c ON c.user = m.user AND c.active = 1 "
                      "WHERE m.chat_id = ?1"),
      chat_exists(db, "SELECT 1 FROM chats WHERE chat_id = ?1"),
      // ?1 message_id .. ?8 attachments, ?9 refs, ?10 expires
      insert_message(db,
                     "INSERT INTO messages(message_id, chat_id, sender, sender_client, "
                     "client_msg_id, ts, body, attachments, refs, expires) "
                     "VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)"),

      // ?1 chat_id, ?2 name, ?3 created_by, ?4 created
      insert_chat(db,
                  "INSERT INTO chats(chat_id, name, created_by, created) VALUES(?1, ?2, ?3, ?4)"),
      // ?1 chat_id, ?2 user
      insert_member(db, "INSERT OR IGNORE INTO members(chat_id, user) VALUES(?1, ?2)"),
      delete_member(db, "DELETE FROM members WHERE chat_id = ?1 AND user = ?2"),
      chat_members(db, "SELECT user FROM members WHERE chat_id = ?1 ORDER BY user"),
      is_member(db, "SELECT 1 FROM members WHERE chat_id = ?1 AND user = ?2"),
      // ?1 user
      list_chats(db,
                 "SELECT c.chat_id, c.name, o.user FROM members m "
                 "JOIN chats c ON c.chat_id = m.chat_id "
                 "JOIN members o ON o.chat_id = m.chat_id "
                 "WHERE m.user = ?1 ORDER BY c.chat_id, o.user"),
      // ?1 user a, ?2 user b
      shares_chat(db,
                  "SELECT 1 FROM members a JOIN members b ON b.chat_id = a.chat_id "
                  "WHERE a.user = ?1 AND b.user = ?2 LIMIT 1"),

      // Attachments. state: 0 pending, 1 uploaded, 2 sent (kState* in
      // sqlite_schema.h). ?1 attachment_id .. ?5 sha256, ?6 created, ?7 expires
      insert_attachment(db,
                        "INSERT INTO attachments(attachment_id, owner, content_type, size, "
                        "sha256, state, message_id, created, expires, unfetched) "
                        "VALUES(?1, ?2, ?3, ?4, ?5, 0, '', ?6, ?7, 0)"),
      // ?1 attachment_id
      get_attachment(db,
                     "SELECT attachment_id, owner, content_type, size, sha256, state, "
                     "message_id, created, expires FROM attachments WHERE attachment_id = ?1"),
      // ?1 attachment_id, ?2 expires
      mark_uploaded(db,
                    "UPDATE attachments SET state = 1, expires = ?2 "
                    "WHERE attachment_id = ?1 AND state = 0"),
      attachment_exists(db, "SELECT 1 FROM attachments WHERE attachment_id = ?1"),
      // ?1 attachment_id, ?2 message_id, ?3 expires, ?4 unfetched (recipients)
      send_attachment(db,
                      "UPDATE attachments SET state = 2, message_id = ?2, expires = ?3, "
                      "unfetched = ?4 WHERE attachment_id = ?1"),
      // ?1 attachment_id, ?2 client_id
      insert_recipient(db,
                       "INSERT INTO attachment_recipients(attachment_id, client_id, fetched) "
                       "VALUES(?1, ?2, 0)"),
      is_recipient(db,
                   "SELECT 1 FROM attachment_recipients "
                   "WHERE attachment_id = ?1 AND client_id = ?2"),
      mark_fetched(db,
                   "UPDATE attachment_recipients SET fetched = 1 "
                   "WHERE attachment_id = ?1 AND client_id = ?2 AND fetched = 0"),
      // ?1 attachment_id: one recipient fewer left to fetch it
      drop_unfetched(db,
                     "UPDATE attachments SET unfetched = unfetched - 1 WHERE attachment_id = ?1"),
      attachment_unfetched(db, "SELECT unfetched FROM attachments WHERE attachment_id = ?1"),
      // ?1 client_id
      unfetched_of_client(db,
                          "SELECT attachment_id FROM attachment_recipients "
                          "WHERE client_id = ?1 AND fetched = 0"),
      delete_client_recipients(db, "DELETE FROM attachment_recipients WHERE client_id = ?1"),
      dead_attachments(db, kDeadAttachmentsSql),
      // ?1 attachment_id
      delete_attachment(db, "DELETE FROM attachments WHERE attachment_id = ?1"),
      delete_recipients(db, "DELETE FROM attachment_recipients WHERE attachment_id = ?1"),

      // ?1 client_id, ?2 after, ?3 up_to, ?4 the client's user: the messages
      // of the entries (after, up_to] that others sent, shared (kind 0) or
      // inline (kind 2), as (chat_id, ts, message_id).
      acked_messages(db,
                     "SELECT i.chat_id, i.created, i.message_id FROM inbox i "
                     "WHERE i.client_id = ?1 AND i.seq > ?2 AND i.seq <= ?3 AND i.kind = 2 "
                     "AND i.sender <> ?4 "
                     "UNION ALL "
                     "SELECT m.chat_id, m.ts, m.message_id FROM inbox i "
                     "JOIN messages m ON m.message_id = i.message_id "
                     "WHERE i.client_id = ?1 AND i.seq > ?2 AND i.seq <= ?3 AND i.kind = 0 "
                     "AND m.sender <> ?4"),
      // ?1 chat_id, ?2 user, ?3 ts, ?4 message_id: raises the mark only
      // (no row change when the position is not higher).
      raise_delivered(db,
                      "INSERT INTO receipts(chat_id, user, delivered_ts, delivered_id) "
                      "VALUES(?1, ?2, ?3, ?4) ON CONFLICT(chat_id, user) DO UPDATE SET "
                      "delivered_ts = excluded.delivered_ts, delivered_id = excluded.delivered_id "
                      "WHERE (excluded.delivered_ts, excluded.delivered_id) > "
                      "(receipts.delivered_ts, receipts.delivered_id)"),
      raise_read(
          db,
          "INSERT INTO receipts(chat_id, user, read_ts, read_id) "
          "VALUES(?1, ?2, ?3, ?4) ON CONFLICT(chat_id, user) DO UPDATE SET "
          "read_ts = excluded.read_ts, read_id = excluded.read_id "
          "WHERE (excluded.read_ts, excluded.read_id) > (receipts.read_ts, receipts.read_id)"),
      // ?1 chat_id, ?2 user
      receipt_marks(db,
                    "SELECT delivered_ts, delivered_id, read_ts, read_id, delivered_sent_ts, "
                    "delivered_sent_id, read_sent_ts, read_sent_id FROM receipts "
                    "WHERE chat_id = ?1 AND user = ?2"),
      // ?1 chat_id, ?2 user, ?3 ts, ?4 message_id
      set_delivered_sent(db,
                         "UPDATE receipts SET delivered_sent_ts = ?3, delivered_sent_id = ?4 "
                         "WHERE chat_id = ?1 AND user = ?2"),
      set_read_sent(db,
                    "UPDATE receipts SET read_sent_ts = ?3, read_sent_id = ?4 "
                    "WHERE chat_id = ?1 AND user = ?2"),
      // ?1 chat_id, ?2 the asking user: every other member's marks and
      // whether it shows its read mark.
      chat_receipts(db,
                    "SELECT m.user, coalesce(r.delivered_ts, 0), coalesce(r.delivered_id, ''), "
                    "coalesce(r.read_ts, 0), coalesce(r.read_id, ''), "
                    "coalesce(p.read_receipts, 1) FROM members m "
                    "LEFT JOIN receipts r ON r.chat_id = m.chat_id AND r.user = m.user "
                    "LEFT JOIN privacy p ON p.user = m.user "
                    "WHERE m.chat_id = ?1 AND m.user <> ?2 ORDER BY m.user"),
      // ?1 user
      get_privacy(db, "SELECT read_receipts, last_seen_visible FROM privacy WHERE user = ?1"),
      // ?1 user, ?2 read_receipts, ?3 last_seen_visible
      upsert_privacy(db,
                     "INSERT INTO privacy(user, read_receipts, last_seen_visible) "
                     "VALUES(?1, ?2, ?3) ON CONFLICT(user) DO UPDATE SET "
                     "read_receipts = excluded.read_receipts, "
                     "last_seen_visible = excluded.last_seen_visible"),
      // ?1 name, ?2 value
      get_secret(db, "SELECT value FROM meta WHERE name = ?1"),
      insert_secret(db, "INSERT INTO meta(name, value) VALUES(?1, ?2) ON CONFLICT DO NOTHING"),

      // ?1 user, ?2 ts
      upsert_last_seen(db,
                       "INSERT INTO last_seen(user, ts) VALUES(?1, ?2) "
                       "ON CONFLICT(user) DO UPDATE SET ts = max(ts, excluded.ts)"),
      last_seen(db, "SELECT ts FROM last_seen WHERE user = ?1"),

      // ?1 now
      expired_refs(db,
                   "SELECT message_id, count(*) FROM inbox WHERE expires <= ?1 AND kind = 0 "
                   "GROUP BY message_id"),
      // Before expired entries go: their clients' head_seq rises to them, so
      // the head stays known once entries that were never acked are gone.
      raise_expired_heads(db,
                          "UPDATE clients SET head_seq = max(head_seq, "
                          "(SELECT max(seq) FROM inbox i "
                          "WHERE i.client_id = clients.client_id AND i.expires <= ?1)) "
                          "WHERE client_id IN (SELECT client_id FROM inbox WHERE expires <= ?1)"),
      expired_inline(db, "SELECT count(*) FROM inbox WHERE expires <= ?1 AND kind = 2"),
      delete_expired_inbox(db, "DELETE FROM inbox WHERE expires <= ?1"),
      delete_expired_messages(db, "DELETE FROM messages WHERE expires <= ?1"),
      delete_expired_send_ids(db, "DELETE FROM send_ids WHERE expires <= ?1"),
      stats(db, "SELECT count(*), coalesce(min(created), 0) FROM inbox") {}

}  // namespace ferry::sqlite

#undef FERRY_CLIENT_COLUMNS
