// SqliteStore: the Store implementation behind OpenSqliteStore. Internal to
// src/store/sqlite; split over sqlite_store.cc (accounts, reads, sweep) and
// sqlite_write_batch.cc (WriteBatch: send, chat changes, ack) and
// sqlite_attachments.cc (attachment records).
//
// Threading: as store.h, one caller at a time; the connection is opened
// with SQLITE_OPEN_NOMUTEX.
#pragma once

#include <sqlite3.h>

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "common/log.h"
#include "store/chat_rules.h"
#include "store/sqlite/sqlite_queries.h"
#include "store/sqlite/sqlite_statement.h"
#include "store/store.h"

namespace ferry::sqlite {

// Owns a sqlite3 handle; closes it last, after every statement is finalized.
class Connection {
 public:
  explicit Connection(sqlite3* db) : db_(db) {}
  ~Connection() { sqlite3_close_v2(db_); }
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;
  sqlite3* get() const { return db_; }

 private:
  sqlite3* db_;
};

// Lets the caches below be searched with a string_view, without building a
// std::string key per lookup.
struct StringHash {
  using is_transparent = void;
  std::size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
};
template <class V>
using StringMap = std::unordered_map<std::string, V, StringHash, std::equal_to<>>;

// The store's SQLite failures for the log, without a line per call when one
// failure repeats: a full disk fails every write the same way, a thousand
// times a second, and the log is often on that disk. A failure of the same
// call with the same SQLite code as the last one logged is only counted,
// for up to kRepeatInterval; the next line says how many it left out.
class FailureLog {
 public:
  static constexpr std::chrono::seconds kRepeatInterval{10};
  void Report(const char* what, const SqliteError& error);

 private:
  std::string last_what_;
  int last_code_ = 0;
  std::chrono::steady_clock::time_point last_logged_{};
  std::int64_t unlogged_ = 0;  // failures since the last line
};

class SqliteStore final : public Store {
 public:
  // Takes a configured connection whose schema is current. Throws
  // SqliteError if a statement cannot be prepared.
  explicit SqliteStore(std::unique_ptr<Connection> connection);

  Result<void> CreateUser(const std::string& user, const std::string& password_hash,
                          Millis now) override;
  Result<std::string> PasswordHash(const std::string& user) override;
  Result<LoginResult> Login(const LoginRequest& request) override;
  Result<ClientInfo> Authenticate(const std::string& token_hash) override;
  Result<std::vector<ClientInfo>> ListClients(const std::string& user) override;
  Result<void> DeleteClient(const std::string& user, const std::string& client_id) override;
  Result<void> TouchClient(const std::string& client_id, Millis now) override;
  Result<std::vector<ChatInfo>> ListChats(const std::string& user) override;
  Result<bool> SharesChat(const std::string& a, const std::string& b) override;
  Result<InboxPage> ReadInbox(const std::string& client_id, Seq after, std::size_t limit) override;
  Result<void> SetLastSeen(const std::string& user, Millis ts) override;
  Result<std::optional<Millis>> GetLastSeen(const std::string& user) override;
  Result<void> WriteBatch(std::span<const WriteOp> ops) override;
  Result<void> CreateAttachment(const Attachment& attachment) override;
  Result<Attachment> GetAttachment(const std::string& attachment_id) override;
  Result<void> MarkUploaded(const std::string& attachment_id, Millis expires) override;
  Result<bool> IsRecipient(const std::string& attachment_id, const std::string& client_id) override;
  Result<bool> RecordFetch(const std::string& attachment_id, const std::string& client_id) override;
  Result<std::vector<std::string>> DeadAttachments(Millis now, std::size_t limit) override;
  Result<void> DeleteAttachments(const std::vector<std::string>& attachment_ids) override;
  Result<SweepResult> Sweep(Millis now) override;
  Result<InboxStats> Stats() override;
  Result<std::vector<MemberReceipts>> ChatReceipts(const std::string& chat_id,
                                                   const std::string& user) override;
  Result<Privacy> GetPrivacy(const std::string& user) override;
  Result<Privacy> SetPrivacy(const std::string& user, std::optional<bool> read_receipts,
                             std::optional<bool> last_seen_visible) override;
  Result<ChatRoster> Roster(const std::string& chat_id) override;
  Result<std::string> Secret(const std::string& name, const std::string& candidate) override;

 private:
  // Runs `body`, turning a SqliteError into a logged Errc::unavailable.
  template <class Body>
  auto Guarded(const char* what, Body&& body) -> decltype(body());

  Transaction Begin() { return Transaction(db(), q_.begin, q_.commit, q_.rollback); }
  // Forgets everything cached: after a failed call, whose transaction
  // rolled back writes the caches had already taken in.
  void DropCaches();
  sqlite3* db() const { return connection_->get(); }
  std::int64_t Changes() const { return sqlite3_changes64(db()); }

