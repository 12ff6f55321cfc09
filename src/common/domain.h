// Ferry's domain types: users' clients, chats, messages, attachments and
// inbox entries, as every layer sees them (protocol encodes them, the store
// keeps them, the service moves them). Plain data, no behaviour; any thread.
#pragma once

#include <compare>
#include <cstdint>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "common/clock.h"

namespace ferry {

using Seq = std::int64_t;

struct ClientInfo {
  std::string client_id;
  std::string user;
  std::string device;
  std::string epoch;
  Seq head_seq = 0;   // highest seq allocated in this client's inbox
  Seq acked_seq = 0;  // highest seq this client acknowledged
  Millis last_active = 0;
};

struct ChatInfo {
  std::string chat_id;
  std::string name;
  std::vector<std::string> members;  // sorted
};

// An attachment as a message carries it (the per-recipient URL is minted at
// delivery, never stored).
struct AttachmentRef {
  std::string attachment_id;
  std::string content_type;
  std::int64_t size = 0;
  std::string sha256;  // lowercase hex, "" if the uploader announced none
};

// A stored message (the part shared by every recipient's inbox entry).
struct Message {
  std::string message_id;
  std::string chat_id;
  std::string sender;         // user
  std::string sender_client;  // clientId
  std::string client_msg_id;
  Millis ts = 0;
  std::string body;
  std::vector<AttachmentRef> attachments;  // in upload order
};

// The record behind a blob: created by attachTarget, uploaded by a PUT to
// the pre-signed URL, sent at most once. The blob itself lives in a
// BlobStore; this record decides when it goes.
enum class AttachmentState { pending = 0, uploaded = 1, sent = 2 };
struct Attachment {
  std::string attachment_id;
  std::string owner;         // user who asked for the upload target
  std::string content_type;  // printable ASCII, no control characters
  std::int64_t size = 0;
  std::string sha256;  // lowercase hex, "" if not announced
  AttachmentState state = AttachmentState::pending;
  std::string message_id;  // set once sent
  Millis created = 0;
  Millis expires = 0;  // the blob is deleted at this time at the latest
};

// A membership change, as delivered in `chat` events.
struct ChatEvent {
  std::string chat_id;
  std::string event;  // "created" | "membersAdded" | "membersRemoved"
  std::vector<std::string> members;
  std::string by;  // acting user
  Millis ts = 0;
};

// A position in a chat: one of its messages, as (ts, messageId). Positions
// order like messages: by ts, then messageId. An empty message_id is "no
// position" and orders below every message.
struct Position {
  Millis ts = 0;
  std::string message_id;
  bool empty() const { return message_id.empty(); }
  friend auto operator<=>(const Position&, const Position&) = default;
  friend bool operator==(const Position&, const Position&) = default;
};

// A member's two marks in a chat (protocol v1.1): messages it has received,
// and messages it has read.
enum class ReceiptKind { delivered = 0, read = 1 };

// A member's mark moved: what a `receipt` inbox entry carries.
struct Receipt {
  std::string chat_id;
  std::string user;  // whose mark
  ReceiptKind kind = ReceiptKind::delivered;
  Position up_to;
  Millis ts = 0;  // when the server recorded the move
};

// One inbox entry: a message, a chat event or a receipt.
struct InboxEntry {
  Seq seq = 0;
  std::variant<Message, ChatEvent, Receipt> item;
};

// A user's privacy settings (setPrivacy). Defaults: the v1 behaviour.
struct Privacy {
  bool read_receipts = true;      // others see this user's `read` marks
  bool last_seen_visible = true;  // lastSeen "everyone" (members of a shared chat); false: "nobody"
};

// One member's marks as chatReceipts shows them (nullopt: none, or hidden).
struct MemberReceipts {
  std::string user;
  std::optional<Position> delivered;
  std::optional<Position> read;
};

struct InboxPage {
  std::vector<InboxEntry> entries;  // seq ascending, all > `after`
  Seq head = 0;                     // client's head_seq at read time
};

// One inbox entry created by a write: who must be notified.
struct Delivery {
  std::string client_id;
  std::string user;
  Seq seq = 0;
};

}  // namespace ferry
