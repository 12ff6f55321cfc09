// The PostgreSQL store's schema (ARCHITECTURE.md "Data"; the same logical
// schema as sqlite/sqlite_schema.cc) and its versioned migrations. What the
// store keeps as jsonb is the JSON of store/record_codec.h.
//
// Threading: EnsureSchema uses the one connection it is given;
// DecodedOrCorrupt is pure.
#pragma once

#include <string>
#include <string_view>
#include <utility>

#include "store/postgres/postgres_connection.h"
#include "store/record_codec.h"
#include "store/store.h"

namespace ferry::postgres {

// The newest schema_version this build creates and understands.
inline constexpr int kSchemaVersion = 3;

// Brings the database to kSchemaVersion: in one transaction, under an
// advisory lock so that nodes starting together queue up and each migration
// runs once, it creates schema_version if missing and applies every
// migration above the recorded version. Throws PgError (statement) if the
// database is at a version newer than kSchemaVersion (a newer build wrote
// it: this one must not touch it) or a migration fails.
void EnsureSchema(Connection& conn);

// inbox.kind values.
inline constexpr int kKindMessage = 0;
inline constexpr int kKindChatEvent = 1;
inline constexpr int kKindInlineMessage = 2;  // the message in the entry's own columns
inline constexpr int kKindReceipt = 3;        // since version 3; the receipt in event

// attachments.state values: the AttachmentState enumerators.
inline constexpr int kStatePending = static_cast<int>(AttachmentState::pending);
inline constexpr int kStateUploaded = static_cast<int>(AttachmentState::uploaded);
inline constexpr int kStateSent = static_cast<int>(AttachmentState::sent);

// inbox.event and messages.attachments (jsonb) hold the JSON of
// record_codec.h. Returns the decoded value of `column`; throws PgError
// (statement) naming the column and the fault if it did not decode.
template <class T>
T DecodedOrCorrupt(record_codec::Decoded<T> decoded, std::string_view column) {
  if (!decoded) {
    throw PgError(PgError::Kind::statement, "",
                  "malformed " + std::string(column) + ": " + decoded.error().reason);
  }
  return std::move(*decoded);
}

}  // namespace ferry::postgres
