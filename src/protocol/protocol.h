// The wire protocol (PROTOCOL.md): WebSocket request decoding, reply and
// event encoding, and the node-to-node bus payloads. Pure functions over
// text; no I/O, no shared state, callable from any thread.
//
// Events are encoded in two parts so the JSON of a message is built once for
// all its recipients: EncodeEntryTail() gives everything but `type`/`seq`,
// and Frame() prepends those per recipient with a string concatenation.
#pragma once

#include <boost/json/value.hpp>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "common/errc.h"
#include "common/domain.h"

namespace ferry::protocol {

// ---- Requests (client -> server) ----
struct Hello {
  std::string token;
  std::optional<Seq> after;
};
struct CreateChat {
  std::vector<std::string> members;
  std::string name;
};
struct ChangeMembers {
  bool add = true;  // addMembers vs removeMembers
  std::string chat_id;
  std::vector<std::string> members;
};
struct Send {
  std::string chat_id;
  std::string client_msg_id;
  std::string body;
  std::vector<std::string> attachments;
};
struct Ack {
  Seq up_to = 0;
};
struct Sync {
  Seq after = 0;
};
struct AttachTarget {
  std::string content_type;
  std::int64_t size = 0;
  std::string sha256;
};
struct LastSeen {
  std::string user;
};
struct ListChats {};
struct Pong {};
// v1.1
struct MarkRead {
  std::string chat_id;
  Position up_to;
};
struct ChatReceipts {
  std::string chat_id;
};
struct Typing {
  std::string chat_id;
  bool composing = true;  // "composing", else "paused"
};
struct SetPrivacy {
  std::optional<bool> read_receipts;
  std::optional<bool> last_seen_visible;  // lastSeen "everyone" (true) or "nobody"
};

using Request = std::variant<Hello, CreateChat, ChangeMembers, Send, Ack, Sync, AttachTarget,
                             LastSeen, ListChats, Pong, MarkRead, ChatReceipts, Typing, SetPrivacy>;

struct Decoded {
  boost::json::value id;  // null when absent or not a valid id (then `error` is set)
  bool has_id = false;
  Errc error = Errc::ok;  // bad_request when the frame is not a valid request
  std::string message;    // human text for the error
  Request request;
};

// Parses one text frame. Never throws; malformed input sets `error`.
Decoded DecodeRequest(std::string_view text);

// Username rule: [a-z0-9_.-]{3,32}.
bool ValidUser(std::string_view user);

// ---- Replies ----
// Builds {"type":"ok","id":id, ...fields}. `fields` must be an object (or null).
std::string OkReply(const boost::json::value& id, boost::json::object fields = {});
// `retry_after_ms` > 0 adds "retryAfterMs" (a rate_limited answer: when to try again).
std::string ErrorReply(const boost::json::value& id, Errc code, std::string_view message,
                       std::int64_t retry_after_ms = 0);

// ---- Events (server -> client) ----
struct EncodedEntry {
  std::string type;  // "message" | "chat" | "receipt"
  std::string tail;  // the JSON object's members after type/seq(/attachments), ending in '}'
  std::vector<AttachmentRef> attachments;  // messages: written per recipient by Frame()
};
EncodedEntry EncodeEntry(const InboxEntry& entry);
// Mints the pre-signed GET URL of one attachment for the recipient at hand.
using UrlMinter = std::function<std::string(const std::string& attachment_id)>;
// {"type":T,"seq":seq[,"attachments":[...]],<tail>. Messages always carry
// "attachments" (each with the url `mint` gives; mint may be empty when the
// message has none).
std::string Frame(const EncodedEntry& entry, Seq seq, const UrlMinter& mint = {});
std::string PingFrame(Seq head);
// {"ts","messageId"}.
boost::json::object PositionJson(const Position& position);
// The ephemeral `typing` event: {"type":"typing","chatId","user","state"}.
std::string TypingFrame(std::string_view chat_id, std::string_view user, bool composing);

// ---- Bus payloads (node <-> node): JSON, see docs/protocol.md
// "Node-to-node bus payloads"; implemented in bus_payload.cc ----
struct BusEntries {
  EncodedEntry entry;
  // (clientId, seq): those of one user on `u:{user}`, of every member on `c:{chat}`.
  std::vector<std::pair<std::string, Seq>> deliveries;
  // Optional: the entry's chat is above the chat-channel threshold, so a
  // node dispatching it subscribes `c:{chat_id}` for the receiving
  // connections. Encoded only when `big_chat` (chat_id alone is dropped).
  std::string chat_id;
  bool big_chat = false;
};
struct BusKick {  // a new connection of client_id took over: close others with 4409
  std::string client_id;
  std::string conn_id;
};
struct BusRevoke {  // client deleted: close its connections with 4401
  std::string client_id;
};
using BusMessage = std::variant<BusEntries, BusKick, BusRevoke>;

// Requires: an entry's tail is EncodeEntry's (JSON object members ending
// in '}'); it is embedded as it is.
std::string EncodeBus(const BusMessage& message);
// Returns the message, or nullopt if the payload is not a valid one
// (malformed JSON, an unknown kind, a missing or mistyped member). Total:
// any input gives one or the other; only running out of memory throws.
std::optional<BusMessage> DecodeBus(std::string_view payload);

}  // namespace ferry::protocol
