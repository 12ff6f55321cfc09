// The embedded SQLite backend of Store (store.h): one database file, one
// connection, every statement prepared once. The default backend of a
// single-node ferryd; tests/store/conformance.h pins its behaviour.
//
// Threading: the returned Store follows store.h (one caller thread at a
// time). OpenSqliteStore itself may be called from any thread.
#pragma once

#include <memory>
#include <string>

#include "store/store.h"

namespace ferry {

struct SqliteOptions {
  std::string path;  // database file; ":memory:" for a private in-memory database (tests)
  // Tests: open through the fault-injecting VFS, whose faults the test sets
  // (sqlite_fault_vfs.h). Also on when the environment names a fault
  // control file (kDiskFaultFileEnv), which is how e2e tests reach ferryd.
  bool inject_faults = false;
  // Gather each commit's WAL writes into one write() (sqlite_gather_vfs.h).
  // Off only to measure what it saves.
  bool gather_wal_writes = true;
};

// Opens the database at options.path, creating the file and the schema if
// needed. WAL journal with synchronous=FULL: a committed WriteBatch survives
// a process crash (kill -9) and power loss; busy_timeout is set.
// Returns Errc::unavailable (with the reason logged) if the file cannot be
// opened, is not a Ferry database, or has a schema newer than this build.
//
// A disk that fails later (full, EIO on write or fsync) fails the calls that
// write with Errc::unavailable and rolls their transactions back; reads go
// on, and so do writes once the disk works again. One thing is not known of
// a transaction whose fsync failed: all of it was written, so after a crash
// or a reopen it may be found committed, whole (never a part of it).
Result<std::unique_ptr<Store>> OpenSqliteStore(const SqliteOptions& options);

}  // namespace ferry
