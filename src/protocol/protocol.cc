// Request decoding is table-driven: one row per request type, each a small
// function from the parsed object to a Request. Field readers report the
// first missing or mistyped field, which becomes the error message.
#include "protocol/protocol.h"

#include <boost/json.hpp>
#include <unordered_map>

#include "protocol/json_append.h"

namespace ferry::protocol {
namespace json = boost::json;

namespace {

// Thrown inside decoders only; converted to Decoded::error at the edge.
struct FieldError {
  std::string message;
};

const json::value* Find(const json::object& o, std::string_view key) {
  auto it = o.find(key);
  return it == o.end() ? nullptr : &it->value();
}

std::string GetString(const json::object& o, std::string_view key) {
  const json::value* v = Find(o, key);
  if (!v) throw FieldError{"missing field '" + std::string(key) + "'"};
  if (!v->is_string()) throw FieldError{"field '" + std::string(key) + "' must be a string"};
  return std::string(v->get_string());
}

std::string GetOptString(const json::object& o, std::string_view key) {
  const json::value* v = Find(o, key);
  if (!v || v->is_null()) return {};
  if (!v->is_string()) throw FieldError{"field '" + std::string(key) + "' must be a string"};
  return std::string(v->get_string());
}

std::optional<std::int64_t> AsInt(const json::value& v) {
  if (v.is_int64()) return v.get_int64();
  if (v.is_uint64() && v.get_uint64() <= static_cast<std::uint64_t>(INT64_MAX)) {
    return static_cast<std::int64_t>(v.get_uint64());
  }
  return std::nullopt;
}

std::int64_t GetSeq(const json::object& o, std::string_view key) {
  const json::value* v = Find(o, key);
  if (!v) throw FieldError{"missing field '" + std::string(key) + "'"};
  auto n = AsInt(*v);
  if (!n || *n < 0) {
    throw FieldError{"field '" + std::string(key) + "' must be a non-negative integer"};
  }
  return *n;
}

std::vector<std::string> GetStrings(const json::object& o, std::string_view key, bool required) {
  const json::value* v = Find(o, key);
  if (!v || v->is_null()) {
    if (required) throw FieldError{"missing field '" + std::string(key) + "'"};
    return {};
  }
  if (!v->is_array()) {
    throw FieldError{"field '" + std::string(key) + "' must be an array of strings"};
  }
  std::vector<std::string> out;
  out.reserve(v->get_array().size());
  for (const json::value& item : v->get_array()) {
    if (!item.is_string()) {
      throw FieldError{"field '" + std::string(key) + "' must be an array of strings"};
    }
    out.emplace_back(item.get_string());
  }
  return out;
}

bool GetBool(const json::object& o, std::string_view key) {
  const json::value* v = Find(o, key);
  if (!v) throw FieldError{"missing field '" + std::string(key) + "'"};
  if (!v->is_bool()) throw FieldError{"field '" + std::string(key) + "' must be true or false"};
  return v->get_bool();
}

// {"ts": integer, "messageId": non-empty string}.
Position GetPosition(const json::object& o, std::string_view key) {
  const json::value* v = Find(o, key);
  if (!v) throw FieldError{"missing field '" + std::string(key) + "'"};
  const json::object* p = v->if_object();
  std::optional<std::int64_t> ts;
  if (p) {
    if (const json::value* t = Find(*p, "ts")) ts = AsInt(*t);
  }
  if (!p || !ts || *ts < 0) {
    throw FieldError{"field '" + std::string(key) +
                     "' must be {\"ts\": integer, \"messageId\": string}"};
  }
  std::string id = GetString(*p, "messageId");
  if (id.empty() || id.size() > 128)
    throw FieldError{"field 'messageId' must be 1 to 128 characters"};
  return Position{*ts, std::move(id)};
}

using Decoder = Request (*)(const json::object&);

const std::unordered_map<std::string_view, Decoder>& Decoders() {
  static const std::unordered_map<std::string_view, Decoder> table = {
      {"hello",
       [](const json::object& o) -> Request {
         Hello h{GetString(o, "token"), std::nullopt};
         if (const json::value* a = Find(o, "after"); a && !a->is_null())
           h.after = GetSeq(o, "after");
         return h;
       }},
      {"createChat",
       [](const json::object& o) -> Request {
         return CreateChat{GetStrings(o, "members", true), GetOptString(o, "name")};
       }},
      {"addMembers",
       [](const json::object& o) -> Request {
         return ChangeMembers{true, GetString(o, "chatId"), GetStrings(o, "members", true)};
       }},
      {"removeMembers",
       [](const json::object& o) -> Request {
         return ChangeMembers{false, GetString(o, "chatId"), GetStrings(o, "members", true)};
       }},
      {"send",
       [](const json::object& o) -> Request {
         Send s{GetString(o, "chatId"), "", GetString(o, "body"),
                GetStrings(o, "attachments", false)};
         // clientMsgId: a string, or an integer (kept as its decimal text).
         const json::value* v = Find(o, "clientMsgId");
         if (!v) throw FieldError{"missing field 'clientMsgId'"};
         if (v->is_string()) {
           s.client_msg_id = std::string(v->get_string());
         } else if (auto n = AsInt(*v)) {
           s.client_msg_id = std::to_string(*n);
         } else {
           throw FieldError{"field 'clientMsgId' must be a string"};
         }
         if (s.client_msg_id.empty() || s.client_msg_id.size() > 128) {
           throw FieldError{"field 'clientMsgId' must be 1 to 128 characters"};
         }
         return s;
       }},
      {"ack", [](const json::object& o) -> Request { return Ack{GetSeq(o, "upTo")}; }},
      {"sync", [](const json::object& o) -> Request { return Sync{GetSeq(o, "after")}; }},
      {"attachTarget",
       [](const json::object& o) -> Request {
         return AttachTarget{GetString(o, "contentType"), GetSeq(o, "size"),
                             GetOptString(o, "sha256")};
       }},
      {"lastSeen", [](const json::object& o) -> Request { return LastSeen{GetString(o, "user")}; }},
      {"listChats", [](const json::object&) -> Request { return ListChats{}; }},
      {"pong", [](const json::object&) -> Request { return Pong{}; }},
      {"markRead",
       [](const json::object& o) -> Request {
         return MarkRead{GetString(o, "chatId"), GetPosition(o, "upTo")};
       }},
      {"chatReceipts",
       [](const json::object& o) -> Request { return ChatReceipts{GetString(o, "chatId")}; }},
      {"typing",
       [](const json::object& o) -> Request {
         std::string state = GetString(o, "state");
         if (state != "composing" && state != "paused") {
           throw FieldError{"field 'state' must be \"composing\" or \"paused\""};
         }
         return Typing{GetString(o, "chatId"), state == "composing"};
       }},
      {"setPrivacy",
       [](const json::object& o) -> Request {
         SetPrivacy p;
         if (const json::value* v = Find(o, "readReceipts"); v && !v->is_null()) {
           p.read_receipts = GetBool(o, "readReceipts");
         }
         if (const json::value* v = Find(o, "lastSeen"); v && !v->is_null()) {
           std::string who = GetString(o, "lastSeen");
           if (who != "everyone" && who != "nobody") {
             throw FieldError{"field 'lastSeen' must be \"everyone\" or \"nobody\""};
           }
           p.last_seen_visible = who == "everyone";
         }
         if (!p.read_receipts && !p.last_seen_visible) {
           throw FieldError{"setPrivacy needs 'readReceipts' or 'lastSeen'"};
         }
         return p;
       }},
  };
  return table;
}

}  // namespace

Decoded DecodeRequest(std::string_view text) {
  Decoded out;
  boost::system::error_code ec;
  json::value v = json::parse(text, ec);
  if (ec) {
    out.error = Errc::bad_request;
    out.message = "malformed JSON";
    return out;
  }
  if (!v.is_object()) {
    out.error = Errc::bad_request;
    out.message = "a frame must be a JSON object";
    return out;
  }
  const json::object& o = v.get_object();
  if (const json::value* id = Find(o, "id")) {
    // A string or an integer the reply can echo exactly (int64 or uint64;
    // a bigger number parses as a double). Anything else is a mistyped
    // field: the request is refused, not run with an answer nobody can match.
    if (!id->is_string() && !id->is_int64() && !id->is_uint64()) {
      out.error = Errc::bad_request;
      out.message = "field 'id' must be a string or an integer";
      return out;
    }
    out.id = *id;
    out.has_id = true;
  }
  const json::value* type = Find(o, "type");
  if (!type || !type->is_string()) {
    out.error = Errc::bad_request;
    out.message = "missing field 'type'";
    return out;
  }
  auto it = Decoders().find(std::string_view(type->get_string()));
  if (it == Decoders().end()) {
    out.error = Errc::bad_request;
    out.message = "unknown type '" + std::string(type->get_string()) + "'";
    return out;
  }
  try {
    out.request = it->second(o);
  } catch (const FieldError& e) {
    out.error = Errc::bad_request;
    out.message = e.message;
  }
  return out;
}

bool ValidUser(std::string_view user) {
  if (user.size() < 3 || user.size() > 32) return false;
  for (char c : user) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '.' || c == '-';
    if (!ok) return false;
  }
  return true;
}

