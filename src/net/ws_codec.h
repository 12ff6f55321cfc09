// RFC 6455 framing for the server side of a WebSocket, with no I/O: the
// frame reader takes the bytes a client sent and yields its messages and
// control frames, or the close code that ends the connection; the writer
// side is a frame header. WsSession (websocket.cc) runs it on the socket.
//
// Ferry needs only a subset: no extensions (a reserved bit set is an
// error), text messages (a binary one is refused with 1003), a message
// limit checked against the frame header before the payload is read. The
// reader works in place: a frame that arrived whole is unmasked where it
// lies and handed out as a view, so the common case copies nothing; only a
// frame split across reads, or a message in fragments, is copied into the
// reader's own buffers, which are freed when the message is done.
//
// Hand-written, so fuzzed: tests/net/ws_codec_fuzz.cc.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace ferry::net::ws {

// Close codes the reader ends a connection with (RFC 6455 section 7.4.1).
namespace close {
constexpr std::uint16_t kNormal = 1000;
constexpr std::uint16_t kProtocolError = 1002;
constexpr std::uint16_t kUnsupportedData = 1003;
constexpr std::uint16_t kNoStatus = 1005;  // a close frame without a code (never sent)
constexpr std::uint16_t kInvalidPayload = 1007;
constexpr std::uint16_t kPolicy = 1008;
constexpr std::uint16_t kTooBig = 1009;
}  // namespace close

// Whether a peer may send `code` in a close frame (registered, or 3000-4999).
bool ValidCloseCode(std::uint16_t code);

// Validates UTF-8 (RFC 3629: no overlong forms, no surrogates, nothing past
// U+10FFFF) fed in pieces that may split a character anywhere.
class Utf8Validator {
 public:
  // False once the bytes so far cannot begin valid UTF-8.
  bool Feed(std::string_view bytes);
  // Whether the bytes so far end on a whole character.
  bool Complete() const { return need_ == 0; }
  void Reset() { *this = Utf8Validator(); }

 private:
  std::uint8_t need_ = 0;  // continuation bytes still to come
  // The range allowed for the next continuation byte (narrower after E0,
  // ED, F0 and F4).
  std::uint8_t lo_ = 0x80;
  std::uint8_t hi_ = 0xBF;
};

// Whether `bytes` are valid UTF-8, whole characters only.
bool IsUtf8(std::string_view bytes);

// What the reader found.
struct Event {
  enum class Kind {
    message,  // a whole text message: `payload`
    ping,     // `payload` to be echoed in a pong
    pong,     // `payload`, unsolicited or not: nothing to do
    close,    // the peer's close: `code` (kNoStatus if none) and `payload` (the reason)
    error,    // the client broke a rule: close with `code`, `payload` says why
  };
  Kind kind;
  std::string_view payload;
  std::uint16_t code = 0;
};

class FrameReader {
 public:
  // `max_message`: the largest message payload accepted (1009 beyond).
  explicit FrameReader(std::size_t max_message) : max_message_(max_message) {}

  // Bytes just read from the client. They are parsed where they lie and
  // unmasked in place, so they must stay put and untouched until Keep().
  void Feed(char* data, std::size_t size);

  // The next event in what was fed, or nullopt when more bytes are needed.
  // A view it returns is valid until the next call. After an error it
  // yields nothing more.
  std::optional<Event> Next();

  // Copies what Next() has not consumed of the fed bytes into the reader,
  // to be parsed once more arrives (a partial frame; or, when the caller
  // stopped calling Next(), whole ones). Call before the fed bytes go.
  void Keep();

  // After Next() returned nullopt: whether a message is under way (a
  // fragment or a part of a frame read, the rest not yet).
  bool MessageOpen() const { return fragmented_ || pos_ < size(); }
  // Memory the reader holds, for tests of idle memory.
  std::size_t capacity() const { return pending_.capacity() + message_.capacity(); }

 private:
  std::optional<Event> Fail(std::uint16_t code, std::string_view why);
  std::optional<Event> Control(int opcode, char* payload, std::size_t size);
  // The bytes being parsed: the caller's, or pending_ when bytes were kept.
  char* data() { return in_pending_ ? pending_.data() : fed_; }
  std::size_t size() const { return in_pending_ ? pending_.size() : fed_size_; }

  const std::size_t max_message_;
  // A message's frames may take this many bytes on the wire (headers and
  // empty fragments included), else 1008: fragments cannot hold it open.
  const std::size_t max_message_wire_ = 2 * max_message_ + 64 * 1024;
  char* fed_ = nullptr;  // the caller's bytes, until Keep()
  std::size_t fed_size_ = 0;
  bool in_pending_ = false;       // parsing pending_ rather than fed_
  std::size_t pos_ = 0;           // consumed of the bytes being parsed
  std::string pending_;           // unconsumed bytes kept across reads
  std::string message_;           // a fragmented message's payload so far
  Utf8Validator utf8_;            // over the message's payload so far
  std::size_t message_wire_ = 0;  // the message's frames so far, on the wire
  bool fragmented_ = false;       // a first fragment was read; continuations follow
  bool release_message_ = false;  // message_ was handed out: free it at the next call
  bool failed_ = false;
};

// A server frame's header (unmasked, final): writes 2, 4 or 10 bytes into
// `out` and returns how many.
std::size_t EncodeHeader(int opcode, std::size_t payload_size, char (&out)[10]);
constexpr int kText = 1;
constexpr int kClose = 8;
constexpr int kPing = 9;
constexpr int kPong = 10;

// A close frame's payload: the code, then the reason cut to fit in 123
// bytes without splitting a UTF-8 character.
std::string ClosePayload(std::uint16_t code, std::string_view reason);

// The Sec-WebSocket-Accept value for a client's Sec-WebSocket-Key.
std::string AcceptKey(std::string_view key);
// Whether `key` is a valid Sec-WebSocket-Key: 16 bytes in base64 (24 characters).
bool ValidKey(std::string_view key);

}  // namespace ferry::net::ws
