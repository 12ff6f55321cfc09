// A WebSocket client on a raw TCP socket for the end-to-end tests that need
// byte-level control: frames written in the same write as the upgrade
// request, a small receive buffer. Frames are built and parsed here (client
// frames masked, server frames unmasked and unfragmented); every read has a
// deadline. Not thread-safe.
#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "client/client.h"

namespace ferry::testing {

namespace raw {
namespace asio = boost::asio;
namespace beast = boost::beast;
using tcp = asio::ip::tcp;

// One client frame: text, masked (RFC 6455 requires it of clients).
inline std::string MaskedText(std::string_view payload) {
  std::string frame = "\x81";
  if (payload.size() < 126) {
    frame += static_cast<char>(0x80 | payload.size());
  } else {
    frame += static_cast<char>(0x80 | 126);
    frame += static_cast<char>(payload.size() >> 8);
    frame += static_cast<char>(payload.size() & 0xff);
  }
  const char mask[4] = {0x12, 0x34, 0x56, 0x78};
  frame.append(mask, 4);
  for (std::size_t i = 0; i < payload.size(); ++i) {
    frame += static_cast<char>(payload[i] ^ mask[i % 4]);
  }
  return frame;
}

// An HTTP/1.1 request's text, with `Host: test`; a JSON body (and its
// headers) when `body` is not empty or the method is POST. `extra_headers`
// are whole lines, each ending in CRLF.
inline std::string HttpRequestText(std::string_view method, std::string_view target,
                                   std::string_view body = "",
                                   std::string_view extra_headers = "") {
  std::string r = std::string(method) + " " + std::string(target) + " HTTP/1.1\r\nHost: test\r\n";
  r += extra_headers;
  if (!body.empty() || method == "POST") {
    r +=
        "Content-Type: application/json\r\nContent-Length: " + std::to_string(body.size()) + "\r\n";
  }
  return r + "\r\n" + std::string(body);
}

inline std::string UpgradeRequest(const client::Endpoint& ep) {
  return "GET /v1/ws HTTP/1.1\r\nHost: " + ep.host + ":" + std::to_string(ep.port) +
         "\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
         "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n";
}

struct Frame {
  int opcode = 0;
  std::string payload;
  // "close 4408 reason", else the opcode and payload: for failure messages.
  std::string Describe() const {
    if (opcode == 8 && payload.size() >= 2) {
      int code =
          (static_cast<unsigned char>(payload[0]) << 8) | static_cast<unsigned char>(payload[1]);
      return "close " + std::to_string(code) + " " + payload.substr(2);
    }
    return "opcode " + std::to_string(opcode) + " " + payload;
  }
};

// A TCP connection whose every read has a deadline.
class RawConnection {
 public:
  // `receive_buffer`: SO_RCVBUF in bytes (0: the kernel's default, which
  // grows as the application reads). A small one stands for a slow link.
  // `source`: the local address to connect from ("": any), e.g. another
  // 127.0.0.x to stand for another client address.
  explicit RawConnection(const client::Endpoint& ep, int receive_buffer = 0,
                         const std::string& source = "") {
    tcp::endpoint server(asio::ip::make_address(ep.host), ep.port);
    stream_.socket().open(server.protocol());
    if (receive_buffer > 0) {  // before connecting: it sets the window offered
      stream_.socket().set_option(asio::socket_base::receive_buffer_size(receive_buffer));
    }
    if (!source.empty()) stream_.socket().bind(tcp::endpoint(asio::ip::make_address(source), 0));
    stream_.connect(server);
  }

  void Write(std::string_view bytes) { asio::write(stream_.socket(), asio::buffer(bytes)); }
  void SendText(std::string_view text) { Write(MaskedText(text)); }

