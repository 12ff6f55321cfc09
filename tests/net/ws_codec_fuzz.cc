// libFuzzer target for ws_codec (net/ws_codec.h), ferryd's hand-written
// RFC 6455 frame reader, differential against what it replaces: a
// server-role beast websocket::stream with ferryd's options, over a beast
// test stream after a completed handshake, reading as WsSession did (a
// small first read per message; a binary message closes with 1003).
//
// Input: byte 0: bits 1..7 the size of each read (0: the whole input in
// one), bit 0 the message limit (ferryd's Config::max_frame_bytes, or
// kSmallLimit that short inputs can exceed); the rest are the client's
// bytes, then EOF.
//
// Both readers record what they yield (text messages, pings, pongs, with
// payloads) and how they end: waiting for more bytes at EOF, closed by the
// peer (its code and reason), or failed with the close code they send
// (beast's is read back from the close frame it wrote). Ours runs twice,
// driven as WsSession drives it: draining Next() after each read; and
// taking at most one event per read, then passing over the kept bytes with
// Feed(nullptr, 0) (so Keep() holds whole frames too); the two must agree
// exactly. Each read is copied into a buffer of its own, scribbled over and
// freed after Keep() (WsSession's read buffer is reused at once), so a view
// that outlives its contract reads garbage (or trips ASan).
// Then beast and ours must agree, but for the differences below, each
// checked by a rule that re-runs one side on a cut or completed input; an
// input they cannot explain aborts with both runs printed:
//   wire_budget: ours fails 1008 at the frame that takes a message's
//     frames past 2 x limit + 64 KiB on the wire (fragments cannot hold it
//     open); beast has no such rule. Only inputs that long (smoke test).
//   binary_at_header: ours refuses a binary message with 1003 at its first
//     frame's first two bytes; beast reads on and may fail that frame
//     otherwise first (unmasked 1002, too big 1009, cut short: waiting).
//   early_header: ours fails what the first two bytes of a header rule out
//     (unmasked, reserved bits or opcode, ...) before the rest of the
//     header has come; beast waits for it.
//   early_utf8: beast checks a text frame's UTF-8 as its payload arrives
//     and fails 1007 on a frame cut short; ours checks whole frames.
//   close_reason_utf8: a close reason that is not UTF-8: ours 1007 (RFC
//     6455 section 8.1 and 7.4.1), beast 1002.
//   close_code_over_4999: a close code of 5000 or more: ours 1002, beast
//     takes it (RFC 6455 section 7.4.2 defines no codes past 4999).
//   length_top_bit: a 64-bit length with its most significant bit set:
//     ours 1002 (RFC 6455 section 5.2: that bit MUST be 0), beast 1009.
//   beast_unchecked_utf8: a message whose last fragment is empty ends
//     without beast's UTF-8 finish(), so beast delivers a text message that
//     ends inside a character (and carries the check's state into the next
//     message); ours fails 1007.
// Also: Utf8Validator fed in pieces against beast's utf8_checker,
// EncodeHeader against beast's frame header writer and a decoder,
// ClosePayload's size and UTF-8 (and that both readers take it back),
// AcceptKey against beast's make_sec_ws_accept, ValidKey against its
// base64 decoder.
// Built as a fuzzer with clang (target ws_codec_fuzz); everywhere
// ws_codec_fuzz_smoke.cc runs it in ws_codec_fuzz_test.
#include <algorithm>
#include <boost/asio/io_context.hpp>
#include <boost/beast/_experimental/test/stream.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/core/detail/base64.hpp>
#include <boost/beast/core/detail/sha1.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/websocket.hpp>
#include <boost/beast/websocket/detail/frame.hpp>
#include <boost/beast/websocket/detail/hybi13.hpp>
#include <boost/beast/websocket/detail/utf8_checker.hpp>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <string_view>
#include <vector>

#include "common/config.h"
#include "net/ws_codec.h"

namespace ferry::ws_codec_fuzz {

// How many inputs so far showed each tolerated difference (the names
// above), for the smoke test's check that its seeds show every one.
std::size_t ToleratedCount(std::string_view rule);

}  // namespace ferry::ws_codec_fuzz

namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace websocket = beast::websocket;
namespace ws = ferry::net::ws;

