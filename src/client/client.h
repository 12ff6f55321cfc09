// The Ferry client library, shared by the `ferry` CLI, the load generator and
// the end-to-end tests. Synchronous and single-threaded: each object owns its
// own io_context and every blocking call takes a timeout, so a test never
// hangs on a silent server.
//
// Layers: Http() for the JSON account API; PutFile/GetToFile (and the
// lower-level PutBytes/GetUrl) for pre-signed blob URLs; WsConnection for raw
// WebSocket frames (bad-input tests need that); Session for the protocol
// proper — numbered requests, buffered events, hello/ack/sync. Not
// thread-safe: use one object from one thread.
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
#include <utility>
#include <vector>

namespace ferry::client {

using namespace std::chrono_literals;
using Ms = std::chrono::milliseconds;

struct Endpoint {
  std::string host = "127.0.0.1";
  std::uint16_t port = 8080;
  // TLS (https, wss): the server's certificate must verify against the
  // system's trusted certificates, or those of the files OpenSSL's
  // SSL_CERT_FILE / SSL_CERT_DIR name, and match `host`.
  bool tls = false;
};

// Accepts "HOST:PORT", "http://HOST:PORT", "ws://HOST:PORT" (plain),
// "https://HOST:PORT", "wss://HOST:PORT" (TLS); the port may be left out
// after a scheme (80 or 443); a path is ignored. Throws
// std::invalid_argument on anything else.
Endpoint ParseServer(std::string_view url);

// A transport-level failure: cannot connect, timed out, connection lost.
struct ConnectionError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

struct HttpReply {
  int status = 0;
  boost::json::value body;  // parsed JSON, or null when the body is not JSON
  std::string raw;          // the body as received (empty for GetToFile's 2xx)
  std::vector<std::pair<std::string, std::string>> headers;  // response headers, as received
};

// One HTTP/1.1 request on a fresh connection. `body` is sent as JSON when
// non-empty; `token` as a Bearer token when non-empty.
HttpReply Http(const Endpoint& server, std::string_view method, std::string_view target,
               std::string body = {}, std::string_view token = {}, Ms timeout = 10s);

// ---- Blob URLs (pre-signed, absolute) ----
// Every call below uses a fresh connection and one deadline for the whole
// exchange (connect, send, receive): on timeout or a transport failure it
// throws ConnectionError. The response is read while the request is still
// being sent, so a server that refuses a large upload early (403, 411, ...)
// is reported with its status instead of a broken pipe.

// Splits "http[s]://host:port/path?query" into where to connect and the raw
// request target. Throws std::invalid_argument for anything but http:// and
// https://.
struct UrlParts {
  Endpoint endpoint;
  std::string host_header;  // host[:port] exactly as in the URL (signed by SigV4)
  std::string target;       // raw path?query, percent-escapes untouched; "/" if empty
};
UrlParts ParseUrl(std::string_view url);

// PUT of an in-memory body with extra headers. `chunked`: Transfer-Encoding:
// chunked instead of Content-Length. `content_length`: send this
// Content-Length value whatever the body size (a lying client); the reply is
// then awaited only until `timeout` (ConnectionError if none).
HttpReply PutBytes(std::string_view url, std::string_view body,
                   const std::vector<std::pair<std::string, std::string>>& headers,
                   Ms timeout = 30s, bool chunked = false,
                   std::optional<std::uint64_t> content_length = {});

// GET (or HEAD with method = "HEAD") with extra headers (e.g. Range); the
// body in memory (no size limit: use GetToFile for big blobs).
HttpReply GetUrl(std::string_view url,
                 const std::vector<std::pair<std::string, std::string>>& headers = {},
                 Ms timeout = 30s, std::string_view method = "GET");

// Streams the file at `path` to a pre-signed PUT URL with Content-Length =
// file size, Content-Type = content_type and, when sha256_hex (64 hex digits)
// is non-empty, x-amz-checksum-sha256 = base64(raw sha256). The file is never
// loaded whole. Throws std::runtime_error if the file cannot be opened,
// std::invalid_argument for a malformed sha256_hex.
HttpReply PutFile(std::string_view url, const std::string& path, std::string_view content_type,
                  std::string_view sha256_hex = {}, Ms timeout = 300s);

// Streams a GET into `path` (created or truncated), refusing bodies over
// `max_bytes`. On a 2xx the body is in the file and reply.raw is empty; on
// any other status `path` is removed and reply.raw/body hold the error body.
// On a transport failure, timeout or a body over max_bytes, `path` is removed
// and ConnectionError thrown.
HttpReply GetToFile(std::string_view url, const std::string& path, std::uint64_t max_bytes,
                    Ms timeout = 300s);

// Lowercase hex SHA-256 of a file, read in chunks; "" if it cannot be read.
std::string FileSha256(const std::string& path);

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
                           const std::string& client_msg_id = {},
                           const std::vector<std::string>& attachments = {});
  // attachTarget: returns the ok reply (attachmentId, uploadUrl, expiresAt).
  // `sha256_hex` is left out of the request when empty.
  boost::json::object AttachTarget(const std::string& content_type, std::uint64_t size,
                                   const std::string& sha256_hex = {});

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
