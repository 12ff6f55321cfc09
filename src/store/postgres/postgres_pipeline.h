// Pipeline: libpq pipeline mode on one Connection, so a call sends its
// statements without waiting for each answer. Statements are queued (sent
// at once, executed by the server in order); a caller waits only where it
// needs a result to decide what comes next, and every result queued before
// it arrives in the same round trip. Results may also be taken later by a
// handler, which runs, in queue order, when that result is read.
//
// Errors: the first failed statement throws its PgError from whichever call
// reads it (Get, ReadAll, Finish). The server skips the statements after a
// failure up to the next sync, so nothing after it took effect either.
//
// Lifetime: the destructor of a Pipeline that did not Finish() (an
// exception is unwinding) syncs, drains the remaining results, leaves
// pipeline mode and rolls back a transaction left open, so the connection
// is idle again; if that fails the connection is marked broken instead.
//
// Threading: single-threaded, like the Connection.
#pragma once

#include <cstddef>
#include <deque>
#include <functional>
#include <vector>

#include "store/postgres/postgres_connection.h"
#include "store/postgres/postgres_queries.h"

namespace ferry::postgres {

class Pipeline {
 public:
  using Slot = std::size_t;
  using Handler = std::function<void(const PgResult&)>;

  // Enters pipeline mode on an idle connection. Throws PgError.
  explicit Pipeline(Connection& conn);
  ~Pipeline();
  Pipeline(const Pipeline&) = delete;
  Pipeline& operator=(const Pipeline&) = delete;

  // Queues one execution of a prepared statement; `on_result` (optional)
  // runs when its result is read. Throws PgError if it cannot be sent.
  Slot Queue(Query query, const Params& params = Params(), Handler on_result = {});
  // Queues the preparation of `sql` under `name` (used on connect).
  Slot QueuePrepare(const char* name, const char* sql);

  // The result of `slot`, waiting for it (and reading every earlier one)
  // if it has not arrived yet. Valid until the Pipeline goes.
  const PgResult& Get(Slot slot);
  // Like Get, but moves the result out (it is not kept).
  PgResult Take(Slot slot);
  // Reads every result queued so far.
  void ReadAll();
  // Ends the pipeline: a sync point, every remaining result read, pipeline
  // mode left. Throws PgError for the first failed statement.
  void Finish();

  // Queues BEGIN / COMMIT (a transaction spanning the queued statements).
  void Begin() { Queue(Query::begin); }
  // Queues COMMIT and finishes: returns once the commit is durable.
  void Commit() {
    Queue(Query::commit);
    Finish();
  }

 private:
  struct Pending {
    Slot slot;
    Handler handler;
    bool sync;
  };

  Slot Add(Handler handler);
  // Asks the server to send what it has (a flush request) and pushes our
  // buffered output, once per batch of queued statements.
  void Flush();
  // Reads the result of pending_.front() and pops it.
  void ReadNext();
  // After a failure: sync, drain, leave pipeline mode, roll back. Never throws.
  void Abandon() noexcept;

  Connection& conn_;
  std::deque<Pending> pending_;
  std::vector<PgResult> results_;
  bool unflushed_ = false;
  bool finished_ = false;
};

}  // namespace ferry::postgres
