// The decoders of the version 1 and 2 line formats, as those versions had
// them, plus the older attachment line without a sha256 (see
// DecodeLineAttachments).
#include "store/sqlite/sqlite_legacy.h"

#include <charconv>
#include <string>

namespace ferry::sqlite::legacy {
namespace {

// `text` split at '\n' (one field for "").
std::vector<std::string_view> Lines(std::string_view text) {
  std::vector<std::string_view> lines;
  for (std::size_t start = 0;;) {
    std::size_t end = text.find('\n', start);
    lines.push_back(text.substr(start, end == std::string_view::npos ? end : end - start));
    if (end == std::string_view::npos) return lines;
    start = end + 1;
  }
}

bool ParseInt(std::string_view text, std::int64_t* out) {
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), *out);
  return ec == std::errc() && end == text.data() + text.size();
}

// A stored sha256 is 64 lowercase hex digits (or "-" for none).
bool IsSha256Field(std::string_view field) {
  if (field == "-") return true;
  if (field.size() != 64) return false;
  for (char c : field) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  }
  return true;
}

}  // namespace

std::optional<ChatEvent> DecodeLineChatEvent(std::string_view text) {
  std::vector<std::string_view> lines = Lines(text);
  ChatEvent event;
  if (lines.size() < 4 || !ParseInt(lines[3], &event.ts)) return std::nullopt;
  event.chat_id = lines[0];
  event.event = lines[1];
  event.by = lines[2];
  event.members.assign(lines.begin() + 4, lines.end());
  return event;
}

std::optional<std::vector<AttachmentRef>> DecodeLineAttachments(std::string_view text) {
  std::vector<AttachmentRef> attachments;
  if (text.empty()) return attachments;
  for (std::string_view line : Lines(text)) {
    std::size_t id_end = line.find(' ');
    if (id_end == std::string_view::npos) return std::nullopt;
    std::size_t size_end = line.find(' ', id_end + 1);
    if (size_end == std::string_view::npos) return std::nullopt;
    AttachmentRef ref;
    if (!ParseInt(line.substr(id_end + 1, size_end - id_end - 1), &ref.size)) return std::nullopt;
    ref.attachment_id = line.substr(0, id_end);
    std::string_view rest = line.substr(size_end + 1);
    // "<sha256 or -> <content type>" has a space after a sha256-shaped field;
    // a content type never starts with one followed by a space.
    std::size_t sha_end = rest.find(' ');
    if (sha_end != std::string_view::npos && IsSha256Field(rest.substr(0, sha_end))) {
      if (rest.substr(0, sha_end) != "-") ref.sha256 = rest.substr(0, sha_end);
      rest.remove_prefix(sha_end + 1);
    }
    ref.content_type = rest;
    attachments.push_back(std::move(ref));
  }
  return attachments;
}

}  // namespace ferry::sqlite::legacy
