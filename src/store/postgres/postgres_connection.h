// The libpq layer of the PostgreSQL store: PgError (every failure, with the
// kind the store acts on), PgResult (an owned PGresult with typed column
// reads), Params (text-format statement parameters) and Connection (one
// PGconn that reconnects on demand). Failures throw PgError, which never
// escapes the backend: PostgresStore catches it at each public method and
// turns it into a retry or Errc::unavailable (see Run in
// postgres_store_impl.h).
//
// Threading: a Connection and everything made from it belong to one thread
// at a time, like the Store that owns them.
#pragma once

#include <libpq-fe.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace ferry::postgres {

class PgError : public std::runtime_error {
 public:
  enum class Kind {
    statement,   // the server refused a statement; the connection is fine
    conflict,    // lost a race with another transaction: re-run the whole call
    connection,  // no usable connection: reconnect before the next call
  };
  PgError(Kind kind, std::string sqlstate, const std::string& what)
      : std::runtime_error(what), kind_(kind), sqlstate_(std::move(sqlstate)) {}
  Kind kind() const { return kind_; }
  const std::string& sqlstate() const { return sqlstate_; }

 private:
  Kind kind_;
  std::string sqlstate_;
};

// The PgError for a failed `result` (may be null) on `conn`: conflict for
// SQLSTATE 40P01 (deadlock), 40001 (serialization) and 23505 (unique
// violation); connection if the connection is gone or the server is going
// away (class 08, 57P01..57P03); statement otherwise.
PgError ErrorFrom(PGconn* conn, const PGresult* result, std::string_view context);

// An owned PGresult. Column reads take (row, column), both 0-based; Int and
// Bool throw PgError (statement) on text that is not one.
class PgResult {
 public:
  PgResult() = default;
  explicit PgResult(PGresult* result) : result_(result) {}

  bool ready() const { return result_ != nullptr; }
  PGresult* get() const { return result_.get(); }
  int Rows() const { return result_ ? PQntuples(result_.get()) : 0; }
  bool IsNull(int row, int column) const { return PQgetisnull(result_.get(), row, column) != 0; }
  std::string_view TextView(int row, int column) const;
  std::string Text(int row, int column) const { return std::string(TextView(row, column)); }
  std::int64_t Int(int row, int column) const;
  bool Bool(int row, int column) const;
  // Rows an INSERT/UPDATE/DELETE touched.
  std::int64_t Affected() const;

 private:
  struct Clear {
    void operator()(PGresult* r) const { PQclear(r); }
  };
  std::unique_ptr<PGresult, Clear> result_;
};

// The parameters of one statement execution, all sent as text (the server
// casts them to the statement's types). Arrays use PostgreSQL's array
// literal syntax, so a text[] parameter takes any strings.
class Params {
 public:
  Params& Add(std::string_view text);
  Params& Add(const char* text) { return Add(std::string_view(text)); }
  Params& Add(std::int64_t value);
  Params& Add(const std::vector<std::string>& array);
  // A boolean, or NULL for nullopt. Not an Add overload: an int argument
  // would then be ambiguous between bool and int64.
  Params& AddBool(std::optional<bool> value);
  Params& Null();

  int size() const { return static_cast<int>(values_.size()); }
  // Pointers into this object, valid until it changes or goes.
  std::vector<const char*> Pointers() const;

 private:
  std::vector<std::string> values_;
  std::vector<bool> null_;
};

// One libpq connection, opened on first use and again after it broke.
class Connection {
 public:
  // `url`: a libpq URI or key=value string; its settings win over the
  // defaults passed here. `on_connect` runs on every new connection, before
  // anything else uses it (it prepares the statements); it may throw.
  Connection(std::string url, int connect_timeout_seconds,
             std::function<void(Connection&)> on_connect);
  ~Connection();
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  // Makes sure there is a connection believed usable: connects if there is
  // none or the last one broke. Throws PgError (connection).
  void Ensure();
  // Forgets the connection: the next Ensure opens a new one.
  void MarkBroken() { broken_ = true; }
  bool broken() const { return broken_ || conn_ == nullptr; }

  PGconn* get() const { return conn_; }
  // Runs `sql` (one or more statements) with the simple protocol, outside
  // pipeline mode; returns the last statement's result. Throws PgError.
  PgResult Exec(const char* sql);

 private:
  void Close();

  std::string url_;
  std::string connect_timeout_;
  std::function<void(Connection&)> on_connect_;
  PGconn* conn_ = nullptr;
  bool broken_ = true;
};

}  // namespace ferry::postgres
