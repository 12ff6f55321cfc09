// The listener, the I/O threads, signals and the housekeeping tick. Every
// accepted socket gets its own strand, so a connection's handlers never run
// concurrently while different connections use all the threads.
#include "net/server.h"

#include <sched.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <thread>
#include <vector>

#include "common/log.h"
#include "net/sessions.h"

namespace ferry::net {
namespace asio = boost::asio;

namespace {

// --io-threads, or one per CPU this process may run on (its affinity mask:
// under `taskset -c 0` that is one, whatever the machine has).
int IoThreads(const Config& config) {
  if (config.io_threads > 0) return config.io_threads;
  cpu_set_t set;
  if (sched_getaffinity(0, sizeof set, &set) == 0) return std::max(1, CPU_COUNT(&set));
  return static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
}

}  // namespace

struct Server::Impl {
  Impl(const Config& c, Service& s, BuiltinBlobStore* b)
      : config(c),
        service(s),
        blobs(b),
        ioc(IoThreads(c)),
        acceptor(asio::make_strand(ioc)),  // Accept() and Stop() touch it from any thread
        signals(ioc, SIGINT, SIGTERM),
        tick(ioc) {
    tcp::endpoint endpoint(asio::ip::make_address(config.listen_host), config.listen_port);
    acceptor.open(endpoint.protocol());
    acceptor.set_option(asio::socket_base::reuse_address(true));
    acceptor.bind(endpoint);
    acceptor.listen(asio::socket_base::max_listen_connections);
  }

  void Accept() {
    acceptor.async_accept(asio::make_strand(ioc), [this](boost::system::error_code ec,
                                                         tcp::socket socket) {
      // Stop() closed the acceptor: no more accepts (a retry would fail with
      // "bad file descriptor" every 50 ms until the loop stops).
      if (ec == asio::error::operation_aborted || !acceptor.is_open()) return;
      if (ec) {
        // EMFILE and friends: log, back off briefly, keep serving the others.
        log::Warn("accept failed: ", ec.message());
        auto retry = std::make_shared<asio::steady_timer>(acceptor.get_executor(),
                                                          std::chrono::milliseconds(50));
        retry->async_wait([this, retry](boost::system::error_code) {
          if (acceptor.is_open()) Accept();
        });
        return;
      }
      boost::system::error_code ignored;
      socket.set_option(tcp::no_delay(true), ignored);
      StartHttpSession(std::move(socket), config, service, blobs);
      Accept();
    });
  }

  // Polls until every session has closed (its disconnect is queued in the
  // store, which Service::Stop drains) and every socket finished its close
  // handshake, or the deadline; then stops the loop. Clients that answer the
  // close frame see 1001; the deadline bounds the wait for those that don't.
  void StopWhenDrained(std::chrono::steady_clock::time_point deadline) {
    bool drained = service.sessions().Count() == 0 && service.metrics().connections.load() == 0;
    if (drained || std::chrono::steady_clock::now() >= deadline) {
      ioc.stop();
      return;
    }
    tick.expires_after(std::chrono::milliseconds(20));  // the tick timer is no longer needed
    tick.async_wait([this, deadline](boost::system::error_code) { StopWhenDrained(deadline); });
  }

  void Tick() {
    service.Tick();
    tick.expires_after(std::chrono::seconds(1));
    tick.async_wait([this](boost::system::error_code ec) {
      if (!ec) Tick();
    });
  }

  const Config& config;
  Service& service;
  BuiltinBlobStore* blobs;
  asio::io_context ioc;
  tcp::acceptor acceptor;
  asio::signal_set signals;
  asio::steady_timer tick;
};

Server::Server(const Config& config, Service& service, BuiltinBlobStore* blobs)
    : impl_(std::make_unique<Impl>(config, service, blobs)) {}

Server::~Server() = default;

std::uint16_t Server::port() const { return impl_->acceptor.local_endpoint().port(); }

void Server::Run() {
  impl_->signals.async_wait([this](boost::system::error_code ec, int sig) {
    if (ec) return;
    log::Info("signal ", sig, ": shutting down");
    Stop();
  });
  impl_->Accept();
  impl_->Tick();
  const int threads = IoThreads(impl_->config);
  std::vector<std::thread> pool;
  for (int i = 1; i < threads; ++i) pool.emplace_back([this] { impl_->ioc.run(); });
  impl_->ioc.run();
  for (auto& t : pool) t.join();
}

// Graceful: no new connections, every session closes with 1001 (so its
// disconnect is recorded: last seen), then the loop stops once they are gone
// or after 1 s, whichever comes first.
void Server::Stop() {
  asio::post(impl_->acceptor.get_executor(), [impl = impl_.get()] {
    boost::system::error_code ignored;
    impl->acceptor.close(ignored);
    impl->service.sessions().CloseAll(1001, "server shutting down");
    impl->StopWhenDrained(std::chrono::steady_clock::now() + std::chrono::seconds(1));
  });
}

}  // namespace ferry::net
