// PgError classification, PgResult reads, Params encoding and the
// connect/reconnect logic of Connection. Single-threaded (see the header).
#include "store/postgres/postgres_connection.h"

#include <charconv>
#include <cstring>
#include <utility>

#include "common/log.h"

namespace ferry::postgres {
namespace {

bool StartsWith(std::string_view s, std::string_view prefix) {
  return s.substr(0, prefix.size()) == prefix;
}

// libpq prints server notices (e.g. "relation already exists, skipping") to
// stderr unless told otherwise; they are not errors, so they go to the log.
void NoticeToLog(void*, const char* message) {
  std::string_view text(message);
  while (!text.empty() && text.back() == '\n') text.remove_suffix(1);
  log::Debug("postgres: ", text);
}

}  // namespace

PgError ErrorFrom(PGconn* conn, const PGresult* result, std::string_view context) {
  const char* state = result ? PQresultErrorField(result, PG_DIAG_SQLSTATE) : nullptr;
  std::string sqlstate = state ? state : "";
  const char* message = result ? PQresultErrorMessage(result) : "";
  if (message == nullptr || *message == '\0')
    message = conn ? PQerrorMessage(conn) : "no connection";
  std::string what = std::string(context) + ": " + message;
  while (!what.empty() && what.back() == '\n') what.pop_back();
  if (!sqlstate.empty()) what += " [" + sqlstate + "]";

  PgError::Kind kind = PgError::Kind::statement;
  if (sqlstate == "40P01" || sqlstate == "40001" || sqlstate == "23505") {
    kind = PgError::Kind::conflict;
  } else if (conn == nullptr || PQstatus(conn) != CONNECTION_OK || StartsWith(sqlstate, "08") ||
             sqlstate == "57P01" || sqlstate == "57P02" || sqlstate == "57P03") {
    // 57P01..03: administrator/crash shutdown, cannot connect now; the
    // session is about to end even if libpq has not noticed yet.
    kind = PgError::Kind::connection;
  }
  return PgError(kind, std::move(sqlstate), what);
}

std::string_view PgResult::TextView(int row, int column) const {
  const char* value = PQgetvalue(result_.get(), row, column);
  return std::string_view(value, static_cast<std::size_t>(PQgetlength(result_.get(), row, column)));
}

std::int64_t PgResult::Int(int row, int column) const {
  std::string_view text = TextView(row, column);
  std::int64_t value = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || end != text.data() + text.size()) {
    throw PgError(PgError::Kind::statement, "",
                  "expected an integer in column " + std::to_string(column) + ", got '" +
                      std::string(text) + "'");
  }
  return value;
}

bool PgResult::Bool(int row, int column) const {
  std::string_view text = TextView(row, column);
  if (text == "t") return true;
  if (text == "f") return false;
  throw PgError(PgError::Kind::statement, "",
                "expected a boolean in column " + std::to_string(column));
}

std::int64_t PgResult::Affected() const {
  const char* text = PQcmdTuples(result_.get());
  std::int64_t value = 0;
  std::from_chars(text, text + std::strlen(text), value);
  return value;
}

Params& Params::Add(std::string_view text) {
  values_.emplace_back(text);
  null_.push_back(false);
  return *this;
}

Params& Params::Add(std::int64_t value) {
  values_.push_back(std::to_string(value));
  null_.push_back(false);
  return *this;
}

Params& Params::Add(const std::vector<std::string>& array) {
  // Every element quoted, so commas, braces, spaces and the word NULL are
  // plain text; inside quotes only " and \ need a backslash.
  std::string literal = "{";
  for (const std::string& item : array) {
    if (literal.size() > 1) literal += ',';
    literal += '"';
    for (char c : item) {
      if (c == '"' || c == '\\') literal += '\\';
      literal += c;
    }
    literal += '"';
  }
  literal += '}';
  values_.push_back(std::move(literal));
  null_.push_back(false);
  return *this;
}

Params& Params::AddBool(std::optional<bool> value) {
  if (!value) return Null();
  return Add(*value ? "true" : "false");
}

Params& Params::Null() {
  values_.emplace_back();
  null_.push_back(true);
  return *this;
}

std::vector<const char*> Params::Pointers() const {
  std::vector<const char*> pointers;
  pointers.reserve(values_.size());
  for (std::size_t i = 0; i < values_.size(); ++i) {
    pointers.push_back(null_[i] ? nullptr : values_[i].c_str());
  }
  return pointers;
}

Connection::Connection(std::string url, int connect_timeout_seconds,
                       std::function<void(Connection&)> on_connect)
    : url_(std::move(url)),
      connect_timeout_(std::to_string(connect_timeout_seconds)),
      on_connect_(std::move(on_connect)) {}

Connection::~Connection() { Close(); }

void Connection::Close() {
  if (conn_ != nullptr) PQfinish(conn_);
  conn_ = nullptr;
  broken_ = true;
}

void Connection::Ensure() {
  if (!broken()) return;
  Close();
  // Defaults first: entries before the expanded dbname (the URL) are
  // overridden by the URL's own settings. Keepalives let a call on a
  // connection to a vanished host fail within about half a minute instead
  // of waiting for TCP's own timeout (hours).
  const char* keywords[] = {
      "connect_timeout",  "keepalives",       "keepalives_idle", "keepalives_interval",
      "keepalives_count", "application_name", "dbname",          nullptr};
  const char* values[] = {
      connect_timeout_.c_str(), "1", "10", "5", "3", "ferryd", url_.c_str(), nullptr};
  conn_ = PQconnectdbParams(keywords, values, /*expand_dbname=*/1);
  if (conn_ == nullptr || PQstatus(conn_) != CONNECTION_OK) {
    PgError error = ErrorFrom(conn_, nullptr, "connect");
    Close();
    throw PgError(PgError::Kind::connection, error.sqlstate(), error.what());
  }
  PQsetNoticeProcessor(conn_, &NoticeToLog, nullptr);
  // Usable from here on: on_connect_ runs its statements through it.
  broken_ = false;
  try {
    // A commit is acknowledged only once it is durable, whatever the
    // server's or role's default says.
    Exec("SET synchronous_commit TO on");
    if (on_connect_) on_connect_(*this);
  } catch (const PgError& e) {
    Close();
    throw PgError(PgError::Kind::connection, e.sqlstate(), e.what());
  }
  log::Info("postgres store: connected to ", PQhost(conn_), ":", PQport(conn_), "/", PQdb(conn_),
            " (server ", PQserverVersion(conn_), ")");
}

PgResult Connection::Exec(const char* sql) {
  if (conn_ == nullptr) throw PgError(PgError::Kind::connection, "", "not connected");
  PGresult* raw = PQexec(conn_, sql);
  ExecStatusType status = raw != nullptr ? PQresultStatus(raw) : PGRES_FATAL_ERROR;
  if (status != PGRES_COMMAND_OK && status != PGRES_TUPLES_OK) {
    PgError error = ErrorFrom(conn_, raw, std::string_view(sql).substr(0, 60));
    PQclear(raw);
    throw error;
  }
  return PgResult(raw);
}

}  // namespace ferry::postgres
