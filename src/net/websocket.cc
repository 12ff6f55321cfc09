// WsSession: one WebSocket connection. Owns the Beast stream, a bounded
// write queue with one write in flight, and one timer; the chat logic lives
// in service::ClientSession, which this class drives as its Transport.
//
// Idle connections are most of a chat server's connections, so an idle one
// holds little: the stream sits on a bare socket (not a tcp_stream, whose
// two timers the websocket's own timeouts make redundant; the buffer of the
// bytes read past the upgrade request is freed once they are read), the
// write queue allocates only while frames wait, and the read buffer is
// released after every message.
//
// Threading: everything runs on the connection's strand. Pending handlers
// hold a shared_ptr to the session; it dies when the last one completes.
// Backpressure: when queued bytes exceed the high-water mark, reading from
// the client pauses (and ClientSession stops pushing) until writes drain.
#include <boost/asio/compose.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/core/buffered_read_stream.hpp>
#include <boost/beast/websocket.hpp>
#include <vector>

#include "common/log.h"
#include "net/sessions.h"
#include "service/session.h"

namespace ferry::net {
namespace asio = boost::asio;
namespace beast = boost::beast;
namespace websocket = beast::websocket;

namespace {

// Milliseconds on the monotonic clock: the read budget's and message deadlines' time.
Millis NowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

// The first read of each message asks for at most this much.
constexpr std::size_t kFirstReadBytes = 256;

// The socket under a WebSocket session, with the bytes the HTTP parser read
// past the upgrade request in front of it: reads drain those first, then go
// straight to the socket. A client that sends its hello in the same TCP
// write as the upgrade request (RFC 6455 asks it to wait for the 101, not
// every client does) has the frame there, and it is the session's to read.
//
// It also meters what the client sends, below beast (which reads empty
// fragments and control frames in a loop of its own, never returning to the
// session): every byte read costs a unit of the connection's read budget
// (Config::ws_read_per_connection), and a read waits while the budget is in
// debt, so no client makes the server read faster than the budget, however
// it frames its bytes. It counts the bytes of the message being read; one
// that goes past its wire limit stops being read (the session closes it).
class UpgradedSocket : public beast::buffered_read_stream<Stream, beast::flat_buffer> {
 public:
  UpgradedSocket(Stream stream, asio::const_buffer leftover, const Config& config)
      : buffered_read_stream(std::move(stream)),
        rule_(config.ws_read_per_connection),
        message_wire_max_(2 * config.max_frame_bytes + 64 * 1024) {
    buffer().commit(asio::buffer_copy(buffer().prepare(leftover.size()), leftover));
  }
  // Frees the leftover buffer once read. Requires no read in progress.
  void ReleaseDrained() {
    if (buffer().size() == 0) buffer().shrink_to_fit();
  }

  // A message was read whole: charges its cost and starts counting the next.
  void MessageDone(std::size_t cost) {
    Spend(static_cast<double>(cost));
    message_bytes_ = 0;
    message_started_ = 0;
  }
  // A control frame (ping, pong, close) of `payload` bytes was read: it costs
  // as a message does, and its bytes are no part of the message being read.
  void ControlFrameRead(std::size_t payload, std::size_t cost) {
    Spend(static_cast<double>(cost));
    std::size_t wire = payload + 6;  // a masked control frame's header is 6 bytes
    message_bytes_ = message_bytes_ > wire ? message_bytes_ - wire : 0;
    if (message_bytes_ == 0) message_started_ = 0;
  }
  // When the message being read began (0: none), and whether it is over its wire limit.
  Millis message_started() const { return message_started_; }
  bool message_overrun() const { return message_bytes_ > message_wire_max_; }
  // Ends a read waiting for budget (with operation_aborted): the connection is closing.
  void CancelWait() {
    if (wait_timer_) wait_timer_->cancel();
  }

  template <class MutableBuffers, class Handler>
  auto async_read_some(const MutableBuffers& buffers, Handler&& handler) {
    return asio::async_compose<Handler, void(beast::error_code, std::size_t)>(
        ReadOp<MutableBuffers>{this, buffers}, handler, next_layer());
  }

 private:
  template <class MutableBuffers>
  struct ReadOp {
    UpgradedSocket* s;
    MutableBuffers buffers;
    int state = 0;