// WsSession's first read of each message.
constexpr std::size_t kFirstReadBytes = 256;
// The small message limit: below the fuzzer's input sizes.
constexpr std::size_t kSmallLimit = 100;

// Counts per rule; printed at exit when WS_CODEC_FUZZ_TALLY is set.
struct Tallies {
  std::map<std::string, std::size_t, std::less<>> counts;
  ~Tallies() {
    if (!std::getenv("WS_CODEC_FUZZ_TALLY")) return;
    for (const auto& [rule, n] : counts) {
      std::fprintf(stderr, "ws_codec_fuzz: %s: %zu\n", rule.c_str(), n);
    }
  }
};

std::map<std::string, std::size_t, std::less<>>& Tally() {
  static Tallies tallies;
  return tallies.counts;
}

// ---- What a reader saw ----

struct Item {
  enum class Kind { message, ping, pong };
  Kind kind;
  std::string payload;
  bool operator==(const Item&) const = default;
};

struct End {
  enum class Kind { waiting, closed, failed };
  Kind kind = Kind::waiting;
  std::uint16_t code = 0;  // closed: the peer's (1005: none); failed: the one sent
  std::string reason;      // closed: the peer's
  bool operator==(const End&) const = default;
};

struct Run {
  std::vector<Item> items;
  End end;
  beast::error_code ec;       // beast's: what ended its reads
  bool message_open = false;  // ours, when waiting: MessageOpen()
};

struct Case {
  std::string_view bytes;  // the client's
  std::size_t read_size;   // 0: all in one read
  std::size_t limit;
};

bool Failed(const End& end, std::uint16_t code) {
  return end.kind == End::Kind::failed && end.code == code;
}

bool IsPrefix(const std::vector<Item>& a, const std::vector<Item>& b) {
  return a.size() <= b.size() && std::equal(a.begin(), a.end(), b.begin());
}

std::string Hex(std::string_view bytes, std::size_t max = 48) {
  std::string out;
  char two[3];
  for (std::size_t i = 0; i < bytes.size() && i < max; ++i) {
    std::snprintf(two, sizeof two, "%02x", static_cast<unsigned char>(bytes[i]));
    out += two;
  }
  if (bytes.size() > max) out += "...(" + std::to_string(bytes.size()) + " bytes)";
  return out;
}

void Print(const char* who, const Run& run) {
  static const char* const kKinds[] = {"message", "ping", "pong"};
  static const char* const kEnds[] = {"waiting", "closed", "failed"};
  std::fprintf(stderr, "%s: %zu items\n", who, run.items.size());
  for (const Item& item : run.items) {
    std::fprintf(stderr, "  %s %s\n", kKinds[static_cast<int>(item.kind)],
                 Hex(item.payload).c_str());
  }
  std::fprintf(stderr, "  end: %s code %u reason %s%s%s\n", kEnds[static_cast<int>(run.end.kind)],
               run.end.code, Hex(run.end.reason).c_str(), run.ec ? " beast: " : "",
               run.ec ? run.ec.message().c_str() : "");
}

[[noreturn]] void Mismatch(const char* what, const Case& c, const Run& a, const Run& b,
                           const char* a_name = "beast", const char* b_name = "ours") {
  std::fprintf(stderr, "ws_codec_fuzz: %s\nread size %zu, limit %zu, client bytes %s\n", what,
               c.read_size, c.limit, Hex(c.bytes, 256).c_str());
  Print(a_name, a);
  Print(b_name, b);
  std::abort();
}

[[noreturn]] void Fail(const char* what, std::string_view detail = {}) {
  std::fprintf(stderr, "ws_codec_fuzz: %s %s\n", what, Hex(detail, 256).c_str());
  std::abort();
}

// ---- Beast's side ----

const http::request<http::string_body>& UpgradeRequest() {
  static const auto req = [] {
    http::request<http::string_body> r{http::verb::get, "/v1/ws", 11};
    r.set(http::field::host, "127.0.0.1:8080");
    r.set(http::field::upgrade, "websocket");
    r.set(http::field::connection, "Upgrade");
    r.set(http::field::sec_websocket_key, "dGhlIHNhbXBsZSBub25jZQ==");
    r.set(http::field::sec_websocket_version, "13");
    return r;
  }();
  return req;
}

