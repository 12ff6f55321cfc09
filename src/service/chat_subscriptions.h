// ChatSubscriptions: the chat channels (`c:{chatId}`) one connection holds
// on the bus, so each notification of its user's big chats reaches this
// node in one publish per chat rather than one per member. It owns one bus
// reference per channel it holds (the bus counts references across
// connections) and gives them all back in ReleaseAll(), when the connection
// closes. Whether and when to subscribe is the session's call: at hello
// (its user's big chats), on an entry marked big, and when a heartbeat finds
// notifications missing (a refresh; at most one in flight).
//
// Threading: confined to the owning ClientSession's executor. The `ready`
// callbacks go to the bus as given; the bus may call them on any thread, so
// the session wraps them to post back to its executor.
#pragma once

#include <cstddef>
#include <functional>
#include <string>
#include <unordered_set>

#include "bus/bus.h"

namespace ferry {

class ChatSubscriptions {
 public:
  explicit ChatSubscriptions(Bus& bus) : bus_(bus) {}
  ~ChatSubscriptions() { ReleaseAll(); }
  ChatSubscriptions(const ChatSubscriptions&) = delete;
  ChatSubscriptions& operator=(const ChatSubscriptions&) = delete;

  bool Holds(const std::string& chat_id) const { return held_.contains(chat_id); }
  std::size_t size() const { return held_.size(); }

  // Subscribes `c:{chat_id}` unless this connection holds it already.
  // Returns true if it subscribed: then the bus calls `ready` exactly once.
  // Returns false (and drops `ready`) if it was held, or after ReleaseAll().
  bool Add(const std::string& chat_id, std::function<void()> ready);

  // Unsubscribes every channel held; later Adds are refused. Idempotent.
  void ReleaseAll();

  // A refresh of the chat list: BeginRefresh() is false while one is in
  // flight (then do not start another); EndRefresh() when its answer came.
  bool BeginRefresh();
  void EndRefresh() { refreshing_ = false; }

 private:
  Bus& bus_;
  std::unordered_set<std::string> held_;  // chat ids whose channel this connection holds
  bool refreshing_ = false;
  bool released_ = false;
};

}  // namespace ferry
