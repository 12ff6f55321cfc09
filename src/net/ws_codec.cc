#include "net/ws_codec.h"

#include <openssl/evp.h>

#include <cstring>

namespace ferry::net::ws {

namespace {

// XORs `size` bytes with the frame's masking key, eight at a time.
void Unmask(char* p, std::size_t size, const unsigned char (&key)[4]) {
  unsigned char key8[8];
  std::memcpy(key8, key, 4);
  std::memcpy(key8 + 4, key, 4);
  std::uint64_t k;
  std::memcpy(&k, key8, 8);
  std::size_t i = 0;
  for (; i + 8 <= size; i += 8) {
    std::uint64_t w;
    std::memcpy(&w, p + i, 8);
    w ^= k;
    std::memcpy(p + i, &w, 8);
  }
  for (; i < size; ++i) p[i] = static_cast<char>(p[i] ^ key[i & 3]);
}

}  // namespace

bool ValidCloseCode(std::uint16_t code) {
  if (code >= 3000 && code <= 4999) return true;
  switch (code) {
    case 1000:
    case 1001:
    case 1002:
    case 1003:
    case 1007:
    case 1008:
    case 1009:
    case 1010:
    case 1011:
    case 1012:
    case 1013:
      return true;
    default:
      return false;  // 1004-1006 and 1014-1015 reserved, the rest unassigned
  }
}

bool Utf8Validator::Feed(std::string_view bytes) {
  const auto* p = reinterpret_cast<const unsigned char*>(bytes.data());
  const auto* end = p + bytes.size();
  while (p < end) {
    if (need_ > 0) {
      unsigned char c = *p++;
      if (c < lo_ || c > hi_) return false;
      lo_ = 0x80;
      hi_ = 0xBF;
      --need_;
      continue;
    }
    // Chat text is mostly ASCII: skip it a word at a time.
    while (end - p >= 8) {
      std::uint64_t w;
      std::memcpy(&w, p, 8);
      if (w & 0x8080808080808080ull) break;
      p += 8;
    }
    if (p == end) break;
    unsigned char c = *p++;
    if (c < 0x80) continue;
    if (c < 0xC2) return false;  // a continuation byte, or an overlong two-byte form
    if (c < 0xE0) {
      need_ = 1;
    } else if (c < 0xF0) {
      need_ = 2;
      if (c == 0xE0) lo_ = 0xA0;  // overlong below U+0800
      if (c == 0xED) hi_ = 0x9F;  // surrogates U+D800..DFFF
    } else if (c < 0xF5) {
      need_ = 3;
      if (c == 0xF0) lo_ = 0x90;  // overlong below U+10000
      if (c == 0xF4) hi_ = 0x8F;  // past U+10FFFF
    } else {
      return false;
    }
  }
  return true;
}

bool IsUtf8(std::string_view bytes) {
  Utf8Validator v;
  return v.Feed(bytes) && v.Complete();
}

void FrameReader::Feed(char* data, std::size_t size) {
  if (in_pending_) {
    if (size > 0) pending_.append(data, size);
  } else {
    fed_ = data;
    fed_size_ = size;
    pos_ = 0;
  }
}

void FrameReader::Keep() {
  if (in_pending_) {
    pending_.erase(0, pos_);
  } else if (pos_ < fed_size_) {
    pending_.assign(fed_ + pos_, fed_size_ - pos_);
  }
  fed_ = nullptr;
  fed_size_ = 0;
  pos_ = 0;
  in_pending_ = !pending_.empty();
  if (!in_pending_) std::string().swap(pending_);  // a big frame's buffer goes with it
}

std::optional<Event> FrameReader::Fail(std::uint16_t code, std::string_view why) {
  failed_ = true;
  return Event{Event::Kind::error, why, code};
}

std::optional<Event> FrameReader::Next() {
  if (release_message_) {
    std::string().swap(message_);
    release_message_ = false;
  }
  // A loop, not recursion: a flood of empty fragments in one read would
  // otherwise go as deep as it is long.
  while (!failed_) {
    const std::size_t avail = size() - pos_;
    if (avail < 2) return std::nullopt;
    const auto* p = reinterpret_cast<const unsigned char*>(data() + pos_);
    const bool fin = (p[0] & 0x80) != 0;
    const int opcode = p[0] & 0x0f;
    const bool control = (opcode & 0x08) != 0;
    if (p[0] & 0x70) return Fail(close::kProtocolError, "reserved bits set");
    switch (opcode) {
      case 0:
        if (!fragmented_) return Fail(close::kProtocolError, "continuation without a message");
        break;
      case 1:
      case 2:
        if (fragmented_) return Fail(close::kProtocolError, "new message inside a fragmented one");
        if (opcode == 2) return Fail(close::kUnsupportedData, "binary frames are not accepted");
        break;
      case kClose:
      case kPing:
      case kPong:
        if (!fin) return Fail(close::kProtocolError, "fragmented control frame");
        break;
      default:
        return Fail(close::kProtocolError, "reserved opcode");
    }
    if (!(p[1] & 0x80)) return Fail(close::kProtocolError, "unmasked frame");
    std::uint64_t length = p[1] & 0x7f;
    if (control && length > 125) return Fail(close::kProtocolError, "control frame too long");
    const std::size_t header = length == 127 ? 14 : length == 126 ? 8 : 6;
    if (avail < header) return std::nullopt;
    if (length == 126) {
      length = std::uint64_t{p[2]} << 8 | p[3];
      if (length < 126) return Fail(close::kProtocolError, "length not in its shortest form");
    } else if (length == 127) {
      length = 0;
      if (p[2] & 0x80) return Fail(close::kProtocolError, "length with its top bit set");
      for (int i = 2; i < 10; ++i) length = length << 8 | p[i];
      if (length < 65536) return Fail(close::kProtocolError, "length not in its shortest form");
    }
    if (!control) {
      if (length > max_message_ - message_.size()) return Fail(close::kTooBig, "message too big");
      if (length + header > max_message_wire_ - message_wire_) {
        return Fail(close::kPolicy, "message fragments over their limit");
      }
    }
    if (avail - header < length) return std::nullopt;
    unsigned char key[4];
    std::memcpy(key, p + header - 4, 4);
    char* payload = data() + pos_ + header;
    const auto n = static_cast<std::size_t>(length);
    Unmask(payload, n, key);
    pos_ += header + n;
    if (control) return Control(opcode, payload, n);
    message_wire_ += header + n;
    if (!utf8_.Feed({payload, n})) return Fail(close::kInvalidPayload, "invalid UTF-8");
    if (!fin) {
      message_.append(payload, n);
      fragmented_ = true;
      continue;
    }
    if (!utf8_.Complete()) return Fail(close::kInvalidPayload, "invalid UTF-8");
    std::string_view text(payload, n);
    if (fragmented_) {
      message_.append(payload, n);
      text = message_;
      release_message_ = true;
    }
    fragmented_ = false;
    utf8_.Reset();
    message_wire_ = 0;
    return Event{Event::Kind::message, text};
  }
  return std::nullopt;
}

std::optional<Event> FrameReader::Control(int opcode, char* payload, std::size_t size) {
  if (opcode == kPing) return Event{Event::Kind::ping, {payload, size}};
  if (opcode == kPong) return Event{Event::Kind::pong, {payload, size}};
  if (size == 0) {
    failed_ = true;  // nothing is read after a close
    return Event{Event::Kind::close, {}, close::kNoStatus};
  }
  if (size == 1) return Fail(close::kProtocolError, "close frame of one byte");
  const auto* b = reinterpret_cast<const unsigned char*>(payload);
  const auto code = static_cast<std::uint16_t>(b[0] << 8 | b[1]);
  if (!ValidCloseCode(code)) return Fail(close::kProtocolError, "invalid close code");
  std::string_view reason(payload + 2, size - 2);
  if (!IsUtf8(reason)) return Fail(close::kInvalidPayload, "close reason not UTF-8");
  failed_ = true;
  return Event{Event::Kind::close, reason, code};
}

std::size_t EncodeHeader(int opcode, std::size_t payload_size, char (&out)[10]) {
  out[0] = static_cast<char>(0x80 | opcode);
  if (payload_size < 126) {
    out[1] = static_cast<char>(payload_size);
    return 2;
  }
  if (payload_size <= 0xFFFF) {
    out[1] = 126;
    out[2] = static_cast<char>(payload_size >> 8);
    out[3] = static_cast<char>(payload_size & 0xFF);
    return 4;
  }
  out[1] = 127;
  for (int i = 0; i < 8; ++i) {
    out[2 + i] =
        static_cast<char>((static_cast<std::uint64_t>(payload_size) >> (56 - 8 * i)) & 0xFF);
  }
  return 10;
}

std::string ClosePayload(std::uint16_t code, std::string_view reason) {
  constexpr std::size_t kMaxReason = 123;  // a control frame's 125 bytes, less the code
  if (reason.size() > kMaxReason) {
    std::size_t cut = kMaxReason;
    while (cut > 0 && (static_cast<unsigned char>(reason[cut]) & 0xC0) == 0x80) --cut;
    reason = reason.substr(0, cut);
  }
  std::string payload;
  payload.reserve(2 + reason.size());
  payload += static_cast<char>(code >> 8);
  payload += static_cast<char>(code & 0xFF);
  payload += reason;
  return payload;
}

std::string AcceptKey(std::string_view key) {
  static constexpr std::string_view kGuid = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
  std::string input;
  input.reserve(key.size() + kGuid.size());
  input.append(key).append(kGuid);
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int digest_size = 0;
  if (EVP_Digest(input.data(), input.size(), digest, &digest_size, EVP_sha1(), nullptr) != 1) {
    return {};
  }
  char encoded[4 * ((EVP_MAX_MD_SIZE + 2) / 3) + 1];
  int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(encoded), digest,
                          static_cast<int>(digest_size));
  return std::string(encoded, static_cast<std::size_t>(n));
}

bool ValidKey(std::string_view key) {
  // 16 bytes are 22 base64 digits and "==".
  if (key.size() != 24 || key.substr(22) != "==") return false;
  for (char c : key.substr(0, 22)) {
    bool digit = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
                 c == '+' || c == '/';
    if (!digit) return false;
  }
  return true;
}

}  // namespace ferry::net::ws
