// The node-to-node bus payloads (docs/protocol.md "Node-to-node bus
// payloads"): one JSON object each, so `redis-cli SUBSCRIBE` and MONITOR
// show what the nodes tell each other.
//
// The hot path is an entry, encoded once per publish and decoded by every
// node that receives it. Its event is already JSON text (EncodedEntry::tail
// is the frame minus type/seq/attachments), so the payload carries it as the
// last member, "event", byte for byte: the encoder appends it, and the
// decoder hands the same bytes back instead of building a DOM of the event
// and serializing it again. Decoding is two SAX passes of boost::json's
// basic_parser, neither of which builds a DOM:
//  1. BusFieldReader reads the members before "event" straight into a
//     BusEntries and stops the parser where the event's '{' begins;
//  2. a validating pass that records nothing finds where the event ends,
//     which must be right before the payload's closing '}'.
// Everything is validated (well-formed JSON, UTF-8, the fields' types), so a
// node never forwards a broken event to its clients, and nothing throws:
// any input gives a BusMessage or nullopt.
#include "protocol/protocol.h"

#include <boost/json.hpp>
#include <boost/json/basic_parser_impl.hpp>
#include <cstdint>
#include <cstring>
#include <limits>
#include <utility>

#include "protocol/json_append.h"

namespace ferry::protocol {
namespace {

namespace json = boost::json;
using boost::system::error_code;

// ---- Encoding ----

void AppendAttachment(std::string& out, const AttachmentRef& a) {
  out.append("{\"attachmentId\":");
  AppendJsonString(out, a.attachment_id);
  out.append(",\"contentType\":");
  AppendJsonString(out, a.content_type);
  out.append(",\"size\":");
  AppendJsonInt(out, a.size);
  out.append(",\"sha256\":");
  AppendJsonString(out, a.sha256);
  out.push_back('}');
}

std::string EncodeEntries(const BusEntries& e) {
  std::string out;
  out.reserve(e.entry.tail.size() + 48 * e.deliveries.size() + 160 * e.entry.attachments.size() +
              64);
  out.append("{\"kind\":\"entries\",\"type\":");
  AppendJsonString(out, e.entry.type);
  if (e.big_chat) {
    out.append(",\"bigChat\":");
    AppendJsonString(out, e.chat_id);
  }
  if (!e.entry.attachments.empty()) {
    out.append(",\"attachments\":[");
    for (const AttachmentRef& a : e.entry.attachments) {
      if (&a != &e.entry.attachments.front()) out.push_back(',');
      AppendAttachment(out, a);
    }
    out.push_back(']');
  }
  out.append(",\"deliveries\":[");
  for (std::size_t i = 0; i < e.deliveries.size(); ++i) {
    out.append(i == 0 ? "[" : ",[");
    AppendJsonString(out, e.deliveries[i].first);
    out.push_back(',');
    AppendJsonInt(out, e.deliveries[i].second);
    out.push_back(']');
  }
  out.append("],\"event\":{").append(e.entry.tail).push_back('}');
  return out;
}

// ---- Decoding ----

// The payload's members, and the fields of an attachment, pass 1 knows.
enum class Member { other, kind, type, big_chat, client_id, conn_id, attachments, deliveries, event };
enum class Field { other, attachment_id, content_type, size, sha256 };

template <class E>
constexpr unsigned Bit(E e) {
  return 1u << static_cast<unsigned>(e);
}
constexpr unsigned kAttachmentFields =
    Bit(Field::attachment_id) | Bit(Field::content_type) | Bit(Field::size) | Bit(Field::sha256);

// What pass 1 collects: the members of any payload kind; the caller checks
// that the kind's own are present.
struct BusFields {
  std::string kind;
  std::string client_id;  // kick, revoke
  std::string conn_id;    // kick
  BusEntries entries;     // all but entry.tail
  unsigned members = 0;   // Bit(Member) of each member that has a value
  bool at_event = false;  // stopped at the value of "event"

