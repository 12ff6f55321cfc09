// Server: ferryd's network face. One listening port serves HTTP (accounts,
// health, metrics, the web client at /) and the WebSocket endpoint /v1/ws;
// sessions hand decoded work to the Service. Boost.Asio/Beast stay behind
// this header (pimpl), so nothing else compiles them.
//
// Threading: the constructor binds (throws std::system_error if it cannot);
// Run() blocks, serving on `config.io_threads` threads until Stop() (callable
// from any thread or a signal handler thread) or SIGINT/SIGTERM.
#pragma once

#include <cstdint>
#include <memory>

#include "common/config.h"

namespace ferry {
class BuiltinBlobStore;
class Service;
}  // namespace ferry

namespace ferry::net {

class WebRoot;

class Server {
 public:
  // `blobs`: the built-in blob store whose files this server serves under
  // /blobs/ (its signed URLs point here), or null with another blob backend.
  // `web`: the web client's files, served at / (null: none). Both must
  // outlive the server.
  Server(const Config& config, Service& service, BuiltinBlobStore* blobs, const WebRoot* web);
  ~Server();

  std::uint16_t port() const;  // the bound port (useful with port 0)
  void Run();
  // Stops gracefully (see server.cc); Run() then returns. Any thread.
  void Stop();

  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace ferry::net
