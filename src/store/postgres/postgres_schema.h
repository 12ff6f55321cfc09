// The PostgreSQL store's schema (ARCHITECTURE.md "Data"; the same logical
// schema as sqlite/sqlite_schema.cc), its versioned migrations, and the
// JSON forms of what the store keeps as jsonb.
//
// Threading: EnsureSchema uses the one connection it is given; the JSON
// functions are pure.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "store/postgres/postgres_connection.h"
#include "store/store.h"

namespace ferry::postgres {

// The newest schema_version this build creates and understands.
inline constexpr int kSchemaVersion = 1;

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

// attachments.state values: the AttachmentState enumerators.
inline constexpr int kStatePending = static_cast<int>(AttachmentState::pending);
inline constexpr int kStateUploaded = static_cast<int>(AttachmentState::uploaded);
inline constexpr int kStateSent = static_cast<int>(AttachmentState::sent);

// inbox.event: {"chatId", "event", "members": [...], "by", "ts"}, the field
// names of PROTOCOL.md's `chat` event, so the stored event reads as sent.
std::string EncodeChatEvent(const ChatEvent& event);
// Throws PgError (statement) if `json` is not an encoded event.
ChatEvent DecodeChatEvent(std::string_view json);

// messages.attachments: [{"attachmentId", "contentType", "size", "sha256"}]
// in message order ("sha256" is "" if the uploader announced none).
std::string EncodeAttachments(const std::vector<AttachmentRef>& attachments);
// Throws PgError (statement) if `json` is not an encoded list.
std::vector<AttachmentRef> DecodeAttachments(std::string_view json);

}  // namespace ferry::postgres
