// SqliteStore::WriteBatch: send, chat membership changes, acks and presence
// updates, all ops
// of a batch in one BEGIN IMMEDIATE transaction (one fsync per batch).
// Single-threaded (store.h).
//
// An op that fails a check must leave no trace while the rest of the batch
// commits. Rather than a SAVEPOINT per op, every op does all of its reads
// and checks first and writes only once it knows it will succeed; a SQLite
// error mid-op aborts the whole batch anyway.
#include <algorithm>
#include <string>
#include <unordered_map>
#include <variant>
#include <vector>

#include "store/chat_rules.h"
#include "store/record_codec.h"
#include "store/sqlite/sqlite_schema.h"
#include "store/sqlite/sqlite_store_impl.h"

namespace ferry::sqlite {

Result<void> SqliteStore::WriteBatch(std::span<const WriteOp> ops) {
  return Guarded("WriteBatch", [&]() -> Result<void> {
    Transaction tx = Begin();
    std::unordered_map<std::string, std::int64_t> releases;
    batch_releases_ = &releases;
    struct Reset {
      SqliteStore* store;
      ~Reset() { store->batch_releases_ = nullptr; }
    } reset{this};
    for (const WriteOp& op : ops) {
      std::visit([this](auto* typed) { Apply(*typed); }, op);
    }
    // No op reads a message's refs, so releasing at the end is the same as
    // releasing at each ack, in one statement per message.
    batch_releases_ = nullptr;
    for (const auto& [message_id, count] : releases) ReleaseMessage(message_id, count);
    tx.Commit();
    return {};
  });
}

void SqliteStore::AppendInbox(std::string_view client_id, Seq seq, int kind,
                              std::string_view message_id, std::string_view event, Millis created,
                              Millis expires) {
  // head_seq only ever grows, so a seq is never reused even after the
  // entries below it are deleted.
  Cursor(q_.set_head).Bind(1, client_id).Bind(2, seq).Exec();
  Cursor insert(q_.insert_inbox);
  insert.Bind(1, client_id).Bind(2, seq).Bind(3, kind);
  if (kind == kKindMessage) {
    insert.Bind(4, message_id).BindNull(5);
  } else {
    insert.BindNull(4).Bind(5, event);
  }
  insert.Bind(6, created).Bind(7, expires).Exec();
}

void SqliteStore::Apply(SendOp& op) {
  op.status = Errc::ok;
  op.duplicate = false;
  op.deliveries.clear();
  Message& m = op.message;
  m.attachments.clear();  // filled in from op.attachment_ids once they pass

  // Duplicate first: a retried send must get its original ids back even if
  // the sender has left the chat since.
  {
    Cursor seen(q_.send_id);
    if (seen.Bind(1, m.sender_client).Bind(2, m.client_msg_id).Next()) {
      m.message_id = seen.Text(0);
      m.ts = seen.Int(1);
      op.duplicate = true;
      return;
    }
  }

  // One query yields the membership check, the recipients and their next
  // seqs (each client appears once, so head_seq + 1 is its entry's seq).
  bool sender_is_member = false;
  {
    Cursor c(q_.chat_recipients);
    c.Bind(1, m.chat_id);
    while (c.Next()) {
      std::string_view user = c.TextView(0);
      if (user == m.sender) sender_is_member = true;
      if (c.IsNull(1) || c.TextView(1) == m.sender_client) continue;
      op.deliveries.push_back(Delivery{c.Text(1), std::string(user), c.Int(2) + 1});
    }
  }
  if (!sender_is_member) {
    op.deliveries.clear();
    op.status = ChatExists(m.chat_id) ? Errc::forbidden : Errc::not_found;
    return;
  }
  op.status = CheckAttachments(op);
  if (op.status != Errc::ok) {
    op.deliveries.clear();
    return;
  }

  // A message nobody else receives would never be acked or released, so it
  // is not stored; its idempotency record still is.
  if (!op.deliveries.empty()) {
    std::string attachments = record_codec::EncodeAttachments(m.attachments);
    Cursor(q_.insert_message)
        .Bind(1, m.message_id)
        .Bind(2, m.chat_id)
        .Bind(3, m.sender)
        .Bind(4, m.sender_client)
        .Bind(5, m.client_msg_id)
        .Bind(6, m.ts)
        .Bind(7, m.body)
        .Bind(8, attachments)
        .Bind(9, static_cast<std::int64_t>(op.deliveries.size()))
        .Bind(10, op.expires)
        .Exec();
  }
  Cursor(q_.insert_send_id)
      .Bind(1, m.sender_client)
      .Bind(2, m.client_msg_id)
      .Bind(3, m.message_id)
      .Bind(4, m.ts)
      .Bind(5, op.expires)
      .Exec();
  for (const Delivery& d : op.deliveries) {
    AppendInbox(d.client_id, d.seq, kKindMessage, m.message_id, {}, m.ts, op.expires);
  }
  // With no deliveries the attachments are sent to nobody: no unfetched
  // recipient, so DeadAttachments reports them at once.
  SendAttachments(op);
}

void SqliteStore::Apply(ChatOp& op) {
  op.status = Errc::ok;
  op.event.reset();
  op.deliveries.clear();
  if (op.kind == ChatOp::Kind::create) return CreateChat(op);
  std::vector<std::string> current;
  op.status = CheckMemberChange(op, &current);
  if (op.status != Errc::ok) return;
  WriteMemberChange(op, op.kind == ChatOp::Kind::add ? chat_rules::Add(op, std::move(current))
                                                     : chat_rules::Remove(op, std::move(current)));
}

void SqliteStore::CreateChat(ChatOp& op) {
  chat_rules::MemberChange change = chat_rules::Create(op);
  if (change.status == Errc::ok) {
    for (const std::string& user : change.insert) {
      if (!UserExists(user)) {
        op.status = Errc::not_found;
        return;
      }
    }
    Cursor(q_.insert_chat)
        .Bind(1, op.chat_id)
        .Bind(2, op.name)
        .Bind(3, op.actor_user)
        .Bind(4, op.now)
        .Exec();
  }
  WriteMemberChange(op, std::move(change));
}

Errc SqliteStore::CheckMemberChange(const ChatOp& op, std::vector<std::string>* current) {
  if (!ChatExists(op.chat_id)) return Errc::not_found;
  if (!Cursor(q_.is_member).Bind(1, op.chat_id).Bind(2, op.actor_user).Next()) {
    return Errc::forbidden;
  }
  for (const std::string& user : chat_rules::NamedUsers(op)) {
    if (!UserExists(user)) return Errc::not_found;
  }
  Cursor c(q_.chat_members);
  c.Bind(1, op.chat_id);
  while (c.Next()) current->push_back(c.Text(0));
  return Errc::ok;
}

void SqliteStore::WriteMemberChange(ChatOp& op, chat_rules::MemberChange change) {
  op.status = change.status;
  if (op.status != Errc::ok || !change.event) return;
  for (const std::string& user : change.insert) {
    Cursor(q_.insert_member).Bind(1, op.chat_id).Bind(2, user).Exec();
  }
  for (const std::string& user : change.remove) {
    Cursor(q_.delete_member).Bind(1, op.chat_id).Bind(2, user).Exec();
  }
  op.event = std::move(change.event);
  DeliverEvent(op, change.notify);
}

void SqliteStore::DeliverEvent(ChatOp& op, const std::vector<std::string>& users) {
  std::string encoded = record_codec::EncodeChatEvent(*op.event);
  for (const std::string& user : users) {
    // Collected before appending: AppendInbox updates the clients table
    // this cursor reads.
    std::size_t first = op.deliveries.size();
    {
      Cursor c(q_.active_clients_of_user);
      c.Bind(1, user);
      while (c.Next()) {
        if (c.TextView(0) == op.actor_client) continue;
        op.deliveries.push_back(Delivery{c.Text(0), user, c.Int(1) + 1});
      }
    }
    for (std::size_t i = first; i < op.deliveries.size(); ++i) {
      const Delivery& d = op.deliveries[i];
      AppendInbox(d.client_id, d.seq, kKindChatEvent, {}, encoded, op.now, op.expires);
    }
  }
}

void SqliteStore::Apply(AckOp& op) {
  op.status = Errc::ok;
  op.acked = 0;
  Seq head = 0;
  Seq acked = 0;
  {
    Cursor c(q_.client_seqs);
    if (!c.Bind(1, op.client_id).Next()) {
      op.status = Errc::not_found;
      return;
    }
    head = c.Int(0);
    acked = c.Int(1);
  }
  // Entries <= acked_seq are gone already and every later entry gets a seq
  // above head_seq, so only (acked, min(up_to, head)] has work to do.
  Seq up_to = std::min(op.up_to, head);
  if (up_to > acked) {
    ReleaseInbox(op.client_id, up_to);
    Cursor(q_.set_acked).Bind(1, op.client_id).Bind(2, up_to).Exec();
    acked = up_to;
  }
  op.acked = acked;
}

void SqliteStore::Apply(PresenceOp& op) {
  Cursor(q_.touch_client).Bind(1, op.client_id).Bind(2, op.now).Exec();
  op.status = Changes() == 0 ? Errc::not_found : Errc::ok;
  if (op.last_seen) Cursor(q_.upsert_last_seen).Bind(1, op.user).Bind(2, op.now).Exec();
}

}  // namespace ferry::sqlite
