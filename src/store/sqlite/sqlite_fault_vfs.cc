// The "ferry-fault" VFS (sqlite_fault_vfs.h): a shim over the default VFS.
// Each file it opens is a FaultFile, the default VFS's own file object placed
// right behind a small header, and every method forwards to that object
// unless the current fault says the disk fails the call.
//
// The codes are the ones SQLite's unix VFS maps the errnos to (ENOSPC on
// write() -> SQLITE_FULL, EIO -> SQLITE_IOERR_WRITE, a failed fsync() ->
// SQLITE_IOERR_FSYNC), so the layers above cannot tell the two apart. Only
// the calls that change the file fail: reads, locks and the WAL index (in
// shared memory) keep working, as they do on a full or failing disk whose
// data is still readable.
#include "store/sqlite/sqlite_fault_vfs.h"

#include <fcntl.h>
#include <sqlite3.h>
#include <unistd.h>

#include <cctype>
#include <cerrno>
#include <mutex>

namespace ferry::sqlite {
namespace {

// The fault, and the file it is read from when there is one.
struct Control {
  std::mutex mu;
  DiskFault fault = DiskFault::none;  // GUARDED_BY(mu), when file is empty
  std::string file;                   // GUARDED_BY(mu)
};

Control& TheControl() {
  static Control control;
  return control;
}

// The control file's fault: none if it is missing, empty or unreadable.
DiskFault ReadFaultFile(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return DiskFault::none;
  char buffer[64];
  ssize_t n = ::read(fd, buffer, sizeof buffer);
  ::close(fd);
  if (n <= 0) return DiskFault::none;
  return DiskFaultFromText(std::string_view(buffer, static_cast<std::size_t>(n)))
      .value_or(DiskFault::none);
}

// ---- Files ----

struct FaultFile {
  sqlite3_file base;   // first: what SQLite holds
  sqlite3_file* real;  // the default VFS's file, in the same allocation
};

sqlite3_file* Real(sqlite3_file* file) { return reinterpret_cast<FaultFile*>(file)->real; }
const sqlite3_io_methods& RealMethods(sqlite3_file* file) { return *Real(file)->pMethods; }

int Close(sqlite3_file* f) { return RealMethods(f).xClose(Real(f)); }

int Read(sqlite3_file* f, void* buffer, int amount, sqlite3_int64 offset) {
  return RealMethods(f).xRead(Real(f), buffer, amount, offset);
}

// Fails as the system call would have: with `code` for SQLite, and errno
// set for what SQLite reports of it (sqlite3_system_errno).
int Failed(int code, int error) {
  errno = error;
  return code;
}

int Write(sqlite3_file* f, const void* buffer, int amount, sqlite3_int64 offset) {
  switch (CurrentDiskFault()) {
    case DiskFault::full:
      return Failed(SQLITE_FULL, ENOSPC);
    case DiskFault::write_error:
      return Failed(SQLITE_IOERR_WRITE, EIO);
    default:
      return RealMethods(f).xWrite(Real(f), buffer, amount, offset);
  }
}

// A truncation only gives space back, so a full disk allows it.
int Truncate(sqlite3_file* f, sqlite3_int64 size) {
  if (CurrentDiskFault() == DiskFault::write_error) return Failed(SQLITE_IOERR_TRUNCATE, EIO);
  return RealMethods(f).xTruncate(Real(f), size);
}

int Sync(sqlite3_file* f, int flags) {
  if (CurrentDiskFault() == DiskFault::fsync_error) return Failed(SQLITE_IOERR_FSYNC, EIO);
  return RealMethods(f).xSync(Real(f), flags);
}

int FileSize(sqlite3_file* f, sqlite3_int64* size) {
  return RealMethods(f).xFileSize(Real(f), size);
}
int Lock(sqlite3_file* f, int level) { return RealMethods(f).xLock(Real(f), level); }
int Unlock(sqlite3_file* f, int level) { return RealMethods(f).xUnlock(Real(f), level); }
int CheckReservedLock(sqlite3_file* f, int* out) {
  return RealMethods(f).xCheckReservedLock(Real(f), out);
}
int FileControl(sqlite3_file* f, int op, void* arg) {
  return RealMethods(f).xFileControl(Real(f), op, arg);
}
int SectorSize(sqlite3_file* f) { return RealMethods(f).xSectorSize(Real(f)); }
int DeviceCharacteristics(sqlite3_file* f) {
  return RealMethods(f).xDeviceCharacteristics(Real(f));
}

// Version 2 (shared memory, for WAL) and 3 (memory-mapped I/O), forwarded
// when the real file has them.
int ShmMap(sqlite3_file* f, int region, int size, int extend, void volatile** out) {
  if (RealMethods(f).iVersion < 2) return SQLITE_IOERR_SHMMAP;
  return RealMethods(f).xShmMap(Real(f), region, size, extend, out);
}
int ShmLock(sqlite3_file* f, int offset, int n, int flags) {
  if (RealMethods(f).iVersion < 2) return SQLITE_IOERR_SHMLOCK;
  return RealMethods(f).xShmLock(Real(f), offset, n, flags);
}
void ShmBarrier(sqlite3_file* f) {
  if (RealMethods(f).iVersion >= 2) RealMethods(f).xShmBarrier(Real(f));
}
int ShmUnmap(sqlite3_file* f, int delete_flag) {
  if (RealMethods(f).iVersion < 2) return SQLITE_OK;
  return RealMethods(f).xShmUnmap(Real(f), delete_flag);
}
int Fetch(sqlite3_file* f, sqlite3_int64 offset, int amount, void** out) {
  if (RealMethods(f).iVersion < 3) {
    *out = nullptr;  // no mapping: SQLite reads instead
    return SQLITE_OK;
  }
  return RealMethods(f).xFetch(Real(f), offset, amount, out);
}
int Unfetch(sqlite3_file* f, sqlite3_int64 offset, void* page) {
  if (RealMethods(f).iVersion < 3) return SQLITE_OK;
  return RealMethods(f).xUnfetch(Real(f), offset, page);
}

const sqlite3_io_methods kFileMethods = {
    .iVersion = 3,
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
    .xShmMap = ShmMap,
    .xShmLock = ShmLock,
    .xShmBarrier = ShmBarrier,
    .xShmUnmap = ShmUnmap,
    .xFetch = Fetch,
    .xUnfetch = Unfetch,
};

// ---- The VFS: opens FaultFiles, forwards the rest to the default VFS ----

sqlite3_vfs* Root(sqlite3_vfs* vfs) { return static_cast<sqlite3_vfs*>(vfs->pAppData); }

int Open(sqlite3_vfs* vfs, const char* name, sqlite3_file* file, int flags, int* out_flags) {
  auto* fault_file = reinterpret_cast<FaultFile*>(file);
  fault_file->real = reinterpret_cast<sqlite3_file*>(fault_file + 1);
  int rc = Root(vfs)->xOpen(Root(vfs), name, fault_file->real, flags, out_flags);
  // SQLite calls xClose whenever pMethods is set, even after a failed open,
  // so it mirrors the real file's.
  file->pMethods = fault_file->real->pMethods != nullptr ? &kFileMethods : nullptr;
  return rc;
}

int Delete(sqlite3_vfs* vfs, const char* name, int sync_dir) {
  return Root(vfs)->xDelete(Root(vfs), name, sync_dir);
}
int Access(sqlite3_vfs* vfs, const char* name, int flags, int* out) {
  return Root(vfs)->xAccess(Root(vfs), name, flags, out);
}
int FullPathname(sqlite3_vfs* vfs, const char* name, int size, char* out) {
  return Root(vfs)->xFullPathname(Root(vfs), name, size, out);
}
void* DlOpen(sqlite3_vfs* vfs, const char* name) { return Root(vfs)->xDlOpen(Root(vfs), name); }
void DlError(sqlite3_vfs* vfs, int size, char* out) { Root(vfs)->xDlError(Root(vfs), size, out); }
void (*DlSym(sqlite3_vfs* vfs, void* handle, const char* symbol))(void) {
  return Root(vfs)->xDlSym(Root(vfs), handle, symbol);
}
void DlClose(sqlite3_vfs* vfs, void* handle) { Root(vfs)->xDlClose(Root(vfs), handle); }
int Randomness(sqlite3_vfs* vfs, int size, char* out) {
  return Root(vfs)->xRandomness(Root(vfs), size, out);
}
int Sleep(sqlite3_vfs* vfs, int micros) { return Root(vfs)->xSleep(Root(vfs), micros); }
int CurrentTime(sqlite3_vfs* vfs, double* out) { return Root(vfs)->xCurrentTime(Root(vfs), out); }
int GetLastError(sqlite3_vfs* vfs, int size, char* out) {
  return Root(vfs)->xGetLastError(Root(vfs), size, out);
}
int CurrentTimeInt64(sqlite3_vfs* vfs, sqlite3_int64* out) {
  return Root(vfs)->xCurrentTimeInt64(Root(vfs), out);
}

sqlite3_vfs* Register() {
  sqlite3_vfs* root = sqlite3_vfs_find(nullptr);
  static sqlite3_vfs vfs{};
  vfs.iVersion = 2;  // up to xCurrentTimeInt64: no system call overrides
  vfs.szOsFile = static_cast<int>(sizeof(FaultFile)) + root->szOsFile;
  vfs.mxPathname = root->mxPathname;
  vfs.zName = "ferry-fault";
  vfs.pAppData = root;
  vfs.xOpen = Open;
  vfs.xDelete = Delete;
  vfs.xAccess = Access;
  vfs.xFullPathname = FullPathname;
  vfs.xDlOpen = DlOpen;
  vfs.xDlError = DlError;
  vfs.xDlSym = DlSym;
  vfs.xDlClose = DlClose;
  vfs.xRandomness = Randomness;
  vfs.xSleep = Sleep;
  vfs.xCurrentTime = CurrentTime;
  vfs.xGetLastError = GetLastError;
  vfs.xCurrentTimeInt64 = CurrentTimeInt64;
  sqlite3_vfs_register(&vfs, /*makeDflt=*/0);
  return &vfs;
}

}  // namespace

const char* FaultVfsName() {
  static sqlite3_vfs* vfs = Register();
  return vfs->zName;
}

void SetDiskFault(DiskFault fault) {
  Control& c = TheControl();
  std::lock_guard lock(c.mu);
  c.fault = fault;
  c.file.clear();
}

void SetDiskFaultFile(std::string path) {
  Control& c = TheControl();
  std::lock_guard lock(c.mu);
  c.fault = DiskFault::none;
  c.file = std::move(path);
}

DiskFault CurrentDiskFault() {
  Control& c = TheControl();
  std::lock_guard lock(c.mu);
  return c.file.empty() ? c.fault : ReadFaultFile(c.file);
}

std::optional<DiskFault> DiskFaultFromText(std::string_view text) {
  auto space = [](char ch) { return std::isspace(static_cast<unsigned char>(ch)) != 0; };
  while (!text.empty() && space(text.front())) text.remove_prefix(1);
  while (!text.empty() && space(text.back())) text.remove_suffix(1);
  for (DiskFault f :
       {DiskFault::none, DiskFault::full, DiskFault::write_error, DiskFault::fsync_error}) {
    if (text == DiskFaultName(f)) return f;
  }
  if (text.empty()) return DiskFault::none;
  return std::nullopt;
}

const char* DiskFaultName(DiskFault fault) {
  switch (fault) {
    case DiskFault::none:
      return "none";
    case DiskFault::full:
      return "full";
    case DiskFault::write_error:
      return "write-error";
    case DiskFault::fsync_error:
      return "fsync-error";
  }
  return "none";
}

}  // namespace ferry::sqlite
