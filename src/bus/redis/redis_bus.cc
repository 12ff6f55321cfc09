#include "bus/redis/redis_bus.h"

#include <chrono>
#include <stdexcept>
#include <unordered_map>

#include "bus/redis/cluster.h"
#include "bus/redis/loop.h"
#include "bus/redis/subscriber.h"
#include "common/log.h"
#include "common/random.h"

namespace ferry {

using namespace redis;

namespace {

std::int64_t UnixMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::string PresenceKey(const std::string& user) {
  std::string key = "pr:{";
  key += user;
  key += '}';
  return key;
}

RedisBusOptions Checked(RedisBusOptions options) {
  if (options.seeds.empty()) throw std::invalid_argument("redis bus: no seed nodes");
  for (const std::string& seed : options.seeds) {
    std::string host;
    std::uint16_t port;
    if (!SplitAddress(seed, &host, &port)) {
      throw std::invalid_argument("redis bus: seed is not host:port: " + seed);
    }
  }
  if (options.node_id.empty()) options.node_id = RandomId(9);
  options.presence_ttl_ms = std::max<std::int64_t>(options.presence_ttl_ms, 30);
  options.health_interval_ms = std::max<std::int64_t>(options.health_interval_ms, 10);
  return options;
}

}  // namespace

// Owns the loop and everything on it. Members other than `counters_`,
// `healthy_` and the options are touched only on the loop thread.
class RedisBus::Impl {
 public:
  explicit Impl(RedisBusOptions options)
      : options_(Checked(std::move(options))),
        cluster_(loop_, options_, counters_, [this] { OnTopology(); }),
        subscriber_(loop_, options_, counters_, cluster_, [this] { UpdateHealth(); }) {
    loop_.Start();
    loop_.Post([this] {
      cluster_.Start();
      ScheduleTick();
      ScheduleLeaseRenewal();
    });
  }

  ~Impl() {
    // Pending callbacks run now, on the loop thread (each exactly once).
    loop_.Stop([this] {
      if (tick_) tick_->Cancel();
      if (renew_) renew_->Cancel();
      subscriber_.Stop();
      cluster_.Stop();
      healthy_ = false;
    });
  }

  void SetHandler(Handler handler) {
    loop_.Post([this, h = std::move(handler)]() mutable { subscriber_.SetHandler(std::move(h)); });
  }

  void Subscribe(const std::string& channel, std::function<void()> ready) {
    loop_.Post([this, channel, r = std::move(ready)]() mutable {
      subscriber_.Subscribe(channel, std::move(r));
    });
  }

  void Unsubscribe(const std::string& channel) {
    loop_.Post([this, channel] { subscriber_.Unsubscribe(channel); });
  }

  void Publish(const std::string& channel, std::string payload) {
    // The outbox bound is checked here, on the caller's thread, so a loop
    // that falls behind cannot grow its queue without limit.
    if (counters_.outbox.fetch_add(1) >= options_.outbox_max) {
      counters_.outbox--;
      counters_.dropped++;
      return;
    }
    loop_.Post([this, channel, p = std::move(payload)] {
      std::string cmd;
      AppendCommand(cmd, {"SPUBLISH", channel, p});
      cluster_.Send(KeySlot(channel), std::move(cmd), [this](const RespValue* reply) {
        counters_.outbox--;
        if (reply != nullptr && reply->type == RespValue::Type::integer) {
          counters_.published++;
        } else {
          counters_.dropped++;
        }
      });
    });
  }

  void PresenceUp(const std::string& user) {
    loop_.Post([this, user] {
      if (++presence_[user] == 1) SendLease(user, UnixMs());
    });
  }

  void PresenceDown(const std::string& user) {
    loop_.Post([this, user] {
      auto it = presence_.find(user);
      if (it == presence_.end() || --it->second > 0) return;
      presence_.erase(it);
      std::string key = PresenceKey(user);
      std::string cmd;
      AppendCommand(cmd, {"ZREM", key, options_.node_id});
      cluster_.Send(KeySlot(key), std::move(cmd), nullptr);  // lost: the lease expires
    });
  }

  void IsOnline(const std::string& user, std::function<void(bool)> done) {
    loop_.Post([this, user, done = std::move(done)]() mutable {
      std::string key = PresenceKey(user);
      std::string cmd;
      AppendCommand(cmd, {"ZCOUNT", key, std::to_string(UnixMs()), "+inf"});
      cluster_.Send(KeySlot(key), std::move(cmd), [done = std::move(done)](const RespValue* r) {
        done(r != nullptr && r->type == RespValue::Type::integer && r->integer > 0);
      });
    });
  }

