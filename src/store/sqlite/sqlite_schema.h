// The embedded store's on-disk schema (ARCHITECTURE.md "Data") and the
// connection settings that make its commits durable. Called once per
// connection from OpenSqliteStore, before any statement is prepared.
#pragma once

#include <sqlite3.h>

#include <string>
#include <string_view>
#include <vector>

#include "store/store.h"

namespace ferry::sqlite {

// PRAGMA user_version of the schema this build creates and understands.
// Version 1 databases are migrated on open (see EnsureSchema).
inline constexpr int kSchemaVersion = 2;

// Sets WAL, synchronous=FULL, busy_timeout and cache pragmas on `db`.
// Throws SqliteError.
void ConfigureConnection(sqlite3* db);

// Creates the schema in an empty database; accepts a database already at
// kSchemaVersion and migrates one at version 1 (adds the attachment tables;
// legacy JSON in messages.attachments becomes "no attachments"). Throws
// SqliteError for a newer (unknown) version.
void EnsureSchema(sqlite3* db);

// inbox.kind values.
inline constexpr int kKindMessage = 0;
inline constexpr int kKindChatEvent = 1;

// inbox.event of a chat event: its fields one per line (chat_id, event, by,
// ts, then each member). Users and chat ids never contain a newline.
std::string EncodeChatEvent(const ChatEvent& event);
// Throws SqliteError (SQLITE_CORRUPT) if `text` is not an encoded event.
ChatEvent DecodeChatEvent(std::string_view text);

// attachments.state values: the AttachmentState enumerators.
inline constexpr int kStatePending = static_cast<int>(AttachmentState::pending);
inline constexpr int kStateUploaded = static_cast<int>(AttachmentState::uploaded);
inline constexpr int kStateSent = static_cast<int>(AttachmentState::sent);

// messages.attachments: one line per attachment, "<id> <size> <content_type>"
// ("" = none). Ids are base64url (no space or newline) and content types
// have no control characters, so the content type is simply the rest of
// the line.
std::string EncodeAttachments(const std::vector<AttachmentRef>& attachments);
// Throws SqliteError (SQLITE_CORRUPT) if `text` is not an encoded list.
std::vector<AttachmentRef> DecodeAttachments(std::string_view text);

}  // namespace ferry::sqlite
