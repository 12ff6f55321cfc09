// SqliteStore: opening the database, accounts, reads, sweep and stats.
// WriteBatch lives in sqlite_write_batch.cc, attachments in
// sqlite_attachments.cc. Single-threaded (store.h).
//
// Every public method runs inside Guarded(), which maps SQLite failures to
// Errc::unavailable; methods that write more than one row do so inside one
// BEGIN IMMEDIATE transaction.
#include "store/sqlite/sqlite_store.h"

#include <algorithm>
#include <cstdlib>
#include <limits>
#include <mutex>
#include <utility>

#include "common/log.h"
#include "store/record_codec.h"
#include "store/sqlite/sqlite_fault_vfs.h"
#include "store/sqlite/sqlite_gather_vfs.h"
#include "store/sqlite/sqlite_schema.h"
#include "store/sqlite/sqlite_store_impl.h"

namespace ferry {

Result<std::unique_ptr<Store>> OpenSqliteStore(const SqliteOptions& options) {
  // SQLite's memory statistics take a global mutex on every allocation
  // (~8% of a send). Only possible before SQLite initializes; if something
  // else initialized it first the call fails harmlessly.
  static std::once_flag configured;
  std::call_once(configured, [] { sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0); });
  const char* vfs = nullptr;  // the default
  const char* fault_file = std::getenv(sqlite::kDiskFaultFileEnv);
  if (fault_file != nullptr && *fault_file != '\0') {
    log::Warn("sqlite store: disk fault injection on, controlled by ", fault_file,
              " (for tests only)");
    sqlite::SetDiskFaultFile(fault_file);
    vfs = sqlite::FaultVfsName();
  } else if (options.inject_faults) {
    vfs = sqlite::FaultVfsName();
  }
  if (options.gather_wal_writes) vfs = sqlite::GatherVfsName(vfs);
  sqlite3* raw = nullptr;
  // NOMUTEX: the store has one caller at a time, so SQLite's own locking
  // would be pure overhead.
  int rc = sqlite3_open_v2(options.path.c_str(), &raw,
                           SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, vfs);
  // sqlite3_open_v2 returns a handle even on failure; it must be closed.
  auto connection = std::make_unique<sqlite::Connection>(raw);
  if (rc != SQLITE_OK) {
    std::string system = sqlite::SystemErrorOf(raw, rc);
    log::Error("sqlite store: cannot open ", options.path, ": ",
               raw != nullptr ? sqlite3_errmsg(raw) : sqlite3_errstr(rc),
               system.empty() ? "" : ": ", system);
    return make_error_code(Errc::unavailable);
  }
  sqlite3_extended_result_codes(raw, 1);
  try {
    sqlite::ConfigureConnection(raw);
    sqlite::EnsureSchema(raw);
    return std::unique_ptr<Store>(std::make_unique<sqlite::SqliteStore>(std::move(connection)));
  } catch (const sqlite::SqliteError& e) {
    log::Error("sqlite store: cannot open ", options.path, ": ", e.what());
    return make_error_code(Errc::unavailable);
  }
}