std::string OkReply(const json::value& id, json::object fields) {
  json::object o;
  o.reserve(fields.size() + 2);
  o["type"] = "ok";
  o["id"] = id;
  for (auto& kv : fields) o[kv.key()] = std::move(kv.value());
  return json::serialize(o);
}

std::string ErrorReply(const json::value& id, Errc code, std::string_view message,
                       std::int64_t retry_after_ms) {
  json::object o;
  o["type"] = "error";
  o["id"] = id;
  o["code"] = ErrcName(code);
  o["message"] = message;
  if (retry_after_ms > 0) o["retryAfterMs"] = retry_after_ms;
  return json::serialize(o);
}

namespace {

json::array ToArray(const std::vector<std::string>& items) {
  json::array a;
  a.reserve(items.size());
  for (const auto& s : items) a.emplace_back(s);
  return a;
}

// Serializes `o` and drops the leading '{' so Frame() can prepend type/seq.
std::string Tail(const json::object& o) {
  std::string s = json::serialize(o);
  return s.substr(1);
}

// A message's tail, written directly: every delivery of a message read from
// the inbox pays for it, and building a json::object to serialize it cost
// ~4 times as much (ferry-microbench's BM_ProtocolEncodeMessage). The bytes
// are those of the object {chatId, messageId, ts, from, fromClient, body,
// clientMsgId} serialized (a unit test compares them).
std::string MessageTail(const Message& m) {
  std::string t;
  t.reserve(112 + m.chat_id.size() + m.message_id.size() + m.sender.size() +
            m.sender_client.size() + m.body.size() + m.client_msg_id.size());
  t.append("\"chatId\":");
  AppendJsonString(t, m.chat_id);
  t.append(",\"messageId\":");
  AppendJsonString(t, m.message_id);
  t.append(",\"ts\":");
  AppendJsonInt(t, m.ts);
  t.append(",\"from\":");
  AppendJsonString(t, m.sender);
  t.append(",\"fromClient\":");
  AppendJsonString(t, m.sender_client);
  t.append(",\"body\":");
  AppendJsonString(t, m.body);
  t.append(",\"clientMsgId\":");
  AppendJsonString(t, m.client_msg_id);
  t.push_back('}');
  return t;
}

}  // namespace