  // The store is the database's only writer (store.h), so it keeps each
  // client's seqs in memory instead of updating clients.head_seq for every
  // entry (sqlite_schema.cc says what the column still holds).
  struct ClientSeqs {
    Seq head = 0;
    Seq acked = 0;
  };
  // The client's seqs, read from the database on first use; null if the
  // client is unknown or deleted. The pointer is valid until the next call.
  // Emptying this cache is always safe, even inside a transaction: the read
  // sees the transaction's own entries.
  ClientSeqs* SeqsOf(std::string_view client_id);
  // The same for a read: from the cache if there, else from the database
  // without caching it, so that the many clients that only connect (and
  // read their heads) cost no memory here; the writers fill the cache.
  std::optional<ClientSeqs> PeekSeqs(std::string_view client_id);
  // A chat's members, each with one of its active clients (empty if the
  // member has none), as chat_recipients reads them: what every send to the
  // chat needs, cached until the chat's members or anyone's clients change.
  struct Recipient {
    std::string user;
    std::string client_id;
  };
  const std::vector<Recipient>& RecipientsOf(std::string_view chat_id);

  // Shared helpers (sqlite_store.cc).
  bool UserExists(std::string_view user);
  bool ChatExists(std::string_view chat_id);
  std::vector<ClientInfo> ActiveClients(std::string_view user);
  // Deletes the client's inbox entries with seq <= up_to and releases the
  // messages they referred to (deleted once no entry refers to them). Inside
  // WriteBatch the releases are only counted, in batch_releases_, and
  // applied once per message at the end of the batch: the acks of a group
  // message's 99 recipients in one commit cost one statement, not 99.
  void ReleaseInbox(std::string_view client_id, Seq up_to);
  // Drops `count` references to a message, deleting it at zero. Returns
  // true if it was deleted.
  bool ReleaseMessage(std::string_view message_id, std::int64_t count);

  // Removes the client's attachment recipient rows, counting each one it
  // had not fetched off its attachment's `unfetched` (sqlite_attachments.cc).
  void DropRecipient(std::string_view client_id);
  // Send's attachment checks (sqlite_attachments.cc): ok with op.message.
  // attachments filled in, or the status the send fails with. Writes nothing.
  Errc CheckAttachments(SendOp& op);
  // Marks op's (checked) attachments sent to op.deliveries.
  void SendAttachments(const SendOp& op);

  // WriteBatch ops (sqlite_write_batch.cc). Each checks everything before
  // writing anything, so a failed op leaves no trace in the transaction.
  void Apply(SendOp& op);
  void Apply(ChatOp& op);
  void Apply(AckOp& op);
  void Apply(PresenceOp& op);
  // sqlite_receipts.cc
  void Apply(MarkReadOp& op);
  void Apply(ReceiptOp& op);
  // An ack of (after, up_to], before its entries go: raises op.user's
  // delivered mark per chat to the highest message others sent among them.
  void RaiseDelivered(AckOp& op, Seq after, Seq up_to);
  // Raises a mark; true if it rose.
  bool RaiseMark(ReceiptKind kind, std::string_view chat_id, std::string_view user,
                 const Position& to);
  Privacy PrivacyOf(std::string_view user);
  // The chat's own row, then the change chat_rules::Create decided.
  void CreateChat(ChatOp& op);
  // Checks shared by add/remove: chat exists, actor is a member, every
  // named user exists. Returns the chat's current members.
  Errc CheckMemberChange(const ChatOp& op, std::vector<std::string>* current);
  // Writes what the chat rules decided (members, the event and its
  // deliveries) and sets op's outputs; nothing if the change failed or
  // changes nothing.
  void WriteMemberChange(ChatOp& op, chat_rules::MemberChange change);
  // Appends op.event to the inbox of every active client of `users` except
  // op.actor_client, filling op.deliveries.
  void DeliverEvent(ChatOp& op, const std::vector<std::string>& users);
  // Inserts the client's entry `seq` (its head + 1, read by the caller
  // through SeqsOf in this transaction) of a chat event or a shared message,
  // and advances its head.
  void AppendInbox(std::string_view client_id, Seq seq, int kind, std::string_view message_id,
                   std::string_view event, Millis created, Millis expires);
  // Likewise, for an entry holding the whole message (kKindInlineMessage).
  void AppendInlineMessage(std::string_view client_id, Seq seq, const Message& message,
                           std::string_view attachments, Millis expires);

  std::unique_ptr<Connection> connection_;  // declared first: closed last
  Queries q_;
  FailureLog failure_log_;
  // message_id -> references released, while a WriteBatch runs (else null).
  std::unordered_map<std::string, std::int64_t>* batch_releases_ = nullptr;
  // Caches of SeqsOf and RecipientsOf, each emptied when it outgrows its cap.
  StringMap<ClientSeqs> seqs_;
  StringMap<std::vector<Recipient>> recipients_;
};

// SQLite failures surface as SqliteError from deep inside a statement
// sequence; catching them here, once per public call, keeps every op a
// straight line of statements. An open Transaction has already rolled back
// during unwinding, so the store is consistent when this returns.
template <class Body>
auto SqliteStore::Guarded(const char* what, Body&& body) -> decltype(body()) {
  try {
    return body();
  } catch (const SqliteError& e) {
    failure_log_.Report(what, e);
    DropCaches();
    // in_place_error: Result<bool> cannot tell an error_code from a bool.
    return decltype(body())(boost::system::in_place_error, make_error_code(Errc::unavailable));
  }
}

}  // namespace ferry::sqlite
