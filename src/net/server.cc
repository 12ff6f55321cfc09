// The listener, the I/O threads, signals and the housekeeping tick. Every
// accepted socket gets its own strand, so a connection's handlers never run
// concurrently while different connections use all the threads.
#include "net/server.h"

#include <fcntl.h>
#include <sched.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <cerrno>
#include <thread>
#include <vector>

#include "common/log.h"
#include "net/connection_limits.h"
#include "net/sessions.h"
#include "net/tls.h"

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

// Connections in all: the descriptors this process may open, less the
// reserve the store, blob files and logs need.
std::size_t MaxConnections(const Config& config) {
  rlimit limit{};
  if (::getrlimit(RLIMIT_NOFILE, &limit) != 0 || limit.rlim_cur == RLIM_INFINITY) return 1'000'000;
  std::size_t fds = static_cast<std::size_t>(limit.rlim_cur);
  return fds > config.fd_reserve + 16 ? fds - config.fd_reserve : 16;
}

// The whole answer to a refused connection, written before it is closed.
std::string RefusalResponse(ConnectionLimits::Refusal why) {
  bool mine = why == ConnectionLimits::Refusal::address_full ||
              why == ConnectionLimits::Refusal::address_unauthenticated;
  std::string body =
      mine ? R"({"error":"rate_limited","message":"too many connections from this address"})"
           : R"({"error":"unavailable","message":"server full: too many connections"})";
  return std::string(mine ? "HTTP/1.1 429 Too Many Requests\r\n"
                          : "HTTP/1.1 503 Service Unavailable\r\n") +
         "Server: ferryd\r\nContent-Type: application/json\r\nRetry-After: 1\r\n"
         "Connection: close\r\nContent-Length: " +
         std::to_string(body.size()) + "\r\n\r\n" + body;
}

// Reads and drops what the client has sent so far. False once it has closed
// its side (or the socket failed): then nothing more will come.
bool DrainInput(int fd) {
  char sink[512];
  for (;;) {
    ssize_t n = ::recv(fd, sink, sizeof sink, MSG_DONTWAIT);
    if (n > 0) continue;
    return n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK);
  }
}

// Writes a refusal's whole answer (a fresh socket's send buffer takes it at
// once) and shuts down sending. What the client sent already is read first:
// closing a socket with unread input resets the connection, and the answer
// with it.
void AnswerAndShutdown(int fd, std::string_view answer) {
  DrainInput(fd);
  ::send(fd, answer.data(), answer.size(), MSG_DONTWAIT | MSG_NOSIGNAL);
  ::shutdown(fd, SHUT_WR);
}

// Answers a refused connection and closes it: writes the response, shuts
// down sending, then reads (and drops) what the client still sends for a
// moment, so that closing does not reset the connection under the answer
// before the client has read it. At most kMaxLingering at a time linger;
// beyond that a refusal closes at once.
class Refuser : public std::enable_shared_from_this<Refuser> {
 public:
  static constexpr int kMaxLingering = 256;

  static void Refuse(tcp::socket socket, ConnectionLimits::Refusal why) {
    std::make_shared<Refuser>(std::move(socket), why)->Start();
  }

  Refuser(tcp::socket socket, ConnectionLimits::Refusal why)
      : socket_(std::move(socket)),
        timer_(socket_.get_executor()),
        response_(RefusalResponse(why)) {}
  ~Refuser() {
    if (lingering_) --lingering;
  }

 private:
  void Start() {
    boost::system::error_code ec;
    socket_.non_blocking(true, ec);
    AnswerAndShutdown(socket_.native_handle(), response_);
    if (lingering.load() >= kMaxLingering) return;  // closes now
    ++lingering;
    lingering_ = true;
    timer_.expires_after(std::chrono::milliseconds(200));
    timer_.async_wait([self = shared_from_this()](boost::system::error_code) {
      boost::system::error_code ignored;
      self->socket_.close(ignored);
    });
    Read();
  }

  void Read() {
    socket_.async_wait(
        tcp::socket::wait_read, [self = shared_from_this()](boost::system::error_code ec) {
          if (ec) return;
          if (!DrainInput(self->socket_.native_handle())) {
            self->timer_.cancel();  // EOF: the client has our answer and is gone
            return;
          }
          self->Read();
        });
  }

  static inline std::atomic<int> lingering{0};
  tcp::socket socket_;
  asio::steady_timer timer_;
  std::string response_;
  bool lingering_ = false;
};

}  // namespace

