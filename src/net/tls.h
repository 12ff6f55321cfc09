// TLS for ferryd's one port, done by OpenSSL directly on the connection's
// socket (a socket BIO that sends with MSG_NOSIGNAL) in non-blocking mode: a read or write is
// tried, and when OpenSSL wants the socket readable or writable the caller waits for that and tries
// again. Private to net/; OpenSSL's headers stay in tls.cc.
//
// Why not asio::ssl::stream: it gives every connection two 17 KiB buffers
// of its own plus a 2 x 17 KiB BIO pair, held while the connection is idle,
// and idle connections are most of a chat server's. Here a connection holds
// only OpenSSL's SSL object: with SSL_MODE_RELEASE_BUFFERS its record
// buffers are freed whenever nothing is pending (docs/security.md, "TLS").
//
// Thread-safety: a TlsContext is immutable once loaded and shared by every
// connection; a TlsConnection is used from its connection's strand only.
#pragma once

#include <boost/system/error_code.hpp>
#include <cstddef>
#include <memory>
#include <string>

struct ssl_st;
struct ssl_ctx_st;

namespace ferry::net {

class TlsConnection;

// The server's certificate chain and key.
class TlsContext {
 public:
  // Loads a PEM certificate chain (leaf first) and its PEM private key.
  // Throws std::runtime_error naming the file and OpenSSL's reason when
  // either cannot be read or the key does not match the certificate.
  TlsContext(const std::string& cert_file, const std::string& key_file);
  ~TlsContext();
  TlsContext(const TlsContext&) = delete;
  TlsContext& operator=(const TlsContext&) = delete;

  // A server-side TLS connection over the open socket `fd` (not owned).
  TlsConnection Accept(int fd) const;

 private:
  ssl_ctx_st* ctx_;
};

// One connection's TLS state. Movable, not copyable.
class TlsConnection {
 public:
  // What one non-blocking step needs next.
  enum class Want { nothing, readable, writable };
  struct Step {
    Want want = Want::nothing;     // nothing: finished with `ec`
    std::size_t bytes = 0;         // read or written (when finished without error)
    boost::system::error_code ec;  // asio::error::eof on the peer's close_notify or EOF
  };

  TlsConnection() = default;
  explicit TlsConnection(ssl_st* ssl) : ssl_(ssl) {}
  TlsConnection(TlsConnection&& other) noexcept : ssl_(other.ssl_), failed_(other.failed_) {
    other.ssl_ = nullptr;
  }
  TlsConnection& operator=(TlsConnection&& other) noexcept;
  ~TlsConnection();

  explicit operator bool() const { return ssl_ != nullptr; }

  // Each step requires the socket still open (its descriptor could
  // otherwise be another connection's by now).
  Step Handshake();
  Step Read(void* data, std::size_t size);
  // Writes some or all of the bytes (as whole TLS records). After
  // `Want::writable`, the same bytes must be offered again.
  Step Write(const void* data, std::size_t size);
  // Sends close_notify if the socket takes it now; never waits.
  void NotifyClose();

 private:
  Step Checked(Step step);  // notes a fatal error

  ssl_st* ssl_ = nullptr;
  bool failed_ = false;  // a fatal error: no close_notify
};

}  // namespace ferry::net
