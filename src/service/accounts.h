// Accounts: users, their clients (devices) and tokens -- the HTTP API's
// register, login, client list and client deletion, and the token check of
// a WebSocket hello. Argon2id hashing runs on a small pool of its own (tens
// of milliseconds and 64 MiB each: never on an I/O or store thread), store
// work on the store pool.
//
// Abuse (docs/security.md): the hash pool is shared fairly between source
// addresses, each with a few jobs at most waiting, so one address flooding
// logins delays others by a job or two, not by its backlog. Logins and
// registrations are rate-limited per address, failed logins per account.
// A login for an unknown user verifies the password against a dummy hash,
// so that it takes as long as a wrong password and tells nobody whether the
// account exists.
//
// Thread-safe. Every `done` is called exactly once, on any thread.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "bus/bus.h"
#include "common/clock.h"
#include "common/config.h"
#include "common/rate_limit.h"
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

  // The rate limits to check before Register or Login from `address`:
  // 0 to go ahead, else the milliseconds to wait (answer rate_limited).
  Millis AdmitRegister(const std::string& address);
  Millis AdmitLogin(const std::string& user, const std::string& address);

  // ok | bad_request (bad user name or password) | user_exists |
  // rate_limited (hashing queue full, or `address` has its share waiting: retry in a second) |
  // unavailable
  void Register(std::string user, std::string password, const std::string& address,
                Done<void> done);

  struct LoginReply {
    std::string token;
    std::string client_id;
  };
  // ok | bad_request | unauthorized (unknown user or wrong password) |
  // too_many_clients (then `clients` lists the user's clients) | rate_limited (as Register) |
  // unavailable
  void Login(std::string user, std::string password, std::string device, const std::string& address,
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
  const std::string dummy_hash_;  // what an unknown user's password is checked against
  RateLimiter login_per_address_;
  RateLimiter login_failures_per_user_;
  RateLimiter register_per_address_;
};

}  // namespace ferry
