// Output helpers: times, positions, one-line descriptions of inbox entries and
// events, close codes.
#include <algorithm>
#include <boost/json.hpp>
#include <ctime>
#include <iostream>

#include "cli.h"

namespace ferry::cli {
namespace json = boost::json;

namespace {

std::string FormatTime(std::int64_t ms, const char* format, bool utc) {
  std::time_t secs = static_cast<std::time_t>(ms >= 0 ? ms / 1000 : (ms - 999) / 1000);
  std::tm tm{};
  if (utc) {
    ::gmtime_r(&secs, &tm);
  } else {
    ::localtime_r(&secs, &tm);
  }
  char buf[64];
  std::size_t n = std::strftime(buf, sizeof buf, format, &tm);
  return std::string(buf, n);
}

std::string JoinMembers(const json::object& o) {
  std::string out;
  if (const json::value* m = o.if_contains("members"); m && m->is_array()) {
    for (const json::value& v : m->get_array()) {
      if (!out.empty()) out += ", ";
      out += v.is_string() ? std::string(v.get_string()) : json::serialize(v);
    }
  }
  return out;
}

std::int64_t Int(const json::object& o, const char* key) {
  const json::value* v = o.if_contains(key);
  if (!v) return 0;
  if (v->is_int64()) return v->get_int64();
  if (v->is_uint64()) return static_cast<std::int64_t>(v->get_uint64());
  if (v->is_double()) return static_cast<std::int64_t>(v->get_double());
  return 0;
}

// When a receipt's position was, as listen prints it: the time of day like
// the message lines' brackets, the date too when it differs from the
// receipt's own (a chat read days later).
std::string PositionTime(const Position& position, std::int64_t receipt_ts) {
  std::string when = LocalTime(position.ts), now = LocalTime(receipt_ts);
  constexpr std::size_t kDate = 10;  // "2026-11-28"
  return when.compare(0, kDate, now, 0, kDate) == 0 ? when.substr(kDate + 1) : when;
}

std::string DescribeReceipt(const json::object& e, std::string line) {
  std::string kind = Str(e, "kind");
  std::string verb = kind == "read"        ? "read up to "
                     : kind == "delivered" ? "got messages up to "
                                           : kind + " up to ";
  auto up_to = ParsePosition(e.if_contains("upTo"));
  return line + Str(e, "user") + " " + verb + (up_to ? PositionTime(*up_to, Int(e, "ts")) : "?") +
         " (chat " + Str(e, "chatId") + ")";
}

// Typing events carry no time: the line is shown as it arrives. `paused` is
// not shown: a printed line cannot be taken back the way an app hides its
// "typing…", and a line per pause would be noise among the messages
// (--json shows both states).
std::string DescribeTyping(const json::object& e) {
  std::string state = Str(e, "state"), where = " (chat " + Str(e, "chatId") + ")";
  if (state == "paused") return "";
  if (state == "composing") return Str(e, "user") + " is typing…" + where;
  return Str(e, "user") + " typing: " + state + where;
}

}  // namespace

json::object Position::ToJson() const {
  return json::object{{"ts", ts}, {"messageId", message_id}};
}

std::optional<Position> ParsePosition(const json::value* value) {
  if (!value || !value->is_object()) return std::nullopt;
  return PositionOf(value->get_object());
}

std::optional<Position> PositionOf(const json::object& o) {
  const json::value* ts = o.if_contains("ts");
  const json::value* id = o.if_contains("messageId");
  if (!ts || !(ts->is_int64() || ts->is_uint64()) || !id || !id->is_string()) return std::nullopt;
  return Position{Int(o, "ts"), std::string(id->get_string())};
}

std::string IsoUtc(std::int64_t ms) { return FormatTime(ms, "%Y-%m-%dT%H:%M:%SZ", true); }
std::string LocalTime(std::int64_t ms) { return FormatTime(ms, "%Y-%m-%d %H:%M:%S", false); }

std::string Str(const json::object& object, const char* key) {
  const json::value* v = object.if_contains(key);
  return v && v->is_string() ? std::string(v->get_string()) : std::string();
}

void PrintJson(const json::object& object) { std::cout << json::serialize(object) << std::endl; }

std::string DescribeEntry(const json::object& e) {
  std::string type = Str(e, "type");
  if (type == "typing") return DescribeTyping(e);
  std::string chat = Str(e, "chatId");
  std::string line = "[" + LocalTime(Int(e, "ts")) + "] ";
  if (type == "receipt") return DescribeReceipt(e, std::move(line));
  if (type == "message") {
    line += Str(e, "from") + " (chat " + chat + "): " + Str(e, "body");
    if (const json::value* a = e.if_contains("attachments"); a && a->is_array()) {
      for (const json::value& v : a->get_array()) {
        if (!v.is_object()) continue;
        const json::object& att = v.get_object();
        line +=
            "\n  attachment " + Str(att, "attachmentId") + " (" + Str(att, "contentType") + ", " +
            DescribeSize(static_cast<std::uint64_t>(std::max<std::int64_t>(Int(att, "size"), 0))) +
            ")";
      }
    }
    return line;
  }
  if (type == "chat") {
    std::string by = Str(e, "by"), event = Str(e, "event"), members = JoinMembers(e);
    if (event == "created") {
      line += by + " created chat " + chat;
      if (std::string name = Str(e, "name"); !name.empty()) line += " \"" + name + "\"";
      return line + " with " + members;
    }
    if (event == "membersAdded") return line + by + " added " + members + " to chat " + chat;
    if (event == "membersRemoved") {
      if (members == by) return line + by + " left chat " + chat;
      return line + by + " removed " + members + " from chat " + chat;
    }
    return line + by + " " + event + " chat " + chat + ": " + members;
  }
  return line + json::serialize(e);
}

bool IsFatalClose(std::uint16_t code) {
  return code == 4401 || code == 1002 || code == 1003 || code == 1007 || code == 1008 ||
         code == 1009;
}

void ThrowClosed(const client::CloseInfo& close) {
  std::string detail = "(close " + std::to_string(close.code) +
                       (close.reason.empty() ? "" : " " + close.reason) + ")";
  switch (close.code) {
    case 4401:
      throw CliError("unauthorized", "token revoked or invalid — log in again " + detail);
    case 4409:
      throw CliError("replaced", "another connection of this client took over " + detail);
    case 4408:
      throw CliError("timeout", "the server closed the connection for inactivity " + detail);
    case 1006:
      throw CliError("connection", "connection lost " + detail);
    default:
      throw CliError("closed", "the server closed the connection " + detail);
  }
}

}  // namespace ferry::cli
