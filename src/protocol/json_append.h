// JSON values appended to a string by hand, for the frames of the hot path
// (a message's tail, the bus payloads), where building a json::object to
// serialize costs several times more. The bytes are those json::serialize
// writes. Inline: they run per field of every frame.
#pragma once

#include <charconv>
#include <cstdint>
#include <string>
#include <string_view>

namespace ferry::protocol {

// `s` escaped by Boost.JSON, quotes included (json_append.cc).
void AppendEscapedJsonString(std::string& out, std::string_view s);

// `s` as a JSON string. Ids are base64url, content types printable ASCII
// and most bodies plain text, so escaping is rare: a string that needs
// none is copied.
inline void AppendJsonString(std::string& out, std::string_view s) {
  // No early exit, so that the compiler can vectorize the check.
  bool plain = true;
  for (char c : s) {
    auto u = static_cast<unsigned char>(c);
    plain &= u >= 0x20 && u != '"' && u != '\\';
  }
  if (!plain) return AppendEscapedJsonString(out, s);
  out.push_back('"');
  out.append(s);
  out.push_back('"');
}

inline void AppendJsonInt(std::string& out, std::int64_t n) {
  char digits[24];
  out.append(digits, std::to_chars(digits, digits + sizeof digits, n).ptr);
}

}  // namespace ferry::protocol
