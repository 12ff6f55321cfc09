// The Ferry client library, shared by the `ferry` CLI, the load generator and
// the end-to-end tests. Synchronous and single-threaded: each object owns its
// own io_context and every blocking call takes a timeout, so a test never
// hangs on a silent server.
//
// Layers: Http() for the JSON account API; WsConnection for raw WebSocket
// frames (bad-input tests need that); Session for the protocol proper —
// numbered requests, buffered events, hello/ack/sync. Not thread-safe: use
// one object from one thread.
#pragma once

#include <boost/json/object.hpp>
#include <boost/json/value.hpp>
#include <chrono>
#include <cstdint>
#include <deque>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>

namespace ferry::client {

using namespace std::chrono_literals;
using Ms = std::chrono::milliseconds;

struct Endpoint {
  std::string host = "127.0.0.1";
  std::uint16_t port = 8080;
};

// Accepts "HOST:PORT", "http://HOST:PORT", "ws://HOST:PORT" (a path is
// ignored). Throws std::invalid_argument on anything else.
Endpoint ParseServer(std::string_view url);

// A transport-level failure: cannot connect, timed out, connection lost.
struct ConnectionError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

struct HttpReply {
  int status = 0;
  boost::json::value body;  // parsed JSON, or null when the body is not JSON
  std::string raw;          // the body as received
};

// One HTTP/1.1 request on a fresh connection. `body` is sent as JSON when
// non-empty; `token` as a Bearer token when non-empty.
HttpReply Http(const Endpoint& server, std::string_view method, std::string_view target,
               std::string body = {}, std::string_view token = {}, Ms timeout = 10s);

struct CloseInfo {
  std::uint16_t code = 0;  // 1006 when the TCP connection dropped without a close frame
  std::string reason;
};

// A raw WebSocket connection to /v1/ws.
class WsConnection {
 public:
  // Connects and upgrades; throws ConnectionError.
  static std::unique_ptr<WsConnection> Connect(const Endpoint& server, Ms timeout = 5s);
  ~WsConnection();

  void SendText(std::string_view text);
  void SendBinary(std::string_view data);
  void Send(const boost::json::object& object);

  // The next text frame, or nullopt on timeout or once the connection closed
  // (then close_info() is set). Binary frames are skipped.
  std::optional<std::string> ReceiveText(Ms timeout);
  std::optional<boost::json::object> Receive(Ms timeout);

  // Reads (discarding frames) until the server closes; the close, or nullopt
  // on timeout.
  std::optional<CloseInfo> WaitClosed(Ms timeout);
  const std::optional<CloseInfo>& close_info() const { return close_info_; }

  // Sends a close frame and waits briefly for the server's.
  void Close();
  // Drops the TCP connection without a close handshake (a "dead" client).
  void Abort();

  struct Impl;

 private:
  explicit WsConnection(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
  std::optional<CloseInfo> close_info_;
};

// An error reply to a request.
struct RequestError : std::runtime_error {
  RequestError(std::string code_, std::string message)
      : std::runtime_error(code_ + ": " + message), code(std::move(code_)) {}
  std::string code;
};

// The protocol on top of a WsConnection: requests get increasing integer ids
// and wait for their reply; events that arrive meanwhile are queued for
// NextEvent(). Tracks the highest seq seen.
class Session {
 public:
  explicit Session(std::unique_ptr<WsConnection> ws) : ws_(std::move(ws)) {}
  static std::unique_ptr<Session> Connect(const Endpoint& server, Ms timeout = 5s);

  // Sends hello; returns the ok reply (user, clientId, head, epoch). Throws
  // RequestError for an error reply, ConnectionError if the server closed.
  boost::json::object Hello(const std::string& token, std::optional<std::int64_t> after = {},
                            Ms timeout = 10s);

  // Sends `request` (its "id" is set here) and returns the ok reply; throws
  // RequestError on an error reply, ConnectionError on timeout or close.
  boost::json::object Request(boost::json::object request, Ms timeout = 10s);
  // Like Request but returns the raw reply (ok or error) instead of throwing.
  boost::json::object Call(boost::json::object request, Ms timeout = 10s);

  // The next event (message, chat, ping), or nullopt on timeout/close.
  std::optional<boost::json::object> NextEvent(Ms timeout);
  // The next message/chat event, answering pings (pong, then sync when
  // behind) on the way. nullopt on timeout/close.
  std::optional<boost::json::object> NextEntry(Ms timeout);

  void Ack(std::int64_t up_to);  // no id: fire and forget
  // Convenience requests.
  std::string CreateChat(const std::vector<std::string>& members, const std::string& name = {});
  boost::json::object Send(const std::string& chat_id, const std::string& body,
                           const std::string& client_msg_id = {});

  WsConnection& ws() { return *ws_; }
  std::int64_t last_seq() const { return last_seq_; }

 private:
  std::optional<boost::json::object> ReadOne(Ms timeout);

  std::unique_ptr<WsConnection> ws_;
  std::deque<boost::json::object> events_;
  std::int64_t next_id_ = 1;
  std::int64_t last_seq_ = 0;  // highest entry seq received
  std::int64_t next_msg_ = 1;
};

}  // namespace ferry::client