    template <class Self>
    void operator()(Self& self, beast::error_code ec = {}, std::size_t n = 0) {
      switch (state) {
        case 0:
          if (Millis wait = s->Wait()) {
            state = 1;
            if (!s->wait_timer_)
              s->wait_timer_ = std::make_unique<asio::steady_timer>(s->get_executor());
            s->wait_timer_->expires_after(std::chrono::milliseconds(wait));
            return s->wait_timer_->async_wait(std::move(self));
          }
          [[fallthrough]];
        case 1:
          if (ec) return self.complete(ec, 0);  // the wait was cancelled
          state = 2;
          return s->buffered_read_stream::async_read_some(buffers, std::move(self));
        default:
          if (!ec) s->Read(n);
          self.complete(ec, n);
      }
    }
  };

  void Spend(double units) { budget_.Spend(rule_, NowMs(), units); }
  void Read(std::size_t n) {
    if (message_started_ == 0) message_started_ = NowMs();
    message_bytes_ += n;
    Spend(static_cast<double>(n));
  }
  // How long the next read must wait: until the budget is out of debt, or
  // (over the wire limit) for as long as the connection lives.
  Millis Wait() const {
    if (message_overrun()) return 3'600'000;
    return budget_.Wait(rule_, NowMs());
  }

  const RateRule rule_;
  const std::size_t message_wire_max_;
  TokenBucket budget_;
  std::size_t message_bytes_ = 0;
  Millis message_started_ = 0;
  std::unique_ptr<asio::steady_timer> wait_timer_;  // made on first wait: most never wait
};

// The WebSocket close handshake ends by tearing down the next layer: here
// TLS's close_notify (if it is TLS), then the TCP socket under the leftover
// bytes (found by argument-dependent lookup).
template <class Handler>
void async_teardown(beast::role_type role, UpgradedSocket& s, Handler&& handler) {
  s.next_layer().NotifyClose();
  websocket::async_teardown(role, s.next_layer().socket(), std::forward<Handler>(handler));
}

class WsSession final : public Transport, public std::enable_shared_from_this<WsSession> {
 public:
  WsSession(Stream stream, ConnectionLimits::Ticket ticket, asio::const_buffer leftover,
            const Config& config, Service& service)
      : ws_(std::move(stream), leftover, config),
        ticket_(std::move(ticket)),
        timer_(ws_.get_executor()),
        config_(config),
        service_(service) {}

  ~WsSession() override {
    if (session_) session_->OnClosed();  // idempotent; Finish() normally did it
  }

  void Start(HttpRequest request) {
    auto self = shared_from_this();
    auto executor = ws_.get_executor();
    session_ = service_.NewSession(this, [executor](std::function<void()> fn) {
      asio::post(executor, std::move(fn));
    });
    websocket::stream_base::timeout timeouts{};
    timeouts.handshake_timeout = std::chrono::seconds(10);
    timeouts.idle_timeout = websocket::stream_base::none();  // heartbeats are ours
    timeouts.keep_alive_pings = false;
    ws_.set_option(timeouts);
    ws_.read_message_max(config_.max_frame_bytes);
    ws_.auto_fragment(false);
    // Pings and pongs are answered or dropped by beast inside a read; they
    // are metered here. The stream (a member) never outlives this session.
    ws_.control_callback([this](websocket::frame_type, beast::string_view payload) {
      ws_.next_layer().ControlFrameRead(payload.size(), config_.ws_message_cost);
    });
    ws_.set_option(websocket::stream_base::decorator(
        [](websocket::response_type& res) { res.set(beast::http::field::server, "ferryd"); }));
    ws_.async_accept(request, [self](beast::error_code ec) { self->OnAccept(ec); });
  }

  // ---- Transport ----
  void Send(std::string frame) override {
    if (closing_ || closed_) return;
    queued_bytes_ += frame.size();
    queue_.push_back(std::move(frame));
    if (!writing_) DoWrite();
  }

