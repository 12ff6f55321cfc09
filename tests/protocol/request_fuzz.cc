// libFuzzer target for the WebSocket request decoder (DecodeRequest), which
// reads every text frame a client sends. Beyond not crashing or throwing:
// - the outcome is consistent: ok with no message, or bad_request with one;
//   an id is kept only when it is a string or an integer, and is null else;
// - what decodes keeps the documented limits (PROTOCOL.md): sequence numbers
//   and sizes non-negative, clientMsgId 1 to 128 bytes;
// - what decodes, written back as a frame (EncodeFrame below), decodes to
//   the same request: no field is lost or changes type on the way;
// - the replies that echo the id (OkReply, ErrorReply, with the decoder's
//   message) are JSON objects carrying that id.
// Built as a fuzzer with clang (target request_fuzz); everywhere
// request_fuzz_smoke.cc runs it in protocol_test.
#include <boost/json.hpp>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>
#include <type_traits>
#include <variant>

#include "protocol/protocol.h"

namespace {

namespace json = boost::json;
using namespace ferry::protocol;

json::array Strings(const std::vector<std::string>& items) {
  return json::array(items.begin(), items.end());
}

// The frame a client would send for `request`: the inverse of the decoder
// for the fields it keeps.
json::object EncodeFrame(const Request& request) {
  return std::visit(
      [](const auto& r) -> json::object {
        using T = std::decay_t<decltype(r)>;
        if constexpr (std::is_same_v<T, Hello>) {
          json::object o{{"type", "hello"}, {"token", r.token}};
          if (r.after) o["after"] = *r.after;
          return o;
        } else if constexpr (std::is_same_v<T, CreateChat>) {
          return {{"type", "createChat"}, {"members", Strings(r.members)}, {"name", r.name}};
        } else if constexpr (std::is_same_v<T, ChangeMembers>) {
          return {{"type", r.add ? "addMembers" : "removeMembers"},
                  {"chatId", r.chat_id},
                  {"members", Strings(r.members)}};
        } else if constexpr (std::is_same_v<T, Send>) {
          return {{"type", "send"},
                  {"chatId", r.chat_id},
                  {"clientMsgId", r.client_msg_id},
                  {"body", r.body},
                  {"attachments", Strings(r.attachments)}};
        } else if constexpr (std::is_same_v<T, Ack>) {
          return {{"type", "ack"}, {"upTo", r.up_to}};
        } else if constexpr (std::is_same_v<T, Sync>) {
          return {{"type", "sync"}, {"after", r.after}};
        } else if constexpr (std::is_same_v<T, AttachTarget>) {
          return {{"type", "attachTarget"},
                  {"contentType", r.content_type},
                  {"size", r.size},
                  {"sha256", r.sha256}};
        } else if constexpr (std::is_same_v<T, LastSeen>) {
          return {{"type", "lastSeen"}, {"user", r.user}};
        } else if constexpr (std::is_same_v<T, ListChats>) {
          return {{"type", "listChats"}};
        } else if constexpr (std::is_same_v<T, MarkRead>) {
          return {{"type", "markRead"},
                  {"chatId", r.chat_id},
                  {"upTo", {{"ts", r.up_to.ts}, {"messageId", r.up_to.message_id}}}};
        } else if constexpr (std::is_same_v<T, ChatReceipts>) {
          return {{"type", "chatReceipts"}, {"chatId", r.chat_id}};
        } else if constexpr (std::is_same_v<T, Typing>) {
          return {{"type", "typing"},
                  {"chatId", r.chat_id},
                  {"state", r.composing ? "composing" : "paused"}};
        } else if constexpr (std::is_same_v<T, SetPrivacy>) {
          json::object o{{"type", "setPrivacy"}};
          if (r.read_receipts) o["readReceipts"] = *r.read_receipts;
          if (r.last_seen_visible) o["lastSeen"] = *r.last_seen_visible ? "everyone" : "nobody";
          return o;
        } else {
          static_assert(std::is_same_v<T, Pong>);
          return {{"type", "pong"}};
        }
      },
      request);
}

// Returns whether the decoded fields keep the documented limits.
bool WithinLimits(const Request& request) {
  if (const auto* h = std::get_if<Hello>(&request)) return !h->after || *h->after >= 0;
  if (const auto* s = std::get_if<Send>(&request)) {
    return !s->client_msg_id.empty() && s->client_msg_id.size() <= 128;
  }
  if (const auto* a = std::get_if<Ack>(&request)) return a->up_to >= 0;
  if (const auto* s = std::get_if<Sync>(&request)) return s->after >= 0;
  if (const auto* t = std::get_if<AttachTarget>(&request)) return t->size >= 0;
  if (const auto* m = std::get_if<MarkRead>(&request)) {
    return m->up_to.ts >= 0 && !m->up_to.message_id.empty() && m->up_to.message_id.size() <= 128;
  }
  if (const auto* p = std::get_if<SetPrivacy>(&request)) {
    return p->read_receipts || p->last_seen_visible;
  }
  return true;
}

// The reply `make` builds must parse as an object whose "id" is `id`.
template <class Make>
void CheckReply(const json::value& id, Make make) {
  boost::system::error_code ec;
  json::value reply = json::parse(make(), ec);
  if (ec || !reply.is_object()) std::abort();
  const json::value* echoed = reply.get_object().if_contains("id");
  if (!echoed || *echoed != id) std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  Decoded decoded = DecodeRequest(std::string_view(reinterpret_cast<const char*>(data), size));

  bool id_ok = decoded.id.is_string() || decoded.id.is_int64() || decoded.id.is_uint64();
  if (decoded.has_id != id_ok || (!decoded.has_id && !decoded.id.is_null())) std::abort();
  CheckReply(decoded.id, [&] { return ErrorReply(decoded.id, decoded.error, decoded.message); });

  if (decoded.error != ferry::Errc::ok) {
    if (decoded.error != ferry::Errc::bad_request || decoded.message.empty()) std::abort();
    return 0;
  }
  if (!decoded.message.empty() || !WithinLimits(decoded.request)) std::abort();
  CheckReply(decoded.id, [&] { return OkReply(decoded.id); });

  json::object frame = EncodeFrame(decoded.request);
  if (decoded.has_id) frame["id"] = decoded.id;
  std::string text = json::serialize(frame);
  Decoded again = DecodeRequest(text);
  if (again.error != ferry::Errc::ok || again.id != decoded.id ||
      again.request.index() != decoded.request.index() ||
      json::serialize(EncodeFrame(again.request)) !=
          json::serialize(EncodeFrame(decoded.request))) {
    std::abort();
  }
  return 0;
}
