#include "service/session_registry.h"

#include <vector>

#include "service/session.h"

namespace ferry {

std::shared_ptr<ClientSession> SessionRegistry::Register(const std::string& client_id,
                                                         const std::shared_ptr<ClientSession>& s) {
  std::lock_guard lock(mu_);
  std::weak_ptr<ClientSession>& slot = sessions_[client_id];
  std::shared_ptr<ClientSession> previous = slot.lock();
  slot = s;
  return previous;
}

void SessionRegistry::Unregister(const std::string& client_id, const ClientSession* s) {
  std::lock_guard lock(mu_);
  auto it = sessions_.find(client_id);
  if (it == sessions_.end()) return;
  auto current = it->second.lock();
  if (!current || current.get() == s) sessions_.erase(it);
}

void SessionRegistry::CloseAll(std::uint16_t code, const std::string& reason) {
  std::vector<std::shared_ptr<ClientSession>> open;
  {
    std::lock_guard lock(mu_);
    for (auto& [client, weak] : sessions_) {
      if (auto s = weak.lock()) open.push_back(std::move(s));
    }
  }
  for (auto& s : open) s->CloseAsync(code, reason);  // outside the lock
}

std::size_t SessionRegistry::Count() {
  std::lock_guard lock(mu_);
  return sessions_.size();
}

std::shared_ptr<ClientSession> SessionRegistry::Find(const std::string& client_id) {
  std::lock_guard lock(mu_);
  auto it = sessions_.find(client_id);
  return it == sessions_.end() ? nullptr : it->second.lock();
}

}  // namespace ferry
