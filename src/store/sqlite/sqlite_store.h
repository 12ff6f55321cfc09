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
};

// Opens the database at options.path, creating the file and the schema if
// needed. WAL journal with synchronous=FULL: a committed WriteBatch survives
// a process crash (kill -9) and power loss; busy_timeout is set.
// Returns Errc::unavailable (with the reason logged) if the file cannot be
// opened, is not a Ferry database, or has a schema newer than this build.
Result<std::unique_ptr<Store>> OpenSqliteStore(const SqliteOptions& options);

}  // namespace ferry
