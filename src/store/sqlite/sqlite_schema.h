// The embedded store's on-disk schema (ARCHITECTURE.md "Data") and the
// connection settings that make its commits durable. Called once per
// connection from OpenSqliteStore, before any statement is prepared.
#pragma once

#include <sqlite3.h>

#include <string>
#include <string_view>
#include <utility>

#include "store/record_codec.h"
#include "store/sqlite/sqlite_statement.h"
#include "store/store.h"

namespace ferry::sqlite {

// PRAGMA user_version of the schema this build creates and understands.
// Older databases are migrated on open (see EnsureSchema).
inline constexpr int kSchemaVersion = 5;

// Sets WAL, synchronous=FULL, busy_timeout and cache pragmas on `db`.
// Throws SqliteError.
void ConfigureConnection(sqlite3* db);

// Creates the schema in an empty database; accepts a database already at
// kSchemaVersion and migrates an older one, in one transaction, a version at
// a time:
//   1 -> 2  adds the attachment tables; the opaque JSON that version 1 kept
//           in messages.attachments becomes "no attachments";
//   2 -> 3  rewrites inbox.event and messages.attachments from the line
//           formats of sqlite_legacy.h to the JSON of record_codec.h;
//   3 -> 4  adds inbox's inline message columns (kKindInlineMessage);
//   4 -> 5  adds receipts, privacy and meta (protocol v1.1).
// Throws SqliteError for a newer (unknown) version, and for a version 2
// value that is not in its line format (nothing is changed then).
void EnsureSchema(sqlite3* db);

// inbox.kind values.
inline constexpr int kKindMessage = 0;
inline constexpr int kKindChatEvent = 1;
inline constexpr int kKindInlineMessage = 2;  // the message in the entry's own columns
inline constexpr int kKindReceipt = 3;        // inbox.event holds record_codec's receipt

// inbox.event of a chat event and messages.attachments hold the JSON of
// record_codec.h. Returns the decoded value of `column`; throws SqliteError
// (SQLITE_CORRUPT) naming the column and the fault if it did not decode.
template <class T>
T DecodedOrCorrupt(record_codec::Decoded<T> decoded, std::string_view column) {
  if (!decoded) {
    throw SqliteError(SQLITE_CORRUPT,
                      "malformed " + std::string(column) + ": " + decoded.error().reason);
  }
  return std::move(*decoded);
}

// attachments.state values: the AttachmentState enumerators.
inline constexpr int kStatePending = static_cast<int>(AttachmentState::pending);
inline constexpr int kStateUploaded = static_cast<int>(AttachmentState::uploaded);
inline constexpr int kStateSent = static_cast<int>(AttachmentState::sent);

}  // namespace ferry::sqlite