  bool has(Member m) const { return (members & Bit(m)) != 0; }
};

// basic_parser handler of pass 1. The payload is a flat object whose
// "attachments" hold objects and whose "deliveries" hold [clientId, seq]
// pairs; `depth_` says which level the parser is at (1: the payload's
// members, 2: inside attachments/deliveries, 3: inside one attachment or
// pair). Values of unknown members are skipped, whatever their shape, so a
// newer node may add members. Any other value of the wrong type fails the
// parse.
class BusFieldReader {
 public:
  static constexpr std::size_t max_array_size = std::numeric_limits<std::size_t>::max();
  static constexpr std::size_t max_object_size = std::numeric_limits<std::size_t>::max();
  static constexpr std::size_t max_string_size = std::numeric_limits<std::size_t>::max();
  static constexpr std::size_t max_key_size = std::numeric_limits<std::size_t>::max();

  BusFields fields;

  bool on_document_begin(error_code&) { return true; }
  bool on_document_end(error_code&) { return true; }

  bool on_object_begin(error_code& ec) {
    if (EnterSkipped()) return true;
    if (depth_ == 0) return Enter();
    if (depth_ == 1 && member_ == Member::event) {
      fields.at_event = true;  // not an error: pass 2 takes over here
      return Fail(ec);
    }
    if (depth_ == 2 && member_ == Member::attachments) {
      fields.entries.entry.attachments.emplace_back();
      attachment_fields_ = 0;
      return Enter();
    }
    return Fail(ec);
  }

  bool on_object_end(std::size_t, error_code& ec) {
    if (LeaveSkipped()) return true;
    if (depth_ == 3 && attachment_fields_ != kAttachmentFields) return Fail(ec);
    return Leave();
  }

  bool on_array_begin(error_code& ec) {
    if (EnterSkipped()) return true;
    if (depth_ == 1 && (member_ == Member::attachments || member_ == Member::deliveries)) {
      Seen();
      return Enter();
    }
    if (depth_ == 2 && member_ == Member::deliveries) {
      fields.entries.deliveries.emplace_back();
      pair_index_ = 0;
      return Enter();
    }
    return Fail(ec);
  }

  bool on_array_end(std::size_t n, error_code& ec) {
    if (LeaveSkipped()) return true;
    if (depth_ == 3 && n != 2) return Fail(ec);  // a delivery is a pair
    return Leave();
  }

  bool on_key_part(json::string_view s, std::size_t, error_code&) {
    if (skip_ == 0) key_.append(s.data(), s.size());
    return true;
  }

  bool on_key(json::string_view s, std::size_t, error_code&) {
    if (skip_ > 0) return true;
    std::string_view key(s.data(), s.size());
    if (!key_.empty()) key = key_.append(key);
    if (depth_ == 1) {
      member_ = MemberNamed(key);
    } else {
      field_ = FieldNamed(key);
    }
    key_.clear();
    if (std::string* target = StringTarget()) target->clear();  // a repeated member: last wins
    return true;
  }

  bool on_string_part(json::string_view s, std::size_t, error_code& ec) {
    if (Ignored()) return true;
    std::string* target = StringTarget();
    if (target == nullptr) return Fail(ec);
    target->append(s.data(), s.size());
    return true;
  }

  bool on_string(json::string_view s, std::size_t n, error_code& ec) {
    if (!on_string_part(s, n, ec)) return false;
    if (Ignored()) return true;
    Seen();
    return true;
  }

  bool on_int64(std::int64_t i, json::string_view, error_code& ec) {
    if (Ignored()) return true;
    if (depth_ == 3 && member_ == Member::attachments && field_ == Field::size) {
      fields.entries.entry.attachments.back().size = i;
    } else if (depth_ == 3 && member_ == Member::deliveries && pair_index_ == 1) {
      fields.entries.deliveries.back().second = i;
    } else {
      return Fail(ec);
    }
    Seen();
    return true;
  }

  // Numbers arrive whole in on_int64 and the like.
  bool on_number_part(json::string_view, error_code&) { return true; }
  bool on_uint64(std::uint64_t, json::string_view, error_code& ec) { return Scalar(ec); }
  bool on_double(double, json::string_view, error_code& ec) { return Scalar(ec); }
  bool on_bool(bool, error_code& ec) { return Scalar(ec); }
  bool on_null(error_code& ec) { return Scalar(ec); }
  // Comments are off in the parse options; required by the interface.
  bool on_comment_part(json::string_view, error_code&) { return true; }
  bool on_comment(json::string_view, error_code&) { return true; }

