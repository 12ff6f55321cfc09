// Bus: best-effort (at most once) routing of notifications between the nodes
// that hold users' connections, with two backends: local/ (in-process, one
// node) and redis/ (pub/sub, many nodes). The store is the truth; anything
// lost here is recovered through `ping.head` and `sync`.
//
// Channels are per user ("u:" + user). A node subscribes a user's channel
// while it holds a connection of that user. Presence counts a user's
// connections across all nodes, for `lastSeen.online`.
//
// Threading: every method may be called from any thread. Handlers run on a
// bus thread (or, for the local bus, on the publishing thread) and must not
// block: they post work to the connection's own executor.
#pragma once

#include <functional>
#include <string>
#include <string_view>

namespace ferry {

class Bus {
 public:
  using Handler = std::function<void(std::string_view channel, std::string_view payload)>;

  virtual ~Bus() = default;

  // Sets the one handler that receives every message on this node's
  // subscribed channels. Call once, before the first Subscribe.
  virtual void SetHandler(Handler handler) = 0;

  // Reference-counted: a channel stays subscribed until Unsubscribe has been
  // called as often as Subscribe.
  virtual void Subscribe(const std::string& channel) = 0;
  virtual void Unsubscribe(const std::string& channel) = 0;

  // Delivers to every node subscribed to `channel`, this one included.
  virtual void Publish(const std::string& channel, std::string payload) = 0;

  // Presence: counts of live connections per user across the cluster.
  virtual void PresenceUp(const std::string& user) = 0;
  virtual void PresenceDown(const std::string& user) = 0;
  // Calls `done` (on any thread) with whether `user` has a live connection.
  virtual void IsOnline(const std::string& user, std::function<void(bool)> done) = 0;
};

inline std::string UserChannel(std::string_view user) {
  return "u:" + std::string(user);
}

}  // namespace ferry