// The code of the close frame beast wrote to the client: its frames follow
// the handshake's response, unmasked, pongs and the close (all short).
std::uint16_t SentCloseCode(std::string_view out) {
  std::size_t at = out.find("\r\n\r\n");
  if (at == std::string_view::npos) Fail("no handshake response from beast");
  at += 4;
  std::optional<std::uint16_t> code;
  while (out.size() - at >= 2) {
    const auto* p = reinterpret_cast<const unsigned char*>(out.data() + at);
    std::size_t len = p[1] & 0x7f;
    if (len > 125 || out.size() - at - 2 < len) {
      Fail("beast wrote an unexpected frame", out.substr(at));
    }
    if ((p[0] & 0x0f) == ws::kClose && len >= 2) {
      code = static_cast<std::uint16_t>(p[2] << 8 | p[3]);
    }
    at += 2 + len;
  }
  if (!code) Fail("beast failed without a close frame", out);
  return *code;
}

Run RunBeast(std::string_view bytes, const Case& c) {
  asio::io_context ioc;
  beast::test::stream client(ioc);
  websocket::stream<beast::test::stream> wsock(ioc);
  wsock.next_layer().connect(client);  // the server's frames go to `client`
  if (c.read_size > 0) wsock.next_layer().read_size(c.read_size);
  wsock.next_layer().append(bytes);
  wsock.next_layer().close_remote();
  wsock.read_message_max(c.limit);
  wsock.auto_fragment(false);
  Run run;
  wsock.control_callback([&run](websocket::frame_type kind, beast::string_view payload) {
    if (kind == websocket::frame_type::close) return;  // read from reason() below
    run.items.push_back({kind == websocket::frame_type::ping ? Item::Kind::ping : Item::Kind::pong,
                         std::string(payload.data(), payload.size())});
  });
  beast::error_code ec;
  wsock.accept(UpgradeRequest(), ec);
  if (ec) Fail("beast's handshake failed");
  beast::flat_buffer buffer;
  for (;;) {
    wsock.read_some(buffer, buffer.size() == 0 ? kFirstReadBytes : 0, ec);
    if (ec) break;
    if (!wsock.got_text()) {  // WsSession closes with 1003
      run.end = {End::Kind::failed, ws::close::kUnsupportedData, {}};
      return run;
    }
    if (!wsock.is_message_done()) continue;
    auto data = buffer.cdata();
    run.items.push_back(
        {Item::Kind::message, std::string(static_cast<const char*>(data.data()), data.size())});
    buffer.clear();
  }
  run.ec = ec;
  if (ec == asio::error::eof) {
    run.end.kind = End::Kind::waiting;
  } else if (ec == websocket::error::closed) {
    const websocket::close_reason& reason = wsock.reason();
    run.end = {End::Kind::closed, reason.code == 0 ? ws::close::kNoStatus : reason.code,
               std::string(reason.reason.data(), reason.reason.size())};
  } else {
    run.end = {End::Kind::failed,
               SentCloseCode(std::string_view(client.str().data(), client.str().size())),
               {}};
  }
  return run;
}

// ---- Ours ----

// Records an event; true if it ends the connection. Checks what the header
// promises of each kind.
bool Take(const ws::Event& event, const Case& c, Run& run) {
  switch (event.kind) {
    case ws::Event::Kind::message:
      if (event.payload.size() > c.limit) Fail("a message over the limit", event.payload);
      if (!beast::websocket::detail::check_utf8(event.payload.data(), event.payload.size())) {
        Fail("a message that is not UTF-8", event.payload);
      }
      run.items.push_back({Item::Kind::message, std::string(event.payload)});
      return false;
    case ws::Event::Kind::ping:
    case ws::Event::Kind::pong:
      if (event.payload.size() > 125) Fail("a control payload over 125 bytes", event.payload);
      run.items.push_back(
          {event.kind == ws::Event::Kind::ping ? Item::Kind::ping : Item::Kind::pong,
           std::string(event.payload)});
      return false;
    case ws::Event::Kind::close:
      if (event.code == ws::close::kNoStatus ? !event.payload.empty()
                                             : !ws::ValidCloseCode(event.code)) {
        Fail("a close event with an invalid code");
      }
      run.end = {End::Kind::closed, event.code, std::string(event.payload)};
      return true;
    case ws::Event::Kind::error:
      switch (event.code) {
        case ws::close::kProtocolError:
        case ws::close::kUnsupportedData:
        case ws::close::kInvalidPayload:
        case ws::close::kPolicy:
        case ws::close::kTooBig:
          break;
        default:
          Fail("an error with an unexpected close code");
      }
      if (event.payload.empty()) Fail("an error without a reason");
      run.end = {End::Kind::failed, event.code, {}};
      return true;
  }
  return true;
}

