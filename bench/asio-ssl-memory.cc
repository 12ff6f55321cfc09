// How much memory one asio::ssl::stream holds before any handshake: the
// figure docs/security.md ("TLS") compares ferryd's own TLS layer with.
// Not part of the build (it is run once, by hand):
//
//   g++ -O1 -std=c++20 bench/asio-ssl-memory.cc -o /tmp/asio-ssl-memory -lssl -lcrypto
//   /tmp/asio-ssl-memory
#include <malloc.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <cstdio>
#include <memory>
#include <vector>

int main() {
  using Stream = boost::asio::ssl::stream<boost::asio::ip::tcp::socket>;
  boost::asio::io_context ioc;
  boost::asio::ssl::context context(boost::asio::ssl::context::tls_server);
  SSL_CTX_set_mode(context.native_handle(), SSL_MODE_RELEASE_BUFFERS);
  std::vector<std::unique_ptr<Stream>> streams;
  streams.push_back(std::make_unique<Stream>(ioc, context));  // first-use allocations
  constexpr int kStreams = 1000;
  std::size_t before = mallinfo2().uordblks;
  for (int i = 0; i < kStreams; ++i) streams.push_back(std::make_unique<Stream>(ioc, context));
  std::size_t after = mallinfo2().uordblks;
  std::printf("asio::ssl::stream<tcp::socket>, no handshake yet: %zu bytes each\n",
              (after - before) / kStreams);
}
