// WsSession: one WebSocket connection, framed by ws_codec.h on the bare
// Stream. It owns a bounded write queue with one write in flight, one
// deadline on the io_context's TimerWheel and the frame reader; the chat
// logic lives in service::ClientSession, which this class drives as its
// Transport.
//
// Idle connections are most of a chat server's connections, so an idle one
// holds little: its pending read is into a small buffer of its own, enough
// for a typical request; what does not fit is read at once, without
// waiting, into the thread's big buffer. The frame reader keeps bytes only
// while a frame or a message is incomplete, and the write queue allocates
// only while frames wait.
//
// Writes are gathered: every frame queued while a handler runs (an `ok`
// and a push, a burst of pushes) goes out in one write of header and
// payload buffers, never copied together.
//
// Threading: everything runs on the connection's strand. Pending handlers
// hold a shared_ptr to the session; it dies when the last one completes.
// Backpressure: when queued bytes exceed the high-water mark, reading from
// the client pauses (and ClientSession stops pushing) until writes drain.
#include <array>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/steady_timer.hpp>

#include "common/log.h"
#include "net/sessions.h"
#include "net/timer_wheel.h"
#include "net/ws_codec.h"
#include "net/ws_write_queue.h"
#include "service/session.h"

namespace ferry::net {
namespace asio = boost::asio;
using boost::system::error_code;

namespace {

// Milliseconds on the monotonic clock: the read budget's and message deadlines' time.
Millis NowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

// A connection's own read buffer: a request of this size or less costs one
// read. Larger reads go on in the thread's buffer.
constexpr std::size_t kOwnReadBytes = 256;

// The thread's read buffer, for what follows a full first read. `busy`
// guards against a second use while one is parsed (a handler run inside
// another on the same thread), which then reads into a buffer of its own.
struct ThreadReadBuffer {
  static constexpr std::size_t kBytes = 64 * 1024;
  std::array<char, kBytes> data;
  bool busy = false;
};
thread_local ThreadReadBuffer thread_read_buffer;

// One write gathers at most this many buffers (Asio passes up to 64 to sendmsg).
constexpr std::size_t kGatherBuffers = 64;
// ... and stops adding frames past this many bytes.
constexpr std::size_t kGatherBytes = 256 * 1024;

// A buffer sequence for one gathered write.
struct Gather {
  std::array<asio::const_buffer, kGatherBuffers> buffers;
  std::size_t count = 0;
  const asio::const_buffer* begin() const { return buffers.data(); }
  const asio::const_buffer* end() const { return buffers.data() + count; }
  void Add(const char* data, std::size_t size) {
    if (size > 0) buffers[count++] = asio::const_buffer(data, size);
  }
};

class WsSession final : public Transport,
                        public TimerWheel::Timed,
                        public std::enable_shared_from_this<WsSession> {
 public:
  WsSession(Stream stream, ConnectionLimits::Ticket ticket, const Config& config, Service& service)
      : stream_(std::move(stream)),
        ticket_(std::move(ticket)),
        wheel_(TimerWheel::Of(stream_.get_executor())),
        reader_(config.max_frame_bytes),
        rule_(config.ws_read_per_connection),
        config_(config),
        service_(service) {}

  ~WsSession() override {
    wheel_.Cancel(*this);
    if (session_) session_->OnClosed();  // idempotent; Finish() normally did it
  }

  // Answers the upgrade (its key checked by the HTTP session) and serves.
  // `leftover`: bytes the HTTP session read past the request, the client's
  // first frames (a client may send them in the same write as the request).
  void Start(std::string_view key, asio::const_buffer leftover) {
    auto executor = stream_.get_executor();
    // The connection's strand itself (24 bytes), not the any_io_executor
    // around it (56): the post function holds it for the connection's life.
    Service::Post post;
    if (const auto* strand = executor.target<asio::strand<asio::io_context::executor_type>>()) {
      post = [strand = *strand](std::function<void()> fn) { asio::post(strand, std::move(fn)); };
    } else {
      post = [executor](std::function<void()> fn) { asio::post(executor, std::move(fn)); };
    }
    session_ = service_.NewSession(this, std::move(post));
    error_code ec;
    stream_.socket().non_blocking(true, ec);  // for ReadNow; Asio's async ops are unaffected
    // A fixed kernel send buffer (Config::ws_send_buffer_bytes), counted in the send queue's cap.
    stream_.socket().set_option(
        asio::socket_base::send_buffer_size(static_cast<int>(config_.ws_send_buffer_bytes)), ec);
    queue_.PushRaw(
        "HTTP/1.1 101 Switching Protocols\r\nServer: ferryd\r\nUpgrade: websocket\r\n"
        "Connection: Upgrade\r\nSec-WebSocket-Accept: " +
        ws::AcceptKey(key) + "\r\n\r\n");

    service_.metrics().connections.fetch_add(1, std::memory_order_relaxed);
    service_.metrics().connections_total.fetch_add(1, std::memory_order_relaxed);
    counted_ = true;
    error_code ep_ec;
    auto ep = stream_.socket().remote_endpoint(ep_ec);
    log::Info("conn open from ",
              ep_ec ? std::string("?") : ep.address().to_string() + ":" + std::to_string(ep.port()),
              " id=", session_->conn_id());
    session_->OnOpen();
    Flush();
    if (leftover.size() > 0) {
      std::string bytes(static_cast<const char*>(leftover.data()), leftover.size());
      Spend(static_cast<double>(bytes.size()));
      Process(bytes.data(), bytes.size());
    }
    DoRead();
  }

  // ---- Transport ----
  void Send(std::string frame) override {
    if (closing_ || closed_) return;
    Enqueue(ws::kText, std::move(frame));
  }

  void Close(std::uint16_t code, std::string_view reason) override {
    if (closing_ || closed_) return;
    closing_ = true;
    DropUnsent();
    Enqueue(ws::kClose, ws::ClosePayload(code, reason), /*close=*/true);
    // A client that does not read could hold the close forever.
    ArmTimer(5000);
    // For the chat logic the connection ends now, not when the peer answers
    // the close frame: presence and last seen are recorded at once (which a
    // shutdown relies on).
    if (session_) session_->OnClosed();
  }

  std::size_t QueuedBytes() const override { return queue_.bytes(); }

  void Authenticated() override { ticket_.Authenticated(); }

  void PauseReading(bool paused) override {
    input_paused_ = paused;
    // Paused, no read is pending to keep the session alive (and an idle
    // one has no write pending either): it keeps itself until resumed.
    if (paused) {
      if (!closed_) paused_hold_ = shared_from_this();
      return;
    }
    // Let go once this call is done: it may be the last reference.
    if (paused_hold_) asio::post(stream_.get_executor(), [hold = std::move(paused_hold_)] {});
    if (!processing_) {
      ProcessKept();
      DoRead();
    }
  }

  void ArmTimer(std::int64_t delay_ms) override { wheel_.Arm(*this, delay_ms); }

 private:
  // ---- TimerWheel::Timed ----
  std::shared_ptr<Timed> KeepAlive() override { return weak_from_this().lock(); }

  void OnWheelTimer(std::uint32_t generation) override {
    asio::post(stream_.get_executor(), [self = shared_from_this(), generation] {
      if (generation == self->Generation()) self->OnDeadline();  // else re-armed or cancelled
    });
  }

  // The one deadline (ArmTimer, or the close's) came.
  void OnDeadline() {
    if (closed_) return;
    if (closing_) return Finish();  // the close handshake took too long
    if (MessageOverdue()) return Fail(ws::close::kPolicy, "message not completed in time");
    if (session_) session_->OnTimer();
  }

  void Enqueue(int opcode, std::string payload, bool close = false) {
    queue_.Push(opcode, std::move(payload), close);
    ScheduleFlush();
  }

  // Frames queued inside one of this connection's handlers go out together
  // when it ends; one queued from elsewhere (a push from the store's
  // completion) a moment later, with whatever joins it meanwhile.
  void ScheduleFlush() {
    if (writing_ || flush_posted_) return;
    if (processing_) {
      flush_after_processing_ = true;
      return;
    }
    flush_posted_ = true;
    asio::post(stream_.get_executor(), [self = shared_from_this()] {
      self->flush_posted_ = false;
      self->Flush();
    });
  }

  void Flush() {
    if (writing_ || closed_ || queue_.empty()) return;
    Gather gather;
    in_flight_ = queue_.Gather(kGatherBuffers, kGatherBytes,
                               [&](const char* data, std::size_t size) { gather.Add(data, size); });
    writing_ = true;
    stream_.async_write_some(gather, [self = shared_from_this()](error_code ec, std::size_t n) {
      self->OnWrite(ec, n);
    });
  }

  void OnWrite(error_code ec, std::size_t written) {
    writing_ = false;
    if (ec) return Finish();
    if (queue_.Written(written)) return CloseWritten();
    Flush();
    if (queue_.bytes() <= config_.send_queue_high_bytes / 2) {
      if (read_paused_) {
        read_paused_ = false;
        DoRead();
      }
      if (session_ && !closing_) session_->OnDrained();
    }
  }

  // Drops the frames not yet on the wire, but those begun (or in a write in
  // flight) are finished: the inbox still holds the entries.
  void DropUnsent() { queue_.DropUnsent(writing_ ? in_flight_ : 0); }

  void DoRead() {
    if (reading_ || closed_) return;
    if (input_paused_) return;  // PauseReading(false) reads again
    if (queue_.bytes() > config_.send_queue_high_bytes) {
      read_paused_ = true;  // resumed by OnWrite once the queue drains
      return;
    }
    reading_ = true;
    if (Millis wait = budget_.Wait(rule_, NowMs())) {
      if (!wait_timer_) wait_timer_ = std::make_unique<asio::steady_timer>(stream_.get_executor());
      wait_timer_->expires_after(std::chrono::milliseconds(wait));
      wait_timer_->async_wait([self = shared_from_this()](error_code ec) {
        self->reading_ = false;
        if (ec) return;
        self->ProcessKept();  // what waited for the budget first
        self->DoRead();
      });
      return;
    }
    stream_.async_read_some(
        asio::buffer(own_buffer_),
        [self = shared_from_this()](error_code ec, std::size_t n) { self->OnRead(ec, n); });
  }

  void OnRead(error_code ec, std::size_t n) {
    reading_ = false;
    if (ec) return ReadEnded(ec);
    Spend(static_cast<double>(n));
    if (!Draining()) Process(own_buffer_.data(), n);
    // A full buffer: more may be there. It is read now, without waiting,
    // into the thread's buffer (a read that finds nothing costs a system
    // call, which a typical request does not pay).
    if (n == own_buffer_.size()) ReadMoreNow();
    DoRead();
  }

  void ReadMoreNow() {
    ThreadReadBuffer& shared = thread_read_buffer;
    std::unique_ptr<char[]> own;
    char* buffer = shared.data.data();
    if (shared.busy) {
      own = std::make_unique<char[]>(ThreadReadBuffer::kBytes);
      buffer = own.get();
    }
    shared.busy = !own;
    while (!closed_ && !input_paused_ && budget_.Wait(rule_, NowMs()) == 0) {
      error_code ec;
      std::size_t n = stream_.ReadNow(buffer, ThreadReadBuffer::kBytes, ec);
      if (ec == asio::error::would_block) break;
      if (ec) {
        if (!own) shared.busy = false;
        return ReadEnded(ec);
      }
      Spend(static_cast<double>(n));
      if (!Draining()) Process(buffer, n);
      if (n < ThreadReadBuffer::kBytes) break;
    }
    if (!own) shared.busy = false;
  }

  void ReadEnded(error_code ec) {
    if (ec != asio::error::eof && ec != asio::error::operation_aborted && session_) {
      log::Info("conn ", session_->conn_id(), " read ended: ", ec.message());
    }
    Finish();
  }

  // Parses `size` bytes at `data`, which stay put until it returns, and
  // acts on what they hold. Bytes it does not get to (reading paused, or a
  // frame not yet whole) are kept by the reader.
  void Process(char* data, std::size_t size) {
    processing_ = true;
    reader_.Feed(data, size);
    bool waiting_for_bytes = false;
    // Every message costs read budget: in debt, the rest waits (DoRead).
    while (!closed_ && !input_paused_ && !Draining() && budget_.Wait(rule_, NowMs()) == 0) {
      std::optional<ws::Event> event = reader_.Next();
      if (!event) {
        waiting_for_bytes = true;
        break;
      }
      if (!Handle(*event)) break;
    }
    // A message whose bytes are still to come has a deadline from its first.
    if (waiting_for_bytes && reader_.MessageOpen()) {
      if (message_started_ == 0) message_started_ = NowMs();
    } else {
      message_started_ = 0;
    }
    reader_.Keep();
    processing_ = false;
    if (flush_after_processing_) {
      flush_after_processing_ = false;
      Flush();
    }
  }

  // Acts on what was kept while reading was paused.
  void ProcessKept() { Process(nullptr, 0); }

  // False: read nothing more.
  bool Handle(const ws::Event& event) {
    using Kind = ws::Event::Kind;
    switch (event.kind) {
      case Kind::message:
        Spend(static_cast<double>(config_.ws_message_cost));
        if (closing_) return true;  // after our close, the client's messages go unread
        message_started_ = 0;
        session_->OnText(event.payload);
        return true;
      case Kind::ping:
        Spend(static_cast<double>(config_.ws_message_cost));
        if (!closing_) Enqueue(ws::kPong, std::string(event.payload));
        return true;
      case Kind::pong:
        Spend(static_cast<double>(config_.ws_message_cost));
        return true;
      case Kind::close:
        peer_closed_ = true;
        if (closing_) {
          // The answer to our close: done, unless ours is still queued.
          if (queue_.empty()) Finish();
          return false;
        }
        // Echoes the code (RFC 6455 section 5.5.1), not the reason.
        Close(event.code == ws::close::kNoStatus ? ws::close::kNormal : event.code, {});
        return false;
      case Kind::error:
        Fail(event.code, event.payload);
        return false;
    }
    return false;
  }

  // Closes because the client broke a rule: the TCP connection ends once
  // the close frame is written, without waiting for the client's answer.
  void Fail(std::uint16_t code, std::string_view why) {
    if (session_) log::Info("conn ", session_->conn_id(), " closed ", code, ": ", why);
    failed_ = true;
    if (closing_) {
      if (!writing_) Finish();
      return;
    }
    Close(code, why);
  }

  // No more frames are read after the client's close or a broken rule:
  // what still comes is read and dropped until the client ends TCP.
  bool Draining() const { return peer_closed_ || failed_; }

  // Our close frame is out: nothing more is written. The TCP connection
  // ends gracefully, with a FIN after the close frame, while reading goes
  // on (for the client's answering close, or to drain) until the client
  // ends its side. Closing the socket at once would make the kernel answer
  // bytes still arriving with a reset, which can destroy the close frame
  // before the client reads it. A client that does not end its side is
  // cut off after a moment.
  void CloseWritten() {
    error_code ignored;
    stream_.NotifyClose();
    stream_.socket().shutdown(tcp::socket::shutdown_send, ignored);
    ForceCloseSoon();
    DoRead();
  }

  void ForceCloseSoon() {
    if (closed_) return;
    wheel_.Arm(*this, 2000);  // OnDeadline: closing_, so Finish()
  }

  // A message has been open longer than allowed.
  bool MessageOverdue() const {
    return message_started_ != 0 && NowMs() - message_started_ > config_.message_read_timeout_ms;
  }

  void Spend(double units) { budget_.Spend(rule_, NowMs(), units); }

  // The connection is over: runs once, releases the session.
  void Finish() {
    if (closed_) return;
    closed_ = true;
    wheel_.Cancel(*this);
    // Dropped after this call returns: Finish() may hold the last reference.
    if (paused_hold_) asio::post(stream_.get_executor(), [hold = std::move(paused_hold_)] {});
    if (wait_timer_) wait_timer_->cancel();
    error_code ignored;
    stream_.NotifyClose();
    stream_.socket().shutdown(tcp::socket::shutdown_both, ignored);
    stream_.Close();
    if (counted_) service_.metrics().connections.fetch_sub(1, std::memory_order_relaxed);
    if (session_) {
      log::Info("conn ", session_->conn_id(), " closed");
      session_->OnClosed();
    }
  }

  Stream stream_;
  ConnectionLimits::Ticket ticket_;
  TimerWheel& wheel_;  // the one deadline: ArmTimer's, or the close's
  ws::FrameReader reader_;
  const RateRule rule_;
  TokenBucket budget_;  // what the client may still send: every byte and message costs
  std::unique_ptr<asio::steady_timer> wait_timer_;  // made on the first wait: most never wait
  const Config& config_;
  Service& service_;
  std::shared_ptr<ClientSession> session_;
  // Itself while reading is paused by the session: nothing else may hold it
  // then (the timer wheel does not).
  std::shared_ptr<WsSession> paused_hold_;
  Millis message_started_ = 0;  // when the message being read began (0: none)
  ws::WriteQueue queue_;
  std::size_t in_flight_ = 0;  // frames in the pending write, from the queue's first
  bool reading_ = false;       // a read (or a wait for read budget) is pending
  bool writing_ = false;       // a write is pending
  bool flush_posted_ = false;  // a Flush() is posted
  bool processing_ = false;    // inside Process(): frames queued now are flushed at its end
  bool flush_after_processing_ = false;
  bool read_paused_ = false;   // no read pending, by back-pressure
  bool input_paused_ = false;  // the session asked to stop reading
  bool closing_ = false;       // our close frame is queued or written
  bool peer_closed_ = false;   // the client's close frame was read
  bool failed_ = false;        // the client broke the protocol: no waiting for its close
  bool closed_ = false;
  bool counted_ = false;
  std::array<char, kOwnReadBytes> own_buffer_;
};

}  // namespace

void StartWebSocketSession(Stream stream, ConnectionLimits::Ticket ticket, HttpRequest request,
                           asio::const_buffer leftover, const Config& config, Service& service) {
  std::string key(request[boost::beast::http::field::sec_websocket_key]);
  std::make_shared<WsSession>(std::move(stream), std::move(ticket), config, service)
      ->Start(key, leftover);
}

}  // namespace ferry::net
