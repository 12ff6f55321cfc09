// Asio/Beast implementation of Net (see net.h). One io_context, run by the
// caller's thread; each connection is a Beast websocket stream over a plain
// tcp::socket (no beast::tcp_stream: no per-operation timers, which the
// generator does not need and which cost memory per connection). Nagle is
// off because the frames are small and latency is what we measure.
//
// Every pending handler holds a shared_ptr to its connection, not its
// number: after Drop() or a failure the number may be connected again while
// the old connection's aborted operations are still to complete, and those
// must land on the old object (which is `gone`, so they do nothing).
#include "net.h"

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
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
  Conn(asio::io_context& io, int conn_id) : ws(io), id(conn_id) {}
  websocket::stream<tcp::socket> ws;
  const int id;
  beast::flat_buffer buffer;
  std::deque<std::string> out;
  bool writing = false;
  bool open = false;     // upgraded and not closed yet
  bool closing = false;  // CloseAll() or Drop() started: no more callbacks
  bool gone = false;
};
using ConnPtr = std::shared_ptr<Conn>;

}  // namespace

struct Net::Impl {
  explicit Impl(Callbacks cb) : callbacks(std::move(cb)), guard(asio::make_work_guard(io)) {}

  Callbacks callbacks;
  asio::io_context io;
  asio::executor_work_guard<asio::io_context::executor_type> guard;
  std::vector<ConnPtr> conns;
  std::size_t queued = 0;

  void Fail(Conn& c, int code, const std::string& reason) {
    if (c.gone) return;
    c.gone = true;
    c.open = false;
    queued -= c.out.size();
    c.out.clear();
    boost::system::error_code ignored;
    c.ws.next_layer().close(ignored);
    if (!c.closing && callbacks.closed) callbacks.closed(c.id, code, reason);
  }

  void Read(const ConnPtr& conn) {
    conn->ws.async_read(conn->buffer, [this, conn](boost::system::error_code ec, std::size_t) {
      Conn& c = *conn;
      if (ec) {
        if (ec == websocket::error::closed) {
          Fail(c, c.ws.reason().code, std::string(c.ws.reason().reason.c_str()));
        } else {
          Fail(c, 1006, ec.message());
        }
        return;
      }
      if (c.ws.got_text() && !c.closing && callbacks.text) {
        auto data = c.buffer.cdata();
        callbacks.text(c.id, std::string_view(static_cast<const char*>(data.data()), data.size()));
      }
      c.buffer.consume(c.buffer.size());
      if (!c.gone) Read(conn);
    });
  }

  void Write(const ConnPtr& conn) {
    if (conn->writing || conn->out.empty() || !conn->open) return;
    conn->writing = true;
    conn->ws.text(true);
    conn->ws.async_write(asio::buffer(conn->out.front()),
                         [this, conn](boost::system::error_code ec, std::size_t) {
                           Conn& c = *conn;
                           c.writing = false;
                           if (c.gone) return;
                           if (ec) return Fail(c, 1006, "write: " + ec.message());
                           c.out.pop_front();
                           --queued;
                           Write(conn);
                         });
  }

  void FailLater(const ConnPtr& conn, std::string reason) {
    asio::post(io, [this, conn, reason = std::move(reason)] { Fail(*conn, 0, reason); });
  }
};

Net::Net(Callbacks callbacks) : impl_(std::make_unique<Impl>(std::move(callbacks))) {}
Net::~Net() = default;

void Net::Connect(int id, const std::string& host, std::uint16_t port, const std::string& source) {
  auto& conns = impl_->conns;
  if (static_cast<int>(conns.size()) <= id) conns.resize(id + 1);
  if (conns[id]) Drop(id);
  auto conn = std::make_shared<Conn>(impl_->io, id);
  conns[id] = conn;
  boost::system::error_code ec;
  auto& sock = conn->ws.next_layer();
  sock.open(tcp::v4(), ec);
  if (!ec && !source.empty()) {
    // Let connect() pick the port, so each source address has the full
    // ephemeral range per destination (bind() alone would reserve a port
    // globally).
    int one = 1;
    ::setsockopt(sock.native_handle(), IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof one);
    sock.bind(tcp::endpoint(asio::ip::make_address_v4(source, ec), 0), ec);
  }
  if (ec) return impl_->FailLater(conn, "socket: " + ec.message());
  tcp::endpoint ep(asio::ip::make_address_v4(host, ec), port);
  if (ec) return impl_->FailLater(conn, "address: " + ec.message());
  std::string host_header = host + ":" + std::to_string(port);
  sock.async_connect(ep, [this, conn, host_header](boost::system::error_code connect_ec) {
    if (conn->gone) return;
    if (connect_ec) return impl_->Fail(*conn, 0, "connect: " + connect_ec.message());
    boost::system::error_code ignored;
    conn->ws.next_layer().set_option(tcp::no_delay(true), ignored);
    conn->ws.read_message_max(2 * 1024 * 1024);
    conn->ws.write_buffer_bytes(4096);
    auto upgraded = [this, conn](boost::system::error_code upgrade_ec) {
      if (conn->gone) return;
      if (upgrade_ec) return impl_->Fail(*conn, 0, "upgrade: " + upgrade_ec.message());
      conn->open = true;
      if (impl_->callbacks.opened) impl_->callbacks.opened(conn->id);
      impl_->Read(conn);
      impl_->Write(conn);
    };
    conn->ws.async_handshake(host_header, "/v1/ws", std::move(upgraded));
  });
}

void Net::Drop(int id) {
  if (id >= static_cast<int>(impl_->conns.size()) || !impl_->conns[id]) return;
  Conn& c = *impl_->conns[id];
  if (c.gone) return;
  c.closing = true;
  boost::system::error_code ignored;
  c.ws.next_layer().set_option(tcp::socket::linger(true, 0), ignored);
  impl_->Fail(c, 0, "dropped");
}

void Net::Send(int id, std::string text) {
  const ConnPtr& conn = impl_->conns[id];
  if (conn->gone || conn->closing) return;
  conn->out.push_back(std::move(text));
  ++impl_->queued;
  impl_->Write(conn);
}

std::size_t Net::queued() const { return impl_->queued; }

void Net::At(Clock::time_point when, std::function<void()> fn) {
  auto timer = std::make_shared<asio::steady_timer>(impl_->io, when);
  timer->async_wait([timer, fn = std::move(fn)](boost::system::error_code ec) {
    if (!ec) fn();
  });
}

void Net::WhenReadable(int fd, std::function<void()> fn) {
  // The descriptor object closes what it holds: give it a duplicate.
  using Descriptor = asio::posix::stream_descriptor;
  auto d = std::make_shared<Descriptor>(impl_->io, ::dup(fd));
  d->async_wait(Descriptor::wait_read, [d, fn = std::move(fn)](boost::system::error_code ec) {
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
  for (auto& conn : impl_->conns) {
    if (!conn || conn->gone) continue;
    conn->closing = true;
    if (!conn->open) {  // still connecting: just drop it
      impl_->Fail(*conn, 0, "closed");
      continue;
    }
    ++pending;
    // The pending read completes with `closed` once the server answers.
    conn->ws.async_close(websocket::close_code::normal,
                         [&pending](boost::system::error_code) { --pending; });
  }
  RunUntil(Clock::now() + timeout, [&] { return pending <= 0; });
  for (auto& conn : impl_->conns) {
    if (conn && !conn->gone) impl_->Fail(*conn, 0, "closed");
  }
  // Let the cancelled operations finish: their handlers reference `pending`.
  impl_->io.poll();
}

}  // namespace ferry::bench
