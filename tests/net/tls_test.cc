// TlsConnection (src/net/tls.h) over a socketpair, against an OpenSSL client:
// what a peer that goes away does to the server's side.
#include "net/tls.h"

#include <gtest/gtest.h>
#include <openssl/ssl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <boost/asio/error.hpp>
#include <csignal>
#include <cstdlib>
#include <filesystem>
#include <string>

namespace ferry::net {
namespace {

namespace fs = std::filesystem;

class TlsPair : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("ferry-tls-unit-" + std::to_string(::getpid()));
    fs::create_directories(dir_);
    std::string cert = (dir_ / "cert.pem").string(), key = (dir_ / "key.pem").string();
    std::string command =
        "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 1"
        " -subj /CN=unit -keyout " +
        key + " -out " + cert + " 2>/dev/null";
    ASSERT_EQ(std::system(command.c_str()), 0);
    context_ = std::make_unique<TlsContext>(cert, key);
    ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, fds_), 0);
    server_ = context_->Accept(fds_[0]);
    ASSERT_TRUE(server_);
    client_ctx_ = SSL_CTX_new(TLS_client_method());
    client_ = SSL_new(client_ctx_);
    SSL_set_fd(client_, fds_[1]);
    SSL_set_connect_state(client_);
    // Both sides step until both are through (non-blocking: each waits on the other).
    bool server_done = false, client_done = false;
    for (int i = 0; i < 100 && !(server_done && client_done); ++i) {
      if (!client_done) client_done = SSL_do_handshake(client_) == 1;
      if (!server_done) {
        TlsConnection::Step step = server_.Handshake();
        ASSERT_FALSE(step.ec) << step.ec.message();
        server_done = step.want == TlsConnection::Want::nothing;
      }
    }
    ASSERT_TRUE(server_done && client_done);
  }

  void TearDown() override {
    server_ = TlsConnection();
    if (client_) SSL_free(client_);
    if (client_ctx_) SSL_CTX_free(client_ctx_);
    if (fds_[0] >= 0) ::close(fds_[0]);
    if (fds_[1] >= 0) ::close(fds_[1]);
    std::error_code ignored;
    fs::remove_all(dir_, ignored);
  }

  fs::path dir_;
  std::unique_ptr<TlsContext> context_;
  int fds_[2] = {-1, -1};
  TlsConnection server_;
  SSL_CTX* client_ctx_ = nullptr;
  SSL* client_ = nullptr;
};

TEST_F(TlsPair, ARecordWrittenAndReadBack) {
  ASSERT_EQ(SSL_write(client_, "ping", 4), 4);
  char buffer[16];
  TlsConnection::Step read = server_.Read(buffer, sizeof buffer);
  ASSERT_FALSE(read.ec) << read.ec.message();
  EXPECT_EQ(std::string(buffer, read.bytes), "ping");
  TlsConnection::Step again = server_.Read(buffer, sizeof buffer);
  EXPECT_EQ(again.want, TlsConnection::Want::readable);  // nothing more: wait
}

// Found by the TSan run of the e2e tests (ferryd ended by signal 13):
// OpenSSL's socket BIO writes with write(), which raises SIGPIPE on a
// connection the peer has closed. A vanished peer must be an EPIPE error,
// with this test process (SIGPIPE at its default: terminate) still alive.
TEST_F(TlsPair, WritingToAVanishedPeerIsAnErrorNotASignal) {
  std::signal(SIGPIPE, SIG_DFL);
  SSL_free(client_);
  client_ = nullptr;
  ::close(fds_[1]);
  fds_[1] = -1;
  TlsConnection::Step write = server_.Write("late", 4);
  EXPECT_EQ(write.want, TlsConnection::Want::nothing);
  EXPECT_EQ(write.ec, boost::system::error_code(EPIPE, boost::system::system_category()))
      << write.ec.message();
  server_.NotifyClose();  // after the failure: nothing written, nothing raised
  SUCCEED() << "still running";
}

TEST_F(TlsPair, ClosingWithoutCloseNotifyReadsAsEndOfFile) {
  char ticket[16];
  SSL_read(client_, ticket, sizeof ticket);  // takes the session tickets: nothing left unread
  SSL_free(client_);
  client_ = nullptr;
  ::close(fds_[1]);
  fds_[1] = -1;
  char buffer[16];
  TlsConnection::Step read = server_.Read(buffer, sizeof buffer);
  EXPECT_EQ(read.ec, boost::asio::error::eof);
  server_.NotifyClose();  // close_notify to the gone peer: an error ignored, no signal
}

}  // namespace
}  // namespace ferry::net
