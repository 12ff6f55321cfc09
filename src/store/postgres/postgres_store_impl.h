// PostgresStore: the Store implementation behind OpenPostgresStore.
// Internal to src/store/postgres; split over postgres_store.cc (opening,
// accounts, reads, receipts and privacy, sweep), postgres_write_batch.cc
// (WriteBatch: send, chat changes, ack, presence, marks and receipts) and
// postgres_attachments.cc (attachment records).
//
// Every public method runs inside Run(), which (re)connects, runs the
// method's statements in one Pipeline, re-runs the whole method when it lost
// a race to another instance, and turns every other failure into a logged
// Errc::unavailable.
//
// Threading: as store.h, one caller at a time.
#pragma once

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <limits>
#include <map>
#include <optional>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "common/log.h"
#include "store/chat_rules.h"
#include "store/postgres/postgres_connection.h"
#include "store/postgres/postgres_pipeline.h"
#include "store/postgres/postgres_store.h"
#include "store/store.h"

namespace ferry::postgres {

// A LIMIT parameter: size_t clamped to what bigint holds.
inline std::int64_t LimitParam(std::size_t limit) {
  auto max = static_cast<std::size_t>(std::numeric_limits<std::int64_t>::max());
  return static_cast<std::int64_t>(std::min(limit, max));
}

class PostgresStore final : public Store {
 public:
  // Does not connect; Open() does.
  explicit PostgresStore(const PostgresOptions& options);
  // Connects, migrates the schema and prepares the statements. Throws PgError.
  void Open() { conn_.Ensure(); }

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
  Result<std::vector<MemberReceipts>> ChatReceipts(const std::string& chat_id,
                                                   const std::string& user) override;
  Result<Privacy> GetPrivacy(const std::string& user) override;
  Result<Privacy> SetPrivacy(const std::string& user, std::optional<bool> read_receipts,
                             std::optional<bool> last_seen_visible) override;
  Result<ChatRoster> Roster(const std::string& chat_id) override;
  Result<std::string> Secret(const std::string& name, const std::string& candidate) override;
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

 private:
  // Whether a method may be re-run after a conflict: transactions that
  // re-read everything they decide on may; a lone insert whose unique
  // violation is the answer (a random id that collided) may not.
  enum class OnConflict { retry, fail };

  // Runs `body` on a usable connection. A conflict (PgError::Kind::conflict)
  // re-runs it up to options_.conflict_retries times; any other PgError, a
  // conflict past the retries or any other exception yields unavailable.
  // An open Pipeline has already cleaned up during unwinding, so the
  // connection is idle (or marked broken) when this retries or returns.
  template <class Body>
  auto Run(const char* what, OnConflict on_conflict, Body&& body) -> decltype(body());
  void Backoff(int attempt);

  // One statement in a pipeline of its own (one round trip); its result.
  PgResult One(Query query, const Params& params = Params());

  // Queues the release of messages' references (message_id -> count):
  // refs drop, and messages left without any are deleted. `deleted`, if
  // given, receives the number of messages deleted.
  void QueueReleases(Pipeline& p, const std::map<std::string, std::int64_t>& releases,
                     std::int64_t* deleted = nullptr);

  // WriteBatch ops (postgres_write_batch.cc). Each reads and checks first
  // (waiting only for the reads it decides on) and queues its writes only
  // once it knows it will succeed, so a failed op leaves no trace; outputs
  // that come from the writes (deliveries, acked) are filled in by result
  // handlers before the batch commits.
  // Queues the lock of every client row the batch may write, in one
  // statement sorted by client_id, before any op runs (postgres_queries.cc:
  // why two batches then cannot deadlock).
  void LockBatch(Pipeline& p, std::span<const WriteOp> ops);
  void Apply(Pipeline& p, SendOp& op);
  void Apply(Pipeline& p, ChatOp& op);
  void Apply(Pipeline& p, AckOp& op);
  void Apply(Pipeline& p, PresenceOp& op);
  void Apply(Pipeline& p, MarkReadOp& op);
  void Apply(Pipeline& p, ReceiptOp& op);
  // The chat's own row, then the change chat_rules::Create decided.
  void CreateChat(Pipeline& p, ChatOp& op);
  // Add and remove: checks (chat, actor, users) after locking the chat;
  // the chat's current members or the failure.
  Errc CheckMemberChange(Pipeline& p, const ChatOp& op, std::vector<std::string>* current);
  // Queues what the chat rules decided (members, the event and its
  // deliveries) and sets op's outputs; nothing if the change failed or
  // changes nothing.
  void WriteMemberChange(Pipeline& p, ChatOp& op, chat_rules::MemberChange change);
  // Queues op.event into the inbox of every active client of `users` but
  // op.actor_client; the deliveries are appended to op.deliveries.
  void DeliverEvent(Pipeline& p, ChatOp& op, const std::vector<std::string>& users);

  // Send's attachment checks (postgres_attachments.cc), from the rows of
  // lock_attachments: ok with op.message.attachments filled in, or the
  // status the send fails with.
  static Errc CheckAttachments(SendOp& op, const PgResult& rows);

  PostgresOptions options_;
  Connection conn_;
  std::minstd_rand jitter_;
  // message_id -> references released by the acks of the running WriteBatch.
  std::map<std::string, std::int64_t> releases_;
};

template <class Body>
auto PostgresStore::Run(const char* what, OnConflict on_conflict, Body&& body) -> decltype(body()) {
  using R = decltype(body());
  for (int attempt = 0;; ++attempt) {
    try {
      conn_.Ensure();
      return body();
    } catch (const PgError& e) {
      if (e.kind() == PgError::Kind::conflict && on_conflict == OnConflict::retry &&
          attempt < options_.conflict_retries) {
        log::Debug("postgres store: ", what, " lost a race (", e.sqlstate(), "), re-run ",
                   attempt + 1);
        Backoff(attempt);
        continue;
      }
      if (e.kind() == PgError::Kind::connection) conn_.MarkBroken();
      log::Error("postgres store: ", what, " failed: ", e.what());
    } catch (const std::exception& e) {
      // Not a database error (e.g. out of memory): the connection's state
      // is unknown, so it is not used again.
      conn_.MarkBroken();
      log::Error("postgres store: ", what, " failed: ", e.what());
    }
    // in_place_error: Result<bool> cannot tell an error_code from a bool.
    return R(boost::system::in_place_error, make_error_code(Errc::unavailable));
  }
}

}  // namespace ferry::postgres