 private:
  // Keys are told apart by length first: a string compare per key, of a
  // length the compiler knows, costs less than trying each name.
  template <std::size_t N>
  static bool Is(std::string_view key, const char (&name)[N]) {
    return std::memcmp(key.data(), name, N - 1) == 0;
  }

  static Member MemberNamed(std::string_view k) {
    switch (k.size()) {
      case 4: return Is(k, "kind") ? Member::kind : Is(k, "type") ? Member::type : Member::other;
      case 5: return Is(k, "event") ? Member::event : Member::other;
      case 6: return Is(k, "connId") ? Member::conn_id : Member::other;
      case 7: return Is(k, "bigChat") ? Member::big_chat : Member::other;
      case 8: return Is(k, "clientId") ? Member::client_id : Member::other;
      case 10: return Is(k, "deliveries") ? Member::deliveries : Member::other;
      case 11: return Is(k, "attachments") ? Member::attachments : Member::other;
      default: return Member::other;
    }
  }

  static Field FieldNamed(std::string_view k) {
    switch (k.size()) {
      case 4: return Is(k, "size") ? Field::size : Field::other;
      case 6: return Is(k, "sha256") ? Field::sha256 : Field::other;
      case 11: return Is(k, "contentType") ? Field::content_type : Field::other;
      case 12: return Is(k, "attachmentId") ? Field::attachment_id : Field::other;
      default: return Field::other;
    }
  }

  // Where the string at the parser's position goes; nullptr if a string is
  // not allowed there.
  std::string* StringTarget() {
    BusEntries& e = fields.entries;
    if (depth_ == 1) {
      switch (member_) {
        case Member::kind: return &fields.kind;
        case Member::type: return &e.entry.type;
        case Member::big_chat: return &e.chat_id;
        case Member::client_id: return &fields.client_id;
        case Member::conn_id: return &fields.conn_id;
        default: return nullptr;
      }
    }
    if (depth_ == 3 && member_ == Member::attachments) {
      switch (field_) {
        case Field::attachment_id: return &e.entry.attachments.back().attachment_id;
        case Field::content_type: return &e.entry.attachments.back().content_type;
        case Field::sha256: return &e.entry.attachments.back().sha256;
        default: return nullptr;
      }
    }
    if (depth_ == 3 && member_ == Member::deliveries && pair_index_ == 0) {
      return &e.deliveries.back().first;
    }
    return nullptr;
  }

  // True inside the value of an unknown member (or of an unknown field of
  // an attachment), which is read and dropped.
  bool Ignored() const {
    return skip_ > 0 || (depth_ == 1 && member_ == Member::other) ||
           (depth_ == 3 && member_ == Member::attachments && field_ == Field::other);
  }
  bool EnterSkipped() {
    if (!Ignored()) return false;
    ++skip_;
    return true;
  }
  bool LeaveSkipped() {
    if (skip_ == 0) return false;
    --skip_;
    return true;
  }
  bool Enter() {
    ++depth_;
    return true;
  }
  bool Leave() {
    --depth_;
    return true;
  }
  bool Scalar(error_code& ec) { return Ignored() || Fail(ec); }

  // Records that the member, attachment field or pair element at the
  // parser's position has its value.
  void Seen() {
    if (depth_ == 1) {
      fields.members |= Bit(member_);
    } else if (member_ == Member::deliveries) {
      ++pair_index_;
    } else {
      attachment_fields_ |= Bit(field_);
    }
  }

  static bool Fail(error_code& ec) {
    ec = json::error::syntax;
    return false;
  }

