// Stream: one accepted connection's bytes, read and written either straight
// on the TCP socket or through TLS over it (tls.h). HTTP and WebSocket
// sessions run on it unchanged: it is an Asio AsyncReadStream and
// AsyncWriteStream. Private to net/, included only by the Beast translation
// units.
//
// Plain connections pay one branch per operation. A TLS operation tries
// OpenSSL first and, when OpenSSL needs the socket readable or writable,
// waits for that on the socket and tries again; it never completes inside
// the call that started it.
//
// Threading: like the socket, one strand; at most one read and one write in
// flight. Close() may come at any time on that strand; operations started or
// resumed after it fail without touching OpenSSL (the descriptor number may
// already be another connection's).
#pragma once

#include <array>
#include <boost/asio/buffer.hpp>
#include <boost/asio/compose.hpp>
#include <boost/asio/error.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <utility>

#include "net/tls.h"

namespace ferry::net {

class Stream {
 public:
  using tcp = boost::asio::ip::tcp;
  using executor_type = tcp::socket::executor_type;

  explicit Stream(tcp::socket socket) : socket_(std::move(socket)) {}

  executor_type get_executor() { return socket_.get_executor(); }
  tcp::socket& socket() { return socket_; }
  const tcp::socket& socket() const { return socket_; }
  bool tls() const { return static_cast<bool>(tls_); }

  // Makes this a TLS server connection, before anything is read. False if
  // OpenSSL could not make one (out of memory): close the connection.
  bool StartTls(const TlsContext& context) {
    tls_ = context.Accept(socket_.native_handle());
    return tls();
  }

  // The TLS handshake (requires StartTls). Completes with an error_code.
  template <class Token>
  auto async_handshake(Token&& token) {
    return boost::asio::async_compose<Token, void(boost::system::error_code)>(
        TlsOp<HandshakeStep, true>{this, {}}, token, socket_);
  }

  template <class MutableBuffers, class Token>
  auto async_read_some(const MutableBuffers& buffers, Token&& token) {
    if (!tls_) return socket_.async_read_some(buffers, std::forward<Token>(token));
    return boost::asio::async_compose<Token, void(boost::system::error_code, std::size_t)>(
        TlsOp<ReadStep<MutableBuffers>, false>{this, {buffers}}, token, socket_);
  }

  template <class ConstBuffers, class Token>
  auto async_write_some(const ConstBuffers& buffers, Token&& token) {
    if (!tls_) return socket_.async_write_some(buffers, std::forward<Token>(token));
    return boost::asio::async_compose<Token, void(boost::system::error_code, std::size_t)>(
        TlsOp<WriteStep<ConstBuffers>, false>{this, {buffers}}, token, socket_);
  }

  // Reads what can be read without waiting; `would_block` when nothing can
  // (then an async_read_some waits for it). A plain socket must be in
  // non-blocking mode (socket().non_blocking(true)).
  std::size_t ReadNow(void* data, std::size_t size, boost::system::error_code& ec) {
    if (!tls_) return socket_.read_some(boost::asio::buffer(data, size), ec);
    if (!socket_.is_open()) {
      ec = boost::asio::error::bad_descriptor;
      return 0;
    }
    Step step = tls_.Read(data, size);
    ec = step.want == TlsConnection::Want::nothing ? step.ec : boost::asio::error::would_block;
    return step.want == TlsConnection::Want::nothing ? step.bytes : 0;
  }

  // Sends TLS close_notify if the socket takes it now (never waits).
  void NotifyClose() {
    if (tls_ && socket_.is_open()) tls_.NotifyClose();
  }
  // Ends the connection at once: pending operations complete with
  // operation_aborted.
  void Close() {
    boost::system::error_code ignored;
    socket_.close(ignored);
  }
  // Beast closes the lowest layer this way when a WebSocket times out.
  friend void beast_close_socket(Stream& stream) { stream.Close(); }

 private:
  using Step = TlsConnection::Step;

  struct HandshakeStep {
    Step operator()(TlsConnection& tls) const { return tls.Handshake(); }
  };
  template <class MutableBuffers>
  struct ReadStep {
    MutableBuffers buffers;
    Step operator()(TlsConnection& tls) const {
      for (auto it = boost::asio::buffer_sequence_begin(buffers);
           it != boost::asio::buffer_sequence_end(buffers); ++it) {
        boost::asio::mutable_buffer b(*it);
        if (b.size() > 0) return tls.Read(b.data(), b.size());
      }
      return {};  // nothing to read into: done, 0 bytes
    }
  };
  // Small pieces (a WebSocket frame's header and payload, an HTTP header's
  // fields) are gathered into one record instead of a record each. The
  // gathering buffer is the thread's: a retry gathers the same bytes again.
  template <class ConstBuffers>
  struct WriteStep {
    static constexpr std::size_t kGather = 16 * 1024;  // one TLS record's payload
    ConstBuffers buffers;
    Step operator()(TlsConnection& tls) const {
      auto first = boost::asio::buffer_sequence_begin(buffers);
      auto end = boost::asio::buffer_sequence_end(buffers);
      while (first != end && boost::asio::const_buffer(*first).size() == 0) ++first;
      if (first == end) return {};
      boost::asio::const_buffer head(*first);
      if (head.size() >= kGather || std::next(first) == end)
        return tls.Write(head.data(), head.size());
      thread_local std::array<char, kGather> gathered;
      std::size_t n = boost::asio::buffer_copy(boost::asio::buffer(gathered), buffers);
      return tls.Write(gathered.data(), n);
    }
  };

  // Runs `step` until OpenSSL no longer waits on the socket.
  template <class Action, bool kHandshake>
  struct TlsOp {
    Stream* stream;
    Action step;
    bool waited = false;    // false: still inside the initiating call
    bool finished = false;  // the result is ready, completion was posted
    Step result{};

    template <class Self>
    void operator()(Self& self, boost::system::error_code ec = {}) {
      if (finished) return Complete(self, result);
      if (!ec && !stream->socket_.is_open()) ec = boost::asio::error::bad_descriptor;
      Step step_result = ec ? Step{TlsConnection::Want::nothing, 0, ec} : step(stream->tls_);
      using Want = TlsConnection::Want;
      if (step_result.want != Want::nothing) {
        waited = true;
        auto wait =
            step_result.want == Want::readable ? tcp::socket::wait_read : tcp::socket::wait_write;
        return stream->socket_.async_wait(wait, std::move(self));
      }
      if (!waited) {  // never complete inside the initiating function
        finished = true;
        result = step_result;
        return boost::asio::post(std::move(self));
      }
      Complete(self, step_result);
    }

    template <class Self>
    static void Complete(Self& self, const Step& r) {
      if constexpr (kHandshake) {
        self.complete(r.ec);
      } else {
        self.complete(r.ec, r.bytes);
      }
    }
  };

  tcp::socket socket_;
  TlsConnection tls_;  // empty: plain TCP
};

}  // namespace ferry::net
