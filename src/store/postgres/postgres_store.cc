// PostgresStore: opening, accounts, reads, sweep and stats. WriteBatch lives
// in postgres_write_batch.cc, attachments in postgres_attachments.cc.
// Single-threaded (store.h).
//
// A method that writes more than one row runs them in one transaction
// (BEGIN ... COMMIT inside one Pipeline); a single statement is atomic by
// itself. Reads that must agree with each other are one statement, so they
// share one snapshot.
#include "store/postgres/postgres_store.h"

#include <algorithm>
#include <limits>
#include <optional>
#include <utility>

#include "store/postgres/postgres_queries.h"
#include "store/postgres/postgres_schema.h"
#include "store/postgres/postgres_store_impl.h"
#include "store/record_codec.h"

namespace ferry {

Result<std::unique_ptr<Store>> OpenPostgresStore(const PostgresOptions& options) {
  auto store = std::make_unique<postgres::PostgresStore>(options);
  try {
    store->Open();
  } catch (const postgres::PgError& e) {
    log::Error("postgres store: cannot open: ", e.what());
    return make_error_code(Errc::unavailable);
  } catch (const std::exception& e) {
    log::Error("postgres store: cannot open: ", e.what());
    return make_error_code(Errc::unavailable);
  }
  return std::unique_ptr<Store>(std::move(store));
}

namespace postgres {
namespace {

// Reads the FERRY_CLIENT_COLUMNS of postgres_queries.cc at `row`.
ClientInfo ReadClient(const PgResult& r, int row) {
  ClientInfo info;
  info.client_id = r.Text(row, 0);
  info.user = r.Text(row, 1);
  info.device = r.Text(row, 2);
  info.epoch = r.Text(row, 3);
  info.head_seq = r.Int(row, 4);
  info.acked_seq = r.Int(row, 5);
  info.last_active = r.Int(row, 6);
  return info;
}

std::vector<ClientInfo> ReadClients(const PgResult& r) {
  std::vector<ClientInfo> clients;
  clients.reserve(static_cast<std::size_t>(r.Rows()));
  for (int row = 0; row < r.Rows(); ++row) clients.push_back(ReadClient(r, row));
  return clients;
}

boost::system::error_code Err(Errc e) { return make_error_code(e); }

// The position in columns (column, column + 1) = (ts, message_id) of `row`;
// nullopt for NULLs (no receipts row) and for "no position" (0, '').
std::optional<Position> MarkAt(const PgResult& r, int row, int column) {
  if (r.IsNull(row, column) || r.TextView(row, column + 1).empty()) return std::nullopt;
  return Position{r.Int(row, column), r.Text(row, column + 1)};
}

}  // namespace

PostgresStore::PostgresStore(const PostgresOptions& options)
    : options_(options),
      conn_(options.url, options.connect_timeout_seconds,
            [](Connection& conn) {
              // Every connection checks the schema (a reconnect may reach a
              // database a newer build migrated meanwhile) before preparing
              // statements against it.
              EnsureSchema(conn);
              PrepareAll(conn);
            }),
      jitter_(static_cast<std::minstd_rand::result_type>(
          std::chrono::steady_clock::now().time_since_epoch().count())) {}

void PostgresStore::Backoff(int attempt) {
  // The first re-run is immediate (the winner has committed: a unique
  // violation is only raised then). Later ones wait a little, with jitter,
  // so two instances that keep colliding stop doing so in lockstep.
  if (attempt == 0) return;
  int ceiling_us = 500 << std::min(attempt, 6);
  std::uniform_int_distribution<int> pick(ceiling_us / 2, ceiling_us);
  std::this_thread::sleep_for(std::chrono::microseconds(pick(jitter_)));
}

PgResult PostgresStore::One(Query query, const Params& params) {
  Pipeline p(conn_);
  Pipeline::Slot slot = p.Queue(query, params);
  p.Finish();
  return p.Take(slot);
}

void PostgresStore::QueueReleases(Pipeline& p, const std::map<std::string, std::int64_t>& releases,
                                  std::int64_t* deleted) {
  if (releases.empty()) return;
  // One statement for all of them: the acks of a group message's 99
  // recipients in one batch update its row once, not 99 times.
  std::vector<std::string> ids, counts;
  for (const auto& [id, count] : releases) {
    ids.push_back(id);
    counts.push_back(std::to_string(count));
  }
  p.Queue(Query::release_refs, Params().Add(ids).Add(counts));
  p.Queue(Query::delete_released, Params().Add(ids), [deleted](const PgResult& r) {
    if (deleted != nullptr) *deleted += r.Affected();
  });
}

Result<void> PostgresStore::CreateUser(const std::string& user, const std::string& password_hash,
                                       Millis now) {
  return Run("CreateUser", OnConflict::retry, [&]() -> Result<void> {
    PgResult r = One(Query::insert_user, Params().Add(user).Add(password_hash).Add(now));
    if (r.Affected() == 0) return Err(Errc::user_exists);
    return {};
  });
}

Result<std::string> PostgresStore::PasswordHash(const std::string& user) {
  return Run("PasswordHash", OnConflict::retry, [&]() -> Result<std::string> {
    PgResult r = One(Query::password_hash, Params().Add(user));
    if (r.Rows() == 0) return Err(Errc::not_found);
    return r.Text(0, 0);
  });
}

Result<LoginResult> PostgresStore::Login(const LoginRequest& request) {
  return Run("Login", OnConflict::retry, [&]() -> Result<LoginResult> {
    LoginResult result;
    Pipeline p(conn_);
    p.Begin();
    // The user's row lock first, then the reads the decision rests on: they
    // run once the lock is held, so a concurrent Login of the same user on
    // another instance is either fully visible to them or waits for us.
    Pipeline::Slot user = p.Queue(Query::lock_user, Params().Add(request.user));
    Pipeline::Slot device =
        p.Queue(Query::client_by_device, Params().Add(request.user).Add(request.device));
    Pipeline::Slot clients = p.Queue(Query::list_clients, Params().Add(request.user));
    if (p.Get(user).Rows() == 0) {
      result.status = Errc::not_found;
      p.Queue(Query::rollback);
      p.Finish();
      return result;
    }
    const PgResult& existing = p.Get(device);
    if (existing.Rows() > 0) {
      result.client_id = existing.Text(0, 0);
      // Logging in is activity on that device.
      p.Queue(Query::touch_client, Params().Add(result.client_id).Add(request.now));
    } else {
      const PgResult& active = p.Get(clients);
      if (static_cast<std::uint64_t>(active.Rows()) >= request.max_clients) {
        result.status = Errc::too_many_clients;
        result.clients = ReadClients(active);
        p.Queue(Query::rollback);
        p.Finish();
        return result;
      }
      p.Queue(Query::insert_client, Params()
                                        .Add(request.new_client_id)
                                        .Add(request.user)
                                        .Add(request.device)
                                        .Add(request.new_epoch)
                                        .Add(request.now));
      result.client_id = request.new_client_id;
      result.created = true;
    }
    p.Queue(Query::insert_token, Params().Add(request.token_hash).Add(result.client_id));
    p.Commit();
    return result;
  });
}

Result<ClientInfo> PostgresStore::Authenticate(const std::string& token_hash) {
  return Run("Authenticate", OnConflict::retry, [&]() -> Result<ClientInfo> {
    PgResult r = One(Query::authenticate, Params().Add(token_hash));
    if (r.Rows() == 0) return Err(Errc::not_found);
    return ReadClient(r, 0);
  });
}

Result<std::vector<ClientInfo>> PostgresStore::ListClients(const std::string& user) {
  return Run("ListClients", OnConflict::retry, [&]() -> Result<std::vector<ClientInfo>> {
    return ReadClients(One(Query::list_clients, Params().Add(user)));
  });
}

Result<void> PostgresStore::DeleteClient(const std::string& user, const std::string& client_id) {
  return Run("DeleteClient", OnConflict::retry, [&]() -> Result<void> {
    Pipeline p(conn_);
    p.Begin();
    // Deactivating first takes the client's lock and proves it is the
    // user's: nothing else may be touched before that is known.
    Pipeline::Slot found = p.Queue(Query::deactivate_client, Params().Add(client_id).Add(user));
    if (p.Get(found).Affected() == 0) {
      p.Queue(Query::rollback);
      p.Finish();
      return Err(Errc::not_found);
    }
    std::map<std::string, std::int64_t> releases;
    Pipeline::Slot inbox = p.Queue(Query::delete_client_inbox, Params().Add(client_id));
    // Its unfetched attachments stop waiting for it; any it was the last
    // one to owe a fetch become dead.
    p.Queue(Query::drop_client_recipients, Params().Add(client_id));
    p.Queue(Query::delete_tokens, Params().Add(client_id));
    const PgResult& deleted = p.Get(inbox);
    for (int row = 0; row < deleted.Rows(); ++row) {
      if (!deleted.IsNull(row, 0)) ++releases[deleted.Text(row, 0)];
    }
    QueueReleases(p, releases);
    p.Commit();
    return {};
  });
}

Result<void> PostgresStore::TouchClient(const std::string& client_id, Millis now) {
  return Run("TouchClient", OnConflict::retry, [&]() -> Result<void> {
    if (One(Query::touch_client, Params().Add(client_id).Add(now)).Affected() == 0) {
      return Err(Errc::not_found);
    }
    return {};
  });
}

Result<std::vector<ChatInfo>> PostgresStore::ListChats(const std::string& user) {
  return Run("ListChats", OnConflict::retry, [&]() -> Result<std::vector<ChatInfo>> {
    // One row per (chat, member), ordered by chat then member.
    PgResult r = One(Query::list_chats, Params().Add(user));
    std::vector<ChatInfo> chats;
    for (int row = 0; row < r.Rows(); ++row) {
      if (chats.empty() || chats.back().chat_id != r.TextView(row, 0)) {
        chats.push_back(ChatInfo{r.Text(row, 0), r.Text(row, 1), {}});
      }
      chats.back().members.push_back(r.Text(row, 2));
    }
    return chats;
  });
}

Result<bool> PostgresStore::SharesChat(const std::string& a, const std::string& b) {
  return Run("SharesChat", OnConflict::retry, [&]() -> Result<bool> {
    if (a == b) return One(Query::user_exists, Params().Add(a)).Rows() > 0;
    return One(Query::shares_chat, Params().Add(a).Add(b)).Rows() > 0;
  });
}

Result<InboxPage> PostgresStore::ReadInbox(const std::string& client_id, Seq after,
                                           std::size_t limit) {
  return Run("ReadInbox", OnConflict::retry, [&]() -> Result<InboxPage> {
    PgResult r = One(Query::read_inbox, Params().Add(client_id).Add(after).Add(LimitParam(limit)));
    if (r.Rows() == 0) return Err(Errc::not_found);
    InboxPage page;
    page.head = r.Int(0, 0);
    for (int row = 0; row < r.Rows(); ++row) {
      if (r.IsNull(row, 1)) continue;  // no entries: the one row only carries the head
      InboxEntry entry;
      entry.seq = r.Int(row, 1);
      std::int64_t kind = r.Int(row, 2);
      if (kind == kKindChatEvent) {
        entry.item =
            DecodedOrCorrupt(record_codec::DecodeChatEvent(r.TextView(row, 3)), "inbox.event");
      } else if (kind == kKindReceipt) {
        entry.item =
            DecodedOrCorrupt(record_codec::DecodeReceipt(r.TextView(row, 3)), "inbox.event");
      } else {
        // read_inbox's columns of a shared message, or of an inline one.
        int m = kind == kKindInlineMessage ? 12 : 4;
        if (r.IsNull(row, m))
          continue;  // the message expired before this entry; it is no longer held
        entry.item =
            Message{r.Text(row, m),
                    r.Text(row, m + 1),
                    r.Text(row, m + 2),
                    r.Text(row, m + 3),
                    r.Text(row, m + 4),
                    r.Int(row, m + 5),
                    r.Text(row, m + 6),
                    DecodedOrCorrupt(record_codec::DecodeAttachments(r.TextView(row, m + 7)),
                                     m == 4 ? "messages.attachments" : "inbox.attachments")};
      }
      page.entries.push_back(std::move(entry));
    }
    return page;
  });
}

Result<std::vector<MemberReceipts>> PostgresStore::ChatReceipts(const std::string& chat_id,
                                                                const std::string& user) {
  return Run("ChatReceipts", OnConflict::retry, [&]() -> Result<std::vector<MemberReceipts>> {
    // One row per member, the caller's among them: whether it is there is
    // the membership check, from the snapshot the marks come from.
    PgResult r = One(Query::chat_receipts, Params().Add(chat_id));
    if (r.Rows() == 0) return Err(Errc::not_found);
    std::vector<MemberReceipts> members;
    bool member = false;
    for (int row = 0; row < r.Rows(); ++row) {
      if (r.IsNull(row, 0)) continue;  // a chat without members
      if (r.TextView(row, 0) == user) {
        member = true;
        continue;
      }
      MemberReceipts marks{r.Text(row, 0), MarkAt(r, row, 1), std::nullopt};
      bool shows_read = r.IsNull(row, 5) ? Privacy{}.read_receipts : r.Bool(row, 5);
      if (shows_read) marks.read = MarkAt(r, row, 3);
      members.push_back(std::move(marks));
    }
    if (!member) return Err(Errc::forbidden);
    return members;
  });
}

Result<Privacy> PostgresStore::GetPrivacy(const std::string& user) {
  return Run("GetPrivacy", OnConflict::retry, [&]() -> Result<Privacy> {
    PgResult r = One(Query::get_privacy, Params().Add(user));
    if (r.Rows() == 0) return Privacy{};
    return Privacy{r.Bool(0, 0), r.Bool(0, 1)};
  });
}

Result<Privacy> PostgresStore::SetPrivacy(const std::string& user,
                                          std::optional<bool> read_receipts,
                                          std::optional<bool> last_seen_visible) {
  return Run("SetPrivacy", OnConflict::retry, [&]() -> Result<Privacy> {
    // One upsert: two instances changing different settings of one user at
    // once both keep theirs (the second updates the row the first wrote).
    const Privacy defaults;
    PgResult r = One(Query::set_privacy, Params()
                                             .Add(user)
                                             .AddBool(read_receipts)
                                             .AddBool(last_seen_visible)
                                             .AddBool(defaults.read_receipts)
                                             .AddBool(defaults.last_seen_visible));
    if (r.Rows() == 0) return Err(Errc::not_found);
    return Privacy{r.Bool(0, 0), r.Bool(0, 1)};
  });
}

Result<ChatRoster> PostgresStore::Roster(const std::string& chat_id) {
  return Run("Roster", OnConflict::retry, [&]() -> Result<ChatRoster> {
    // (member, client) rows ordered by member: a new member at each change.
    PgResult r = One(Query::roster, Params().Add(chat_id));
    if (r.Rows() == 0) return Err(Errc::not_found);
    ChatRoster roster;
    for (int row = 0; row < r.Rows(); ++row) {
      if (r.IsNull(row, 0)) continue;  // a chat without members
      if (roster.members.empty() || roster.members.back() != r.TextView(row, 0)) {
        roster.members.push_back(r.Text(row, 0));
      }
      if (!r.IsNull(row, 1)) roster.clients.push_back(Delivery{r.Text(row, 1), r.Text(row, 0), 0});
    }
    return roster;
  });
}

Result<std::string> PostgresStore::Secret(const std::string& name, const std::string& candidate) {
  return Run("Secret", OnConflict::retry, [&]() -> Result<std::string> {
    // Two statements, so the read sees a value another node stored while
    // the insert waited for it (see insert_secret).
    Pipeline p(conn_);
    p.Queue(Query::insert_secret, Params().Add(name).Add(candidate));
    Pipeline::Slot value = p.Queue(Query::secret, Params().Add(name));
    p.Finish();
    const PgResult& r = p.Get(value);
    if (r.Rows() == 0) throw PgError(PgError::Kind::statement, "", "meta." + name + " vanished");
    return r.Text(0, 0);
  });
}

Result<void> PostgresStore::SetLastSeen(const std::string& user, Millis ts) {
  return Run("SetLastSeen", OnConflict::retry, [&]() -> Result<void> {
    One(Query::upsert_last_seen, Params().Add(user).Add(ts));
    return {};
  });
}

Result<std::optional<Millis>> PostgresStore::GetLastSeen(const std::string& user) {
  return Run("GetLastSeen", OnConflict::retry, [&]() -> Result<std::optional<Millis>> {
    PgResult r = One(Query::last_seen, Params().Add(user));
    if (r.Rows() == 0) return std::optional<Millis>();
    return std::optional<Millis>(r.Int(0, 0));
  });
}

Result<SweepResult> PostgresStore::Sweep(Millis now) {
  return Run("Sweep", OnConflict::retry, [&]() -> Result<SweepResult> {
    SweepResult result;
    Pipeline p(conn_);
    p.Begin();
    // Expiring inbox entries release their messages first, like acks do, so
    // a message whose own expiry is later still goes once nobody holds it.
    // Only the entries this statement deleted are released: an ack on
    // another instance deleting some of them at the same time releases its
    // own.
    const PgResult& expired = p.Get(p.Queue(Query::sweep_inbox, Params().Add(now)));
    std::map<std::string, std::int64_t> releases;
    for (int row = 0; row < expired.Rows(); ++row) {
      std::int64_t count = expired.Int(row, 1);
      result.inbox_deleted += count;
      result.messages_deleted += expired.Int(row, 2);  // inline: gone with the entry
      if (!expired.IsNull(row, 0)) releases[expired.Text(row, 0)] += count;
    }
    QueueReleases(p, releases, &result.messages_deleted);
    p.Queue(Query::delete_expired_messages, Params().Add(now),
            [&result](const PgResult& r) { result.messages_deleted += r.Affected(); });
    p.Queue(Query::delete_expired_send_ids, Params().Add(now));
    p.Commit();
    return result;
  });
}

Result<InboxStats> PostgresStore::Stats() {
  return Run("Stats", OnConflict::retry, [&]() -> Result<InboxStats> {
    PgResult r = One(Query::stats);
    return InboxStats{r.Int(0, 0), r.Int(0, 1)};
  });
}

}  // namespace postgres
}  // namespace ferry
