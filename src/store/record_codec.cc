// JSON through boost::json's DOM: the values are small (an event names a
// chat's members, a list a message's attachments), so parsing the whole
// value is simple and cheap next to the row read around it.
#include "store/record_codec.h"

#include <boost/json.hpp>
#include <cstdint>
#include <utility>

namespace ferry::record_codec {
namespace {

namespace json = boost::json;

// Reads the fields of one object. The first missing or mistyped field is
// remembered and later reads return empty values, so a decoder reads every
// field and checks ok() once.
class FieldReader {
 public:
  explicit FieldReader(const json::object& object) : object_(object) {}

  bool ok() const { return error_.empty(); }
  DecodeError error() const { return {error_}; }

  std::string String(std::string_view key) {
    const json::value* v = Find(key);
    if (v == nullptr) return {};
    if (!v->is_string()) {
      Fail(key, "a string");
      return {};
    }
    return std::string(v->get_string());
  }

  // int64 only: boost::json reads every integer that fits as int64.
  std::int64_t Int(std::string_view key) {
    const json::value* v = Find(key);
    if (v == nullptr) return 0;
    if (!v->is_int64()) {
      Fail(key, "an integer");
      return 0;
    }
    return v->get_int64();
  }

  std::vector<std::string> Strings(std::string_view key) {
    const json::value* v = Find(key);
    if (v == nullptr) return {};
    std::vector<std::string> out;
    if (const json::array* items = v->if_array()) {
      out.reserve(items->size());
      for (const json::value& item : *items) {
        if (!item.is_string()) break;
        out.emplace_back(item.get_string());
      }
      if (out.size() == items->size()) return out;
    }
    Fail(key, "an array of strings");
    return {};
  }

 private:
  const json::value* Find(std::string_view key) {
    if (!ok()) return nullptr;
    const json::value* v = object_.if_contains(key);
    if (v == nullptr) error_ = "missing field '" + std::string(key) + "'";
    return v;
  }

  void Fail(std::string_view key, const char* type) {
    error_ = "field '" + std::string(key) + "' must be " + type;
  }

  const json::object& object_;
  std::string error_;
};

Decoded<json::value> Parse(std::string_view text) {
  // The encoders copy strings byte for byte (boost::json does not check
  // UTF-8 when serializing), so the decoders take any bytes in strings too:
  // whatever a backend wrote, it can read back.
  json::parse_options options;
  options.allow_invalid_utf8 = true;
  boost::system::error_code ec;
  json::value v = json::parse(json::string_view(text.data(), text.size()), ec, {}, options);
  if (ec) return DecodeError{"not JSON: " + ec.message()};
  return v;
}

}  // namespace

std::string EncodeChatEvent(const ChatEvent& event) {
  json::array members;
  members.reserve(event.members.size());
  for (const std::string& m : event.members) members.emplace_back(m);
  json::object o;
  o["chatId"] = event.chat_id;
  o["event"] = event.event;
  o["members"] = std::move(members);
  o["by"] = event.by;
  o["ts"] = event.ts;
  return json::serialize(o);
}

Decoded<ChatEvent> DecodeChatEvent(std::string_view text) {
  Decoded<json::value> v = Parse(text);
  if (!v) return v.error();
  if (!v->is_object()) return DecodeError{"a chat event must be a JSON object"};
  FieldReader fields(v->get_object());
  ChatEvent event{fields.String("chatId"), fields.String("event"), fields.Strings("members"),
                  fields.String("by"), fields.Int("ts")};
  if (!fields.ok()) return fields.error();
  return event;
}

std::string EncodeReceipt(const Receipt& receipt) {
  json::object o;
  o["chatId"] = receipt.chat_id;
  o["user"] = receipt.user;
  o["kind"] = receipt.kind == ReceiptKind::read ? "read" : "delivered";
  o["upToTs"] = receipt.up_to.ts;
  o["upToId"] = receipt.up_to.message_id;
  o["ts"] = receipt.ts;
  return json::serialize(o);
}

Decoded<Receipt> DecodeReceipt(std::string_view text) {
  Decoded<json::value> v = Parse(text);
  if (!v) return v.error();
  if (!v->is_object()) return DecodeError{"a receipt must be a JSON object"};
  FieldReader fields(v->get_object());
  Receipt receipt;
  receipt.chat_id = fields.String("chatId");
  receipt.user = fields.String("user");
  std::string kind = fields.String("kind");
  receipt.up_to.ts = fields.Int("upToTs");
  receipt.up_to.message_id = fields.String("upToId");
  receipt.ts = fields.Int("ts");
  if (!fields.ok()) return fields.error();
  if (kind != "read" && kind != "delivered") {
    return DecodeError{"field 'kind' must be \"delivered\" or \"read\""};
  }
  receipt.kind = kind == "read" ? ReceiptKind::read : ReceiptKind::delivered;
  return receipt;
}

// Most messages have no attachment: their list is written and read without
// Boost.JSON, which cost ~1 µs of the store thread per entry read (a perf
// profile of the offline drain, docs/benchmarks.md).
constexpr std::string_view kNoAttachments = "[]";

std::string EncodeAttachments(const std::vector<AttachmentRef>& attachments) {
  if (attachments.empty()) return std::string(kNoAttachments);
  json::array list;
  list.reserve(attachments.size());
  for (const AttachmentRef& a : attachments) {
    list.emplace_back(json::object{{"attachmentId", a.attachment_id},
                                   {"contentType", a.content_type},
                                   {"size", a.size},
                                   {"sha256", a.sha256}});
  }
  return json::serialize(list);
}

Decoded<std::vector<AttachmentRef>> DecodeAttachments(std::string_view text) {
  if (text == kNoAttachments) return std::vector<AttachmentRef>{};
  Decoded<json::value> v = Parse(text);
  if (!v) return v.error();
  if (!v->is_array()) return DecodeError{"an attachment list must be a JSON array"};
  std::vector<AttachmentRef> attachments;
  attachments.reserve(v->get_array().size());
  for (const json::value& item : v->get_array()) {
    if (!item.is_object()) return DecodeError{"an attachment must be a JSON object"};
    FieldReader fields(item.get_object());
    AttachmentRef ref{fields.String("attachmentId"), fields.String("contentType"),
                      fields.Int("size"), fields.String("sha256")};
    if (!fields.ok()) return fields.error();
    attachments.push_back(std::move(ref));
  }
  return attachments;
}

}  // namespace ferry::record_codec