struct Server::Impl {
  Impl(const Config& c, Service& s, BuiltinBlobStore* b, const WebRoot* w)
      : config(c),
        service(s),
        blobs(b),
        web(w),
        ioc(IoThreads(c)),
        acceptor(asio::make_strand(ioc)),  // Accept() and Stop() touch it from any thread
        signals(ioc, SIGINT, SIGTERM),
        // On the acceptor's strand: StopWhenDrained() re-arms it there.
        tick(acceptor.get_executor()),
        accept_retry(acceptor.get_executor()),
        limits(c, MaxConnections(c)),
        tls(c.tls_cert_file.empty()
                ? nullptr
                : std::make_unique<TlsContext>(c.tls_cert_file, c.tls_key_file)) {
    tcp::endpoint endpoint(asio::ip::make_address(config.listen_host), config.listen_port);
    acceptor.open(endpoint.protocol());
    acceptor.set_option(asio::socket_base::reuse_address(true));
    acceptor.bind(endpoint);
    acceptor.listen(asio::socket_base::max_listen_connections);
    reserve_fd = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
  }

  ~Impl() {
    if (reserve_fd >= 0) ::close(reserve_fd);
  }

  void Accept() {
    acceptor.async_accept(asio::make_strand(ioc), [this](boost::system::error_code ec,
                                                         tcp::socket socket) {
      // Stop() closed the acceptor: no more accepts (a retry would fail with
      // "bad file descriptor" every 50 ms until the loop stops).
      if (ec == asio::error::operation_aborted || !acceptor.is_open()) return;
      if (ec) return AcceptFailed(ec);
      boost::system::error_code ignored;
      socket.set_option(tcp::no_delay(true), ignored);
      tcp::endpoint peer = socket.remote_endpoint(ignored);
      ConnectionLimits::Ticket ticket;
      if (auto why = limits.Admit(peer.address(), &ticket);
          why != ConnectionLimits::Refusal::none) {
        service.metrics().connections_refused_total.fetch_add(1, std::memory_order_relaxed);
        Refuser::Refuse(std::move(socket), why);
      } else {
        StartHttpSession(std::move(socket), std::move(ticket), config, service, blobs, web,
                         tls.get());
      }
      Accept();
    });
  }

  // Out of descriptors (EMFILE/ENFILE), or another accept error. With the
  // descriptor kept in reserve for this, the waiting connections are taken
  // one at a time and told 503 at once, instead of left to time out in the
  // backlog; then accepting resumes. Logged at most once a second.
  void AcceptFailed(boost::system::error_code ec) {
    auto now = std::chrono::steady_clock::now();
    if (now - last_accept_warning >= std::chrono::seconds(1)) {
      last_accept_warning = now;
      log::Warn("accept failed: ", ec.message(), " (", limits.open(), " connections open)");
    }
    bool out_of_fds = ec == asio::error::no_descriptors || ec.value() == ENFILE;
    int shed = 0;
    if (out_of_fds && reserve_fd >= 0) {
      ::close(reserve_fd);
      reserve_fd = -1;
      static const std::string answer = RefusalResponse(ConnectionLimits::Refusal::server_full);
      for (;;) {
        int fd =
            ::accept4(acceptor.native_handle(), nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) break;
        AnswerAndShutdown(fd, answer);
        ::close(fd);
        ++shed;
      }
      reserve_fd = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
      service.metrics().connections_refused_total.fetch_add(shed, std::memory_order_relaxed);
    }
    if (reserve_fd < 0) reserve_fd = ::open("/dev/null", O_RDONLY | O_CLOEXEC);  // regained
    // Sockets closing free descriptors soon; until then, do not spin. (A
    // member timer: one owned by its own handler would be destroyed inside
    // the io_context's destruction if the server stopped meanwhile.)
    accept_retry.expires_after(std::chrono::milliseconds(shed > 0 ? 1 : 50));
    accept_retry.async_wait([this](boost::system::error_code e) {
      if (!e && acceptor.is_open()) Accept();
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
  const WebRoot* web;
  asio::io_context ioc;
  tcp::acceptor acceptor;
  asio::signal_set signals;
  asio::steady_timer tick;  // Tick() and StopWhenDrained(), both on the acceptor's strand
  asio::steady_timer accept_retry;  // AcceptFailed(), on the acceptor's strand
  ConnectionLimits limits;
  std::unique_ptr<TlsContext> tls;  // null: plain HTTP
  int reserve_fd = -1;  // closed to accept-and-refuse when out of descriptors
  std::chrono::steady_clock::time_point last_accept_warning{};
};

Server::Server(const Config& config, Service& service, BuiltinBlobStore* blobs, const WebRoot* web)
    : impl_(std::make_unique<Impl>(config, service, blobs, web)) {}

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
