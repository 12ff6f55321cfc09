// libFuzzer target for the WebSocket frame layer ferryd reads clients
// through: a server-role beast websocket::stream with the options
// net/websocket.cc sets, over a beast test stream instead of a socket, after
// a completed handshake. The input's bytes are what the client sends next;
// the session below reads them as WsSession does (a small first read per
// message, then the rest; a binary message closes with 1003) and, like
// ferryd, writes a text frame back for each message (an echo), so reads
// meet a write in flight and the close and pong frames beast sends itself.
//
// Input: byte 0 caps the bytes one read of the test stream returns (bits
// 1..7; 0: no cap), so frames arrive split anywhere, and picks the message
// limit (bit 0: ferryd's, Config::max_frame_bytes, or a small one that
// short inputs can exceed); the rest are the client's bytes, then the
// connection ends (EOF).
// Checks: no crash or sanitizer report; no message bigger than the limit
// reaches the session; every operation completes (nothing waits forever
// once the client's bytes and the EOF are read).
// Built as a fuzzer with clang (target websocket_fuzz); everywhere
// websocket_fuzz_smoke.cc runs it in websocket_fuzz_test.
#include <boost/asio/io_context.hpp>
#include <boost/beast/_experimental/test/stream.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/websocket.hpp>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <deque>
#include <string>
#include <string_view>

#include "common/config.h"

namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace websocket = beast::websocket;

// WsSession's first read of each message (kFirstReadBytes there).
constexpr std::size_t kFirstReadBytes = 256;
// The small message limit: below the fuzzer's input sizes.
constexpr std::size_t kSmallLimit = 100;

http::request<http::string_body> UpgradeRequest() {
  http::request<http::string_body> req{http::verb::get, "/v1/ws", 11};
  req.set(http::field::host, "127.0.0.1:8080");
  req.set(http::field::upgrade, "websocket");
  req.set(http::field::connection, "Upgrade");
  req.set(http::field::sec_websocket_key, "dGhlIHNhbXBsZSBub25jZQ==");
  req.set(http::field::sec_websocket_version, "13");
  return req;
}

class Session {
 public:
  Session(asio::io_context& ioc, std::size_t limit) : ws_(ioc), limit_(limit) {}

  beast::test::stream& socket() { return ws_.next_layer(); }

  // As WsSession::Start.
  void Start() {
    websocket::stream_base::timeout timeouts{};
    timeouts.handshake_timeout = std::chrono::seconds(10);
    timeouts.idle_timeout = websocket::stream_base::none();
    timeouts.keep_alive_pings = false;
    ws_.set_option(timeouts);
    ws_.read_message_max(limit_);
    ws_.auto_fragment(false);
    ws_.set_option(websocket::stream_base::decorator(
        [](websocket::response_type& res) { res.set(http::field::server, "ferryd"); }));
    ws_.async_accept(UpgradeRequest(), [this](beast::error_code ec) {
      if (ec) std::abort();  // the handshake is not the fuzzer's input
      DoRead();
    });
  }

  // Whether every operation has completed.
  bool Idle() const { return !reading_ && !writing_ && !closing_; }

 private:
  // As WsSession::DoRead / OnRead.
  void DoRead() {
    reading_ = true;
    std::size_t limit = buffer_.size() == 0 ? kFirstReadBytes : 0;
    ws_.async_read_some(buffer_, limit, [this](beast::error_code ec, std::size_t) {
      reading_ = false;
      OnRead(ec);
    });
  }

  void OnRead(beast::error_code ec) {
    if (buffer_.size() > limit_) std::abort();  // more than read_message_max buffered
    if (ec) return;
    if (!ws_.got_text()) {
      buffer_.clear();
      return Close();
    }
    if (!ws_.is_message_done()) return DoRead();
    auto data = buffer_.cdata();
    Send(std::string(static_cast<const char*>(data.data()), data.size()));
    buffer_.clear();
    buffer_.shrink_to_fit();
    DoRead();
  }

  // As WsSession's write queue: one write in flight.
  void Send(std::string frame) {
    queue_.push_back(std::move(frame));
    if (!writing_) DoWrite();
  }

  void DoWrite() {
    writing_ = true;
    ws_.text(true);
    ws_.async_write(asio::buffer(queue_.front()), [this](beast::error_code ec, std::size_t) {
      writing_ = false;
      queue_.pop_front();
      if (!ec && !queue_.empty()) DoWrite();
    });
  }

  void Close() {
    closing_ = true;
    ws_.async_close(websocket::close_code::unknown_data,
                    [this](beast::error_code) { closing_ = false; });
  }

  websocket::stream<beast::test::stream> ws_;
  std::size_t limit_;
  beast::flat_buffer buffer_;
  std::deque<std::string> queue_;
  bool reading_ = false;
  bool writing_ = false;
  bool closing_ = false;
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  std::size_t read_size = data[0] >> 1;
  std::size_t limit = (data[0] & 1) ? kSmallLimit : ferry::Config{}.max_frame_bytes;

  asio::io_context ioc;
  beast::test::stream client(ioc);
  Session session(ioc, limit);
  session.socket().connect(client);  // the server's frames go to `client`
  if (read_size > 0) session.socket().read_size(read_size);
  // The client's bytes wait on the socket, as ferryd's leftover bytes do.
  session.socket().append(std::string_view(reinterpret_cast<const char*>(data) + 1, size - 1));
  session.socket().close_remote();
  session.Start();
  // Test stream operations complete at once: run what is ready, not the
  // timers beast may leave armed (the 10 s handshake timeout).
  while (ioc.poll() > 0) {
  }
  if (!session.Idle()) std::abort();  // an operation waits although the input ended
  return 0;
}
