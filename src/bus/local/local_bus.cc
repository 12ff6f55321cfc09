#include "bus/local/local_bus.h"

namespace ferry {

void LocalBus::SetHandler(Handler handler) {
  std::lock_guard lock(mu_);
  handler_ = std::move(handler);
}

void LocalBus::Subscribe(const std::string& channel, std::function<void()> ready) {
  {
    std::lock_guard lock(mu_);
    ++subscriptions_[channel];
  }
  if (ready) ready();  // in effect at once
}

void LocalBus::Unsubscribe(const std::string& channel) {
  std::lock_guard lock(mu_);
  auto it = subscriptions_.find(channel);
  if (it != subscriptions_.end() && --it->second <= 0) subscriptions_.erase(it);
}

void LocalBus::Publish(const std::string& channel, std::string payload) {
  {
    std::lock_guard lock(mu_);
    if (!handler_ || !subscriptions_.contains(channel)) return;
  }
  // handler_ is never replaced after start-up, so calling it unlocked is safe.
  handler_(channel, payload);
}

void LocalBus::PresenceUp(const std::string& user) {
  std::lock_guard lock(mu_);
  ++presence_[user];
}

void LocalBus::PresenceDown(const std::string& user) {
  std::lock_guard lock(mu_);
  auto it = presence_.find(user);
  if (it != presence_.end() && --it->second <= 0) presence_.erase(it);
}

void LocalBus::IsOnline(const std::string& user, std::function<void(bool)> done) {
  bool online;
  {
    std::lock_guard lock(mu_);
    online = presence_.contains(user);
  }
  done(online);
}

}  // namespace ferry
