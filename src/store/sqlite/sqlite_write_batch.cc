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

namespace {

// The head only ever grows, so a seq is never reused even after the entries
// below it are deleted. A cache dropped since the caller read the head has
// nothing to advance: it reloads from the entries themselves.
template <class Seqs>
void Advance(Seqs& seqs, std::string_view client_id, Seq seq) {
  if (auto it = seqs.find(client_id); it != seqs.end()) it->second.head = seq;
}

}  // namespace

void SqliteStore::AppendInbox(std::string_view client_id, Seq seq, int kind,
                              std::string_view message_id, std::string_view event, Millis created,
                              Millis expires) {
  Cursor insert(q_.insert_inbox);
  insert.Bind(1, client_id).Bind(2, seq).Bind(3, kind);
  if (kind == kKindMessage) {
    insert.Bind(4, message_id).BindNull(5);
  } else {
    insert.BindNull(4).Bind(5, event);
  }
  insert.Bind(6, created).Bind(7, expires);
  for (int column = 8; column <= 13; ++column) insert.BindNull(column);
  insert.Exec();
  Advance(seqs_, client_id, seq);
}

void SqliteStore::AppendInlineMessage(std::string_view client_id, Seq seq, const Message& m,
                                      std::string_view attachments, Millis expires) {
  Cursor(q_.insert_inbox)
      .Bind(1, client_id)
      .Bind(2, seq)
      .Bind(3, kKindInlineMessage)
      .Bind(4, m.message_id)
      .BindNull(5)
      .Bind(6, m.ts)
      .Bind(7, expires)
      .Bind(8, m.chat_id)
      .Bind(9, m.sender)
      .Bind(10, m.sender_client)
      .Bind(11, m.client_msg_id)
      .Bind(12, m.body)
      .Bind(13, attachments)
      .Exec();
  Advance(seqs_, client_id, seq);
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

  // The chat's recipients give the membership check too; each client
  // appears once, so its head + 1 is its entry's seq.
  bool sender_is_member = false;
  for (const Recipient& r : RecipientsOf(m.chat_id)) {
    if (r.user == m.sender) sender_is_member = true;
    if (r.client_id.empty() || r.client_id == m.sender_client) continue;
    const ClientSeqs* seqs = SeqsOf(r.client_id);
    if (seqs == nullptr) continue;  // deleted since it was cached: not a recipient
    op.deliveries.push_back(Delivery{r.client_id, r.user, seqs->head + 1});
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
  // is not stored; its idempotency record still is. One recipient client
  // gets the whole message in its entry; more share one `messages` row.
  std::string attachments = record_codec::EncodeAttachments(m.attachments);
  if (op.deliveries.size() > 1) {
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
  if (op.deliveries.size() == 1) {
    AppendInlineMessage(op.deliveries[0].client_id, op.deliveries[0].seq, m, attachments,
                        op.expires);
  } else {
    for (const Delivery& d : op.deliveries) {
      AppendInbox(d.client_id, d.seq, kKindMessage, m.message_id, {}, m.ts, op.expires);
    }
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
  if (auto it = recipients_.find(op.chat_id); it != recipients_.end()) recipients_.erase(it);
  op.event = std::move(change.event);
  DeliverEvent(op, change.notify);
}

void SqliteStore::DeliverEvent(ChatOp& op, const std::vector<std::string>& users) {
  std::string encoded = record_codec::EncodeChatEvent(*op.event);
  for (const std::string& user : users) {
    // Collected before appending, as SeqsOf runs statements of its own.
    std::size_t first = op.deliveries.size();
    std::vector<std::string> clients;
    {
      Cursor c(q_.active_clients_of_user);
      c.Bind(1, user);
      while (c.Next()) {
        if (c.TextView(0) != op.actor_client) clients.push_back(c.Text(0));
      }
    }
    for (std::string& client : clients) {
      if (const ClientSeqs* seqs = SeqsOf(client)) {
        op.deliveries.push_back(Delivery{std::move(client), user, seqs->head + 1});
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
  op.moved.clear();
  ClientSeqs* seqs = SeqsOf(op.client_id);
  if (seqs == nullptr) {
    op.status = Errc::not_found;
    return;
  }
  // Entries <= acked are gone already and every later entry gets a seq
  // above the head, so only (acked, min(up_to, head)] has work to do.
  Seq up_to = std::min(op.up_to, seqs->head);
  if (up_to > seqs->acked) {
    // acked_seq is written in the commit that deletes the entries, so the
    // head stays known without them (sqlite_schema.cc).
    Cursor(q_.set_acked).Bind(1, op.client_id).Bind(2, up_to).Exec();
    Seq after = seqs->acked;
    seqs->acked = up_to;
    RaiseDelivered(op, after, up_to);
    ReleaseInbox(op.client_id, up_to);
  }
  op.acked = seqs->acked;
}

void SqliteStore::Apply(PresenceOp& op) {
  Cursor(q_.touch_client).Bind(1, op.client_id).Bind(2, op.now).Exec();
  op.status = Changes() == 0 ? Errc::not_found : Errc::ok;
  if (op.last_seen) Cursor(q_.upsert_last_seen).Bind(1, op.user).Bind(2, op.now).Exec();
}

}  // namespace ferry::sqlite
