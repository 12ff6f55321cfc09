// Bus: best-effort (at most once) routing of notifications between the nodes
// that hold users' connections, with two backends: local/ (in-process, one
// node) and redis/ (Redis Cluster sharded pub/sub, many nodes). The store is
// the truth; anything lost here is recovered through `ping.head` and `sync`.
//
// Channels: one per user (UserChannel), subscribed by a node while it holds
// a connection of that user; and one per chat above the chat-channel
// threshold (ChatChannel), subscribed by a node while it holds a connection
// of a member, so one publish reaches every member's node. Channel names
// carry a Redis hash tag ("{...}") so a channel and the keys of the same
// user live on one cluster shard, and chats spread over the shards.
// Presence counts a user's connections across all nodes, for
// `lastSeen.online`.
//
// Threading: every method may be called from any thread and never blocks on
// the network. Handlers and callbacks run on a bus thread (or, for the local
// bus, on the calling thread) and must not block: they post work to the
// connection's own executor.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>

namespace ferry {

// Counters a backend keeps, for /metrics (all zero for the local bus).
struct BusStats {
  std::uint64_t published = 0;   // publishes the backend confirmed
  std::uint64_t dropped = 0;     // publishes lost (outbox full, backend down, no reply)
  std::uint64_t received = 0;    // messages passed to the handler
  std::uint64_t reconnects = 0;  // connections re-established after a failure
};

class Bus {
 public:
  using Handler = std::function<void(std::string_view channel, std::string_view payload)>;

  virtual ~Bus() = default;

  // Sets the one handler that receives every message on this node's
  // subscribed channels. Call once, before the first Subscribe.
  virtual void SetHandler(Handler handler) = 0;

  // Reference-counted: a channel stays subscribed until Unsubscribe has been
  // called as often as Subscribe. `ready` (may be empty) is called exactly
  // once, on any thread: when the subscription is confirmed, so every
  // Publish that starts after it reaches this node; or, if the bus cannot
  // confirm it within a bounded time (backend down), when it gives up: the
  // caller proceeds either way and relies on the store. Callers read the
  // store only after `ready`, so nothing falls between the read and the
  // first notification.
  virtual void Subscribe(const std::string& channel, std::function<void()> ready = {}) = 0;
  virtual void Unsubscribe(const std::string& channel) = 0;

  // Delivers to every node subscribed to `channel`, this one included. Never
  // blocks: a backend queues it in a bounded outbox and drops (counting the
  // drop) when the outbox is full or the backend is down.
  virtual void Publish(const std::string& channel, std::string payload) = 0;

  // Presence: counts of live connections per user across the cluster.
  virtual void PresenceUp(const std::string& user) = 0;
  virtual void PresenceDown(const std::string& user) = 0;
  // Calls `done` (on any thread, exactly once) with whether `user` has a
  // live connection on any node. A backend that cannot tell answers false.
  virtual void IsOnline(const std::string& user, std::function<void(bool)> done) = 0;

  // False while the backend cannot reach what it needs (for /healthz).
  virtual bool Healthy() const { return true; }
  virtual BusStats Stats() const { return {}; }
};

// "u:{alice}": the channel of a user's connections.
inline std::string UserChannel(std::string_view user) {
  std::string channel = "u:{";
  channel += user;
  channel += '}';
  return channel;
}

// "c:{chatId}": the channel of a big chat's members' connections.
inline std::string ChatChannel(std::string_view chat_id) {
  std::string channel = "c:{";
  channel += chat_id;
  channel += '}';
  return channel;
}

}  // namespace ferry