  void Close(std::uint16_t code, std::string_view reason) override {
    if (closing_ || closed_) return;
    closing_ = true;
    close_reason_.code = code;
    close_reason_.reason = std::string(reason.substr(0, 120));  // a close frame holds 123 bytes
    // Frames not yet on the wire are dropped: the inbox still holds entries.
    while (queue_.size() > queue_head_ + (writing_ ? 1u : 0u)) {
      queued_bytes_ -= queue_.back().size();
      queue_.pop_back();
    }
    // A client that does not read could hold the close forever.
    ArmTimer(5000);
    if (!writing_) DoClose();
    // For the chat logic the connection ends now, not when the peer answers
    // the close frame: presence and last seen are recorded at once (which a
    // shutdown relies on).
    if (session_) session_->OnClosed();
  }

  std::size_t QueuedBytes() const override { return queued_bytes_; }

  void Authenticated() override { ticket_.Authenticated(); }

  void PauseReading(bool paused) override {
    input_paused_ = paused;
    if (!paused && read_paused_ && queued_bytes_ <= config_.send_queue_high_bytes / 2) {
      read_paused_ = false;
      DoRead();
    }
  }

  void ArmTimer(std::int64_t delay_ms) override {
    timer_.expires_after(std::chrono::milliseconds(delay_ms));
    timer_.async_wait([self = shared_from_this()](beast::error_code ec) {
      if (ec) return;  // re-armed or cancelled
      if (self->closing_) return self->Finish();  // the close handshake took too long
      if (self->MessageOverdue()) {
        return self->Close(websocket::close_code::policy_error, "message not completed in time");
      }
      if (self->session_) self->session_->OnTimer();
    });
  }

 private:
  void OnAccept(beast::error_code ec) {
    if (ec) {
      log::Debug("ws accept failed: ", ec.message());
      return Finish();
    }
    service_.metrics().connections.fetch_add(1, std::memory_order_relaxed);
    service_.metrics().connections_total.fetch_add(1, std::memory_order_relaxed);
    counted_ = true;
    // A fixed kernel send buffer (Config::ws_send_buffer_bytes), counted in the send queue's cap.
    beast::error_code buffer_ec;
    ws_.next_layer().next_layer().socket().set_option(
        asio::socket_base::send_buffer_size(static_cast<int>(config_.ws_send_buffer_bytes)),
        buffer_ec);
    beast::error_code ep_ec;
    auto ep = ws_.next_layer().next_layer().socket().remote_endpoint(ep_ec);
    log::Info("conn open from ", ep_ec ? std::string("?") : ep.address().to_string() + ":" +
                                                              std::to_string(ep.port()),
              " id=", session_->conn_id());
    session_->OnOpen();
    DoRead();
  }

  void DoRead() {
    if (closing_ || closed_) return;
    if (input_paused_ || queued_bytes_ > config_.send_queue_high_bytes) {
      read_paused_ = true;  // resumed by OnWrite once the queue drains, or PauseReading(false)
      return;
    }
    // A message is read piecewise: an idle connection's pending read holds
    // a small buffer (async_read would hold beast's 1.5 KiB read size), and
    // the rest of a bigger message follows from what beast already buffered.
    std::size_t limit = buffer_.size() == 0 ? kFirstReadBytes : 0;  // 0: beast's choice
    ws_.async_read_some(buffer_, limit, [self = shared_from_this()](beast::error_code ec, std::size_t) {
      self->OnRead(ec);
    });
  }

  void OnRead(beast::error_code ec) {
    if (ec) {
      if (ec != websocket::error::closed && ec != asio::error::operation_aborted) {
        log::Info("conn ", session_->conn_id(), " read ended: ", ec.message());
      }
      return Finish();
    }
    if (!ws_.got_text()) {
      buffer_.clear();
      Close(websocket::close_code::unknown_data, "binary frames are not accepted");
      return;
    }
    if (!ws_.is_message_done()) return DoRead();
    ws_.next_layer().MessageDone(config_.ws_message_cost);
    auto data = buffer_.cdata();
    session_->OnText(std::string_view(static_cast<const char*>(data.data()), data.size()));
    buffer_.clear();
    buffer_.shrink_to_fit();  // frees it: most connections sit idle between messages
    ws_.next_layer().ReleaseDrained();
    DoRead();
  }

