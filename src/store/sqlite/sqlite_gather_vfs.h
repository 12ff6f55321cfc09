// A SQLite VFS shim that gathers the writes to a write-ahead log into one
// write() per commit (per 120 KiB of it: kGatherLimit).
//
// SQLite's WAL writes each frame of a commit as two calls, the 24-byte
// frame header and the page, so a commit of 30 pages costs 60 pwrite()
// system calls before its one fsync. This shim holds the writes to a WAL
// file in memory while each extends one contiguous range, and hands that
// range to the VFS below as one write when SQLite syncs, reads,
// truncates, sizes or closes the file, asks it anything through
// xFileControl, or writes anywhere but at the range's end, and whenever the
// range would pass kGatherLimit. Nothing that SQLite has synced is
// ever held back: every sync writes out everything first, so the commit
// protocol (frames, then fsync, then the WAL index) and its durability are
// SQLite's own. A write's error (ENOSPC, EIO) is reported by the call that
// flushed it, which for a commit is the sync: the commit fails as whole as
// it would have at the write.
//
// Other files (the database, its shared-memory index) pass straight through.
//
// Threading: a file is used by one SQLite connection, whose calls SQLite
// serializes; registration and the counters are thread-safe.
#pragma once

#include <cstddef>
#include <cstdint>

namespace ferry::sqlite {

// Bytes a WAL file holds before it writes them out regardless: 120 KiB,
// 29 frames of 4 KiB pages. SQLite's unix VFS cannot take more in one
// write: it masks the length to 17 bits (0x1ffff), so a larger write loses
// its top bits and then fails as a full disk.
inline constexpr std::size_t kGatherLimit = 120 * 1024;

// The name to pass to sqlite3_open_v2 for a gathering VFS over `parent`
// (a registered VFS's name; nullptr for the default VFS). Registers it on
// first use; one per parent.
const char* GatherVfsName(const char* parent);

// Process-wide counts of WAL writes, for tests and benchmarks.
struct GatherCounts {
  std::uint64_t writes_in = 0;   // xWrite calls SQLite made on WAL files
  std::uint64_t writes_out = 0;  // write calls passed to the VFS below
};
GatherCounts GatherCountsNow();

}  // namespace ferry::sqlite
