// RAII wrappers over sqlite3_stmt; see sqlite_statement.h.
#include "store/sqlite/sqlite_statement.h"

#include <cstring>
#include <limits>

namespace ferry::sqlite {

std::string SystemErrorOf(sqlite3* db, int rc) {
  int primary = rc & 0xff;
  if (db == nullptr ||
      (primary != SQLITE_IOERR && primary != SQLITE_FULL && primary != SQLITE_CANTOPEN)) {
    return {};
  }
  int error = sqlite3_system_errno(db);
  return error != 0 ? std::strerror(error) : std::string();
}

void Fail(sqlite3* db, int rc, std::string_view context) {
  std::string what(context);
  what += ": ";
  what += sqlite3_errstr(rc);
  // The connection's message is more specific (e.g. which constraint), but
  // only when it belongs to this failure.
  if (db != nullptr && sqlite3_extended_errcode(db) == rc) {
    what += " (";
    what += sqlite3_errmsg(db);
    what += ")";
  }
  if (std::string system = SystemErrorOf(db, rc); !system.empty()) what += ": " + system;
  throw SqliteError(rc, what);
}

void Exec(sqlite3* db, const char* sql) {
  char* message = nullptr;
  int rc = sqlite3_exec(db, sql, nullptr, nullptr, &message);
  if (rc != SQLITE_OK) {
    std::string what = message != nullptr ? message : sqlite3_errstr(rc);
    sqlite3_free(message);
    if (std::string system = SystemErrorOf(db, rc); !system.empty()) what += ": " + system;
    throw SqliteError(rc, what);
  }
}

Statement::Statement(sqlite3* db, const char* sql) {
  int rc = sqlite3_prepare_v3(db, sql, -1, SQLITE_PREPARE_PERSISTENT, &stmt_, nullptr);
  if (rc != SQLITE_OK) Fail(db, rc, std::string("prepare ") + sql);
}

Statement::~Statement() { sqlite3_finalize(stmt_); }

Statement& Statement::operator=(Statement&& other) noexcept {
  if (this != &other) {
    sqlite3_finalize(stmt_);
    stmt_ = other.stmt_;
    other.stmt_ = nullptr;
  }
  return *this;
}

Cursor::~Cursor() {
  // reset() repeats the last step's error code; that error was already
  // thrown from Next(), so it is ignored here.
  sqlite3_reset(stmt_);
  sqlite3_clear_bindings(stmt_);
}

Cursor& Cursor::Bind(int index, std::int64_t value) {
  int rc = sqlite3_bind_int64(stmt_, index, value);
  if (rc != SQLITE_OK) Fail(sqlite3_db_handle(stmt_), rc, "bind");
  return *this;
}

Cursor& Cursor::Bind(int index, std::string_view text) {
  if (text.size() > static_cast<std::size_t>(std::numeric_limits<int>::max())) {
    Fail(sqlite3_db_handle(stmt_), SQLITE_TOOBIG, "bind");
  }
  // data() of an empty view may be null, which SQLite would store as NULL.
  const char* data = text.empty() ? "" : text.data();
  int rc = sqlite3_bind_text(stmt_, index, data, static_cast<int>(text.size()), SQLITE_STATIC);
  if (rc != SQLITE_OK) Fail(sqlite3_db_handle(stmt_), rc, "bind");
  return *this;
}

Cursor& Cursor::BindNull(int index) {
  int rc = sqlite3_bind_null(stmt_, index);
  if (rc != SQLITE_OK) Fail(sqlite3_db_handle(stmt_), rc, "bind");
  return *this;
}

bool Cursor::Next() {
  int rc = sqlite3_step(stmt_);
  if (rc == SQLITE_ROW) return true;
  if (rc == SQLITE_DONE) return false;
  Fail(sqlite3_db_handle(stmt_), rc, sqlite3_sql(stmt_));
}

std::string_view Cursor::TextView(int column) const {
  const auto* text = reinterpret_cast<const char*>(sqlite3_column_text(stmt_, column));
  if (text == nullptr) return {};
  return std::string_view(text, static_cast<std::size_t>(sqlite3_column_bytes(stmt_, column)));
}

Transaction::Transaction(sqlite3* db, const Statement& begin, const Statement& commit,
                         const Statement& rollback)
    : db_(db), commit_(commit), rollback_(rollback) {
  Cursor(begin).Exec();
}

Transaction::~Transaction() {
  // After some errors (e.g. SQLITE_FULL, IOERR) SQLite has already rolled
  // back on its own; a second ROLLBACK would only fail.
  if (done_ || sqlite3_get_autocommit(db_)) return;
  sqlite3_step(rollback_.get());
  sqlite3_reset(rollback_.get());
}

void Transaction::Commit() {
  Cursor(commit_).Exec();
  done_ = true;
}

}  // namespace ferry::sqlite
