// Every SQL statement the PostgreSQL store runs, by name. Each is prepared
// once per connection (PrepareAll, on connect and on every reconnect) and
// executed by name from a Pipeline; no SQL text is built at run time.
// Parameters ($1, $2...) are documented beside each statement in
// postgres_queries.cc.
//
// Threading: the table is immutable; PrepareAll uses one connection.
#pragma once

namespace ferry::postgres {

class Connection;

enum class Query {
  // Transactions.
  begin, commit, rollback, lock_batch,
  // Users.
  insert_user, password_hash, user_exists, lock_user, count_users,
  // Clients and tokens.
  client_by_device, list_clients, insert_client, touch_client, insert_token, authenticate,
  deactivate_client, delete_tokens, delete_client_inbox, drop_client_recipients,
  // Inbox and acks.
  read_inbox, ack_client, ack_inbox, release_refs, delete_released,
  // Send.
  send_id, share_chat, is_member, lock_attachments, insert_send_id, deliver_message,
  // Chats.
  lock_chat, chat_members, insert_chat, insert_members, delete_members, deliver_event,
  list_chats, shares_chat,
  // Receipts, privacy, rosters and secrets.
  raise_delivered, raise_read, deliver_delivered_receipt, deliver_read_receipt, chat_receipts,
  get_privacy, set_privacy, roster, insert_secret, secret,
  // Last seen.
  upsert_last_seen, last_seen,
  // Attachments.
  insert_attachment, get_attachment, mark_uploaded, attachment_exists, is_recipient,
  record_fetch, dead_attachments, delete_attachments, delete_attachment_recipients,
  // Sweep and stats.
  sweep_inbox, delete_expired_messages, delete_expired_send_ids, stats,
  count_  // number of statements; not one
};

// The prepared statement's name ("ferry_<query>", visible in the server's
// logs and pg_prepared_statements).
const char* QueryName(Query query);
// Its SQL text.
const char* QuerySql(Query query);

// Prepares every statement on `conn` in one round trip. Throws PgError.
void PrepareAll(Connection& conn);

}  // namespace ferry::postgres
