// The gathering VFS (sqlite_gather_vfs.h).
//
// The VFS is a copy of its parent with its own name, a larger file object
// and its own xOpen; every other VFS method is the parent's, called with the
// parent's pAppData and mxPathname, which is all those methods read.
//
// A file is the parent's file object followed by a Pending (after rounding
// to its alignment). The database and everything else keep the parent's
// methods and never touch the Pending; only a WAL file gets the methods
// below, which keep its pending range there and call the parent's methods,
// saved in the Pending, on the same object.
#include "store/sqlite/sqlite_gather_vfs.h"

#include <sqlite3.h>

#include <atomic>
#include <map>
#include <mutex>
#include <new>
#include <string>
#include <vector>

namespace ferry::sqlite {
namespace {

std::atomic<std::uint64_t> g_writes_in{0};
std::atomic<std::uint64_t> g_writes_out{0};

constexpr int RoundUp(int n) {
  constexpr int kAlign = alignof(std::max_align_t);
  return (n + kAlign - 1) / kAlign * kAlign;
}

// What a WAL file keeps beside the parent's object: the writes not yet
// passed down, as one contiguous range [start, start + bytes.size()).
struct Pending {
  const sqlite3_io_methods* real = nullptr;
  sqlite3_int64 start = 0;
  std::vector<char> bytes;
};

// Files do not know their VFS, so a WAL file's Pending is found by the
// offset the VFS put it at, kept beside the methods (one per VFS).
struct WalMethods {
  sqlite3_io_methods methods;
  int pending_offset;
};

Pending& PendingAt(sqlite3_file* file) {
  const auto* owner = reinterpret_cast<const WalMethods*>(file->pMethods);
  return *std::launder(
      reinterpret_cast<Pending*>(reinterpret_cast<char*>(file) + owner->pending_offset));
}

// Passes the pending range down as one write. The range is dropped even if
// the write fails: SQLite then fails the transaction that wrote it, and a
// frame past the log's last commit is never read.
int Flush(sqlite3_file* file) {
  Pending& p = PendingAt(file);
  if (p.bytes.empty()) return SQLITE_OK;
  g_writes_out.fetch_add(1, std::memory_order_relaxed);
  int rc = p.real->xWrite(file, p.bytes.data(), static_cast<int>(p.bytes.size()), p.start);
  p.bytes.clear();
  return rc;
}

int Write(sqlite3_file* file, const void* data, int amount, sqlite3_int64 offset) {
  Pending& p = PendingAt(file);
  g_writes_in.fetch_add(1, std::memory_order_relaxed);
  const auto* bytes = static_cast<const char*>(data);
  const auto n = static_cast<std::size_t>(amount);
  const sqlite3_int64 end = p.start + static_cast<sqlite3_int64>(p.bytes.size());
  // Anything but an append (SQLite rewriting a frame it spilled earlier in
  // the transaction, or starting the log over) writes the range out first,
  // so the writes reach the file in SQLite's order.
  if (!p.bytes.empty() && offset == end && p.bytes.size() + n <= kGatherLimit) {
    p.bytes.insert(p.bytes.end(), bytes, bytes + n);
    return SQLITE_OK;
  }
  if (int rc = Flush(file); rc != SQLITE_OK) return rc;
  if (n > kGatherLimit) {
    g_writes_out.fetch_add(1, std::memory_order_relaxed);
    return p.real->xWrite(file, data, amount, offset);
  }
  p.start = offset;
  p.bytes.assign(bytes, bytes + n);
  return SQLITE_OK;
}

int Close(sqlite3_file* file) {
  Pending& p = PendingAt(file);
  int flushed = Flush(file);
  const sqlite3_io_methods* real = p.real;
  p.~Pending();
  int closed = real->xClose(file);
  return flushed != SQLITE_OK ? flushed : closed;
}

int Read(sqlite3_file* file, void* out, int amount, sqlite3_int64 offset) {
  if (int rc = Flush(file); rc != SQLITE_OK) return rc;
  return PendingAt(file).real->xRead(file, out, amount, offset);
}
int Truncate(sqlite3_file* file, sqlite3_int64 size) {
  if (int rc = Flush(file); rc != SQLITE_OK) return rc;
  return PendingAt(file).real->xTruncate(file, size);
}
int Sync(sqlite3_file* file, int flags) {
  if (int rc = Flush(file); rc != SQLITE_OK) return rc;
  return PendingAt(file).real->xSync(file, flags);
}
int FileSize(sqlite3_file* file, sqlite3_int64* size) {
  if (int rc = Flush(file); rc != SQLITE_OK) return rc;
  return PendingAt(file).real->xFileSize(file, size);
}
int FileControl(sqlite3_file* file, int op, void* arg) {
  if (int rc = Flush(file); rc != SQLITE_OK) return rc;
  return PendingAt(file).real->xFileControl(file, op, arg);
}
int Lock(sqlite3_file* file, int level) { return PendingAt(file).real->xLock(file, level); }
int Unlock(sqlite3_file* file, int level) { return PendingAt(file).real->xUnlock(file, level); }
int CheckReservedLock(sqlite3_file* file, int* out) {
  return PendingAt(file).real->xCheckReservedLock(file, out);
}
int SectorSize(sqlite3_file* file) { return PendingAt(file).real->xSectorSize(file); }
int DeviceCharacteristics(sqlite3_file* file) {
  return PendingAt(file).real->xDeviceCharacteristics(file);
}

// Version 1: SQLite maps and shares memory through the database file only.
constexpr sqlite3_io_methods kWalMethods = {
    .iVersion = 1,
    .xClose = Close,
    .xRead = Read,
    .xWrite = Write,
    .xTruncate = Truncate,
    .xSync = Sync,
    .xFileSize = FileSize,
    .xLock = Lock,
    .xUnlock = Unlock,
    .xCheckReservedLock = CheckReservedLock,
    .xFileControl = FileControl,
    .xSectorSize = SectorSize,
    .xDeviceCharacteristics = DeviceCharacteristics,
};

// A registered gathering VFS: `vfs` first, so SQLite's pointer is ours.
struct GatherVfs {
  sqlite3_vfs vfs;
  sqlite3_vfs* parent;
  std::string name;
  WalMethods wal;  // its WAL files' methods
};

int Open(sqlite3_vfs* vfs, const char* name, sqlite3_file* file, int flags, int* out_flags) {
  auto* gather = reinterpret_cast<GatherVfs*>(vfs);
  sqlite3_vfs* parent = gather->parent;
  int rc = parent->xOpen(parent, name, file, flags, out_flags);
  if (rc != SQLITE_OK || (flags & SQLITE_OPEN_WAL) == 0 || file->pMethods == nullptr) return rc;
  auto* pending = new (reinterpret_cast<char*>(file) + gather->wal.pending_offset) Pending;
  pending->real = file->pMethods;
  pending->bytes.reserve(kGatherLimit);
  file->pMethods = &gather->wal.methods;
  return rc;
}

sqlite3_vfs* Register(sqlite3_vfs* parent) {
  auto* gather = new GatherVfs{*parent, parent, std::string("ferry-gather/") + parent->zName,
                               WalMethods{kWalMethods, RoundUp(parent->szOsFile)}};
  sqlite3_vfs& vfs = gather->vfs;
  vfs.pNext = nullptr;
  vfs.szOsFile = gather->wal.pending_offset + static_cast<int>(sizeof(Pending));
  vfs.zName = gather->name.c_str();
  vfs.xOpen = Open;
  sqlite3_vfs_register(&vfs, /*makeDflt=*/0);
  return &vfs;
}

}  // namespace

const char* GatherVfsName(const char* parent_name) {
  static std::mutex mu;
  static std::map<std::string, sqlite3_vfs*> registered;
  std::lock_guard lock(mu);
  sqlite3_vfs* parent = sqlite3_vfs_find(parent_name);
  if (parent == nullptr) return nullptr;
  sqlite3_vfs*& vfs = registered[parent->zName];
  if (vfs == nullptr) vfs = Register(parent);
  return vfs->zName;
}

GatherCounts GatherCountsNow() {
  return {g_writes_in.load(std::memory_order_relaxed),
          g_writes_out.load(std::memory_order_relaxed)};
}

}  // namespace ferry::sqlite
