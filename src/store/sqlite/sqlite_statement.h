// Thin RAII layer over the SQLite C API for the embedded store: a prepared
// Statement owned for the connection's lifetime, and a Cursor that uses it
// for one execution and resets it afterwards. Failures throw SqliteError,
// which never escapes the backend: SqliteStore catches it at each public
// method and turns it into Errc::unavailable (see Guarded in
// sqlite_store_impl.h for why).
//
// Threading: like the connection it belongs to, single-threaded.
#pragma once

#include <sqlite3.h>

#include <cstdint>
#include <stdexcept>
#include <string>
#include <string_view>

namespace ferry::sqlite {

class SqliteError : public std::runtime_error {
 public:
  SqliteError(int code, const std::string& what) : std::runtime_error(what), code_(code) {}
  int code() const { return code_; }

 private:
  int code_;
};

// Throws SqliteError describing `rc` and the connection's last error message,
// and for an I/O error the operating system's reason (a full disk and a
// failing one are both "disk I/O error" to SQLite in some places).
[[noreturn]] void Fail(sqlite3* db, int rc, std::string_view context);

// strerror of the errno behind `rc` if it is an I/O error (IOERR, FULL,
// CANTOPEN) and the connection recorded one; else "".
std::string SystemErrorOf(sqlite3* db, int rc);

// Runs `sql` (one or more statements, no results). Throws on failure.
void Exec(sqlite3* db, const char* sql);

// One prepared statement, compiled once (SQLITE_PREPARE_PERSISTENT) and
// reused. Move-only; finalized on destruction.
class Statement {
 public:
  Statement() = default;
  // Throws SqliteError if `sql` does not compile.
  Statement(sqlite3* db, const char* sql);
  ~Statement();
  Statement(Statement&& other) noexcept : stmt_(other.stmt_) { other.stmt_ = nullptr; }
  Statement& operator=(Statement&& other) noexcept;
  Statement(const Statement&) = delete;
  Statement& operator=(const Statement&) = delete;

  sqlite3_stmt* get() const { return stmt_; }

 private:
  sqlite3_stmt* stmt_ = nullptr;
};

// One execution of a Statement: bind (1-based), step, read columns
// (0-based). The destructor resets the statement and clears its bindings, so
// a SELECT never holds its read snapshot past the Cursor's scope.
//
// Text is bound without copying (SQLITE_STATIC): the bound characters must
// stay alive until the Cursor is destroyed. Binding a temporary std::string
// is therefore a compile error.
class Cursor {
 public:
  explicit Cursor(const Statement& statement) : stmt_(statement.get()) {}
  ~Cursor();
  Cursor(const Cursor&) = delete;
  Cursor& operator=(const Cursor&) = delete;

  Cursor& Bind(int index, std::int64_t value);
  Cursor& Bind(int index, std::string_view text);
  Cursor& Bind(int index, std::string&& text) = delete;
  Cursor& BindNull(int index);

  // Advances to the next row: true if there is one, false when done.
  bool Next();
  // Steps once, for statements that return no row (or whose row is ignored).
  void Exec() { Next(); }

  std::int64_t Int(int column) const { return sqlite3_column_int64(stmt_, column); }
  std::string Text(int column) const { return std::string(TextView(column)); }
  std::string_view TextView(int column) const;
  bool IsNull(int column) const { return sqlite3_column_type(stmt_, column) == SQLITE_NULL; }

 private:
  sqlite3_stmt* stmt_;
};

// BEGIN IMMEDIATE on construction (the write lock is taken up front, so a
// transaction never fails half-way for lock reasons); ROLLBACK on destruction
// unless Commit() succeeded.
class Transaction {
 public:
  Transaction(sqlite3* db, const Statement& begin, const Statement& commit,
              const Statement& rollback);
  ~Transaction();
  Transaction(const Transaction&) = delete;
  Transaction& operator=(const Transaction&) = delete;

  // Throws SqliteError if the commit fails; the destructor then rolls back.
  void Commit();

 private:
  sqlite3* db_;
  const Statement& commit_;
  const Statement& rollback_;
  bool done_ = false;
};

}  // namespace ferry::sqlite