// Reads `bytes` in reads of c.read_size as WsSession does: each read is
// one Process() (Feed, Next until nullopt, MessageOpen, Keep), and a pass
// over kept bytes is a Process() of nothing (its ProcessKept). When `lazy`,
// a Process() takes one event at most, as when WsSession's read budget runs
// out, and each read is followed by such a pass.
Run RunOurs(std::string_view bytes, const Case& c, bool lazy) {
  ws::FrameReader reader(c.limit);
  Run run;
  bool done = false;
  auto process = [&](char* data, std::size_t n, bool one_event) {
    reader.Feed(data, n);
    bool waiting = false;
    while (!done) {
      std::optional<ws::Event> event = reader.Next();
      if (!event) {
        waiting = true;
        break;
      }
      done = Take(*event, c, run);
      if (one_event) break;
    }
    if (waiting) run.message_open = reader.MessageOpen();
    reader.Keep();
  };
  const std::size_t step = c.read_size > 0 ? c.read_size : bytes.size();
  for (std::size_t at = 0; at < bytes.size() && !done; at += step) {
    const std::size_t n = std::min(step, bytes.size() - at);
    auto read = std::make_unique<char[]>(n);
    std::memcpy(read.get(), bytes.data() + at, n);
    process(read.get(), n, lazy);
    std::memset(read.get(), 0xA5, n);  // the reader may no longer look here
    read.reset();
    if (lazy && !done) process(nullptr, 0, true);
  }
  if (!done) process(nullptr, 0, false);  // the rest of what lazy passes left
  if (done) {
    if (reader.Next()) Fail("an event after the connection's end");
    run.message_open = false;  // as of the last Process(): moot once ended
    return run;
  }
  run.end.kind = End::Kind::waiting;
  if (reader.MessageOpen() != run.message_open) Fail("Keep() changed MessageOpen()");
  // Nothing under way: the buffers are freed (empty strings keep their
  // small-string capacity).
  if (!run.message_open && reader.capacity() > 2 * std::string().capacity()) {
    Fail("an idle reader holds memory");
  }
  return run;
}

// ---- The frames of the input, as laid out on the wire ----

// Where one frame lies: from its first two bytes on, without judging them.
struct WireFrame {
  std::size_t start = 0;   // of its first byte
  std::size_t header = 2;  // 2, the extended length, the key if masked
  bool header_complete = false;
  std::uint64_t length = 0;  // of the payload, once the header is complete
  bool complete = false;
  unsigned char b0 = 0;
  bool masked = false;
  unsigned char key[4] = {};

  int opcode() const { return b0 & 0x0f; }
  bool fin() const { return (b0 & 0x80) != 0; }
  bool data() const { return opcode() < 8; }
};

// The frames, up to and including the first incomplete one.
std::vector<WireFrame> Walk(std::string_view bytes) {
  std::vector<WireFrame> frames;
  std::size_t at = 0;
  while (at < bytes.size()) {
    WireFrame f;
    f.start = at;
    const auto* p = reinterpret_cast<const unsigned char*>(bytes.data() + at);
    const std::size_t avail = bytes.size() - at;
    f.b0 = p[0];
    if (avail >= 2) {
      f.masked = (p[1] & 0x80) != 0;
      std::uint64_t len = p[1] & 0x7f;
      const std::size_t ext = len == 126 ? 2 : len == 127 ? 8 : 0;
      f.header = 2 + ext + (f.masked ? 4 : 0);
      if (avail >= f.header) {
        if (ext > 0) len = 0;
        for (std::size_t i = 0; i < ext; ++i) len = len << 8 | p[2 + i];
        if (f.masked) std::memcpy(f.key, p + 2 + ext, 4);
        f.header_complete = true;
        f.length = len;
        f.complete = avail - f.header >= len;
      }
    }
    frames.push_back(f);
    if (!f.complete) break;
    at += f.header + static_cast<std::size_t>(f.length);
  }
  return frames;
}

