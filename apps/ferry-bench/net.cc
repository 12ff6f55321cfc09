// Asio/Beast implementation of Net (see net.h). One io_context, run by the
// caller's thread; each connection is a Beast websocket stream over a plain
// tcp::socket (no beast::tcp_stream: no per-operation timers, which the
// generator does not need and which cost memory per connection). Nagle is
// off because the frames are small and latency is what we measure.
#include "net.h"

#include <netinet/in.h>
#include <sys/socket.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/websocket.hpp>
#include <deque>
#include <vector>

namespace ferry::bench {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace websocket = beast::websocket;
using tcp = asio::ip::tcp;

namespace {

struct Conn {
  explicit Conn(asio::io_context& io) : ws(io) {}
  websocket::stream<tcp::socket> ws;
  beast::flat_buffer buffer;
  std::deque<std::string> out;
  bool writing = false;
  bool open = false;     // upgraded and not closed yet
  bool closing = false;  // CloseAll() started: no more callbacks
  bool gone = false;
};

}  // namespace

struct Net::Impl {
  explicit Impl(Callbacks cb) : callbacks(std::move(cb)), guard(asio::make_work_guard(io)) {}

  Callbacks callbacks;
  asio::io_context io;
  asio::executor_work_guard<asio::io_context::executor_type> guard;
  std::vector<std::unique_ptr<Conn>> conns;
  std::size_t queued = 0;

  void Fail(int id, int code, const std::string& reason) {
    Conn& c = *conns[id];
    if (c.gone) return;
    c.gone = true;
    c.open = false;
    queued -= c.out.size();
    c.out.clear();
    boost::system::error_code ignored;
    c.ws.next_layer().close(ignored);
    if (!c.closing && callbacks.closed) callbacks.closed(id, code, reason);
  }

  void Read(int id) {
    Conn& conn = *conns[id];
    conn.ws.async_read(conn.buffer, [this, id](boost::system::error_code ec, std::size_t) {
      Conn& c = *conns[id];
      if (ec) {
        if (ec == websocket::error::closed) {
          Fail(id, c.ws.reason().code, std::string(c.ws.reason().reason.c_str()));
        } else {
          Fail(id, 1006, ec.message());
        }
        return;
      }
      if (c.ws.got_text() && !c.closing && callbacks.text) {
        auto data = c.buffer.cdata();
        callbacks.text(id, std::string_view(static_cast<const char*>(data.data()), data.size()));
      }
      c.buffer.consume(c.buffer.size());
      if (!c.gone) Read(id);
    });
  }

  void Write(int id) {
    Conn& conn = *conns[id];
    if (conn.writing || conn.out.empty() || !conn.open) return;
    conn.writing = true;
    conn.ws.text(true);
    conn.ws.async_write(asio::buffer(conn.out.front()), [this, id](boost::system::error_code ec,
                                                             std::size_t) {
      Conn& c = *conns[id];
      c.writing = false;
      if (c.gone) return;
      if (ec) {
        Fail(id, 1006, "write: " + ec.message());
        return;
      }
      c.out.pop_front();
      --queued;
      Write(id);
    });
  }
};

Net::Net(Callbacks callbacks) : impl_(std::make_unique<Impl>(std::move(callbacks))) {}
Net::~Net() = default;

void Net::Connect(int id, const std::string& host, std::uint16_t port, const std::string& source) {
  auto& conns = impl_->conns;
  if (static_cast<int>(conns.size()) <= id) conns.resize(id + 1);
  conns[id] = std::make_unique<Conn>(impl_->io);
  boost::system::error_code ec;
  auto& sock = conns[id]->ws.next_layer();
  sock.open(tcp::v4(), ec);
  if (!ec && !source.empty()) {
    // Let connect() pick the port, so each source address has the full
    // ephemeral range per destination (bind() alone would reserve a port
    // globally).
    int one = 1;
    ::setsockopt(sock.native_handle(), IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof one);
    sock.bind(tcp::endpoint(asio::ip::make_address_v4(source, ec), 0), ec);
  }
  if (ec) {
    asio::post(impl_->io, [this, id, msg = ec.message()] { impl_->Fail(id, 0, "socket: " + msg); });
    return;
  }
  tcp::endpoint ep(asio::ip::make_address_v4(host, ec), port);
  if (ec) {
    asio::post(impl_->io, [this, id, msg = ec.message()] { impl_->Fail(id, 0, "address: " + msg); });
    return;
  }
  std::string host_header = host + ":" + std::to_string(port);
  sock.async_connect(ep, [this, id, host_header](boost::system::error_code connect_ec) {
    Conn& conn = *impl_->conns[id];
    if (connect_ec) return impl_->Fail(id, 0, "connect: " + connect_ec.message());
    boost::system::error_code ignored;
    conn.ws.next_layer().set_option(tcp::no_delay(true), ignored);
    conn.ws.read_message_max(2 * 1024 * 1024);
    conn.ws.write_buffer_bytes(4096);
    conn.ws.async_handshake(host_header, "/v1/ws", [this, id](boost::system::error_code upgrade_ec) {
      Conn& c = *impl_->conns[id];
      if (upgrade_ec) return impl_->Fail(id, 0, "upgrade: " + upgrade_ec.message());
      c.open = true;
      if (impl_->callbacks.opened) impl_->callbacks.opened(id);
      impl_->Read(id);
      impl_->Write(id);
    });
  });
}

void Net::Send(int id, std::string text) {
  Conn& c = *impl_->conns[id];
  if (c.gone || c.closing) return;
  c.out.push_back(std::move(text));
  ++impl_->queued;
  impl_->Write(id);
}

std::size_t Net::queued() const { return impl_->queued; }

void Net::At(Clock::time_point when, std::function<void()> fn) {
  auto timer = std::make_shared<asio::steady_timer>(impl_->io, when);
  timer->async_wait([timer, fn = std::move(fn)](boost::system::error_code ec) {
    if (!ec) fn();
  });
}

bool Net::RunUntil(Clock::time_point deadline, const std::function<bool()>& done) {
  while (!done()) {
    if (Clock::now() >= deadline) return false;
    impl_->io.run_one_until(deadline);
  }
  return true;
}

void Net::CloseAll(Clock::duration timeout) {
  int pending = 0;
  for (std::size_t i = 0; i < impl_->conns.size(); ++i) {
    auto& p = impl_->conns[i];
    if (!p || p->gone) continue;
    p->closing = true;
    if (!p->open) {  // still connecting: just drop it
      impl_->Fail(static_cast<int>(i), 0, "closed");
      continue;
    }
    ++pending;
    // The pending read completes with `closed` once the server answers.
    p->ws.async_close(websocket::close_code::normal,
                      [&pending](boost::system::error_code) { --pending; });
  }
  RunUntil(Clock::now() + timeout, [&] { return pending <= 0; });
  for (std::size_t i = 0; i < impl_->conns.size(); ++i) {
    if (impl_->conns[i] && !impl_->conns[i]->gone) impl_->Fail(static_cast<int>(i), 0, "closed");
  }
  // Let the cancelled operations finish before the connections are destroyed.
  impl_->io.poll();
}

}  // namespace ferry::bench
