// The line formats in which schema versions 1 and 2 of the embedded store
// kept inbox.event and messages.attachments. Nothing writes them any more:
// version 3 keeps the JSON of store/record_codec.h, and its migration
// (EnsureSchema, sqlite_schema.cc) is the only reader of these decoders.
//
// Pure functions; any thread.
#pragma once

#include <optional>
#include <string_view>
#include <vector>

#include "common/domain.h"

namespace ferry::sqlite::legacy {

// inbox.event of a chat event: chat_id, event, by, ts, then each member, one
// per line. Returns nullopt if `text` has fewer than four lines or ts is not
// an integer.
std::optional<ChatEvent> DecodeLineChatEvent(std::string_view text);

// messages.attachments: "" for none, else one line per attachment,
// "<id> <size> <sha256 or -> <content type>". Builds before the sha256 was
// stored wrote "<id> <size> <content type>" under the same schema version;
// the third field tells them apart (see the .cc). Returns nullopt if a line
// has no id and size or the size is not an integer.
std::optional<std::vector<AttachmentRef>> DecodeLineAttachments(std::string_view text);

}  // namespace ferry::sqlite::legacy