// Whether a reader that took every frame of `frames` has a message under
// way: a fragment, or a frame partly read.
bool MessageOpen(const std::vector<WireFrame>& frames) {
  bool open = false;
  for (const WireFrame& f : frames) {
    if (!f.complete) return true;
    if (f.data()) open = !f.fin();
  }
  return open;
}

// ---- The differences allowed, each checked ----

// The name of the rule (see the top of the file) that explains why beast
// and ours differ on this input, or nullptr.
const char* Explain(const Case& c, const Run& beast, const Run& ours) {
  const End& b = beast.end;
  const End& o = ours.end;
  const bool same_items = beast.items == ours.items;
  const std::vector<WireFrame> frames = Walk(c.bytes);
  const WireFrame last = frames.empty() ? WireFrame{} : frames.back();

  if (Failed(o, ws::close::kPolicy) && IsPrefix(ours.items, beast.items)) {
    // The frame whose header takes its message past the budget: beast,
    // read up to it, must have seen nothing wrong and the same items.
    const std::size_t budget = 2 * c.limit + 64 * 1024;
    std::size_t wire = 0;  // the message's frames so far
    bool open = false;
    for (const WireFrame& f : frames) {
      if (!f.header_complete) break;
      if (!f.data()) continue;
      if (!open) wire = 0;
      if (f.length > budget - wire || f.header + f.length > budget - wire) {
        Run before = RunBeast(c.bytes.substr(0, f.start), c);
        if (before.end.kind == End::Kind::waiting && before.items == ours.items) {
          return "wire_budget";
        }
        break;
      }
      wire += f.header + static_cast<std::size_t>(f.length);
      open = !f.fin();
    }
  }
  if (Failed(o, ws::close::kUnsupportedData) && IsPrefix(ours.items, beast.items)) {
    // Ours stops at the first frame to open a binary message; beast, read
    // up to that frame, must have seen nothing wrong and the same items.
    bool open = false;
    for (const WireFrame& f : frames) {
      if (f.opcode() == 2 && !open) {
        Run before = RunBeast(c.bytes.substr(0, f.start), c);
        if (before.end.kind == End::Kind::waiting && before.items == ours.items) {
          return "binary_at_header";
        }
        break;
      }
      if (f.complete && f.data()) open = !f.fin();
    }
  }
  if (same_items && b.kind == End::Kind::waiting && Failed(o, ws::close::kProtocolError) &&
      !frames.empty() && !last.header_complete && c.bytes.size() - last.start >= 2) {
    // Complete the header (any extended length canonical, and too big for
    // the small limit; a zero key): beast must then fail it too.
    std::string padded(c.bytes);
    const std::size_t key_at = last.header - (last.masked ? 4 : 0);
    for (std::size_t i = c.bytes.size() - last.start; i < last.header; ++i) {
      padded += i < key_at ? '\xff' : '\0';
    }
    Run after = RunBeast(padded, c);
    if (after.end == o && after.items == ours.items) return "early_header";
  }
  if (same_items && Failed(b, ws::close::kInvalidPayload) &&
      beast.ec == websocket::error::bad_frame_payload && o.kind == End::Kind::waiting &&
      !frames.empty() && last.header_complete && !last.complete && last.masked &&
      (last.opcode() == 0 || last.opcode() == 1) && last.length <= c.limit) {
    // Beast saw nothing wrong before this frame; ours, given the rest of it
    // (zeros once unmasked: they cannot mend a bad prefix), fails it 1007.
    Run before = RunBeast(c.bytes.substr(0, last.start), c);
    if (before.end.kind == End::Kind::waiting && before.items == beast.items) {
      // Up to a limit's worth: filled four bytes at a time, fed in one read.
      const std::size_t payload_at = last.start + last.header;
      const std::size_t have = c.bytes.size();
      std::string padded(c.bytes);
      padded.resize(payload_at + static_cast<std::size_t>(last.length));
      for (std::size_t i = have; i < padded.size() && i < have + 4; ++i) {
        padded[i] = static_cast<char>(last.key[(i - payload_at) & 3]);
      }
      for (std::size_t done = 4; have + done < padded.size(); done *= 2) {
        std::memcpy(padded.data() + have + done, padded.data() + have,
                    std::min(done, padded.size() - have - done));
      }
      Run after = RunOurs(padded, Case{padded, 0, c.limit}, false);
      if (Failed(after.end, ws::close::kInvalidPayload) && after.items == ours.items) {
        return "early_utf8";
      }
    }
  }
  if (same_items && Failed(o, ws::close::kProtocolError) && Failed(b, ws::close::kTooBig) &&
      !frames.empty() && last.header_complete && (last.length >> 63) != 0) {
    // Beast saw nothing wrong before this frame, whose header it failed.
    Run before = RunBeast(c.bytes.substr(0, last.start), c);
    if (before.end.kind == End::Kind::waiting && before.items == beast.items) {
      return "length_top_bit";
    }
  }
  if (same_items && Failed(o, ws::close::kInvalidPayload) &&
      beast.ec == websocket::error::bad_close_payload) {
    return "close_reason_utf8";
  }
  if (same_items && Failed(o, ws::close::kProtocolError) && b.kind == End::Kind::closed &&
      b.code > 4999) {
    return "close_code_over_4999";
  }
  if (Failed(o, ws::close::kInvalidPayload) && beast.items.size() > ours.items.size() &&
      IsPrefix(ours.items, beast.items)) {
    const Item& next = beast.items[ours.items.size()];
    if (next.kind == Item::Kind::message &&
        !websocket::detail::check_utf8(next.payload.data(), next.payload.size())) {
      return "beast_unchecked_utf8";
    }
  }
  return nullptr;
}

