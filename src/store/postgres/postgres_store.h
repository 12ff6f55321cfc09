// The PostgreSQL backend of Store (store.h): the clustered store, one
// database shared by every ferryd node. Same logical schema and behaviour as
// the SQLite backend (tests/store/conformance.h pins both); what differs is
// that many Store instances, in many processes, write at once.
//
// Threading and ownership: the returned Store follows store.h (one caller
// thread at a time) and owns one libpq connection; each node (or each store
// worker) opens its own Store. OpenPostgresStore may be called from any
// thread, and by many nodes at the same moment.
//
// Outcomes, beyond store.h:
// - Every libpq failure that is not a check outcome (connection refused or
//   lost, server shutting down, a statement error) makes that call return
//   Errc::unavailable, logged. The connection is then re-established by a
//   later call, so a PostgreSQL restart yields `unavailable` while it lasts
//   and working calls afterwards, without reopening the store. Nothing
//   throws out of a Store method.
// - Races between instances are resolved inside the backend. Row locks are
//   taken in a fixed order (a user's row before Login counts its clients, a
//   chat's row before its members change or a send reads them, recipient
//   clients sorted by id before their seqs advance), so per-client seqs stay
//   gap-free and the client and member limits hold. A member's marks only
//   rise (each raise is an upsert that compares positions on the locked
//   row), and a receipt entry is claimed under that row's lock, so two
//   instances never report one mark out of order. Whatever still collides
//   -- a deadlock (SQLSTATE 40P01), a serialization failure (40001) or a
//   unique violation between two instances inserting the same key (23505,
//   e.g. one send retried on two nodes) -- is a "conflict": the transaction
//   is rolled back and the whole call re-run, at most
//   PostgresOptions::conflict_retries times, then it is unavailable. A
//   re-run sees the winner's rows, so the retried send becomes `duplicate`.
// - WriteBatch answers ok only after COMMIT returned (synchronous_commit is
//   forced on for the session). If the connection breaks while COMMIT is in
//   flight the outcome is unknown and the call returns unavailable although
//   the batch may have committed; every op is safe to repeat (sends are
//   idempotent by (sender_client, client_msg_id), acks, presence and marks
//   by value, and a receipt is written only above the last one written).
// - Opening fails with Errc::unavailable (reason logged) if the server cannot
//   be reached or the database holds a schema newer than this build knows.
#pragma once

#include <memory>
#include <string>

#include "store/store.h"

namespace ferry {

struct PostgresOptions {
  // libpq connection URI or key=value string, e.g.
  // postgresql://ferry@127.0.0.1:5432/ferry. Settings in it win over the
  // defaults below (connect_timeout, keepalives).
  std::string url;
  // Seconds to wait for a connection to be established.
  int connect_timeout_seconds = 5;
  // Re-runs of a call that lost a race (see above) before it is unavailable.
  int conflict_retries = 8;
};

// Connects to options.url, applies the schema migrations this build knows
// (under an advisory lock, so nodes starting together apply each once) and
// prepares every statement. Returns Errc::unavailable, with the reason
// logged, if the server is unreachable, the migrations fail, or the database
// schema is newer than this build.
Result<std::unique_ptr<Store>> OpenPostgresStore(const PostgresOptions& options);

}  // namespace ferry
