// OpenSSL behind TlsContext and TlsConnection: configuration, and the
// mapping of OpenSSL's outcomes to "wait for readable/writable" or an
// error_code. Every call clears the thread's OpenSSL error queue first:
// SSL_get_error reads it, and a stale entry from another connection on the
// same thread would turn a "would block" into a failure.
#include "net/tls.h"

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <sys/socket.h>

#include <boost/asio/error.hpp>
#include <boost/asio/ssl/error.hpp>
#include <cerrno>
#include <memory>
#include <stdexcept>

namespace ferry::net {
namespace asio = boost::asio;

namespace {

// OpenSSL's reason for the last failure, and the queue cleared.
std::string OpenSslReason() {
  unsigned long e = ERR_peek_last_error();
  char text[256] = "unknown error";
  if (e != 0) ERR_error_string_n(e, text, sizeof text);
  ERR_clear_error();
  return text;
}

// The outcome of an OpenSSL call that returned `rc` (1: success).
TlsConnection::Step Outcome(SSL* ssl, int rc, std::size_t bytes) {
  using Want = TlsConnection::Want;
  if (rc == 1) return {Want::nothing, bytes, {}};
  int err = SSL_get_error(ssl, rc);
  switch (err) {
    case SSL_ERROR_WANT_READ:
      return {Want::readable, 0, {}};
    case SSL_ERROR_WANT_WRITE:
      return {Want::writable, 0, {}};
    case SSL_ERROR_ZERO_RETURN:  // close_notify, or EOF (SSL_OP_IGNORE_UNEXPECTED_EOF)
      return {Want::nothing, 0, asio::error::eof};
    case SSL_ERROR_SYSCALL: {
      int sys = errno;
      ERR_clear_error();
      if (sys == 0) return {Want::nothing, 0, asio::error::eof};
      return {Want::nothing, 0, boost::system::error_code(sys, boost::system::system_category())};
    }
    default: {  // SSL_ERROR_SSL: a protocol error (not TLS, bad record, no shared cipher...)
      unsigned long e = ERR_peek_last_error();
      ERR_clear_error();
      return {Want::nothing, 0,
              boost::system::error_code(static_cast<int>(e), asio::error::get_ssl_category())};
    }
  }
}

// A socket BIO that writes with send(MSG_NOSIGNAL). OpenSSL's own writes
// with write(), which raises SIGPIPE (ending the process) on a connection
// the peer has closed: with TLS, every vanished client could take the
// server down. Everything but the write is the socket BIO's.
int SendNoSignal(BIO* bio, const char* data, int size) {
  int fd = -1;
  BIO_get_fd(bio, &fd);
  errno = 0;
  ssize_t n = ::send(fd, data, static_cast<std::size_t>(size), MSG_NOSIGNAL);
  BIO_clear_retry_flags(bio);
  if (n <= 0 && BIO_sock_should_retry(static_cast<int>(n))) BIO_set_retry_write(bio);
  return static_cast<int>(n);
}

BIO_METHOD* SocketMethodNoSignal() {
  static BIO_METHOD* method = [] {
    const BIO_METHOD* socket = BIO_s_socket();
    BIO_METHOD* m = BIO_meth_new(BIO_TYPE_SOCKET, "socket, no SIGPIPE");
    BIO_meth_set_write(m, SendNoSignal);
    BIO_meth_set_read(m, BIO_meth_get_read(socket));
    BIO_meth_set_puts(m, BIO_meth_get_puts(socket));
    BIO_meth_set_ctrl(m, BIO_meth_get_ctrl(socket));
    BIO_meth_set_create(m, BIO_meth_get_create(socket));
    BIO_meth_set_destroy(m, BIO_meth_get_destroy(socket));
    return m;
  }();
  return method;
}

}  // namespace

TlsContext::TlsContext(const std::string& cert_file, const std::string& key_file) {
  ERR_clear_error();
  std::unique_ptr<SSL_CTX, decltype(&SSL_CTX_free)> ctx(SSL_CTX_new(TLS_server_method()),
                                                        SSL_CTX_free);
  if (!ctx) throw std::runtime_error("TLS: cannot create a context: " + OpenSslReason());
  SSL_CTX_set_min_proto_version(ctx.get(), TLS1_2_VERSION);
  // Record buffers only while data is pending (an idle connection holds
  // none); writes that return after some records; a retried write may come
  // from another address (the send queue's strings move).
  SSL_CTX_set_mode(ctx.get(), SSL_MODE_RELEASE_BUFFERS | SSL_MODE_ENABLE_PARTIAL_WRITE |
                                  SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
  // A peer that closes without close_notify has ended the connection, not
  // attacked it: HTTP and WebSocket frame their own messages.
  SSL_CTX_set_options(ctx.get(), SSL_OP_IGNORE_UNEXPECTED_EOF | SSL_OP_NO_RENEGOTIATION |
                                     SSL_OP_CIPHER_SERVER_PREFERENCE);
  // Resumption by stateless tickets only: no per-session memory on the server.
  SSL_CTX_set_session_cache_mode(ctx.get(), SSL_SESS_CACHE_OFF);
  if (SSL_CTX_use_certificate_chain_file(ctx.get(), cert_file.c_str()) != 1) {
    throw std::runtime_error("--tls-cert " + cert_file + ": " + OpenSslReason());
  }
  if (SSL_CTX_use_PrivateKey_file(ctx.get(), key_file.c_str(), SSL_FILETYPE_PEM) != 1) {
    throw std::runtime_error("--tls-key " + key_file + ": " + OpenSslReason());
  }
  if (SSL_CTX_check_private_key(ctx.get()) != 1) {
    throw std::runtime_error("--tls-key " + key_file + " does not match --tls-cert " + cert_file +
                             ": " + OpenSslReason());
  }
  ctx_ = ctx.release();
}

TlsContext::~TlsContext() { SSL_CTX_free(ctx_); }

TlsConnection TlsContext::Accept(int fd) const {
  ERR_clear_error();
  SSL* ssl = SSL_new(ctx_);
  if (ssl == nullptr) return {};
  BIO* bio = BIO_new(SocketMethodNoSignal());
  if (bio == nullptr) {
    SSL_free(ssl);
    ERR_clear_error();
    return {};
  }
  BIO_set_fd(bio, fd, BIO_NOCLOSE);
  SSL_set_bio(ssl, bio, bio);  // the SSL owns it now
  SSL_set_accept_state(ssl);
  return TlsConnection(ssl);
}

TlsConnection& TlsConnection::operator=(TlsConnection&& other) noexcept {
  if (this != &other) {
    if (ssl_) SSL_free(ssl_);
    ssl_ = other.ssl_;
    failed_ = other.failed_;
    other.ssl_ = nullptr;
  }
  return *this;
}

TlsConnection::Step TlsConnection::Checked(Step step) {
  if (step.ec && step.ec != asio::error::eof) failed_ = true;
  return step;
}

TlsConnection::~TlsConnection() {
  if (ssl_) SSL_free(ssl_);
}

TlsConnection::Step TlsConnection::Handshake() {
  ERR_clear_error();
  return Checked(Outcome(ssl_, SSL_do_handshake(ssl_), 0));
}

TlsConnection::Step TlsConnection::Read(void* data, std::size_t size) {
  ERR_clear_error();
  std::size_t n = 0;
  int rc = SSL_read_ex(ssl_, data, size, &n);
  Step step = Checked(Outcome(ssl_, rc, n));
  // Waiting for the peer: the read buffer (16 KiB and more) is freed unless
  // it holds part of a record. SSL_MODE_RELEASE_BUFFERS frees it only
  // after a record has been read, not when the read would block, and an
  // idle connection always has a read waiting.
  if (step.want == Want::readable) SSL_free_buffers(ssl_);
  return step;
}

TlsConnection::Step TlsConnection::Write(const void* data, std::size_t size) {
  ERR_clear_error();
  std::size_t n = 0;
  int rc = SSL_write_ex(ssl_, data, size, &n);
  return Checked(Outcome(ssl_, rc, n));
}

void TlsConnection::NotifyClose() {
  ERR_clear_error();
  // Not after a fatal error, and not during the handshake: OpenSSL refuses both.
  if (!failed_ && !SSL_in_init(ssl_) && (SSL_get_shutdown(ssl_) & SSL_SENT_SHUTDOWN) == 0) {
    SSL_shutdown(ssl_);
  }
  ERR_clear_error();
}

}  // namespace ferry::net