// ---- The smaller pieces ----

// Utf8Validator fed in pieces (sizes drawn from `rng`) against beast's
// checker fed the same pieces: both say at once when a piece makes the
// bytes so far no prefix of valid UTF-8.
void CheckUtf8(std::string_view bytes, std::size_t max_piece, std::minstd_rand& rng) {
  ws::Utf8Validator ours;
  websocket::detail::utf8_checker theirs;
  bool valid = true;
  for (std::size_t at = 0; at < bytes.size();) {
    std::size_t n = std::min<std::size_t>(1 + rng() % max_piece, bytes.size() - at);
    std::string_view piece = bytes.substr(at, n);
    bool a = ours.Feed(piece);
    bool b = theirs.write(reinterpret_cast<const std::uint8_t*>(piece.data()), piece.size());
    if (a != b) {
      Fail(a ? "Utf8Validator took a piece beast refused"
             : "Utf8Validator refused a piece beast took",
           bytes.substr(0, at + n));
    }
    if (!a) {
      valid = false;
      break;
    }
    at += n;
  }
  if (valid && ours.Complete() != theirs.finish()) {
    Fail("Utf8Validator::Complete differs from beast", bytes);
  }
  if (ws::IsUtf8(bytes) != websocket::detail::check_utf8(bytes.data(), bytes.size())) {
    Fail("IsUtf8 differs from beast", bytes);
  }
  ours.Reset();
  if (ours.Feed(bytes) && ours.Complete()) {
    if (!ws::IsUtf8(bytes)) Fail("a reset Utf8Validator differs from IsUtf8", bytes);
  } else if (ws::IsUtf8(bytes)) {
    Fail("a reset Utf8Validator differs from IsUtf8", bytes);
  }
}

// A server frame header (unmasked), decoded; nullopt unless well formed
// and in the shortest form.
struct Header {
  bool fin;
  int opcode;
  std::uint64_t length;
};
std::optional<Header> Decode(const char* p, std::size_t size) {
  const auto* b = reinterpret_cast<const unsigned char*>(p);
  if (size < 2 || (b[0] & 0x70) || (b[1] & 0x80)) return std::nullopt;
  Header h{(b[0] & 0x80) != 0, b[0] & 0x0f, b[1] & 0x7fu};
  std::size_t ext = h.length == 126 ? 2 : h.length == 127 ? 8 : 0;
  if (size != 2 + ext) return std::nullopt;
  if (ext > 0) h.length = 0;
  for (std::size_t i = 0; i < ext; ++i) h.length = h.length << 8 | b[2 + i];
  if ((ext == 2 && h.length < 126) || (ext == 8 && h.length < 65536)) return std::nullopt;
  return h;
}

