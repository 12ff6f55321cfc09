// The PostgreSQL store's SQL, in one place so the schema
// (postgres_schema.cc) and its uses can be read side by side.
//
// Concurrency (several Store instances, in several processes, on one
// database; READ COMMITTED, so every statement sees what committed before
// it started, and a row lock waits for its holder and then re-reads the
// newest version of the row):
// - A seq is allocated by `head_seq = head_seq + 1` on a client row locked
//   for this transaction; two writers to one client queue on that lock and
//   each gets the next number. A WriteBatch first locks, in ONE statement
//   sorted by client_id (lock_batch), every client row any of its ops may
//   write: the members' clients of every chat it sends to or changes, the
//   users it names, the clients it acks or touches. Two batches therefore
//   take their client locks in the same order and cannot deadlock each
//   other; locking per send instead (each send sorted, but a batch's sends
//   in arrival order) deadlocked batches of 100+ sends to overlapping
//   groups on every re-run.
// - Checks that guard a limit lock the row that owns the limit first, in a
//   statement of its own so the reads after it see the winner's rows:
//   Login locks the user (lock_user), member changes lock the chat
//   (lock_chat, FOR UPDATE), a send shares the chat's lock (share_chat, FOR
//   SHARE) so membership cannot change between its check and its delivery.
// - Rows that two writers might both release (inbox entries, recipient
//   rows) are deleted with RETURNING, and only what a statement itself
//   deleted is released, so nothing is counted twice.
// - A mark (receipts.delivered_*, read_*) only rises: it is written by an
//   upsert whose DO UPDATE has WHERE (new ts, new id) > (stored ts, stored
//   id). ON CONFLICT locks the row and tests that on its newest version, so
//   of two instances raising one mark at once the lower write changes
//   nothing, whichever commits first. A receipt entry is claimed by an
//   UPDATE of the same row (*_sent = mark, only where mark > *_sent) in the
//   statement that delivers it: the row lock, held to commit, orders the
//   claims of one (chat, user) across instances, and each carries the mark
//   as it stands under the lock, so the receipts of one (chat, user, kind)
//   reach every inbox in rising order and never repeat a position.
// - receipts rows are locked after the batch's client locks, in op order.
//   Two batches raising one user's marks in two chats in opposite orders
//   (one user, two devices on two nodes, the same moment) can deadlock;
//   that is rare, and re-run as a conflict like any other.
// - Identifier columns are COLLATE "C" (the schema), so ORDER BY agrees
//   with std::sort in the C++ code and is the same on every server, and a
//   position's (ts, message id) row comparison orders as Position does.
#include "store/postgres/postgres_queries.h"

#include <array>
#include <cstddef>

#include "store/postgres/postgres_connection.h"
#include "store/postgres/postgres_pipeline.h"

// Column list shared by every query that returns a ClientInfo (ReadClient
// in postgres_store.cc).
#define FERRY_CLIENT_COLUMNS "client_id, \"user\", device, epoch, head_seq, acked_seq, last_active"

// The seqs of a delivery: lock the recipient rows in client_id order, then
// advance each head_seq by one; `a` yields (client_id, user, head_seq), the
// new seq of each. Shared by deliver_message and deliver_event.
#define FERRY_ALLOCATE_SEQS                                      \
  "a AS (UPDATE clients c SET head_seq = c.head_seq + 1 FROM r " \
  "WHERE c.client_id = r.client_id RETURNING c.client_id, c.\"user\", c.head_seq) "

// The entries of a receipt, after k (the claimed mark: ts, id; no row if
// nothing was claimed) and u (the users whose active clients get it) of
// deliver_*_receipt: recipient clients locked in client_id order, each
// advanced by one seq, an entry each. $3 actor_client (left out), $5 the
// receipt's JSON (record_codec::EncodeReceipt) but for its position, which
// only the claim knows and which replaces upToTs/upToId; $6 now,
// $7 expires. Returns no row if nothing was claimed; else (ts, id) of the
// mark with each delivery's (client_id, user, seq), or NULLs if nobody
// gets it.
#define FERRY_RECEIPT_ENTRIES                                                             \
  "r AS (SELECT c.client_id FROM k, u JOIN clients c ON c.\"user\" = u.\"user\" "         \
  "WHERE c.active AND c.client_id <> $3::text "                                           \
  "ORDER BY c.client_id FOR UPDATE OF c), " FERRY_ALLOCATE_SEQS                           \
  ", i AS (INSERT INTO inbox(client_id, seq, kind, message_id, event, created, expires) " \
  "SELECT a.client_id, a.head_seq, 3, NULL, "                                             \
  "$5::jsonb || jsonb_build_object('upToTs', k.ts, 'upToId', k.id), $6::bigint, "         \
  "$7::bigint FROM a, k) "                                                                \
  "SELECT k.ts, k.id, a.client_id, a.\"user\", a.head_seq FROM k LEFT JOIN a ON true"

