// Pipeline: the bookkeeping of libpq pipeline mode (see the header). libpq
// hands results back strictly in the order statements were sent, one
// PGresult and then a null per statement, and PGRES_PIPELINE_SYNC per sync
// point; pending_ mirrors that order so each result reaches its slot.
#include "store/postgres/postgres_pipeline.h"

#include <utility>

#include "common/log.h"

namespace ferry::postgres {

Pipeline::Pipeline(Connection& conn) : conn_(conn) {
  PGconn* c = conn_.get();
  if (c == nullptr || conn_.broken()) {
    throw PgError(PgError::Kind::connection, "", "no connection");
  }
  if (PQpipelineStatus(c) != PQ_PIPELINE_OFF || PQtransactionStatus(c) != PQTRANS_IDLE) {
    // Only a bug could leave it so; start afresh rather than guess.
    conn_.MarkBroken();
    throw PgError(PgError::Kind::connection, "", "connection not idle");
  }
  if (PQenterPipelineMode(c) != 1) throw ErrorFrom(c, nullptr, "enter pipeline mode");
}

Pipeline::~Pipeline() {
  if (!finished_) Abandon();
}

Pipeline::Slot Pipeline::Add(Handler handler) {
  Slot slot = results_.size();
  results_.emplace_back();
  pending_.push_back(Pending{slot, std::move(handler), false});
  unflushed_ = true;
  return slot;
}

Pipeline::Slot Pipeline::Queue(Query query, const Params& params, Handler on_result) {
  std::vector<const char*> values = params.Pointers();
  // Text parameters and text results: the server parses the parameters
  // into the types the prepared statement declares.
  if (PQsendQueryPrepared(conn_.get(), QueryName(query), params.size(), values.data(), nullptr,
                          nullptr, 0) != 1) {
    throw ErrorFrom(conn_.get(), nullptr, QueryName(query));
  }
  return Add(std::move(on_result));
}

Pipeline::Slot Pipeline::QueuePrepare(const char* name, const char* sql) {
  if (PQsendPrepare(conn_.get(), name, sql, 0, nullptr) != 1) {
    throw ErrorFrom(conn_.get(), nullptr, name);
  }
  return Add({});
}

void Pipeline::Flush() {
  if (!unflushed_) return;
  // Without a flush request the server keeps results buffered until the
  // next sync; PQflush pushes out what libpq itself still buffers.
  if (PQsendFlushRequest(conn_.get()) != 1 || PQflush(conn_.get()) != 0) {
    throw ErrorFrom(conn_.get(), nullptr, "pipeline flush");
  }
  unflushed_ = false;
}

const PgResult& Pipeline::Get(Slot slot) {
  while (!results_.at(slot).ready()) {
    if (pending_.empty()) throw PgError(PgError::Kind::statement, "", "pipeline: no such result");
    Flush();
    ReadNext();
  }
  return results_[slot];
}

PgResult Pipeline::Take(Slot slot) {
  Get(slot);
  return std::move(results_[slot]);
}

void Pipeline::ReadAll() {
  Flush();
  while (!pending_.empty()) ReadNext();
}

void Pipeline::Finish() {
  if (PQpipelineSync(conn_.get()) != 1) throw ErrorFrom(conn_.get(), nullptr, "pipeline sync");
  pending_.push_back(Pending{0, {}, true});
  unflushed_ = false;  // a sync flushes both ends
  while (!pending_.empty()) ReadNext();
  if (PQexitPipelineMode(conn_.get()) != 1) {
    throw ErrorFrom(conn_.get(), nullptr, "exit pipeline mode");
  }
  finished_ = true;
}

void Pipeline::ReadNext() {
  PGconn* c = conn_.get();
  Pending next = std::move(pending_.front());
  pending_.pop_front();
  PgResult result(PQgetResult(c));
  if (!result.ready()) {
    // A statement's result is missing: the connection dropped, or the two
    // sides disagree about what is in flight. Either way, start afresh.
    conn_.MarkBroken();
    PgError error = ErrorFrom(c, nullptr, "pipeline read");
    throw PgError(PgError::Kind::connection, error.sqlstate(), error.what());
  }
  ExecStatusType status = PQresultStatus(result.get());
  if (next.sync) {
    if (status == PGRES_PIPELINE_SYNC) return;
    conn_.MarkBroken();
    throw PgError(PgError::Kind::connection, "", "pipeline: expected a sync point");
  }
  // Each statement's results end with a null; the next result is the next
  // statement's.
  if (PQstatus(c) == CONNECTION_OK) {
    PgResult extra(PQgetResult(c));
    if (extra.ready()) {
      conn_.MarkBroken();
      throw PgError(PgError::Kind::connection, "", "pipeline: unexpected extra result");
    }
  }
  if (status == PGRES_FATAL_ERROR) throw ErrorFrom(c, result.get(), "statement");
  if (status == PGRES_PIPELINE_ABORTED) {
    // Only after a failure, which was thrown when it was read.
    throw PgError(PgError::Kind::statement, "", "pipeline aborted by an earlier failure");
  }
  if (status != PGRES_COMMAND_OK && status != PGRES_TUPLES_OK) {
    throw PgError(PgError::Kind::statement, "",
                  std::string("unexpected result status ") + PQresStatus(status));
  }
  results_[next.slot] = std::move(result);
  if (next.handler) next.handler(results_[next.slot]);
}

void Pipeline::Abandon() noexcept {
  PGconn* c = conn_.get();
  if (c == nullptr || PQstatus(c) != CONNECTION_OK) {
    conn_.MarkBroken();
    return;
  }
  // One more sync point (unless the last thing queued is one), then read
  // everything up to it: results of statements after a failure come back
  // as PGRES_PIPELINE_ABORTED and are simply dropped.
  int syncs = 0;
  for (const Pending& p : pending_) syncs += p.sync ? 1 : 0;
  if (pending_.empty() || !pending_.back().sync) {
    if (PQpipelineSync(c) != 1) {
      conn_.MarkBroken();
      return;
    }
    ++syncs;
  }
  int nulls = 0;
  while (syncs > 0) {
    PGresult* r = PQgetResult(c);
    if (r == nullptr) {
      // Two nulls in a row: libpq has nothing more in flight.
      if (++nulls >= 2 || PQstatus(c) != CONNECTION_OK) break;
      continue;
    }
    nulls = 0;
    if (PQresultStatus(r) == PGRES_PIPELINE_SYNC) --syncs;
    PQclear(r);
  }
  pending_.clear();
  if (syncs > 0 || PQexitPipelineMode(c) != 1) {
    conn_.MarkBroken();
    return;
  }
  PGTransactionStatusType state = PQtransactionStatus(c);
  if (state == PQTRANS_INTRANS || state == PQTRANS_INERROR) {
    PGresult* r = PQexec(c, "ROLLBACK");
    bool ok = r != nullptr && PQresultStatus(r) == PGRES_COMMAND_OK;
    PQclear(r);
    state = ok ? PQtransactionStatus(c) : PQTRANS_UNKNOWN;
  }
  if (state != PQTRANS_IDLE) {
    log::Warn("postgres store: connection left in an unknown state; reconnecting");
    conn_.MarkBroken();
  }
}

}  // namespace ferry::postgres
