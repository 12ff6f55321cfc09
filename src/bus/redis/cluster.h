// Cluster: the command side of the Redis bus. Holds the slot map, one
// command connection per master, and routes each command to the master of
// its slot, pipelined (commands queued in one loop turn share one write),
// following MOVED/ASK. Re-reads the slot map (CLUSTER SLOTS over a
// short-lived connection to any reachable node) when asked, on failures
// and every `slot_refresh_ms`, and reports every read and every master
// connection change through `on_topology`.
//
// Threading: everything, construction aside, on the loop thread.
#pragma once

#include <atomic>
#include <chrono>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "bus/redis/loop.h"
#include "bus/redis/redis_bus.h"
#include "bus/redis/slot_map.h"

namespace ferry::redis {

using SteadyTime = std::chrono::steady_clock::time_point;

// The counters behind RedisBusStats; written on the loop thread, read
// anywhere.
struct Counters {
  std::atomic<std::uint64_t> published{0}, dropped{0}, received{0}, reconnects{0},
      slot_map_reads{0};
  std::atomic<std::size_t> outbox{0};
};

// Doubling delay between retries, min..max.
class Backoff {
 public:
  Backoff(std::int64_t min_ms, std::int64_t max_ms) : min_(min_ms), max_(max_ms), next_(min_ms) {}
  std::chrono::milliseconds Next() {
    std::int64_t now = next_;
    next_ = std::min(next_ * 2, max_);
    return std::chrono::milliseconds(now);
  }
  void Reset() { next_ = min_; }

 private:
  std::int64_t min_, max_, next_;
};

class Cluster {
 public:
  // The reply, or nullptr when the command got none: shard down, connection
  // lost or timed out, too many redirections, shutting down.
  using ReplyFn = std::function<void(const RespValue* reply)>;

  Cluster(Loop& loop, const RedisBusOptions& options, Counters& counters,
          std::function<void()> on_topology);
  ~Cluster();

  void Start();  // first slot map read
  void Stop();   // fails every pending command, closes every connection

  // Sends `command` (encoded) to the master of `slot`. `done` (may be
  // empty) runs exactly once, possibly before Send returns.
  void Send(int slot, std::string command, ReplyFn done);

  // Re-read the slot map soon (at once, or after the backoff if the last
  // read did not help). Coalesces.
  void RequestRefresh();
  // Health checks: PINGs idle connections, resets those with a reply
  // overdue, re-reads the map when due or while unhealthy.
  void Tick(SteadyTime now);

  // The last slot map read, or nullptr before the first.
  const SlotMap* map() const { return map_ ? &*map_ : nullptr; }
  // A complete map and a working connection to every master.
  bool Healthy() const;

 private:
  struct Request {
    std::string command;
    int slot = -1;
    ReplyFn done;
    int redirects = 0;
    bool asking = false;  // send ASKING first (an ASK redirection)
    SteadyTime sent_at{};
  };
  enum class State { connecting, ready, down };
  struct Node {
    Node(std::string a, const RedisBusOptions& o)
        : address(std::move(a)), backoff(o.backoff_min_ms, o.backoff_max_ms) {}
    std::string address;
    std::shared_ptr<RespConnection> conn;
    State state = State::down;
    std::deque<Request> sent;      // written, replies due in this order
    std::vector<Request> waiting;  // until the connection is ready
    Backoff backoff;
    std::shared_ptr<Timer> retry;
  };

  Node& NodeFor(const std::string& address);
  void Connect(Node& node);
  void OnReply(const std::string& address, RespValue&& reply);
  void OnHandshake(const std::string& address, const RespValue* reply);
  void Reset(Node& node, const std::string& why);
  void Route(const std::string& address, Request req);
  void WriteRequest(Node& node, Request req, SteadyTime now);
  bool Redirect(Request& req, const RespValue& reply);
  void SyncNodes();

  void StartRefresh();
  void TryRefresh(std::vector<std::string> candidates, std::size_t next);
  void RefreshDone(std::optional<SlotMap> map);

  static void Fail(std::vector<Request> requests);

  Loop& loop_;
  const RedisBusOptions& options_;
  Counters& counters_;
  std::function<void()> on_topology_;
  bool stopped_ = false;

  std::optional<SlotMap> map_;
  std::map<std::string, Node> nodes_;  // by address: the masters, and redirection targets
  std::vector<Request> unrouted_;      // before the first map

  // Slot map reads: one at a time, over a probe connection.
  bool refreshing_ = false;
  std::shared_ptr<Timer> refresh_timer_;  // a scheduled read
  std::shared_ptr<RespConnection> probe_;
  std::shared_ptr<Timer> probe_timeout_;
  Backoff refresh_backoff_;
  SteadyTime last_refresh_{};
};

}  // namespace ferry::redis