void CheckHeaders(std::string_view bytes) {
  std::uint64_t v = 0;
  for (std::size_t i = 0; i < 8 && i < bytes.size(); ++i) {
    v = v << 8 | static_cast<unsigned char>(bytes[i]);
  }
  const auto x = static_cast<std::size_t>(v);
  const std::size_t sizes[] = {0,       1,        125, 126,         127,         0xFFFF,
                               0x10000, SIZE_MAX, x,   x & 0xFFFFF, x & 0x1FFFF, x & 0xFF};
  const int opcodes[] = {ws::kText, ws::kClose, ws::kPing, ws::kPong,
                         bytes.empty() ? 0 : bytes[0] & 0x0f};
  for (int opcode : opcodes) {
    for (std::size_t size : sizes) {
      char out[10];
      std::size_t n = ws::EncodeHeader(opcode, size, out);
      std::optional<Header> h = Decode(out, n);
      if (!h || !h->fin || h->opcode != opcode || h->length != size) {
        Fail("EncodeHeader does not round-trip", {out, n});
      }
      websocket::detail::fh_buffer theirs;
      websocket::detail::frame_header fh{};
      fh.len = size;
      fh.op = static_cast<websocket::detail::opcode>(opcode);
      fh.fin = true;
      websocket::detail::write(theirs, fh);
      if (std::string_view(out, n) !=
          std::string_view(static_cast<const char*>(theirs.data().data()), theirs.size())) {
        Fail("EncodeHeader differs from beast's", {out, n});
      }
    }
  }
}

// A masked client frame (zero key).
std::string ClientFrame(int opcode, std::string_view payload) {
  char head[10];
  std::size_t n = ws::EncodeHeader(opcode, payload.size(), head);
  head[1] = static_cast<char>(head[1] | 0x80);
  std::string frame(head, n);
  frame.append(4, '\0');
  frame += payload;
  return frame;
}

void CheckClosePayload(std::string_view bytes) {
  if (bytes.size() < 2) return;
  const auto code = static_cast<std::uint16_t>(static_cast<unsigned char>(bytes[0]) << 8 |
                                               static_cast<unsigned char>(bytes[1]));
  if (ws::ValidCloseCode(code) && !websocket::detail::is_valid_close_code(code)) {
    Fail("ValidCloseCode takes a code beast refuses", bytes.substr(0, 2));
  }
  if (!ws::ValidCloseCode(code) && websocket::detail::is_valid_close_code(code) && code < 5000) {
    Fail("ValidCloseCode refuses a code beast takes", bytes.substr(0, 2));
  }
  const std::string_view reason = bytes.substr(2);
  const std::string payload = ws::ClosePayload(code, reason);
  const std::string_view kept = std::string_view(payload).substr(2);
  if (payload.size() > 125) Fail("ClosePayload over 125 bytes", payload);
  if (static_cast<unsigned char>(payload[0]) != code >> 8 ||
      static_cast<unsigned char>(payload[1]) != (code & 0xff) ||
      reason.substr(0, kept.size()) != kept) {
    Fail("ClosePayload is not the code and a prefix of the reason", payload);
  }
  if (reason.size() <= 123 && kept.size() != reason.size()) {
    Fail("ClosePayload cut a short reason", payload);
  }
  if (!ws::IsUtf8(reason)) return;
  if (!ws::IsUtf8(kept) || kept.size() + 3 < std::min<std::size_t>(reason.size(), 123)) {
    Fail("ClosePayload cut a UTF-8 reason badly", payload);
  }
  if (!ws::ValidCloseCode(code)) return;
  // Both readers take it back.
  std::string frame = ClientFrame(ws::kClose, payload);
  ws::FrameReader reader(kSmallLimit);
  reader.Feed(frame.data(), frame.size());
  std::optional<ws::Event> event = reader.Next();
  if (!event || event->kind != ws::Event::Kind::close || event->code != code ||
      event->payload != kept) {
    Fail("the reader does not take back a ClosePayload", payload);
  }
  websocket::close_reason cr;
  beast::error_code ec;
  websocket::detail::read_close(cr, asio::buffer(payload), ec);
  if (ec || cr.code != code || std::string_view(cr.reason.data(), cr.reason.size()) != kept) {
    Fail("beast does not take back a ClosePayload", payload);
  }
}

