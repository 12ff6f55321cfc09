// RedisBus: the Bus of a multi-node deployment, over a Redis Cluster (7.0+)
// with sharded pub/sub. Each channel lives on the shard that owns its hash
// slot ("u:{alice}" hashes "alice"): Subscribe is SSUBSCRIBE on a
// subscriber connection to that shard's master, Publish is SPUBLISH on a
// command connection to it. Every ferryd node has its own RedisBus.
//
// Ownership and threading: a RedisBus owns one bus thread (started by the
// constructor, stopped and joined by the destructor), its connections (two
// per master: commands, subscriptions) and its timers. Every method may be
// called from any thread: it posts to the bus thread and returns at once.
// The handler, `ready` and `done` callbacks run on the bus thread and must
// not block. The destructor calls every `ready` and `done` still pending
// (false for IsOnline), so each runs exactly once; it does not retract this
// node's presence (a node that stops without PresenceDown is treated as a
// crashed one: its leases expire).
//
// Outcomes:
// - Subscribe: `ready` runs once Redis has confirmed the SSUBSCRIBE, or
//   after `subscribe_timeout_ms` without confirmation (shard unreachable);
//   the subscription keeps being retried after that.
// - Publish: queued in the outbox (at most `outbox_max` commands, counting
//   those awaiting their reply); dropped, and counted in `dropped`, when the
//   outbox is full, when the channel's shard is down (its connection failed
//   and waits to reconnect) or when Redis does not confirm it.
// - IsOnline: false when Redis does not answer within about
//   `command_timeout_ms` (plus one health tick).
//
// Failures: a connection that fails, times out (no reply for
// `command_timeout_ms`) or sends something that is not RESP is closed and
// reopened after a backoff (`backoff_min_ms` doubling to `backoff_max_ms`),
// and the slot map is read again (CLUSTER SLOTS, from any reachable known
// node or seed). After every slot map change, each subscribed channel is
// re-subscribed on its current owner; a `sunsubscribe` that Redis sends on
// its own (the slot moved away) does the same. MOVED and ASK redirections
// of commands are followed (up to 5 hops) and MOVED re-reads the map.
//
// Presence uses leases, so the users of a node that dies go offline on
// their own: the set `pr:{user}` (same slot as the user's channel) holds,
// per node that has the user online, the member `node_id` scored with the
// lease's expiry (Unix ms). A user's first connection on this node adds it
// (ZADD now+ttl) and sets the key to expire after 2*ttl; every ttl/3 the
// node renews the leases of all its online users (pipelined per shard); the
// last connection removes it (ZREM). IsOnline counts members not yet
// expired (ZCOUNT pr:{user} now +inf). A crashed node's users read offline
// at most `presence_ttl_ms` later. Lease expiry compares the nodes' wall
// clocks, so they must agree to well within the TTL (NTP).
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "bus/bus.h"

namespace ferry {

struct RedisBusOptions {
  std::vector<std::string> seeds;  // "host:port" of any cluster nodes; at least one
  std::string node_id;             // this ferryd node's presence member; "" = random
  std::int64_t connect_timeout_ms = 1'000;
  std::int64_t command_timeout_ms = 1'000;    // no reply for this long: reset the connection
  std::int64_t subscribe_timeout_ms = 1'000;  // `ready` gives up after this
  std::int64_t health_interval_ms = 250;      // PINGs and time-outs are checked this often
  std::int64_t slot_refresh_ms = 10'000;      // the slot map is re-read at least this often
  std::int64_t backoff_min_ms = 50;           // reconnect / re-read delay, doubling ...
  std::int64_t backoff_max_ms = 2'000;        // ... up to this
  std::size_t outbox_max = 100'000;           // queued publishes; beyond: dropped
  std::int64_t presence_ttl_ms = 30'000;      // lease of a node's claim that a user is online
};

// Presence leases are renewed in kLeaseSlices ticks per renewal period,
// each tick the users of one slice: LeaseSlice(user, n) is in [0, n), a
// hash of the name, so a user's lease is renewed once a period and the
// commands are spread evenly over it.
inline constexpr std::size_t kLeaseSlices = 10;
inline std::size_t LeaseSlice(std::string_view user, std::size_t slices) {
  return std::hash<std::string_view>{}(user) % slices;
}

struct RedisBusStats {
  std::uint64_t published = 0;   // SPUBLISHes Redis confirmed
  std::uint64_t dropped = 0;     // publishes lost: outbox full, shard down, no reply
  std::uint64_t received = 0;    // messages passed to the handler
  std::uint64_t reconnects = 0;  // connections reset after a failure
  std::uint64_t slot_map_reads = 0;
  std::size_t outbox = 0;  // publishes queued or awaiting their reply now
};

class RedisBus final : public Bus {
 public:
  // Starts the bus thread and the first slot map read; never blocks on the
  // network. Throws std::invalid_argument if `options.seeds` is empty or a
  // seed is not "host:port".
  explicit RedisBus(RedisBusOptions options);
  ~RedisBus() override;
  RedisBus(const RedisBus&) = delete;
  RedisBus& operator=(const RedisBus&) = delete;

  void SetHandler(Handler handler) override;
  void Subscribe(const std::string& channel, std::function<void()> ready = {}) override;
  void Unsubscribe(const std::string& channel) override;
  void Publish(const std::string& channel, std::string payload) override;
  void PresenceUp(const std::string& user) override;
  void PresenceDown(const std::string& user) override;
  void IsOnline(const std::string& user, std::function<void(bool)> done) override;
  // False while the slot map is unknown or incomplete, or any master lacks
  // a working command or subscriber connection.
  bool Healthy() const override;

  BusStats Stats() const override;
  RedisBusStats stats() const;
  const std::string& node_id() const;

 private:
  class Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace ferry