  bool Healthy() const { return healthy_; }

  RedisBusStats Stats() const {
    RedisBusStats s;
    s.published = counters_.published;
    s.dropped = counters_.dropped;
    s.received = counters_.received;
    s.reconnects = counters_.reconnects;
    s.slot_map_reads = counters_.slot_map_reads;
    s.outbox = counters_.outbox;
    return s;
  }

  const std::string& node_id() const { return options_.node_id; }

 private:
  void OnTopology() {
    subscriber_.OnTopology();
    UpdateHealth();
  }

  void UpdateHealth() { healthy_ = cluster_.Healthy() && subscriber_.Healthy(); }

  void ScheduleTick() {
    tick_ = loop_.After(std::chrono::milliseconds(options_.health_interval_ms), [this] {
      auto now = std::chrono::steady_clock::now();
      cluster_.Tick(now);
      subscriber_.Tick(now);
      UpdateHealth();
      ScheduleTick();
    });
  }

  // The lease says "online here until now+ttl"; the key outlives it (2*ttl)
  // so a crashed node's member expires by score long before the key goes.
  void SendLease(const std::string& user, std::int64_t now_ms) {
    std::string key = PresenceKey(user);
    std::string zadd, pexpire;
    AppendCommand(
        zadd, {"ZADD", key, std::to_string(now_ms + options_.presence_ttl_ms), options_.node_id});
    AppendCommand(pexpire, {"PEXPIRE", key, std::to_string(options_.presence_ttl_ms * 2)});
    // Replies ignored: a lost lease write is redone by the next renewal.
    int slot = KeySlot(key);
    cluster_.Send(slot, std::move(zadd), nullptr);
    cluster_.Send(slot, std::move(pexpire), nullptr);
  }

  // Every lease is renewed once per ttl/3, spread over that time in
  // kLeaseSlices ticks (a user's slice is a hash of its name). Renewing all
  // at once sent a node's 19,000 users' 38,000 commands in one burst every
  // 10 s, each waiting behind the burst for its reply, against a
  // command_timeout_ms of 1 s.
  void ScheduleLeaseRenewal() {
    auto every = std::chrono::milliseconds(options_.presence_ttl_ms / 3 / kLeaseSlices);
    renew_ = loop_.After(every, [this] {
      std::int64_t now = UnixMs();
      std::size_t slice = renew_ticks_++ % kLeaseSlices;
      for (const auto& [user, count] : presence_) {
        if (LeaseSlice(user, kLeaseSlices) == slice) SendLease(user, now);
      }
      ScheduleLeaseRenewal();
    });
  }
  std::size_t renew_ticks_ = 0;

  const RedisBusOptions options_;
  Counters counters_;
  std::atomic<bool> healthy_{false};
  // The loop is declared after what its callbacks use and before what uses
  // it, so it stops (in ~Impl) before those are destroyed.
  Loop loop_;
  Cluster cluster_;
  Subscriber subscriber_;
  std::unordered_map<std::string, int> presence_;  // this node's online users: connections
  std::shared_ptr<Timer> tick_, renew_;
};

RedisBus::RedisBus(RedisBusOptions options) : impl_(std::make_unique<Impl>(std::move(options))) {}
RedisBus::~RedisBus() = default;

void RedisBus::SetHandler(Handler handler) { impl_->SetHandler(std::move(handler)); }
void RedisBus::Subscribe(const std::string& channel, std::function<void()> ready) {
  impl_->Subscribe(channel, std::move(ready));
}
void RedisBus::Unsubscribe(const std::string& channel) { impl_->Unsubscribe(channel); }
void RedisBus::Publish(const std::string& channel, std::string payload) {
  impl_->Publish(channel, std::move(payload));
}
void RedisBus::PresenceUp(const std::string& user) { impl_->PresenceUp(user); }
void RedisBus::PresenceDown(const std::string& user) { impl_->PresenceDown(user); }
void RedisBus::IsOnline(const std::string& user, std::function<void(bool)> done) {
  impl_->IsOnline(user, std::move(done));
}
bool RedisBus::Healthy() const { return impl_->Healthy(); }
RedisBusStats RedisBus::stats() const { return impl_->Stats(); }
BusStats RedisBus::Stats() const {
  RedisBusStats s = impl_->Stats();
  return BusStats{s.published, s.dropped, s.received, s.reconnects};
}
const std::string& RedisBus::node_id() const { return impl_->node_id(); }

}  // namespace ferry