  void DoWrite() {
    writing_ = true;
    ws_.text(true);
    ws_.async_write(asio::buffer(queue_[queue_head_]),
                    [self = shared_from_this()](beast::error_code ec, std::size_t) {
                      self->OnWrite(ec);
                    });
  }

  void OnWrite(beast::error_code ec) {
    writing_ = false;
    PopFront();
    if (ec) return Finish();
    if (closing_) return DoClose();
    if (queue_head_ < queue_.size()) DoWrite();
    if (queued_bytes_ <= config_.send_queue_high_bytes / 2) {
      if (read_paused_ && !input_paused_) {
        read_paused_ = false;
        DoRead();
      }
      if (session_) session_->OnDrained();
    }
  }

  void PopFront() {
    queued_bytes_ -= queue_[queue_head_].size();
    queue_[queue_head_] = std::string();  // its memory goes now
    ++queue_head_;
    if (queue_head_ == queue_.size()) {
      queue_head_ = 0;
      queue_.clear();
      if (queue_.capacity() > 16) queue_.shrink_to_fit();  // a burst's array goes with it
    } else if (queue_head_ >= 64 && queue_head_ * 2 >= queue_.size()) {
      // A queue that never drains completely must not grow by its spent slots.
      queue_.erase(queue_.begin(), queue_.begin() + static_cast<std::ptrdiff_t>(queue_head_));
      queue_head_ = 0;
    }
  }

  void DoClose() {
    if (close_started_) return;
    close_started_ = true;
    ws_.async_close(close_reason_, [self = shared_from_this()](beast::error_code) {
      // The read loop sees the peer's close (or the timeout) and finishes.
      self->ForceCloseSoon();
    });
  }

  // After our close frame went out, give the peer a moment to answer, then
  // drop the TCP connection regardless.
  void ForceCloseSoon() {
    if (closed_) return;
    timer_.expires_after(std::chrono::seconds(2));
    // Finish() (not just closing the socket): with reads paused for
    // back-pressure no read is pending that would notice the close.
    timer_.async_wait([self = shared_from_this()](beast::error_code ec) {
      if (!ec) self->Finish();
    });
  }

  void ForceClose() {
    beast::error_code ignored;
    Stream& stream = ws_.next_layer().next_layer();
    stream.NotifyClose();
    stream.socket().shutdown(tcp::socket::shutdown_both, ignored);
    stream.Close();
  }

  // A message has been open longer than allowed, or past its wire limit.
  bool MessageOverdue() const {
    const UpgradedSocket& socket = ws_.next_layer();
    if (socket.message_overrun()) return true;
    Millis started = socket.message_started();
    if (started == 0) return false;
    return NowMs() - started > config_.message_read_timeout_ms;
  }

  // The connection is over: runs once, releases the session.
  void Finish() {
    if (closed_) return;
    closed_ = true;
    timer_.cancel();
    ws_.next_layer().CancelWait();
    ForceClose();
    if (counted_) service_.metrics().connections.fetch_sub(1, std::memory_order_relaxed);
    if (session_) {
      log::Info("conn ", session_->conn_id(), " closed");
      session_->OnClosed();
    }
  }

  websocket::stream<UpgradedSocket> ws_;
  ConnectionLimits::Ticket ticket_;
  asio::steady_timer timer_;
  const Config& config_;
  Service& service_;
  std::shared_ptr<ClientSession> session_;
  beast::flat_buffer buffer_;
  // Frames to write: queue_[queue_head_] is the one being written. A vector
  // with a head index rather than a deque, which allocates a block up front.
  std::vector<std::string> queue_;
  std::size_t queue_head_ = 0;
  std::size_t queued_bytes_ = 0;
  websocket::close_reason close_reason_;
  bool writing_ = false;
  bool read_paused_ = false;   // no read pending, by back-pressure
  bool input_paused_ = false;  // the session asked to stop reading
  bool closing_ = false;
  bool close_started_ = false;
  bool closed_ = false;
  bool counted_ = false;
};

}  // namespace

void StartWebSocketSession(Stream stream, ConnectionLimits::Ticket ticket, HttpRequest request,
                           asio::const_buffer leftover, const Config& config, Service& service) {
  std::make_shared<WsSession>(std::move(stream), std::move(ticket), leftover, config, service)
      ->Start(std::move(request));
}

}  // namespace ferry::net
