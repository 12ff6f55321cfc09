// The embedded store's on-disk schema (ARCHITECTURE.md "Data") and the
// connection settings that make its commits durable. Called once per
// connection from OpenSqliteStore, before any statement is prepared.
#pragma once

#include <sqlite3.h>

#include <string>
#include <string_view>

#include "store/store.h"

namespace ferry::sqlite {

// PRAGMA user_version of the schema this build creates and understands.
inline constexpr int kSchemaVersion = 1;

// Sets WAL, synchronous=FULL, busy_timeout and cache pragmas on `db`.
// Throws SqliteError.
void ConfigureConnection(sqlite3* db);

// Creates the schema in an empty database; accepts a database already at
// kSchemaVersion. Throws SqliteError for a newer (unknown) version.
void EnsureSchema(sqlite3* db);

// inbox.kind values.
inline constexpr int kKindMessage = 0;
inline constexpr int kKindChatEvent = 1;

// inbox.event of a chat event: its fields one per line (chat_id, event, by,
// ts, then each member). Users and chat ids never contain a newline.
std::string EncodeChatEvent(const ChatEvent& event);
// Throws SqliteError (SQLITE_CORRUPT) if `text` is not an encoded event.
ChatEvent DecodeChatEvent(std::string_view text);

}  // namespace ferry::sqlite