  int depth_ = 0;
  int skip_ = 0;  // > 0: inside an ignored container, this many levels deep
  Member member_ = Member::other;
  Field field_ = Field::other;
  unsigned attachment_fields_ = 0;  // Bit(Field) of each the current attachment has
  std::size_t pair_index_ = 0;      // of the next element of the current pair
  std::string key_;  // a key split across on_key_part calls
};

// basic_parser handler of pass 2: validates and records nothing.
struct JsonValidator {
  static constexpr std::size_t max_array_size = std::numeric_limits<std::size_t>::max();
  static constexpr std::size_t max_object_size = std::numeric_limits<std::size_t>::max();
  static constexpr std::size_t max_string_size = std::numeric_limits<std::size_t>::max();
  static constexpr std::size_t max_key_size = std::numeric_limits<std::size_t>::max();
  bool on_document_begin(error_code&) { return true; }
  bool on_document_end(error_code&) { return true; }
  bool on_object_begin(error_code&) { return true; }
  bool on_object_end(std::size_t, error_code&) { return true; }
  bool on_array_begin(error_code&) { return true; }
  bool on_array_end(std::size_t, error_code&) { return true; }
  bool on_key_part(json::string_view, std::size_t, error_code&) { return true; }
  bool on_key(json::string_view, std::size_t, error_code&) { return true; }
  bool on_string_part(json::string_view, std::size_t, error_code&) { return true; }
  bool on_string(json::string_view, std::size_t, error_code&) { return true; }
  bool on_number_part(json::string_view, error_code&) { return true; }
  bool on_int64(std::int64_t, json::string_view, error_code&) { return true; }
  bool on_uint64(std::uint64_t, json::string_view, error_code&) { return true; }
  bool on_double(double, json::string_view, error_code&) { return true; }
  bool on_bool(bool, error_code&) { return true; }
  bool on_null(error_code&) { return true; }
  bool on_comment_part(json::string_view, error_code&) { return true; }
  bool on_comment(json::string_view, error_code&) { return true; }
};

bool IsSpace(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

// Pass 2 over `rest`, which starts at the '{' of "event": the event's text
// without its '{' (the tail), or nullopt unless the event is an object
// followed only by the payload's closing '}'.
std::optional<std::string_view> EventTail(std::string_view rest) {
  json::basic_parser<JsonValidator> parser(json::parse_options{});
  error_code ec;
  std::size_t n = parser.write_some(false, rest.data(), rest.size(), ec);
  if (ec || !parser.done()) return std::nullopt;
  std::string_view event = rest.substr(0, n), after = rest.substr(n);
  while (!event.empty() && IsSpace(event.back())) event.remove_suffix(1);  // the parser eats them
  while (!after.empty() && IsSpace(after.back())) after.remove_suffix(1);
  if (event.size() < 2 || event.front() != '{' || after != "}") return std::nullopt;
  return event.substr(1);
}

}  // namespace

std::string EncodeBus(const BusMessage& message) {
  if (const auto* e = std::get_if<BusEntries>(&message)) return EncodeEntries(*e);
  std::string out;
  if (const auto* k = std::get_if<BusKick>(&message)) {
    out.append("{\"kind\":\"kick\",\"clientId\":");
    AppendJsonString(out, k->client_id);
    out.append(",\"connId\":");
    AppendJsonString(out, k->conn_id);
  } else {
    out.append("{\"kind\":\"revoke\",\"clientId\":");
    AppendJsonString(out, std::get<BusRevoke>(message).client_id);
  }
  out.push_back('}');
  return out;
}

std::optional<BusMessage> DecodeBus(std::string_view payload) {
  json::basic_parser<BusFieldReader> parser(json::parse_options{});
  error_code ec;
  std::size_t n = parser.write_some(false, payload.data(), payload.size(), ec);
  BusFields& f = parser.handler().fields;
  if (f.at_event) {
    // basic_parser stops before the character whose handler failed: the
    // event's '{'. Checked rather than assumed.
    if (n >= payload.size() || payload[n] != '{') return std::nullopt;
    std::optional<std::string_view> tail = EventTail(payload.substr(n));
    // "bigChat" names the chat of a big chat's entry, so it is never empty.
    f.entries.big_chat = f.has(Member::big_chat);
    if (!tail || f.kind != "entries" || !f.has(Member::type) || !f.has(Member::deliveries) ||
        (f.entries.big_chat && f.entries.chat_id.empty())) {
      return std::nullopt;
    }
    f.entries.entry.tail = std::string(*tail);
    return std::move(f.entries);
  }
  if (ec || !parser.done() || n != payload.size() || !f.has(Member::client_id)) {
    return std::nullopt;
  }
  if (f.kind == "kick" && f.has(Member::conn_id)) {
    return BusKick{std::move(f.client_id), std::move(f.conn_id)};
  }
  if (f.kind == "revoke") return BusRevoke{std::move(f.client_id)};
  return std::nullopt;
}

}  // namespace ferry::protocol