  // Reads the HTTP response head; its status line, "" on timeout.
  std::string ReadResponseHead(client::Ms timeout) {
    std::size_t end;
    while ((end = Data().find("\r\n\r\n")) == std::string_view::npos) {
      if (!ReadMore(timeout)) return {};
    }
    head_ = std::string(Data().substr(0, end + 2));
    std::string status(Data().substr(0, Data().find("\r\n")));
    buffer_.consume(end + 4);
    return status;
  }
  // The last response head read (status line and header lines).
  const std::string& head() const { return head_; }
  // The value of header `name` (as written, case-sensitive) in head(), "" if absent.
  std::string Header(std::string_view name) const {
    std::string key = "\r\n" + std::string(name) + ": ";
    std::size_t at = head_.find(key);
    if (at == std::string::npos) return {};
    at += key.size();
    return head_.substr(at, head_.find("\r\n", at) - at);
  }
  // Reads until the server closes the connection: true if it did within `timeout`.
  bool WaitEof(client::Ms timeout) {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < deadline) {
      if (!ReadMore(std::chrono::duration_cast<client::Ms>(deadline -
                                                           std::chrono::steady_clock::now()))) {
        return std::chrono::steady_clock::now() < deadline;
      }
    }
    return false;
  }
  // Reads the body of the last response head, as long as its Content-Length
  // says (none: empty), and consumes it; nullopt on timeout.
  std::optional<std::string> ReadBody(client::Ms timeout) {
    std::string length = Header("Content-Length");
    std::size_t n = length.empty() ? 0 : std::stoul(length);
    while (Data().size() < n) {
      if (!ReadMore(timeout)) return std::nullopt;
    }
    std::string body(Data().substr(0, n));
    buffer_.consume(n);
    return body;
  }
  // What is buffered and not yet consumed (e.g. a response body).
  std::string Buffered() const { return std::string(Data()); }

  // The next server frame (unmasked, not fragmented), nullopt on timeout.
  std::optional<Frame> ReadFrame(client::Ms timeout) {
    for (;;) {
      if (std::optional<Frame> f = TakeFrame()) return f;
      if (!ReadMore(timeout)) return std::nullopt;
    }
  }

 private:
  std::string_view Data() const {
    return {static_cast<const char*>(buffer_.cdata().data()), buffer_.size()};
  }

  // A whole frame at the front of the buffer, consumed; nullopt if not yet.
  std::optional<Frame> TakeFrame() {
    std::string_view d = Data();
    if (d.size() < 2) return std::nullopt;
    auto byte = [&](std::size_t i) {
      return static_cast<std::uint64_t>(static_cast<unsigned char>(d[i]));
    };
    std::uint64_t length = byte(1) & 0x7f;
    std::size_t header = 2;
    if (length >= 126) {
      std::size_t bytes = length == 126 ? 2 : 8;
      if (d.size() < 2 + bytes) return std::nullopt;
      length = 0;
      for (std::size_t i = 0; i < bytes; ++i) length = length << 8 | byte(2 + i);
      header += bytes;
    }
    if (d.size() < header + length) return std::nullopt;
    Frame f{static_cast<int>(byte(0) & 0x0f), std::string(d.substr(header, length))};
    buffer_.consume(header + length);
    return f;
  }

  // Reads what arrives within `timeout`; false on timeout or a closed socket.
  bool ReadMore(client::Ms timeout) {
    bool ok = false;
    stream_.expires_after(timeout);
    stream_.async_read_some(buffer_.prepare(64 * 1024),
                            [&](boost::system::error_code ec, std::size_t n) {
                              buffer_.commit(n);
                              ok = !ec;
                            });
    ioc_.restart();
    ioc_.run();
    return ok;
  }

  asio::io_context ioc_;
  beast::tcp_stream stream_{ioc_};
  beast::flat_buffer buffer_;
  std::string head_;
};

// One HTTP request on a new connection from `source` ("": any address); the
// status line ("" on timeout). `conn` keeps the connection for a look at the
// head and the body.
inline std::string Ask(const client::Endpoint& ep, const std::string& source,
                       const std::string& request, std::unique_ptr<RawConnection>* conn = nullptr,
                       client::Ms timeout = std::chrono::seconds(10)) {
  auto c = std::make_unique<RawConnection>(ep, 0, source);
  c->Write(request);
  std::string status = c->ReadResponseHead(timeout);
  if (conn) *conn = std::move(c);
  return status;
}

}  // namespace raw

using raw::Ask;
using raw::Frame;
using raw::HttpRequestText;
using raw::MaskedText;
using raw::RawConnection;
using raw::UpgradeRequest;

}  // namespace ferry::testing
