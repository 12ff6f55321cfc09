// Accounts: users, their clients (devices) and tokens -- the HTTP API's
// register, login, client list and client deletion, and the token check of
// a WebSocket hello. Argon2id hashing runs on a small pool of its own (tens
// of milliseconds and 64 MiB each: never on an I/O or store thread), store
// work on the store pool.
//
// Thread-safe. Every `done` is called exactly once, on any thread.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "bus/bus.h"
#include "common/clock.h"
#include "common/config.h"
#include "service/store_pool.h"
#include "service/work_pool.h"
#include "store/store.h"

namespace ferry {

class Accounts {
 public:
  template <class T>
  using Done = std::function<void(Result<T>)>;

  // All must outlive the Accounts.
  Accounts(const Config& config, StorePool& store, Bus& bus, Clock& clock);
  // Finishes queued hashing; from then on requests needing it are refused.
  void Stop() { hash_pool_.Stop(); }

  // ok | bad_request (bad user name or password) | user_exists | rate_limited | unavailable
  void Register(std::string user, std::string password, Done<void> done);

  struct LoginReply {
    std::string token;
    std::string client_id;
  };
  // ok | bad_request | unauthorized (unknown user or wrong password) |
  // too_many_clients (then `clients` lists the user's clients) | rate_limited | unavailable
  void Login(std::string user, std::string password, std::string device,
             std::function<void(Result<LoginReply>, std::vector<ClientInfo> clients)> done);
  // ok | unauthorized
  void Authenticate(const std::string& token, Done<ClientInfo> done);
  // ok | unauthorized
  void ListClients(const std::string& token, Done<std::vector<ClientInfo>> done);
  // ok | unauthorized | not_found. The client's connections, on every node,
  // close with 4401.
  void DeleteClient(const std::string& token, std::string client_id, Done<void> done);

 private:
  const Config& config_;
  StorePool& store_;
  Bus& bus_;
  Clock& clock_;
  WorkPool hash_pool_;
};

}  // namespace ferry
