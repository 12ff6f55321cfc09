// ConnectionLimits: how many connections are open, in all and per source
// address, and how many of them are not yet authenticated (an HTTP
// connection, or a WebSocket before its hello is accepted), against the caps
// in Config. The acceptor asks Admit() for every accepted socket; a refused
// one is answered and closed at once (net/server.cc), so no client can take
// the descriptors every other client needs.
//
// A Ticket is one admitted connection's place: it moves from the HTTP
// session to the WebSocket session and gives the place back when destroyed.
// Thread-safe; a Ticket belongs to one connection's strand.
#pragma once

#include <boost/asio/ip/address.hpp>
#include <cstddef>
#include <mutex>
#include <unordered_map>

#include "common/config.h"

namespace ferry::net {

class ConnectionLimits {
 public:
  // `max_connections`: every connection in all (the descriptors there are).
  ConnectionLimits(const Config& config, std::size_t max_connections);

  class Ticket {
   public:
    Ticket() = default;
    Ticket(Ticket&& other) noexcept { *this = std::move(other); }
    Ticket& operator=(Ticket&& other) noexcept;
    ~Ticket() { Release(); }

    // The connection said a valid hello: it no longer counts as unauthenticated.
    void Authenticated();

   private:
    friend class ConnectionLimits;
    void Release();

    ConnectionLimits* limits_ = nullptr;
    boost::asio::ip::address address_;
    bool authenticated_ = false;
  };

  enum class Refusal {
    none,
    server_full,             // max_connections, or max_unauthenticated, reached: 503
    address_full,            // max_connections_per_address reached: 429
    address_unauthenticated  // max_unauthenticated_per_address reached: 429
  };

  // Takes a place for a new connection from `address`, or says why not.
  Refusal Admit(const boost::asio::ip::address& address, Ticket* ticket);

  std::size_t open() const;
  std::size_t unauthenticated() const;

 private:
  struct Counts {
    std::size_t open = 0;
    std::size_t unauthenticated = 0;
  };
  struct AddressHash {
    std::size_t operator()(const boost::asio::ip::address& a) const;
  };

  void Release(const boost::asio::ip::address& address, bool authenticated);
  void Authenticate(const boost::asio::ip::address& address);

  const Config& config_;
  const std::size_t max_connections_;
  mutable std::mutex mu_;
  Counts total_;                                                                  // GUARDED_BY(mu_)
  std::unordered_map<boost::asio::ip::address, Counts, AddressHash> by_address_;  // GUARDED_BY(mu_)
};

}  // namespace ferry::net
