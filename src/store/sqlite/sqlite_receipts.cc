// SqliteStore's receipts (protocol v1.1): the two marks per (chat, member),
// raised by acks and markRead, the `receipt` entries that report them, and
// chatReceipts, privacy, rosters and secrets. Single-threaded (store.h).
//
// A mark is one row per (chat, member) in `receipts`, raised by an upsert
// whose WHERE compares positions, so a lower one changes nothing and the
// statement's change count says whether it rose. The *_sent columns hold
// what the last `receipt` entry reported: ReceiptOp writes one only above it.
#include <algorithm>
#include <map>
#include <set>

#include "store/record_codec.h"
#include "store/sqlite/sqlite_schema.h"
#include "store/sqlite/sqlite_store_impl.h"

namespace ferry::sqlite {
namespace {

boost::system::error_code Err(Errc e) { return make_error_code(e); }

// (0, '') in the table is no position.
std::optional<Position> PositionOrNone(Millis ts, std::string id) {
  if (id.empty()) return std::nullopt;
  return Position{ts, std::move(id)};
}

}  // namespace

bool SqliteStore::RaiseMark(ReceiptKind kind, std::string_view chat_id, std::string_view user,
                            const Position& to) {
  Statement& raise = kind == ReceiptKind::read ? q_.raise_read : q_.raise_delivered;
  Cursor(raise).Bind(1, chat_id).Bind(2, user).Bind(3, to.ts).Bind(4, to.message_id).Exec();
  return Changes() > 0;
}

void SqliteStore::RaiseDelivered(AckOp& op, Seq after, Seq up_to) {
  // The highest message per chat among the acked entries: one write per chat.
  std::map<std::string, Position> highest;
  {
    Cursor c(q_.acked_messages);
    c.Bind(1, op.client_id).Bind(2, after).Bind(3, up_to).Bind(4, op.user);
    while (c.Next()) {
      Position p{c.Int(1), c.Text(2)};
      auto [it, inserted] = highest.try_emplace(c.Text(0), p);
      if (!inserted && it->second < p) it->second = std::move(p);
    }
  }
  for (auto& [chat_id, position] : highest) {
    if (RaiseMark(ReceiptKind::delivered, chat_id, op.user, position)) {
      op.moved.push_back(MarkMove{chat_id, ReceiptKind::delivered, std::move(position)});
    }
  }
}

void SqliteStore::Apply(MarkReadOp& op) {
  op.status = Errc::ok;
  op.moved.clear();
  if (!ChatExists(op.chat_id)) {
    op.status = Errc::not_found;
    return;
  }
  if (!Cursor(q_.is_member).Bind(1, op.chat_id).Bind(2, op.user).Next()) {
    op.status = Errc::forbidden;
    return;
  }
  // Reading a message means having it: delivered rises to at least read.
  for (ReceiptKind kind : {ReceiptKind::read, ReceiptKind::delivered}) {
    if (RaiseMark(kind, op.chat_id, op.user, op.up_to)) {
      op.moved.push_back(MarkMove{op.chat_id, kind, op.up_to});
    }
  }
}

void SqliteStore::Apply(ReceiptOp& op) {
  op.status = Errc::ok;
  op.receipt.reset();
  op.deliveries.clear();
  const bool read = op.kind == ReceiptKind::read;
  Position mark, sent;
  {
    Cursor c(q_.receipt_marks);
    if (!c.Bind(1, op.chat_id).Bind(2, op.user).Next()) return;  // no mark yet
    int at = read ? 2 : 0;
    mark = Position{c.Int(at), c.Text(at + 1)};
    sent = Position{c.Int(at + 4), c.Text(at + 5)};
  }
  if (mark.empty() || mark <= sent) return;  // reported already
  Statement& set_sent = read ? q_.set_read_sent : q_.set_delivered_sent;
  Cursor(set_sent)
      .Bind(1, op.chat_id)
      .Bind(2, op.user)
      .Bind(3, mark.ts)
      .Bind(4, mark.message_id)
      .Exec();

  // Who hears of it: the other members (a small chat; `read` only if the
  // member shows it), and for `read` the member's own other clients.
  std::vector<std::pair<std::string, std::string>> to;  // (client, user)
  {
    const std::vector<Recipient>& recipients = RecipientsOf(op.chat_id);
    std::set<std::string_view> members;
    for (const Recipient& r : recipients) members.insert(r.user);
    bool others = members.size() <= op.fanout_max && (!read || PrivacyOf(op.user).read_receipts);
    for (const Recipient& r : recipients) {
      if (r.client_id.empty()) continue;
      bool own = r.user == op.user;
      if (own ? (read && r.client_id != op.actor_client) : others) {
        to.emplace_back(r.client_id, r.user);
      }
    }
  }
  op.receipt = Receipt{op.chat_id, op.user, op.kind, mark, op.now};
  std::string encoded = record_codec::EncodeReceipt(*op.receipt);
  for (auto& [client_id, user] : to) {
    if (const ClientSeqs* seqs = SeqsOf(client_id)) {
      op.deliveries.push_back(Delivery{std::move(client_id), std::move(user), seqs->head + 1});
    }
  }
  for (const Delivery& d : op.deliveries) {
    AppendInbox(d.client_id, d.seq, kKindReceipt, {}, encoded, op.now, op.expires);
  }
}

Result<std::vector<MemberReceipts>> SqliteStore::ChatReceipts(const std::string& chat_id,
                                                              const std::string& user) {
  return Guarded("ChatReceipts", [&]() -> Result<std::vector<MemberReceipts>> {
    if (!ChatExists(chat_id)) return Err(Errc::not_found);
    if (!Cursor(q_.is_member).Bind(1, chat_id).Bind(2, user).Next()) return Err(Errc::forbidden);
    std::vector<MemberReceipts> rows;
    Cursor c(q_.chat_receipts);
    c.Bind(1, chat_id).Bind(2, user);
    while (c.Next()) {
      MemberReceipts row;
      row.user = c.Text(0);
      row.delivered = PositionOrNone(c.Int(1), c.Text(2));
      if (c.Int(5) != 0) row.read = PositionOrNone(c.Int(3), c.Text(4));
      rows.push_back(std::move(row));
    }
    return rows;
  });
}

Privacy SqliteStore::PrivacyOf(std::string_view user) {
  Privacy privacy;
  Cursor c(q_.get_privacy);
  if (c.Bind(1, user).Next()) {
    privacy.read_receipts = c.Int(0) != 0;
    privacy.last_seen_visible = c.Int(1) != 0;
  }
  return privacy;
}

Result<Privacy> SqliteStore::GetPrivacy(const std::string& user) {
  return Guarded("GetPrivacy", [&]() -> Result<Privacy> { return PrivacyOf(user); });
}

Result<Privacy> SqliteStore::SetPrivacy(const std::string& user, std::optional<bool> read_receipts,
                                        std::optional<bool> last_seen_visible) {
  return Guarded("SetPrivacy", [&]() -> Result<Privacy> {
    Transaction tx = Begin();
    if (!UserExists(user)) return Err(Errc::not_found);
    Privacy privacy = PrivacyOf(user);
    if (read_receipts) privacy.read_receipts = *read_receipts;
    if (last_seen_visible) privacy.last_seen_visible = *last_seen_visible;
    Cursor(q_.upsert_privacy)
        .Bind(1, user)
        .Bind(2, std::int64_t{privacy.read_receipts})
        .Bind(3, std::int64_t{privacy.last_seen_visible})
        .Exec();
    tx.Commit();
    return privacy;
  });
}

Result<ChatRoster> SqliteStore::Roster(const std::string& chat_id) {
  return Guarded("Roster", [&]() -> Result<ChatRoster> {
    if (!ChatExists(chat_id)) return Err(Errc::not_found);
    ChatRoster roster;
    for (const Recipient& r : RecipientsOf(chat_id)) {
      roster.members.push_back(r.user);
      if (!r.client_id.empty()) roster.clients.push_back(Delivery{r.client_id, r.user, 0});
    }
    std::sort(roster.members.begin(), roster.members.end());
    roster.members.erase(std::unique(roster.members.begin(), roster.members.end()),
                         roster.members.end());
    return roster;
  });
}

Result<std::string> SqliteStore::Secret(const std::string& name, const std::string& candidate) {
  return Guarded("Secret", [&]() -> Result<std::string> {
    Cursor(q_.insert_secret).Bind(1, name).Bind(2, candidate).Exec();
    Cursor c(q_.get_secret);
    if (!c.Bind(1, name).Next()) throw SqliteError(SQLITE_CORRUPT, "meta row vanished: " + name);
    return c.Text(0);
  });
}

}  // namespace ferry::sqlite
