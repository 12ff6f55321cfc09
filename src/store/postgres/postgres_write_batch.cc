// PostgresStore::WriteBatch: send, chat membership changes, acks, presence
// updates, markRead and receipts, all ops of a batch in one transaction
// (one commit, one WAL flush per batch) sent through one Pipeline.
// Single-threaded (store.h).
//
// Round trips: each op that checks something (send, chat changes,
// markRead) waits once, for the reads it decides on (they travel together,
// behind the previous op's writes, which the server runs first, so a later
// op sees an earlier op's effects); acks, presence and receipts decide
// inside their statements and never wait. Writes are never waited for:
// their results, and the outputs derived from them (deliveries, acked), are
// read by handlers on the way. The end of the batch costs one more round
// trip (COMMIT), two if acks released messages.
//
// An op that fails a check must leave no trace while the rest of the batch
// commits: as in the SQLite backend, every op reads and checks first and
// queues writes only once it knows it will succeed. A statement that fails
// anyway fails the whole transaction, which Run() re-runs if it was a race.
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "store/chat_rules.h"
#include "store/postgres/postgres_schema.h"
#include "store/postgres/postgres_store_impl.h"
#include "store/record_codec.h"

namespace ferry::postgres {
namespace {

// A handler that appends the (client_id, user, seq) rows of deliver_message
// or deliver_event to `deliveries`.
Pipeline::Handler AppendDeliveries(std::vector<Delivery>* deliveries) {
  return [deliveries](const PgResult& r) {
    for (int row = 0; row < r.Rows(); ++row) {
      deliveries->push_back(Delivery{r.Text(row, 0), r.Text(row, 1), r.Int(row, 2)});
    }
  };
}

// A handler that appends the mark a raise_* statement returned, if it rose.
Pipeline::Handler AppendMove(std::vector<MarkMove>* moved, const std::string& chat_id,
                             ReceiptKind kind) {
  return [moved, chat_id, kind](const PgResult& r) {
    if (r.Rows() == 0) return;  // the mark was already there or higher
    moved->push_back(MarkMove{chat_id, kind, Position{r.Int(0, 0), r.Text(0, 1)}});
  };
}

}  // namespace

Result<void> PostgresStore::WriteBatch(std::span<const WriteOp> ops) {
  return Run("WriteBatch", OnConflict::retry, [&]() -> Result<void> {
    releases_.clear();
    Pipeline p(conn_);
    p.Begin();
    LockBatch(p, ops);
    bool acks = false;
    for (const WriteOp& op : ops) {
      acks = acks || std::holds_alternative<AckOp*>(op);
      std::visit([&](auto* typed) { Apply(p, *typed); }, op);
    }
    if (acks) {
      // The acks' handlers collect what they released into releases_; no
      // op reads a message's refs, so releasing once at the end is the same
      // as releasing at each ack, in one statement per batch.
      p.ReadAll();
      QueueReleases(p, releases_);
    }
    p.Commit();
    return {};
  });
}

void PostgresStore::LockBatch(Pipeline& p, std::span<const WriteOp> ops) {
  std::vector<std::string> clients, users, user_skips, chats, chat_skips;
  std::vector<std::string> receipt_chats, receipt_owners, receipt_fanouts;
  for (const WriteOp& op : ops) {
    if (auto* send = std::get_if<SendOp*>(&op)) {
      chats.push_back((*send)->message.chat_id);
      chat_skips.push_back((*send)->message.sender_client);
    } else if (auto* chat = std::get_if<ChatOp*>(&op)) {
      const ChatOp& c = **chat;
      if (c.kind != ChatOp::Kind::create) {
        chats.push_back(c.chat_id);
        chat_skips.push_back(c.actor_client);
      }
      for (const std::string& user : chat_rules::NamedUsers(c)) {
        users.push_back(user);
        user_skips.push_back(c.actor_client);
      }
    } else if (auto* ack = std::get_if<AckOp*>(&op)) {
      clients.push_back((*ack)->client_id);
    } else if (auto* presence = std::get_if<PresenceOp*>(&op)) {
      clients.push_back((*presence)->client_id);
    } else if (auto* receipt = std::get_if<ReceiptOp*>(&op)) {
      // A markRead writes no client row; a receipt writes the other
      // members' and, for `read`, the user's own.
      const ReceiptOp& r = **receipt;
      receipt_chats.push_back(r.chat_id);
      receipt_owners.push_back(r.user);
      receipt_fanouts.push_back(std::to_string(LimitParam(r.fanout_max)));
      if (r.kind == ReceiptKind::read) {
        users.push_back(r.user);
        user_skips.push_back(r.actor_client);
      }
    }
  }
  // Not waited for: the server runs it before the ops' statements.
  p.Queue(Query::lock_batch, Params()
                                 .Add(clients)
                                 .Add(users)
                                 .Add(user_skips)
                                 .Add(chats)
                                 .Add(chat_skips)
                                 .Add(receipt_chats)
                                 .Add(receipt_owners)
                                 .Add(receipt_fanouts));
}

namespace {

// The outcome of a queued share_chat and is_member pair: not_found (no such
// chat), forbidden (not a member) or ok.
Errc Membership(Pipeline& p, Pipeline::Slot chat, Pipeline::Slot member) {
  if (p.Get(chat).Rows() == 0) return Errc::not_found;
  if (p.Get(member).Rows() == 0) return Errc::forbidden;
  return Errc::ok;
}

}  // namespace

void PostgresStore::Apply(Pipeline& p, SendOp& op) {
  op.status = Errc::ok;
  op.duplicate = false;
  op.deliveries.clear();
  Message& m = op.message;
  m.attachments.clear();  // filled in from op.attachment_ids once they pass

  // The reads, in one round trip. share_chat locks the chat (shared) before
  // is_member reads the membership, so no member change can commit between
  // that check and the delivery below; lock_attachments makes a concurrent
  // send of the same attachment wait, and then see it sent.
  Pipeline::Slot seen = p.Queue(Query::send_id, Params().Add(m.sender_client).Add(m.client_msg_id));
  Pipeline::Slot chat = p.Queue(Query::share_chat, Params().Add(m.chat_id));
  Pipeline::Slot member = p.Queue(Query::is_member, Params().Add(m.chat_id).Add(m.sender));
  std::optional<Pipeline::Slot> attachments;
  if (!op.attachment_ids.empty()) {
    attachments = p.Queue(Query::lock_attachments, Params().Add(op.attachment_ids));
  }

  // Duplicate first: a retried send must get its original ids back even if
  // the sender has left the chat since.
  const PgResult& first = p.Get(seen);
  if (first.Rows() > 0) {
    m.message_id = first.Text(0, 0);
    m.ts = first.Int(0, 1);
    op.duplicate = true;
    return;
  }
  op.status = Membership(p, chat, member);
  if (op.status != Errc::ok) return;
  if (attachments) {
    op.status = CheckAttachments(op, p.Get(*attachments));
    if (op.status != Errc::ok) return;
  }

  // The idempotency record goes first: if another instance is committing
  // the same send, this waits for it and fails as a conflict before any seq
  // is taken. It is kept even when nobody receives the message.
  p.Queue(Query::insert_send_id, Params()
                                     .Add(m.sender_client)
                                     .Add(m.client_msg_id)
                                     .Add(m.message_id)
                                     .Add(m.ts)
                                     .Add(op.expires));
  p.Queue(Query::deliver_message,
          Params()
              .Add(m.chat_id)
              .Add(m.sender_client)
              .Add(m.message_id)
              .Add(m.ts)
              .Add(op.expires)
              .Add(m.sender)
              .Add(m.client_msg_id)
              .Add(m.body)
              .Add(record_codec::EncodeAttachments(m.attachments))
              .Add(op.attachment_ids),
          AppendDeliveries(&op.deliveries));
}

void PostgresStore::Apply(Pipeline& p, ChatOp& op) {
  op.status = Errc::ok;
  op.event.reset();
  op.deliveries.clear();
  if (op.kind == ChatOp::Kind::create) return CreateChat(p, op);
  std::vector<std::string> current;
  op.status = CheckMemberChange(p, op, &current);
  if (op.status != Errc::ok) return;
  WriteMemberChange(p, op,
                    op.kind == ChatOp::Kind::add ? chat_rules::Add(op, std::move(current))
                                                 : chat_rules::Remove(op, std::move(current)));
}

void PostgresStore::CreateChat(Pipeline& p, ChatOp& op) {
  chat_rules::MemberChange change = chat_rules::Create(op);
  if (change.status == Errc::ok) {
    // Users are never deleted, so "they all exist" cannot change before commit.
    const PgResult& known = p.Get(p.Queue(Query::count_users, Params().Add(change.insert)));
    if (static_cast<std::size_t>(known.Int(0, 0)) != change.insert.size()) {
      op.status = Errc::not_found;
      return;
    }
    p.Queue(Query::insert_chat,
            Params().Add(op.chat_id).Add(op.name).Add(op.actor_user).Add(op.now));
  }
  WriteMemberChange(p, op, std::move(change));
}

Errc PostgresStore::CheckMemberChange(Pipeline& p, const ChatOp& op,
                                      std::vector<std::string>* current) {
  // The chat's row lock first: the reads after it run once it is held, so
  // a change of the same chat on another instance has either committed
  // (and is counted) or waits for this transaction. That is what keeps
  // max_members when two instances add at once.
  std::vector<std::string> named = chat_rules::NamedUsers(op);
  Pipeline::Slot chat = p.Queue(Query::lock_chat, Params().Add(op.chat_id));
  Pipeline::Slot actor = p.Queue(Query::is_member, Params().Add(op.chat_id).Add(op.actor_user));
  Pipeline::Slot users = p.Queue(Query::count_users, Params().Add(named));
  Pipeline::Slot members = p.Queue(Query::chat_members, Params().Add(op.chat_id));
  if (p.Get(chat).Rows() == 0) return Errc::not_found;
  if (p.Get(actor).Rows() == 0) return Errc::forbidden;
  if (static_cast<std::size_t>(p.Get(users).Int(0, 0)) != named.size()) return Errc::not_found;
  const PgResult& rows = p.Get(members);
  for (int row = 0; row < rows.Rows(); ++row) current->push_back(rows.Text(row, 0));
  return Errc::ok;
}

void PostgresStore::WriteMemberChange(Pipeline& p, ChatOp& op, chat_rules::MemberChange change) {
  op.status = change.status;
  if (op.status != Errc::ok || !change.event) return;
  if (!change.insert.empty()) {
    p.Queue(Query::insert_members, Params().Add(op.chat_id).Add(change.insert));
  }
  if (!change.remove.empty()) {
    p.Queue(Query::delete_members, Params().Add(op.chat_id).Add(change.remove));
  }
  op.event = std::move(change.event);
  DeliverEvent(p, op, change.notify);
}

void PostgresStore::DeliverEvent(Pipeline& p, ChatOp& op, const std::vector<std::string>& users) {
  p.Queue(Query::deliver_event,
          Params()
              .Add(users)
              .Add(op.actor_client)
              .Add(record_codec::EncodeChatEvent(*op.event))
              .Add(op.now)
              .Add(op.expires),
          AppendDeliveries(&op.deliveries));
}

void PostgresStore::Apply(Pipeline& p, AckOp& op) {
  op.status = Errc::ok;
  op.acked = 0;
  op.moved.clear();
  // Entries at or below acked_seq are deleted by the second statement;
  // every later entry gets a seq above head_seq, so the clamp means none is
  // acknowledged in advance.
  p.Queue(Query::ack_client, Params().Add(op.client_id).Add(op.up_to), [&op](const PgResult& r) {
    if (r.Rows() == 0) {
      op.status = Errc::not_found;
    } else {
      op.acked = r.Int(0, 0);
    }
  });
  // The marks rise in the statement that deletes the entries, from exactly
  // the entries it deleted: what the client acknowledged, nothing an
  // earlier ack or the sweeper already took.
  p.Queue(Query::ack_inbox, Params().Add(op.client_id).Add(op.user),
          [this, &op](const PgResult& r) {
            for (int row = 0; row < r.Rows(); ++row) {
              if (!r.IsNull(row, 0)) {
                ++releases_[r.Text(row, 0)];
              } else {
                op.moved.push_back(MarkMove{r.Text(row, 1), ReceiptKind::delivered,
                                            Position{r.Int(row, 2), r.Text(row, 3)}});
              }
            }
          });
}

void PostgresStore::Apply(Pipeline& p, PresenceOp& op) {
  op.status = Errc::ok;
  p.Queue(Query::touch_client, Params().Add(op.client_id).Add(op.now),
          [&op](const PgResult& r) { op.status = r.Affected() == 0 ? Errc::not_found : Errc::ok; });
  if (op.last_seen) p.Queue(Query::upsert_last_seen, Params().Add(op.user).Add(op.now));
}

void PostgresStore::Apply(Pipeline& p, MarkReadOp& op) {
  op.status = Errc::ok;
  op.moved.clear();
  // As a send: share_chat holds the chat's lock (shared) from the check to
  // the commit, so a member removed meanwhile cannot still move its marks.
  Pipeline::Slot chat = p.Queue(Query::share_chat, Params().Add(op.chat_id));
  Pipeline::Slot member = p.Queue(Query::is_member, Params().Add(op.chat_id).Add(op.user));
  op.status = Membership(p, chat, member);
  if (op.status != Errc::ok) return;
  if (op.up_to.empty()) return;  // "no position": no mark is below it
  // Two raises of one row, read first: a new row then starts with only
  // read set, so the second statement sees delivered rise too and reports
  // it. The first one locks the row (whether or not it rose), so nothing
  // moves it between the two. If read did not rise, delivered cannot
  // either: every write keeps delivered >= read.
  Params at = Params().Add(op.chat_id).Add(op.user).Add(op.up_to.ts).Add(op.up_to.message_id);
  p.Queue(Query::raise_read, at, AppendMove(&op.moved, op.chat_id, ReceiptKind::read));
  p.Queue(Query::raise_delivered, at, AppendMove(&op.moved, op.chat_id, ReceiptKind::delivered));
}

void PostgresStore::Apply(Pipeline& p, ReceiptOp& op) {
  op.status = Errc::ok;
  op.receipt.reset();
  op.deliveries.clear();
  // The statement claims the mark and writes the entries; the JSON is the
  // codec's, all but the position, which the claim fills in on the server.
  Receipt receipt{op.chat_id, op.user, op.kind, Position{}, op.now};
  bool read = op.kind == ReceiptKind::read;
  Params params = Params()
                      .Add(op.chat_id)
                      .Add(op.user)
                      .Add(op.actor_client)
                      .Add(LimitParam(op.fanout_max))
                      .Add(record_codec::EncodeReceipt(receipt))
                      .Add(op.now)
                      .Add(op.expires);
  if (read) params.AddBool(Privacy{}.read_receipts);
  p.Queue(read ? Query::deliver_read_receipt : Query::deliver_delivered_receipt, params,
          [&op, receipt](const PgResult& r) mutable {
            if (r.Rows() == 0) return;  // not above the last receipt written
            receipt.up_to = Position{r.Int(0, 0), r.Text(0, 1)};
            op.receipt = std::move(receipt);
            for (int row = 0; row < r.Rows(); ++row) {
              if (r.IsNull(row, 2)) continue;  // claimed, but nobody to tell
              op.deliveries.push_back(Delivery{r.Text(row, 2), r.Text(row, 3), r.Int(row, 4)});
            }
          });
}

}  // namespace ferry::postgres
