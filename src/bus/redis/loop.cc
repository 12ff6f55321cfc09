#include "bus/redis/loop.h"

#include <boost/asio/connect.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/write.hpp>

#include "bus/redis/slot_map.h"

namespace ferry::redis {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;
using boost::system::error_code;

struct Loop::Impl {
  asio::io_context io{1};
  asio::executor_work_guard<asio::io_context::executor_type> work = asio::make_work_guard(io);
};

namespace {

class AsioTimer final : public Timer, public std::enable_shared_from_this<AsioTimer> {
 public:
  explicit AsioTimer(asio::io_context& io) : timer_(io) {}
  void Start(std::chrono::milliseconds delay, std::function<void()> fn) {
    fn_ = std::move(fn);
    timer_.expires_after(delay);
    timer_.async_wait([self = shared_from_this()](error_code ec) {
      if (ec || self->cancelled_) return;
      auto run = std::move(self->fn_);
      run();
    });
  }
  void Cancel() override {
    cancelled_ = true;
    fn_ = nullptr;  // drops what the callback holds now, not when the wait ends
    timer_.cancel();
  }

 private:
  asio::steady_timer timer_;
  std::function<void()> fn_;
  bool cancelled_ = false;
};

// The connection: one read always pending once connected, writes coalesced
// in `queued_` and sent one at a time from `writing_`. Pending operations
// hold a shared_ptr, so the object lives until they finish.
class AsioConnection final : public RespConnection,
                             public std::enable_shared_from_this<AsioConnection> {
 public:
  AsioConnection(asio::io_context& io, Handlers handlers)
      : io_(io), socket_(io), resolver_(io), timer_(io), handlers_(std::move(handlers)) {}

  void Start(const std::string& address, std::chrono::milliseconds connect_timeout) {
    std::string host;
    std::uint16_t port = 0;
    if (!SplitAddress(address, &host, &port)) {
      asio::post(io_, [self = shared_from_this()] { self->Fail("bad address"); });
      return;
    }
    timer_.expires_after(connect_timeout);
    timer_.async_wait([self = shared_from_this()](error_code ec) {
      if (!ec && !self->connected_) self->Fail("connect timeout");
    });
    resolver_.async_resolve(
        host, std::to_string(port),
        [self = shared_from_this()](error_code ec, tcp::resolver::results_type results) {
          if (self->done_) return;
          if (ec) return self->Fail("resolve: " + ec.message());
          asio::async_connect(self->socket_, results, [self](error_code ec2, const tcp::endpoint&) {
            self->OnConnect(ec2);
          });
        });
  }

  void Write(std::string_view bytes) override {
    if (done_) return;
    queued_.append(bytes);
    if (connected_ && !writing_active_ && !flush_posted_) {
      flush_posted_ = true;  // the rest of this loop turn joins the same write
      asio::post(io_, [self = shared_from_this()] {
        self->flush_posted_ = false;
        self->Flush();
      });
    }
  }

  void Close() override {
    if (done_) return;
    done_ = true;
    // Close() may come from inside one of the handlers: they are destroyed
    // later, not while running.
    asio::post(io_, [h = std::move(handlers_)] {});
    handlers_ = {};
    Shutdown();
  }

 private:
  void OnConnect(error_code ec) {
    if (done_) return;
    if (ec) return Fail("connect: " + ec.message());
    connected_ = true;
    timer_.cancel();
    socket_.set_option(tcp::no_delay(true), ec);
    ReadSome();
    Flush();
    if (!done_ && handlers_.connected) handlers_.connected();
  }

  void Flush() {
    if (done_ || writing_active_ || queued_.empty()) return;
    writing_.swap(queued_);
    queued_.clear();
    writing_active_ = true;
    asio::async_write(socket_, asio::buffer(writing_),
                      [self = shared_from_this()](error_code ec, std::size_t) {
                        self->writing_active_ = false;
                        if (self->done_) return;
                        if (ec) return self->Fail("write: " + ec.message());
                        self->writing_.clear();
                        if (self->writing_.capacity() > 64 * 1024) self->writing_.shrink_to_fit();
                        self->Flush();
                      });
  }

  void ReadSome() {
    socket_.async_read_some(
        asio::buffer(buffer_),
        [self = shared_from_this()](error_code ec, std::size_t n) { self->OnRead(ec, n); });
  }

  void OnRead(error_code ec, std::size_t n) {
    if (done_) return;
    if (ec) return Fail(ec == asio::error::eof ? "closed by peer" : "read: " + ec.message());
    reader_.Feed(buffer_.data(), n);
    for (;;) {
      RespValue value;
      RespReader::Result r = reader_.Next(&value);
      if (r == RespReader::Result::incomplete) break;
      if (r == RespReader::Result::error) return Fail("protocol error: " + reader_.error());
      if (handlers_.reply) handlers_.reply(std::move(value));
      if (done_) return;  // the handler closed us
    }
    ReadSome();
  }

  void Fail(const std::string& why) {
    if (done_) return;
    done_ = true;
    Handlers handlers = std::move(handlers_);
    handlers_ = {};
    Shutdown();
    if (handlers.closed) handlers.closed(why);
  }

  void Shutdown() {
    error_code ignored;
    timer_.cancel();
    resolver_.cancel();
    socket_.shutdown(tcp::socket::shutdown_both, ignored);
    socket_.close(ignored);
  }

  asio::io_context& io_;
  tcp::socket socket_;
  tcp::resolver resolver_;
  asio::steady_timer timer_;  // the connect timeout
  Handlers handlers_;
  RespReader reader_;
  std::array<char, 16 * 1024> buffer_;
  std::string queued_, writing_;
  bool connected_ = false, writing_active_ = false, flush_posted_ = false, done_ = false;
};

}  // namespace

Loop::Loop() : impl_(std::make_unique<Impl>()) {}

Loop::~Loop() = default;

void Loop::Start() {
  thread_ = std::thread([this] { impl_->io.run(); });
}

void Loop::Stop(std::function<void()> last) {
  if (!thread_.joinable()) return;
  asio::post(impl_->io, [this, last = std::move(last)] {
    if (last) last();
    impl_->work.reset();
    impl_->io.stop();
  });
  thread_.join();
}

void Loop::Post(std::function<void()> fn) { asio::post(impl_->io, std::move(fn)); }

std::shared_ptr<Timer> Loop::After(std::chrono::milliseconds delay, std::function<void()> fn) {
  auto timer = std::make_shared<AsioTimer>(impl_->io);
  timer->Start(delay, std::move(fn));
  return timer;
}

std::shared_ptr<RespConnection> Loop::Connect(const std::string& address,
                                              std::chrono::milliseconds connect_timeout,
                                              RespConnection::Handlers handlers) {
  auto conn = std::make_shared<AsioConnection>(impl_->io, std::move(handlers));
  conn->Start(address, connect_timeout);
  return conn;
}

}  // namespace ferry::redis