namespace ferry::postgres {
namespace {

struct QueryDef {
  Query query;
  const char* name;
  const char* sql;
};

constexpr std::array<QueryDef, static_cast<std::size_t>(Query::count_)> kQueries = {{
    {Query::begin, "ferry_begin", "BEGIN"},
    {Query::commit, "ferry_commit", "COMMIT"},
    {Query::rollback, "ferry_rollback", "ROLLBACK"},
    // The batch's client locks, taken first (see the top): the rows its ops
    // will write. $1 client ids (acks, presence); $2/$3 users named by chat
    // changes, each with the client to leave out (the actor's); $4/$5 chat
    // ids of sends and chat changes, each with the client to leave out (the
    // sender's, the actor's): their members' active clients; $6/$7/$8
    // chat ids of receipts, each with the user whose mark it is and the
    // fanout limit: the other members' active clients if the chat is small
    // enough (a superset: `read` receipts a user's privacy withholds lock
    // them too). Only written rows: a sender's own client is not locked by
    // its send, so its node's batches do not queue behind every batch that
    // writes to it. A union, so each part uses its index (one condition
    // with ORs scanned all of clients: 47 ms a batch with 59,000 clients).
    {Query::lock_batch, "ferry_lock_batch",
     "SELECT 1 FROM clients WHERE client_id IN (SELECT unnest($1::text[]) "
     "UNION ALL SELECT c.client_id FROM unnest($2::text[], $3::text[]) AS u(\"user\", skip) "
     "JOIN clients c ON c.\"user\" = u.\"user\" WHERE c.active AND c.client_id <> u.skip "
     "UNION ALL SELECT c.client_id FROM unnest($4::text[], $5::text[]) AS s(chat_id, skip) "
     "JOIN members m ON m.chat_id = s.chat_id JOIN clients c ON c.\"user\" = m.\"user\" "
     "WHERE c.active AND c.client_id <> s.skip "
     "UNION ALL SELECT c.client_id FROM unnest($6::text[], $7::text[], $8::bigint[]) "
     "AS g(chat_id, owner, fanout) JOIN members m ON m.chat_id = g.chat_id "
     "JOIN clients c ON c.\"user\" = m.\"user\" WHERE c.active AND m.\"user\" <> g.owner "
     "AND (SELECT count(*) FROM members n WHERE n.chat_id = g.chat_id) <= g.fanout) "
     "ORDER BY client_id FOR UPDATE"},

    // $1 user, $2 password hash, $3 created. No row inserted: user_exists.
    {Query::insert_user, "ferry_insert_user",
     "INSERT INTO users(\"user\", password_hash, created) VALUES($1, $2, $3) "
     "ON CONFLICT DO NOTHING"},
    // $1 user
    {Query::password_hash, "ferry_password_hash",
     "SELECT password_hash FROM users WHERE \"user\" = $1"},
    {Query::user_exists, "ferry_user_exists", "SELECT 1 FROM users WHERE \"user\" = $1"},
    // $1 user. Serializes Logins of one user across instances: the client
    // count read after it is exact until this transaction ends.
    {Query::lock_user, "ferry_lock_user", "SELECT 1 FROM users WHERE \"user\" = $1 FOR UPDATE"},
    // $1 users (text[], no duplicates): how many exist.
    {Query::count_users, "ferry_count_users",
     "SELECT count(*) FROM users WHERE \"user\" = ANY($1::text[])"},

    // $1 user, $2 device
    {Query::client_by_device, "ferry_client_by_device",
     "SELECT client_id FROM clients WHERE \"user\" = $1 AND device = $2 AND active"},
    // $1 user: the active clients in the order they were created.
    {Query::list_clients, "ferry_list_clients",
     "SELECT " FERRY_CLIENT_COLUMNS
     " FROM clients WHERE \"user\" = $1 AND active ORDER BY created_order"},
    // $1 client_id, $2 user, $3 device, $4 epoch, $5 last_active
    {Query::insert_client, "ferry_insert_client",
     "INSERT INTO clients(client_id, \"user\", device, epoch, last_active) "
     "VALUES($1, $2, $3, $4, $5)"},
    // $1 client_id, $2 now. No row: unknown or deleted client.
    {Query::touch_client, "ferry_touch_client",
     "UPDATE clients SET last_active = GREATEST(last_active, $2) "
     "WHERE client_id = $1 AND active"},
    // $1 token_hash, $2 client_id
    {Query::insert_token, "ferry_insert_token",
     "INSERT INTO tokens(token_hash, client_id) VALUES($1, $2)"},
    // $1 token_hash
    {Query::authenticate, "ferry_authenticate",
     "SELECT " FERRY_CLIENT_COLUMNS " FROM clients WHERE active AND client_id = "
     "(SELECT client_id FROM tokens WHERE token_hash = $1)"},
    // $1 client_id, $2 user. The row stays (inactive) so its id is never
    // handed out again. Locks the client first: a concurrent send either
    // delivered to it before (and its entries are deleted next) or waits and
    // then skips it.
    {Query::deactivate_client, "ferry_deactivate_client",
     "UPDATE clients SET active = false WHERE client_id = $1 AND \"user\" = $2 AND active"},
    // $1 client_id
    {Query::delete_tokens, "ferry_delete_tokens", "DELETE FROM tokens WHERE client_id = $1"},
    {Query::delete_client_inbox, "ferry_delete_client_inbox",
     "DELETE FROM inbox WHERE client_id = $1 "
     "RETURNING CASE WHEN kind = 0 THEN message_id END"},
    // $1 client_id: its recipient rows go, and each one it had not fetched
    // comes off its attachment's count of unfetched recipients.
    {Query::drop_client_recipients, "ferry_drop_client_recipients",
     "WITH d AS (DELETE FROM attachment_recipients WHERE client_id = $1 "
     "RETURNING attachment_id, fetched) "
     "UPDATE attachments a SET unfetched = a.unfetched - x.n "
     "FROM (SELECT attachment_id, count(*) AS n FROM d WHERE NOT fetched "
     "GROUP BY attachment_id) x WHERE a.attachment_id = x.attachment_id"},

    // $1 client_id, $2 after, $3 limit. One statement, so the head and the
    // entries come from one snapshot (no entry above the head). A message
    // may be gone (expired before this entry): the LEFT JOIN lets the
    // reader skip it. No row at all: unknown or deleted client. Columns
    // 4-11 are a shared message (kind 0), 12-19 an inline one (kind 2).
    {Query::read_inbox, "ferry_read_inbox",
     "SELECT c.head_seq, i.seq, i.kind, i.event, m.message_id, m.chat_id, m.sender, "
     "m.sender_client, m.client_msg_id, m.ts, m.body, m.attachments, i.message_id, "
     "i.chat_id, i.sender, i.sender_client, i.client_msg_id, i.created, i.body, i.attachments "
     "FROM clients c LEFT JOIN LATERAL (SELECT seq, kind, event, message_id, chat_id, sender, "
     "sender_client, client_msg_id, created, body, attachments FROM inbox "
     "WHERE client_id = c.client_id AND seq > $2 ORDER BY seq LIMIT $3) i ON true "
     "LEFT JOIN messages m ON i.kind = 0 AND m.message_id = i.message_id "
     "WHERE c.client_id = $1 AND c.active ORDER BY i.seq"},
    // $1 client_id, $2 up_to: acked_seq = max(acked_seq, min(up_to, head)).
    // No row: unknown or deleted client.
    {Query::ack_client, "ferry_ack_client",
     "UPDATE clients SET acked_seq = GREATEST(acked_seq, LEAST($2, head_seq)) "
     "WHERE client_id = $1 AND active RETURNING acked_seq"},
    // $1 client_id, $2 its user: deletes the entries at or below acked_seq
    // (d) and raises the user's delivered mark in each chat to the highest
    // of those messages someone else sent (t: shared ones, kind 0, from
    // their messages row, inline ones, kind 2, from the entry, whose
    // `created` is the message's ts), one upsert row per chat, in chat
    // order. A statement of its own, after ack_client, so it also sees an
    // entry another instance committed while ack_client waited for the
    // client's lock. Returns (message_id, NULL, NULL, NULL) per shared
    // message entry deleted, then (NULL, chat_id, ts, id) per mark raised.
    {Query::ack_inbox, "ferry_ack_inbox",
     "WITH d AS (DELETE FROM inbox WHERE client_id = $1::text "
     "AND seq <= (SELECT acked_seq FROM clients WHERE client_id = $1::text) "
     "RETURNING kind, message_id, chat_id, sender, created), "
     "t AS (SELECT DISTINCT ON (chat_id) chat_id, ts, message_id FROM ("
     "SELECT m.chat_id, m.sender, m.ts, m.message_id FROM d "
     "JOIN messages m ON m.message_id = d.message_id WHERE d.kind = 0 "
     "UNION ALL SELECT chat_id, sender, created, message_id FROM d WHERE kind = 2) x "
     "WHERE sender <> $2::text ORDER BY chat_id, ts DESC, message_id DESC), "
     "u AS (INSERT INTO receipts AS r (chat_id, \"user\", delivered_ts, delivered_id) "
     "SELECT chat_id, $2::text, ts, message_id FROM t "
     "ON CONFLICT (chat_id, \"user\") DO UPDATE SET delivered_ts = excluded.delivered_ts, "
     "delivered_id = excluded.delivered_id "
     "WHERE (excluded.delivered_ts, excluded.delivered_id) > (r.delivered_ts, r.delivered_id) "
     "RETURNING r.chat_id, r.delivered_ts, r.delivered_id) "
     "SELECT message_id, NULL, NULL, NULL FROM d WHERE kind = 0 "
     "UNION ALL SELECT NULL, chat_id, delivered_ts, delivered_id FROM u ORDER BY 2"},
    // $1 message ids (text[]), $2 references released of each (bigint[]).
    {Query::release_refs, "ferry_release_refs",
     "UPDATE messages m SET refs = m.refs - r.n "
     "FROM unnest($1::text[], $2::bigint[]) AS r(message_id, n) "
     "WHERE m.message_id = r.message_id"},
    // $1 message ids (text[]): those nobody refers to any more go.
    {Query::delete_released, "ferry_delete_released",
     "DELETE FROM messages WHERE message_id = ANY($1::text[]) AND refs <= 0"},

    // $1 sender_client, $2 client_msg_id
    {Query::send_id, "ferry_send_id",
     "SELECT message_id, ts FROM send_ids WHERE sender_client = $1 AND client_msg_id = $2"},
    // $1 chat_id. No row: no such chat.
    {Query::share_chat, "ferry_share_chat", "SELECT 1 FROM chats WHERE chat_id = $1 FOR SHARE"},
    // $1 chat_id, $2 user
    {Query::is_member, "ferry_is_member",
     "SELECT 1 FROM members WHERE chat_id = $1 AND \"user\" = $2"},
    // $1 attachment ids (text[]): locked, so a concurrent send of the same
    // attachment waits and then sees it sent.
    {Query::lock_attachments, "ferry_lock_attachments",
     "SELECT attachment_id, owner, content_type, size, sha256, state FROM attachments "
     "WHERE attachment_id = ANY($1::text[]) ORDER BY attachment_id FOR UPDATE"},
    // $1 sender_client, $2 client_msg_id, $3 message_id, $4 ts, $5 expires.
    // No ON CONFLICT: the same send committed meanwhile by another instance
    // is a unique violation, i.e. a conflict, and the re-run finds it.
    {Query::insert_send_id, "ferry_insert_send_id",
     "INSERT INTO send_ids(sender_client, client_msg_id, message_id, ts, expires) "
     "VALUES($1, $2, $3, $4, $5)"},
    // The writes of a checked send, in one statement: $1 chat_id,
    // $2 sender_client, $3 message_id, $4 ts, $5 expires, $6 sender,
    // $7 client_msg_id, $8 body, $9 attachments (jsonb), $10 attachment ids
    // (text[]). Recipients are every active client of every member but the
    // sending one; each gets the next seq and an inbox entry. One recipient
    // gets the whole message in its entry (kind 2); more share a messages
    // row (kind 0), and nobody means no row (nobody would ever release it);
    // its attachments become sent, owed to every recipient.
    // Returns the deliveries: (client_id, user, seq).
    {Query::deliver_message, "ferry_deliver_message",
     "WITH r AS (SELECT c.client_id FROM members m JOIN clients c ON c.\"user\" = m.\"user\" "
     "WHERE m.chat_id = $1::text AND c.active AND c.client_id <> $2::text "
     "ORDER BY c.client_id FOR UPDATE OF c), " FERRY_ALLOCATE_SEQS
     ", n AS (SELECT count(*) = 1 AS inline FROM a), "
     "i AS (INSERT INTO inbox(client_id, seq, kind, message_id, event, created, expires, "
     "chat_id, sender, sender_client, client_msg_id, body, attachments) "
     "SELECT client_id, head_seq, CASE WHEN n.inline THEN 2 ELSE 0 END, $3::text, NULL, "
     "$4::bigint, $5::bigint, CASE WHEN n.inline THEN $1::text END, "
     "CASE WHEN n.inline THEN $6::text END, CASE WHEN n.inline THEN $2::text END, "
     "CASE WHEN n.inline THEN $7::text END, CASE WHEN n.inline THEN $8::text END, "
     "CASE WHEN n.inline THEN $9::jsonb END FROM a, n), "
     "m AS (INSERT INTO messages(message_id, chat_id, sender, sender_client, client_msg_id, "
     "ts, body, attachments, refs, expires) SELECT $3::text, $1::text, $6::text, $2::text, "
     "$7::text, $4::bigint, $8::text, $9::jsonb, count(*), $5::bigint FROM a "
     "HAVING count(*) > 1), "
     "s AS (UPDATE attachments SET state = 2, message_id = $3::text, expires = $5::bigint, "
     "unfetched = (SELECT count(*) FROM a) WHERE attachment_id = ANY($10::text[])), "
     "t AS (INSERT INTO attachment_recipients(attachment_id, client_id, fetched) "
     "SELECT x, a.client_id, false FROM unnest($10::text[]) AS x, a) "
     "SELECT client_id, \"user\", head_seq FROM a"},

    // $1 chat_id. Serializes membership changes of a chat across instances
    // (and waits for sends in flight, which hold it FOR SHARE).
    {Query::lock_chat, "ferry_lock_chat", "SELECT 1 FROM chats WHERE chat_id = $1 FOR UPDATE"},
    {Query::chat_members, "ferry_chat_members",
     "SELECT \"user\" FROM members WHERE chat_id = $1 ORDER BY \"user\""},
    // $1 chat_id, $2 name, $3 created_by, $4 created
    {Query::insert_chat, "ferry_insert_chat",
     "INSERT INTO chats(chat_id, name, created_by, created) VALUES($1, $2, $3, $4)"},
    // $1 chat_id, $2 users (text[])
    {Query::insert_members, "ferry_insert_members",
     "INSERT INTO members(chat_id, \"user\") SELECT $1::text, u FROM unnest($2::text[]) AS u "
     "ON CONFLICT DO NOTHING"},
    {Query::delete_members, "ferry_delete_members",
     "DELETE FROM members WHERE chat_id = $1 AND \"user\" = ANY($2::text[])"},
    // $1 users (text[]), $2 actor_client, $3 event (jsonb), $4 now,
    // $5 expires: an inbox entry for every active client of the users but
    // the actor's. Returns the deliveries: (client_id, user, seq).
    {Query::deliver_event, "ferry_deliver_event",
     "WITH r AS (SELECT client_id FROM clients WHERE \"user\" = ANY($1::text[]) AND active "
     "AND client_id <> $2::text ORDER BY client_id FOR UPDATE), " FERRY_ALLOCATE_SEQS
     ", i AS (INSERT INTO inbox(client_id, seq, kind, message_id, event, created, expires) "
     "SELECT client_id, head_seq, 1, NULL, $3::jsonb, $4::bigint, $5::bigint FROM a) "
     "SELECT client_id, \"user\", head_seq FROM a"},
    // $1 user: one row per (chat, member), ordered by chat then member.
    {Query::list_chats, "ferry_list_chats",
     "SELECT c.chat_id, c.name, o.\"user\" FROM members m "
     "JOIN chats c ON c.chat_id = m.chat_id JOIN members o ON o.chat_id = m.chat_id "
     "WHERE m.\"user\" = $1 ORDER BY c.chat_id, o.\"user\""},
    // $1 user a, $2 user b
    {Query::shares_chat, "ferry_shares_chat",
     "SELECT 1 FROM members a JOIN members b ON b.chat_id = a.chat_id "
     "WHERE a.\"user\" = $1 AND b.\"user\" = $2 LIMIT 1"},

    // $1 chat_id, $2 user, $3 ts, $4 message_id: raises that mark of the
    // user in the chat to ($3, $4) if that is higher (creating the row with
    // only that mark set if there is none). Returns the mark if it rose, no
    // row if it did not.
    {Query::raise_delivered, "ferry_raise_delivered",
     "INSERT INTO receipts AS r (chat_id, \"user\", delivered_ts, delivered_id) "
     "VALUES($1, $2, $3, $4) ON CONFLICT (chat_id, \"user\") DO UPDATE "
     "SET delivered_ts = excluded.delivered_ts, delivered_id = excluded.delivered_id "
     "WHERE (excluded.delivered_ts, excluded.delivered_id) > (r.delivered_ts, r.delivered_id) "
     "RETURNING delivered_ts, delivered_id"},
    {Query::raise_read, "ferry_raise_read",
     "INSERT INTO receipts AS r (chat_id, \"user\", read_ts, read_id) "
     "VALUES($1, $2, $3, $4) ON CONFLICT (chat_id, \"user\") DO UPDATE "
     "SET read_ts = excluded.read_ts, read_id = excluded.read_id "
     "WHERE (excluded.read_ts, excluded.read_id) > (r.read_ts, r.read_id) "
     "RETURNING read_ts, read_id"},
    // Receipts, each one statement: k claims the mark of $1 chat_id,
    // $2 user (*_sent = mark, only if the mark is above the last one sent;
    // the row lock orders claims across instances), u names who gets it,
    // FERRY_RECEIPT_ENTRIES writes the entries. `delivered` goes to every
    // other member, if the chat has at most $4 fanout_max members.
    {Query::deliver_delivered_receipt, "ferry_deliver_delivered_receipt",
     "WITH k AS (UPDATE receipts SET delivered_sent_ts = delivered_ts, "
     "delivered_sent_id = delivered_id WHERE chat_id = $1::text AND \"user\" = $2::text "
     "AND (delivered_ts, delivered_id) > (delivered_sent_ts, delivered_sent_id) "
     "RETURNING delivered_ts AS ts, delivered_id AS id), "
     "u AS (SELECT \"user\" FROM members WHERE chat_id = $1::text AND \"user\" <> $2::text "
     "AND (SELECT count(*) FROM members WHERE chat_id = $1::text) <= "
     "$4::bigint), " FERRY_RECEIPT_ENTRIES},
    // `read` goes to the other members too only if the user's privacy
    // allows ($8: read_receipts of a user who never set it), and to the
    // user's own clients while it is a member.
    {Query::deliver_read_receipt, "ferry_deliver_read_receipt",
     "WITH k AS (UPDATE receipts SET read_sent_ts = read_ts, read_sent_id = read_id "
     "WHERE chat_id = $1::text AND \"user\" = $2::text "
     "AND (read_ts, read_id) > (read_sent_ts, read_sent_id) "
     "RETURNING read_ts AS ts, read_id AS id), "
     "u AS (SELECT \"user\" FROM members WHERE chat_id = $1::text AND \"user\" <> $2::text "
     "AND (SELECT count(*) FROM members WHERE chat_id = $1::text) <= $4::bigint "
     "AND coalesce((SELECT read_receipts FROM privacy WHERE \"user\" = $2::text), $8::boolean) "
     "UNION ALL SELECT \"user\" FROM members WHERE chat_id = $1::text AND \"user\" = "
     "$2::text), " FERRY_RECEIPT_ENTRIES},
    // $1 chat_id: one row per member, ordered by user, with its marks (NULL
    // if it has no row) and its read_receipts setting (NULL if never set);
    // a single row of NULLs if the chat has no members, no row if there is
    // no such chat. One statement: the chat, the membership and the marks
    // come from one snapshot.
    {Query::chat_receipts, "ferry_chat_receipts",
     "SELECT m.\"user\", r.delivered_ts, r.delivered_id, r.read_ts, r.read_id, "
     "p.read_receipts FROM chats ch LEFT JOIN members m ON m.chat_id = ch.chat_id "
     "LEFT JOIN receipts r ON r.chat_id = m.chat_id AND r.\"user\" = m.\"user\" "
     "LEFT JOIN privacy p ON p.\"user\" = m.\"user\" "
     "WHERE ch.chat_id = $1 ORDER BY m.\"user\""},
    // $1 user. No row: never set.
    {Query::get_privacy, "ferry_get_privacy",
     "SELECT read_receipts, last_seen_visible FROM privacy WHERE \"user\" = $1"},
    // $1 user, $2 read_receipts, $3 last_seen_visible (NULL: unchanged),
    // $4/$5 their defaults, for a user without a row. Returns the settings
    // after; no row if there is no such user.
    {Query::set_privacy, "ferry_set_privacy",
     "INSERT INTO privacy AS p (\"user\", read_receipts, last_seen_visible) "
     "SELECT \"user\", coalesce($2::boolean, $4::boolean), coalesce($3::boolean, $5::boolean) "
     "FROM users WHERE \"user\" = $1 ON CONFLICT (\"user\") DO UPDATE SET "
     "read_receipts = coalesce($2::boolean, p.read_receipts), "
     "last_seen_visible = coalesce($3::boolean, p.last_seen_visible) "
     "RETURNING read_receipts, last_seen_visible"},
    // $1 chat_id: (member, active client) ordered by member then client; a
    // member without clients has one row with a NULL client, a chat without
    // members one row of NULLs, no such chat no row.
    {Query::roster, "ferry_roster",
     "SELECT m.\"user\", c.client_id FROM chats ch "
     "LEFT JOIN members m ON m.chat_id = ch.chat_id "
     "LEFT JOIN clients c ON c.\"user\" = m.\"user\" AND c.active "
     "WHERE ch.chat_id = $1 ORDER BY m.\"user\", c.client_id"},
    // $1 name, $2 candidate. secret runs as a statement of its own after
    // it: a value another instance inserted at the same moment made this
    // insert wait and do nothing, and is visible to the next statement.
    {Query::insert_secret, "ferry_insert_secret",
     "INSERT INTO meta(name, value) VALUES($1, $2) ON CONFLICT DO NOTHING"},
    {Query::secret, "ferry_secret", "SELECT value FROM meta WHERE name = $1"},

    // $1 user, $2 ts: only ever raised.
    {Query::upsert_last_seen, "ferry_upsert_last_seen",
     "INSERT INTO last_seen(\"user\", ts) VALUES($1, $2) "
     "ON CONFLICT(\"user\") DO UPDATE SET ts = GREATEST(last_seen.ts, excluded.ts)"},
    {Query::last_seen, "ferry_last_seen", "SELECT ts FROM last_seen WHERE \"user\" = $1"},

    // Attachments. state: 0 pending, 1 uploaded, 2 sent (kState* in
    // postgres_schema.h). $1 attachment_id .. $5 sha256, $6 created, $7 expires
    {Query::insert_attachment, "ferry_insert_attachment",
     "INSERT INTO attachments(attachment_id, owner, content_type, size, sha256, state, "
     "message_id, created, expires, unfetched) VALUES($1, $2, $3, $4, $5, 0, '', $6, $7, 0)"},
    // $1 attachment_id
    {Query::get_attachment, "ferry_get_attachment",
     "SELECT attachment_id, owner, content_type, size, sha256, state, message_id, created, "
     "expires FROM attachments WHERE attachment_id = $1"},
    // $1 attachment_id, $2 expires
    {Query::mark_uploaded, "ferry_mark_uploaded",
     "UPDATE attachments SET state = 1, expires = $2 WHERE attachment_id = $1 AND state = 0"},
    {Query::attachment_exists, "ferry_attachment_exists",
     "SELECT 1 FROM attachments WHERE attachment_id = $1"},
    // $1 attachment_id, $2 client_id
    {Query::is_recipient, "ferry_is_recipient",
     "SELECT 1 FROM attachment_recipients WHERE attachment_id = $1 AND client_id = $2"},
    // $1 attachment_id, $2 client_id: marks the fetch and counts it off the
    // attachment once (a concurrent second fetch waits for the row and then
    // finds it fetched). Returns (is a recipient, unfetched left).
    {Query::record_fetch, "ferry_record_fetch",
     "WITH f AS (UPDATE attachment_recipients SET fetched = true "
     "WHERE attachment_id = $1::text AND client_id = $2::text AND NOT fetched "
     "RETURNING attachment_id), "
     "u AS (UPDATE attachments a SET unfetched = a.unfetched - 1 FROM f "
     "WHERE a.attachment_id = f.attachment_id RETURNING a.unfetched) "
     "SELECT EXISTS (SELECT 1 FROM f) OR EXISTS (SELECT 1 FROM attachment_recipients "
     "WHERE attachment_id = $1::text AND client_id = $2::text), "
     "coalesce((SELECT unfetched FROM u), "
     "(SELECT unfetched FROM attachments WHERE attachment_id = $1::text), 0)"},
    // $1 now, $2 limit. "expires <= now" covers every state, so the store.h
    // condition is two index searches (attachments_by_expiry and
    // attachments_by_unfetched) joined by a BitmapOr.
    {Query::dead_attachments, "ferry_dead_attachments",
     "SELECT attachment_id FROM attachments "
     "WHERE expires <= $1 OR (state = 2 AND unfetched = 0) LIMIT $2"},
    // $1 attachment ids (text[])
    {Query::delete_attachments, "ferry_delete_attachments",
     "DELETE FROM attachments WHERE attachment_id = ANY($1::text[])"},
    {Query::delete_attachment_recipients, "ferry_delete_attachment_recipients",
     "DELETE FROM attachment_recipients WHERE attachment_id = ANY($1::text[])"},

    // $1 now: deletes the expired entries; returns (message_id, entries, 0)
    // per shared message referred to, and (NULL, entries, inline messages)
    // for the chat events and inline messages, which go with their entry.
    {Query::sweep_inbox, "ferry_sweep_inbox",
     "WITH d AS (DELETE FROM inbox WHERE expires <= $1 "
     "RETURNING kind, CASE WHEN kind = 0 THEN message_id END AS message_id) "
     "SELECT message_id, count(*), count(*) FILTER (WHERE kind = 2) FROM d "
     "GROUP BY message_id"},
    {Query::delete_expired_messages, "ferry_delete_expired_messages",
     "DELETE FROM messages WHERE expires <= $1"},
    {Query::delete_expired_send_ids, "ferry_delete_expired_send_ids",
     "DELETE FROM send_ids WHERE expires <= $1"},
    {Query::stats, "ferry_stats", "SELECT count(*), coalesce(min(created), 0) FROM inbox"},
}};

// The table is indexed by Query: every row must sit at its enumerator.
constexpr bool InOrder() {
  for (std::size_t i = 0; i < kQueries.size(); ++i) {
    if (static_cast<std::size_t>(kQueries[i].query) != i) return false;
  }
  return true;
}
static_assert(InOrder(), "kQueries rows must follow the order of enum Query");

}  // namespace

const char* QueryName(Query query) { return kQueries[static_cast<std::size_t>(query)].name; }

const char* QuerySql(Query query) { return kQueries[static_cast<std::size_t>(query)].sql; }

void PrepareAll(Connection& conn) {
  Pipeline pipeline(conn);
  for (const QueryDef& def : kQueries) pipeline.QueuePrepare(def.name, def.sql);
  pipeline.Finish();
}

}  // namespace ferry::postgres

#undef FERRY_RECEIPT_ENTRIES
#undef FERRY_ALLOCATE_SEQS
#undef FERRY_CLIENT_COLUMNS