namespace sqlite {
namespace {

// Reads the FERRY_CLIENT_COLUMNS of sqlite_queries.cc.
ClientInfo ReadClient(const Cursor& c) {
  ClientInfo info;
  info.client_id = c.Text(0);
  info.user = c.Text(1);
  info.device = c.Text(2);
  info.epoch = c.Text(3);
  info.head_seq = c.Int(4);
  info.acked_seq = c.Int(5);
  info.last_active = c.Int(6);
  return info;
}

boost::system::error_code Err(Errc e) { return make_error_code(e); }

// Cache sizes past which SeqsOf and RecipientsOf start over: a bound on
// memory (~100 bytes an entry), far above the clients and chats that are
// busy at any one time.
constexpr std::size_t kMaxCachedClients = 1 << 20;
constexpr std::size_t kMaxCachedChats = 1 << 18;

}  // namespace

void FailureLog::Report(const char* what, const SqliteError& error) {
  auto now = std::chrono::steady_clock::now();
  if (error.code() == last_code_ && last_what_ == what && now - last_logged_ < kRepeatInterval) {
    ++unlogged_;
    return;
  }
  if (unlogged_ == 0) {
    log::Error("sqlite store: ", what, " failed: ", error.what());
  } else {
    log::Error("sqlite store: ", what, " failed: ", error.what(), " (the previous line repeated ",
               unlogged_, " times since)");
  }
  last_what_ = what;
  last_code_ = error.code();
  last_logged_ = now;
  unlogged_ = 0;
}

SqliteStore::SqliteStore(std::unique_ptr<Connection> connection)
    : connection_(std::move(connection)), q_(connection_->get()) {}

void SqliteStore::DropCaches() {
  seqs_.clear();
  recipients_.clear();
}

std::optional<SqliteStore::ClientSeqs> SqliteStore::PeekSeqs(std::string_view client_id) {
  if (auto it = seqs_.find(client_id); it != seqs_.end()) return it->second;
  Cursor c(q_.client_seqs);
  if (!c.Bind(1, client_id).Next()) return std::nullopt;
  return ClientSeqs{c.Int(0), c.Int(1)};
}

SqliteStore::ClientSeqs* SqliteStore::SeqsOf(std::string_view client_id) {
  if (auto it = seqs_.find(client_id); it != seqs_.end()) return &it->second;
  std::optional<ClientSeqs> loaded = PeekSeqs(client_id);
  if (!loaded) return nullptr;
  if (seqs_.size() >= kMaxCachedClients) seqs_.clear();
  return &seqs_.emplace(std::string(client_id), *loaded).first->second;
}

const std::vector<SqliteStore::Recipient>& SqliteStore::RecipientsOf(std::string_view chat_id) {
  if (auto it = recipients_.find(chat_id); it != recipients_.end()) return it->second;
  std::vector<Recipient> recipients;
  Cursor c(q_.chat_recipients);
  c.Bind(1, chat_id);
  while (c.Next()) {
    recipients.push_back(Recipient{c.Text(0), c.IsNull(1) ? std::string() : c.Text(1)});
  }
  if (recipients_.size() >= kMaxCachedChats) recipients_.clear();
  return recipients_.emplace(std::string(chat_id), std::move(recipients)).first->second;
}

bool SqliteStore::UserExists(std::string_view user) {
  return Cursor(q_.user_exists).Bind(1, user).Next();
}

bool SqliteStore::ChatExists(std::string_view chat_id) {
  return Cursor(q_.chat_exists).Bind(1, chat_id).Next();
}

std::vector<ClientInfo> SqliteStore::ActiveClients(std::string_view user) {
  std::vector<ClientInfo> clients;
  {
    Cursor c(q_.list_clients);
    c.Bind(1, user);
    while (c.Next()) clients.push_back(ReadClient(c));
  }
  for (ClientInfo& client : clients) {
    // The column is a lower bound (sqlite_schema.cc); the cache is exact.
    if (std::optional<ClientSeqs> seqs = PeekSeqs(client.client_id)) client.head_seq = seqs->head;
  }
  return clients;
}

void SqliteStore::ReleaseInbox(std::string_view client_id, Seq up_to) {
  // A client's inbox holds a message at most once: one reference each.
  std::vector<std::string> message_ids;
  {
    Cursor c(q_.inbox_messages_up_to);
    c.Bind(1, client_id).Bind(2, up_to);
    while (c.Next()) message_ids.push_back(c.Text(0));
  }
  for (std::string& id : message_ids) {
    if (batch_releases_ != nullptr) {
      ++(*batch_releases_)[std::move(id)];
    } else {
      ReleaseMessage(id, 1);
    }
  }
  Cursor(q_.delete_inbox_up_to).Bind(1, client_id).Bind(2, up_to).Exec();
}

bool SqliteStore::ReleaseMessage(std::string_view message_id, std::int64_t count) {
  // Delete-or-decrement in that order: the common 1:1 message has one
  // reference, so a single statement finishes it.
  Cursor(q_.delete_unreferenced).Bind(1, message_id).Bind(2, count).Exec();
  if (Changes() > 0) return true;
  Cursor(q_.drop_refs).Bind(1, message_id).Bind(2, count).Exec();
  return false;
}

Result<void> SqliteStore::CreateUser(const std::string& user, const std::string& password_hash,
                                     Millis now) {
  return Guarded("CreateUser", [&]() -> Result<void> {
    Cursor(q_.insert_user).Bind(1, user).Bind(2, password_hash).Bind(3, now).Exec();
    if (Changes() == 0) return Err(Errc::user_exists);
    return {};
  });
}

Result<std::string> SqliteStore::PasswordHash(const std::string& user) {
  return Guarded("PasswordHash", [&]() -> Result<std::string> {
    Cursor c(q_.password_hash);
    c.Bind(1, user);
    if (!c.Next()) return Err(Errc::not_found);
    return c.Text(0);
  });
}

Result<LoginResult> SqliteStore::Login(const LoginRequest& request) {
  return Guarded("Login", [&]() -> Result<LoginResult> {
    Transaction tx = Begin();
    LoginResult result;
    if (!UserExists(request.user)) {
      result.status = Errc::not_found;
      return result;
    }
    {
      Cursor c(q_.client_by_device);
      c.Bind(1, request.user).Bind(2, request.device);
      if (c.Next()) result.client_id = c.Text(0);
    }
    if (!result.client_id.empty()) {
      // Logging in is activity on that device.
      Cursor(q_.touch_client).Bind(1, result.client_id).Bind(2, request.now).Exec();
    } else {
      std::int64_t active = 0;
      {
        Cursor count(q_.count_active_clients);
        if (count.Bind(1, request.user).Next()) active = count.Int(0);
      }
      if (static_cast<std::uint64_t>(active) >= request.max_clients) {
        result.status = Errc::too_many_clients;
        result.clients = ActiveClients(request.user);
        return result;
      }
      Cursor(q_.insert_client)
          .Bind(1, request.new_client_id)
          .Bind(2, request.user)
          .Bind(3, request.device)
          .Bind(4, request.new_epoch)
          .Bind(5, request.now)
          .Exec();
      result.client_id = request.new_client_id;
      result.created = true;
    }
    Cursor(q_.insert_token).Bind(1, request.token_hash).Bind(2, result.client_id).Exec();
    tx.Commit();
    // Every chat of the user has one recipient more.
    if (result.created) recipients_.clear();
    return result;
  });
}

Result<ClientInfo> SqliteStore::Authenticate(const std::string& token_hash) {
  return Guarded("Authenticate", [&]() -> Result<ClientInfo> {
    ClientInfo info;
    {
      Cursor c(q_.authenticate);
      c.Bind(1, token_hash);
      if (!c.Next()) return Err(Errc::not_found);
      info = ReadClient(c);
    }
    std::optional<ClientSeqs> seqs = PeekSeqs(info.client_id);
    if (!seqs) return Err(Errc::not_found);
    info.head_seq = seqs->head;
    return info;
  });
}

Result<std::vector<ClientInfo>> SqliteStore::ListClients(const std::string& user) {
  return Guarded("ListClients",
                 [&]() -> Result<std::vector<ClientInfo>> { return ActiveClients(user); });
}

Result<void> SqliteStore::DeleteClient(const std::string& user, const std::string& client_id) {
  return Guarded("DeleteClient", [&]() -> Result<void> {
    Transaction tx = Begin();
    if (!Cursor(q_.client_of_user).Bind(1, client_id).Bind(2, user).Next()) {
      return Err(Errc::not_found);
    }
    // The row stays (inactive) so its id is never handed out again and a
    // later login of the same device gets a fresh client and epoch.
    ReleaseInbox(client_id, std::numeric_limits<Seq>::max());
    // Its unfetched attachments stop waiting for it; any it was the last
    // one to owe a fetch become dead.
    DropRecipient(client_id);
    Cursor(q_.delete_tokens).Bind(1, client_id).Exec();
    Cursor(q_.deactivate_client).Bind(1, client_id).Exec();
    tx.Commit();
    if (auto it = seqs_.find(client_id); it != seqs_.end()) seqs_.erase(it);
    recipients_.clear();  // its chats have one recipient fewer
    return {};
  });
}

Result<void> SqliteStore::TouchClient(const std::string& client_id, Millis now) {
  return Guarded("TouchClient", [&]() -> Result<void> {
    Cursor(q_.touch_client).Bind(1, client_id).Bind(2, now).Exec();
    if (Changes() == 0) return Err(Errc::not_found);
    return {};
  });
}

Result<std::vector<ChatInfo>> SqliteStore::ListChats(const std::string& user) {
  return Guarded("ListChats", [&]() -> Result<std::vector<ChatInfo>> {
    // One row per (chat, member), ordered by chat then member.
    std::vector<ChatInfo> chats;
    Cursor c(q_.list_chats);
    c.Bind(1, user);
    while (c.Next()) {
      if (chats.empty() || chats.back().chat_id != c.TextView(0)) {
        chats.push_back(ChatInfo{c.Text(0), c.Text(1), {}});
      }
      chats.back().members.push_back(c.Text(2));
    }
    return chats;
  });
}

Result<bool> SqliteStore::SharesChat(const std::string& a, const std::string& b) {
  return Guarded("SharesChat", [&]() -> Result<bool> {
    if (a == b) return UserExists(a);
    return Cursor(q_.shares_chat).Bind(1, a).Bind(2, b).Next();
  });
}

Result<InboxPage> SqliteStore::ReadInbox(const std::string& client_id, Seq after,
                                         std::size_t limit) {
  return Guarded("ReadInbox", [&]() -> Result<InboxPage> {
    InboxPage page;
    std::optional<ClientSeqs> seqs = PeekSeqs(client_id);
    if (!seqs) return Err(Errc::not_found);
    page.head = seqs->head;
    auto max_limit = static_cast<std::size_t>(std::numeric_limits<std::int64_t>::max());
    Cursor c(q_.read_inbox);
    c.Bind(1, client_id)
        .Bind(2, after)
        .Bind(3, static_cast<std::int64_t>(std::min(limit, max_limit)));
    while (c.Next()) {
      InboxEntry entry;
      entry.seq = c.Int(0);
      std::int64_t kind = c.Int(1);
      if (kind == kKindChatEvent) {
        entry.item = DecodedOrCorrupt(record_codec::DecodeChatEvent(c.TextView(2)), "inbox.event");
      } else if (kind == kKindReceipt) {
        entry.item = DecodedOrCorrupt(record_codec::DecodeReceipt(c.TextView(2)), "inbox.event");
      } else {
        // read_inbox's columns of a shared message, or of an inline one.
        int m = kind == kKindInlineMessage ? 11 : 3;
        if (c.IsNull(m)) continue;  // the message expired before this entry; it is no longer held
        entry.item =
            Message{c.Text(m),
                    c.Text(m + 1),
                    c.Text(m + 2),
                    c.Text(m + 3),
                    c.Text(m + 4),
                    c.Int(m + 5),
                    c.Text(m + 6),
                    DecodedOrCorrupt(record_codec::DecodeAttachments(c.TextView(m + 7)),
                                     m == 3 ? "messages.attachments" : "inbox.attachments")};
      }
      page.entries.push_back(std::move(entry));
    }
    return page;
  });
}

Result<void> SqliteStore::SetLastSeen(const std::string& user, Millis ts) {
  return Guarded("SetLastSeen", [&]() -> Result<void> {
    Cursor(q_.upsert_last_seen).Bind(1, user).Bind(2, ts).Exec();
    return {};
  });
}

Result<std::optional<Millis>> SqliteStore::GetLastSeen(const std::string& user) {
  return Guarded("GetLastSeen", [&]() -> Result<std::optional<Millis>> {
    Cursor c(q_.last_seen);
    c.Bind(1, user);
    if (!c.Next()) return std::optional<Millis>();
    return std::optional<Millis>(c.Int(0));
  });
}

Result<SweepResult> SqliteStore::Sweep(Millis now) {
  return Guarded("Sweep", [&]() -> Result<SweepResult> {
    Transaction tx = Begin();
    SweepResult result;
    // Expiring inbox entries release their messages first, like acks do, so
    // a message whose own expiry is later still goes once nobody holds it.
    std::vector<std::pair<std::string, std::int64_t>> released;
    {
      Cursor c(q_.expired_refs);
      c.Bind(1, now);
      while (c.Next()) released.emplace_back(c.Text(0), c.Int(1));
    }
    for (const auto& [message_id, count] : released) {
      if (ReleaseMessage(message_id, count)) ++result.messages_deleted;
    }
    {
      // An inline message goes with its one entry.
      Cursor c(q_.expired_inline);
      c.Bind(1, now).Next();
      result.messages_deleted += c.Int(0);
    }
    Cursor(q_.raise_expired_heads).Bind(1, now).Exec();
    Cursor(q_.delete_expired_inbox).Bind(1, now).Exec();
    result.inbox_deleted = Changes();
    Cursor(q_.delete_expired_messages).Bind(1, now).Exec();
    result.messages_deleted += Changes();
    Cursor(q_.delete_expired_send_ids).Bind(1, now).Exec();
    tx.Commit();
    return result;
  });
}

Result<InboxStats> SqliteStore::Stats() {
  return Guarded("Stats", [&]() -> Result<InboxStats> {
    Cursor c(q_.stats);
    c.Next();
    return InboxStats{c.Int(0), c.Int(1)};
  });
}

}  // namespace sqlite
}  // namespace ferry