EncodedEntry EncodeEntry(const InboxEntry& entry) {
  if (const auto* m = std::get_if<Message>(&entry.item)) {
    // "attachments" is left out of the tail: Frame() writes it per recipient.
    return {"message", MessageTail(*m), m->attachments};
  }
  if (const auto* r = std::get_if<Receipt>(&entry.item)) {
    json::object o;
    o["chatId"] = r->chat_id;
    o["user"] = r->user;
    o["kind"] = r->kind == ReceiptKind::read ? "read" : "delivered";
    o["upTo"] = PositionJson(r->up_to);
    o["ts"] = r->ts;
    return {"receipt", Tail(o), {}};
  }
  const auto& e = std::get<ChatEvent>(entry.item);
  json::object o;
  o["chatId"] = e.chat_id;
  o["event"] = e.event;
  o["members"] = ToArray(e.members);
  o["by"] = e.by;
  o["ts"] = e.ts;
  return {"chat", Tail(o), {}};
}

std::string Frame(const EncodedEntry& entry, Seq seq, const UrlMinter& mint) {
  std::string out;
  out.reserve(entry.tail.size() + entry.type.size() + 48 + 320 * entry.attachments.size());
  out.append("{\"type\":\"").append(entry.type).append("\",\"seq\":");
  out.append(std::to_string(seq));
  if (entry.type == "message" && entry.attachments.empty()) {
    out.append(",\"attachments\":[]");
  } else if (entry.type == "message") {
    json::array list;
    for (const AttachmentRef& a : entry.attachments) {
      json::object o{{"attachmentId", a.attachment_id},
                     {"contentType", a.content_type},
                     {"size", a.size},
                     {"url", mint ? mint(a.attachment_id) : std::string()}};
      if (!a.sha256.empty()) o["sha256"] = a.sha256;  // Ferry addition: lets clients verify
      list.push_back(std::move(o));
    }
    out.append(",\"attachments\":").append(json::serialize(list));
  }
  if (entry.tail.size() > 1) out.push_back(',');  // tail "}" alone: no members
  out.append(entry.tail);
  return out;
}

std::string PingFrame(Seq head) {
  return "{\"type\":\"ping\",\"head\":" + std::to_string(head) + "}";
}

json::object PositionJson(const Position& position) {
  return json::object{{"ts", position.ts}, {"messageId", position.message_id}};
}

std::string TypingFrame(std::string_view chat_id, std::string_view user, bool composing) {
  return json::serialize(json::object{{"type", "typing"},
                                      {"chatId", chat_id},
                                      {"user", user},
                                      {"state", composing ? "composing" : "paused"}});
}

}  // namespace ferry::protocol
