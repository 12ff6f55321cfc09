// The stored forms of the values a Store keeps as text: a chat event and a
// receipt (inbox.event) and a message's attachment list (messages.attachments).
// Both are JSON, the same bytes in every backend: SQLite keeps them in text
// columns, PostgreSQL in jsonb ones, so what either database holds can be
// read with any SQL client.
//
// The forms are a storage format: once written they must stay readable, so
// they are defined here and not borrowed from the wire protocol (whose
// `chat` event happens to use the same field names today).
//
// Pure functions; any thread. Decoders never throw: a malformed value is a
// DecodeError, which each backend turns into its own error (SqliteError
// SQLITE_CORRUPT, PgError). Strings are copied byte for byte both ways (no
// UTF-8 check), so every encoded value decodes to what was encoded.
#pragma once

#include <boost/system/result.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "common/domain.h"

namespace ferry::record_codec {

// Why a stored value did not decode, e.g. "field 'ts' must be an integer".
struct DecodeError {
  std::string reason;
};
template <class T>
using Decoded = boost::system::result<T, DecodeError>;

// {"chatId","event","members":[...],"by","ts"}.
std::string EncodeChatEvent(const ChatEvent& event);
// Returns the event, or DecodeError if `text` is not an object with those
// five fields (strings, an array of strings, and an integer ts). Other
// fields and the order of fields do not matter (jsonb reorders them).
Decoded<ChatEvent> DecodeChatEvent(std::string_view text);

// {"chatId","user","kind","upToTs","upToId","ts"}, kind "delivered" or "read".
std::string EncodeReceipt(const Receipt& receipt);
// Returns the receipt, or DecodeError if `text` is not an object with those
// six fields (strings; integers for the two ts; kind one of the two).
Decoded<Receipt> DecodeReceipt(std::string_view text);

// [{"attachmentId","contentType","size","sha256"}] in message order, "[]"
// when there are none; "sha256" is "" if the uploader announced none.
std::string EncodeAttachments(const std::vector<AttachmentRef>& attachments);
// Returns the list, or DecodeError if `text` is not an array of objects
// with those four fields (strings, and an integer size).
Decoded<std::vector<AttachmentRef>> DecodeAttachments(std::string_view text);

}  // namespace ferry::record_codec
