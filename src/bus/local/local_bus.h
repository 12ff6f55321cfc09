// LocalBus: the in-process Bus of a single node. Publish calls the handler
// synchronously on the publishing thread if the channel is subscribed.
// Thread-safe (one mutex; the handler is called outside it).
#pragma once

#include <mutex>
#include <unordered_map>

#include "bus/bus.h"

namespace ferry {

class LocalBus final : public Bus {
 public:
  void SetHandler(Handler handler) override;
  void Subscribe(const std::string& channel, std::function<void()> ready = {}) override;
  void Unsubscribe(const std::string& channel) override;
  void Publish(const std::string& channel, std::string payload) override;
  void PresenceUp(const std::string& user) override;
  void PresenceDown(const std::string& user) override;
  void IsOnline(const std::string& user, std::function<void(bool)> done) override;

 private:
  std::mutex mu_;
  Handler handler_;                                       // set once, before use
  std::unordered_map<std::string, int> subscriptions_;    // GUARDED_BY(mu_)
  std::unordered_map<std::string, int> presence_;         // GUARDED_BY(mu_)
};

}  // namespace ferry
