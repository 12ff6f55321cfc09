// SessionRegistry: the authenticated sessions of this node, at most one per
// client, so the bus router can find a client's connection. Holds weak
// references: a registered session still goes away with its connection.
// Thread-safe.
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>

namespace ferry {

class ClientSession;

class SessionRegistry {
 public:
  // Registers `s` for `client_id`. Returns the session it replaced, if any
  // (the caller closes it with 4409).
  std::shared_ptr<ClientSession> Register(const std::string& client_id,
                                          const std::shared_ptr<ClientSession>& s);
  // Removes `s` if it is still the client's registered session.
  void Unregister(const std::string& client_id, const ClientSession* s);
  std::shared_ptr<ClientSession> Find(const std::string& client_id);
  // Asks every registered session to close with `code`.
  void CloseAll(std::uint16_t code, const std::string& reason);
  std::size_t Count();

 private:
  std::mutex mu_;
  std::unordered_map<std::string, std::weak_ptr<ClientSession>> sessions_;  // GUARDED_BY(mu_)
};

}  // namespace ferry