std::string BeastAccept(std::string_view key) {
  if (key.size() <= websocket::detail::sec_ws_key_type::static_capacity) {
    websocket::detail::sec_ws_accept_type accept;
    websocket::detail::make_sec_ws_accept(accept, key);
    return std::string(accept.data(), accept.size());
  }
  // A longer key than beast's function takes: its steps.
  static constexpr std::string_view kGuid = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
  beast::detail::sha1_context ctx;
  beast::detail::init(ctx);
  beast::detail::update(ctx, key.data(), key.size());
  beast::detail::update(ctx, kGuid.data(), kGuid.size());
  char digest[beast::detail::sha1_context::digest_size];
  beast::detail::finish(ctx, digest);
  char out[32];
  return std::string(out, beast::detail::base64::encode(out, digest, sizeof digest));
}

void CheckKeys(std::string_view bytes) {
  for (std::string_view key : {bytes.substr(0, 24), bytes.substr(0, 200)}) {
    if (ws::AcceptKey(key) != BeastAccept(key)) Fail("AcceptKey differs from beast", key);
    // Valid: 22 base64 digits that decode whole to 16 bytes, then "==".
    char decoded[32];
    bool valid = key.size() == 24 && key.substr(22) == "==" &&
                 beast::detail::base64::decode(decoded, key.data(), key.size()) ==
                     std::pair<std::size_t, std::size_t>(16, 22);
    if (ws::ValidKey(key) != valid) Fail("ValidKey differs from beast's base64", key);
  }
  // A key as a client makes it: 16 bytes in base64.
  char raw[16] = {};
  std::memcpy(raw, bytes.data(), std::min<std::size_t>(16, bytes.size()));
  char key[32];
  std::string_view made(key, beast::detail::base64::encode(key, raw, sizeof raw));
  if (!ws::ValidKey(made)) Fail("ValidKey refuses a client's key", made);
  if (ws::AcceptKey(made) != BeastAccept(made)) Fail("AcceptKey differs from beast", made);
}

}  // namespace

namespace ferry::ws_codec_fuzz {

std::size_t ToleratedCount(std::string_view rule) {
  auto it = Tally().find(rule);
  return it == Tally().end() ? 0 : it->second;
}

}  // namespace ferry::ws_codec_fuzz

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  const Case c{std::string_view(reinterpret_cast<const char*>(data) + 1, size - 1),
               static_cast<std::size_t>(data[0] >> 1),
               (data[0] & 1) ? kSmallLimit : ferry::Config{}.max_frame_bytes};

  const Run beast = RunBeast(c.bytes, c);
  const Run ours = RunOurs(c.bytes, c, false);
  const Run lazy = RunOurs(c.bytes, c, true);
  if (lazy.items != ours.items || lazy.end != ours.end || lazy.message_open != ours.message_open) {
    Mismatch("ours differs when it takes one event per read", c, ours, lazy, "ours", "ours, lazy");
  }
  if (ours.end.kind == End::Kind::waiting && ours.message_open != MessageOpen(Walk(c.bytes))) {
    Mismatch(ours.message_open ? "MessageOpen() but no message is under way"
                               : "!MessageOpen() but a message is under way",
             c, beast, ours);
  }
  if (beast.items != ours.items || beast.end != ours.end) {
    const char* rule = Explain(c, beast, ours);
    if (!rule) Mismatch("ours and beast differ", c, beast, ours);
    ++Tally()[rule];
  }

  std::minstd_rand rng(size * 131 + data[0]);
  CheckUtf8(c.bytes, c.read_size > 0 ? c.read_size : 16, rng);
  CheckHeaders(c.bytes);
  CheckClosePayload(c.bytes);
  CheckKeys(c.bytes);
  return 0;
}
