// Subscriber: the subscription side of the Redis bus. One subscriber
// connection ("link") per master; every channel with a reference is
// SSUBSCRIBEd on the link to the master that owns its slot, and moved
// (re-subscribed) whenever that changes: a link lost and reopened, a new
// slot map, a `sunsubscribe` Redis sends on its own when a slot moves.
// Incoming `smessage`s go to the handler.
//
// Confirmation: a link counts the SSUBSCRIBE and SUNSUBSCRIBE replies it
// still expects per channel; a channel is confirmed (its `ready` callbacks
// run) when it has been subscribed on its owner's current link and no reply
// for it is outstanding there. A `sunsubscribe` nobody asked for is Redis
// moving the slot away.
//
// Threading: everything, construction aside, on the loop thread.
#pragma once

#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "bus/bus.h"
#include "bus/redis/cluster.h"

namespace ferry::redis {

class Subscriber {
 public:
  // `on_health` runs whenever a link becomes ready or is lost.
  Subscriber(Loop& loop, const RedisBusOptions& options, Counters& counters, Cluster& cluster,
             std::function<void()> on_health);
  ~Subscriber();

  void SetHandler(Bus::Handler handler) { handler_ = std::move(handler); }
  void Subscribe(const std::string& channel, std::function<void()> ready);
  void Unsubscribe(const std::string& channel);

  // The cluster's map or masters changed: links to the current masters,
  // every channel on its owner.
  void OnTopology();
  // PINGs links, resets those whose PONG is overdue, gives up on `ready`s
  // older than subscribe_timeout_ms.
  void Tick(SteadyTime now);
  void Stop();  // closes the links, runs every pending `ready`

  // Every master of the map has a working link.
  bool Healthy() const;

 private:
  enum class State { connecting, ready, down };
  struct Link {
    Link(std::string a, const RedisBusOptions& o)
        : address(std::move(a)), backoff(o.backoff_min_ms, o.backoff_max_ms) {}
    std::string address;
    std::shared_ptr<RespConnection> conn;
    State state = State::down;
    std::uint64_t generation = 0;  // a new one per connection
    std::unordered_map<std::string, int> expect_sub, expect_unsub;
    int pings = 0;  // PINGs awaiting their PONG
    SteadyTime ping_sent{};
    Backoff backoff;
    std::shared_ptr<Timer> retry;
  };
  struct Waiter {
    std::uint64_t id;
    std::function<void()> ready;
  };
  struct Channel {
    int refs = 0;
    int slot = 0;
    std::string address;           // the link it was last subscribed on
    std::uint64_t generation = 0;  // of that link; 0 = not subscribed anywhere
    bool confirmed = false;
    std::vector<Waiter> waiters;
  };
  struct Deadline {
    SteadyTime at;
    std::string channel;
    std::uint64_t waiter;
  };

  Link& LinkFor(const std::string& address);
  void Connect(Link& link);
  void Reset(Link& link, const std::string& why);
  void OnReply(const std::string& address, RespValue&& reply);
  void OnPush(Link& link, std::string_view kind, const std::string& channel,
              const RespValue& reply);
  // Subscribes `name` on its owner's link if that is ready and it is not
  // subscribed there already; unsubscribes it from a former owner.
  void Place(const std::string& name, Channel& channel);
  void Unplace(Channel& channel, const std::string& name);
  void MaybeConfirm(Link& link, const std::string& name);
  static void RunWaiters(Channel& channel);
  Link* CurrentLink(const Channel& channel);

  Loop& loop_;
  const RedisBusOptions& options_;
  Counters& counters_;
  Cluster& cluster_;
  std::function<void()> on_health_;
  Bus::Handler handler_;
  bool stopped_ = false;

  std::map<std::string, Link> links_;                  // by master address
  std::unordered_map<std::string, Channel> channels_;  // refs > 0
  std::deque<Deadline> deadlines_;                     // of waiters, in time order
  std::uint64_t next_waiter_ = 1;
  std::uint64_t next_generation_ = 1;
};

}  // namespace ferry::redis
