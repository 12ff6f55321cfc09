// A fault-injecting SQLite VFS for tests (LevelDB's SpecialEnv, for
// SQLite): "ferry-fault" wraps the default VFS and, while a disk fault is
// set, fails the calls a sick disk fails, with the codes SQLite's own unix
// VFS gives for the same errno. Everything else passes through, so the store
// above it runs its real code paths against a real file.
//
// The fault is process-wide. It is set either directly (SetDiskFault, from
// a unit test) or, in a ferryd started by an end-to-end test, from a control
// file named by the environment variable kDiskFaultFileEnv: while that
// variable is set when the store opens, the store uses this VFS and every
// write or sync re-reads the file (DiskFaultFromText), so a test changes the
// fault of a running server by rewriting it. Production never sets it, and
// then this VFS is neither registered nor used.
//
// Threading: every function here is thread-safe.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace ferry::sqlite {

enum class DiskFault {
  none,
  full,         // xWrite fails with SQLITE_FULL (ENOSPC): nothing more can be written
  write_error,  // xWrite, xTruncate fail with SQLITE_IOERR_WRITE/_TRUNCATE (EIO on write)
  fsync_error,  // xSync fails with SQLITE_IOERR_FSYNC (EIO on fsync): the
                // write() calls before it succeeded, their data is in the file
};

// The environment variable that turns fault injection on in ferryd (see top).
inline constexpr const char* kDiskFaultFileEnv = "FERRY_SQLITE_FAULT_FILE";

// The name to pass to sqlite3_open_v2: registers the VFS on first use.
const char* FaultVfsName();

// Sets the fault every file of the VFS sees from now on; clears any control
// file (SetDiskFaultFile).
void SetDiskFault(DiskFault fault);
// From now on the fault is read from `path` at each write, sync and
// truncate: a missing or empty file is none (see DiskFaultFromText).
void SetDiskFaultFile(std::string path);
// The fault in effect now.
DiskFault CurrentDiskFault();

// "", "none" -> none; "full", "write-error", "fsync-error" -> that fault
// (surrounding white space ignored); anything else nullopt.
std::optional<DiskFault> DiskFaultFromText(std::string_view text);
const char* DiskFaultName(DiskFault fault);

}  // namespace ferry::sqlite
