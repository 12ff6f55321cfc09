// Every SQL statement the embedded store runs, prepared once per connection
// and reused (no SQL text is built at run time). Parameters are numbered
// (?1, ?2...) as documented beside each statement in sqlite_queries.cc.
//
// Threading: belongs to one connection; single-threaded.
#pragma once

#include <sqlite3.h>

#include "store/sqlite/sqlite_statement.h"

namespace ferry::sqlite {

// The text of Queries::dead_attachments, public so a test can check that its
// plan searches indexes rather than scanning the table.
extern const char* const kDeadAttachmentsSql;

struct Queries {
  // Throws SqliteError if a statement does not compile (schema mismatch).
  explicit Queries(sqlite3* db);

  // Transactions.
  Statement begin, commit, rollback;

  // Users.
  Statement insert_user, password_hash, user_exists;

  // Clients and tokens.
  Statement client_by_device, count_active_clients, insert_client, touch_client;
  Statement insert_token, authenticate, list_clients, client_of_user;
  Statement deactivate_client, delete_tokens, client_seqs, set_acked;
  Statement active_clients_of_user;

  // Inbox.
  Statement read_inbox, insert_inbox;
  Statement inbox_messages_up_to, delete_inbox_up_to, delete_unreferenced, drop_refs;

  // Send.
  Statement send_id, insert_send_id, chat_recipients, chat_exists, insert_message;

  // Chats.
  Statement insert_chat, insert_member, delete_member, chat_members, is_member;
  Statement list_chats, shares_chat;

  // Attachments.
  Statement insert_attachment, get_attachment, mark_uploaded, attachment_exists;
  Statement send_attachment, insert_recipient, is_recipient, mark_fetched;
  Statement drop_unfetched, attachment_unfetched, unfetched_of_client, delete_client_recipients;
  Statement dead_attachments, delete_attachment, delete_recipients;

  // Receipts, privacy, secrets.
  Statement acked_messages, raise_delivered, raise_read, receipt_marks, set_delivered_sent;
  Statement set_read_sent, chat_receipts, get_privacy, upsert_privacy, get_secret, insert_secret;

  // Last seen.
  Statement upsert_last_seen, last_seen;

  // Sweep and stats.
  Statement expired_refs, raise_expired_heads, expired_inline;
  Statement delete_expired_inbox, delete_expired_messages, delete_expired_send_ids;
  Statement stats;
};

}  // namespace ferry::sqlite
