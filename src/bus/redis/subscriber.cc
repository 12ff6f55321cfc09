#include "bus/redis/subscriber.h"

#include <algorithm>

#include "common/log.h"

namespace ferry::redis {
namespace {

std::chrono::milliseconds Ms(std::int64_t ms) { return std::chrono::milliseconds(ms); }

bool IsMaster(const SlotMap* map, const std::string& address) {
  return map != nullptr &&
         std::find(map->masters.begin(), map->masters.end(), address) != map->masters.end();
}

// Decrements counts[key]; false if it was not positive.
bool Consume(std::unordered_map<std::string, int>& counts, const std::string& key) {
  auto it = counts.find(key);
  if (it == counts.end()) return false;
  if (--it->second == 0) counts.erase(it);
  return true;
}

}  // namespace

Subscriber::Subscriber(Loop& loop, const RedisBusOptions& options, Counters& counters,
                       Cluster& cluster, std::function<void()> on_health)
    : loop_(loop),
      options_(options),
      counters_(counters),
      cluster_(cluster),
      on_health_(std::move(on_health)) {}

Subscriber::~Subscriber() = default;

void Subscriber::Stop() {
  stopped_ = true;
  for (auto& [address, link] : links_) {
    if (link.conn) link.conn->Close();
    if (link.retry) link.retry->Cancel();
  }
  links_.clear();
  std::unordered_map<std::string, Channel> channels = std::move(channels_);
  channels_.clear();
  deadlines_.clear();
  for (auto& [name, channel] : channels) RunWaiters(channel);
}

bool Subscriber::Healthy() const {
  const SlotMap* map = cluster_.map();
  if (map == nullptr || !map->Complete()) return false;
  for (const std::string& master : map->masters) {
    auto it = links_.find(master);
    if (it == links_.end() || it->second.state != State::ready) return false;
  }
  return true;
}

// ---- Channels ----

void Subscriber::Subscribe(const std::string& name, std::function<void()> ready) {
  if (stopped_) {
    if (ready) ready();
    return;
  }
  Channel& channel = channels_[name];
  if (channel.refs++ == 0) channel.slot = KeySlot(name);
  if (channel.confirmed) {
    if (ready) ready();
    return;
  }
  if (ready) {
    std::uint64_t id = next_waiter_++;
    channel.waiters.push_back({id, std::move(ready)});
    deadlines_.push_back(
        {std::chrono::steady_clock::now() + Ms(options_.subscribe_timeout_ms), name, id});
  }
  Place(name, channel);
}

void Subscriber::Unsubscribe(const std::string& name) {
  auto it = channels_.find(name);
  if (it == channels_.end() || --it->second.refs > 0) return;
  Channel channel = std::move(it->second);
  channels_.erase(it);
  Unplace(channel, name);
  RunWaiters(channel);  // given up: nobody wants it any more
}

Subscriber::Link* Subscriber::CurrentLink(const Channel& channel) {
  if (channel.generation == 0) return nullptr;
  auto it = links_.find(channel.address);
  if (it == links_.end() || it->second.generation != channel.generation ||
      it->second.state != State::ready) {
    return nullptr;
  }
  return &it->second;
}

void Subscriber::Place(const std::string& name, Channel& channel) {
  const SlotMap* map = cluster_.map();
  if (map == nullptr) return;  // OnTopology places it once there is a map
  const std::string& owner = map->MasterOf(channel.slot);
  Link* current = CurrentLink(channel);
  if (current != nullptr && current->address == owner) return;  // where it belongs
  Unplace(channel, name);
  if (owner.empty()) return;
  Link& link = LinkFor(owner);
  if (link.state != State::ready) return;  // placed when the link is ready
  std::string cmd;
  AppendCommand(cmd, {"SSUBSCRIBE", name});
  link.conn->Write(cmd);
  link.expect_sub[name]++;
  channel.address = owner;
  channel.generation = link.generation;
  channel.confirmed = false;
}

void Subscriber::Unplace(Channel& channel, const std::string& name) {
  if (Link* link = CurrentLink(channel)) {
    std::string cmd;
    AppendCommand(cmd, {"SUNSUBSCRIBE", name});
    link->conn->Write(cmd);
    link->expect_unsub[name]++;
  }
  channel.generation = 0;
  channel.confirmed = false;
}

void Subscriber::MaybeConfirm(Link& link, const std::string& name) {
  auto it = channels_.find(name);
  if (it == channels_.end()) return;
  Channel& channel = it->second;
  if (channel.confirmed || channel.address != link.address ||
      channel.generation != link.generation || link.expect_sub.contains(name) ||
      link.expect_unsub.contains(name)) {
    return;
  }
  channel.confirmed = true;
  RunWaiters(channel);
}

void Subscriber::RunWaiters(Channel& channel) {
  std::vector<Waiter> waiters = std::move(channel.waiters);
  channel.waiters.clear();
  for (Waiter& w : waiters) w.ready();
}

void Subscriber::OnTopology() {
  if (stopped_) return;
  const SlotMap* map = cluster_.map();
  if (map == nullptr) return;
  for (const std::string& master : map->masters) LinkFor(master);
  // Channels first (they may still need SUNSUBSCRIBE on a former owner's
  // link), then links to former masters go.
  for (auto& [name, channel] : channels_) Place(name, channel);
  for (auto it = links_.begin(); it != links_.end();) {
    if (!IsMaster(map, it->first)) {
      if (it->second.conn) it->second.conn->Close();
      if (it->second.retry) it->second.retry->Cancel();
      it = links_.erase(it);
    } else {
      ++it;
    }
  }
}

// ---- Links ----

Subscriber::Link& Subscriber::LinkFor(const std::string& address) {
  auto [it, added] = links_.try_emplace(address, address, options_);
  if (added) Connect(it->second);
  return it->second;
}

void Subscriber::Connect(Link& link) {
  link.state = State::connecting;
  link.generation = next_generation_++;
  link.expect_sub.clear();
  link.expect_unsub.clear();
  std::string address = link.address;
  link.conn = loop_.Connect(
      address, Ms(options_.connect_timeout_ms),
      {.connected = nullptr,
       .reply = [this, address](RespValue&& reply) { OnReply(address, std::move(reply)); },
       .closed =
           [this, address](const std::string& why) {
             auto it = links_.find(address);
             if (it != links_.end()) Reset(it->second, why);
           }});
  // Ready when this is answered: a stopped Redis still accepts connections.
  std::string ping;
  AppendCommand(ping, {"PING"});
  link.conn->Write(ping);
  link.pings = 1;
  link.ping_sent = std::chrono::steady_clock::now();
}

void Subscriber::Reset(Link& link, const std::string& why) {
  if (link.state == State::ready) {
    log::Warn("redis bus: subscriber link to ", link.address, " lost: ", why);
    counters_.reconnects++;
  } else {
    log::Debug("redis bus: subscriber link to ", link.address, " failed: ", why);
  }
  if (link.conn) link.conn->Close();
  link.conn = nullptr;
  link.state = State::down;
  link.pings = 0;
  // Its channels are subscribed nowhere now (CurrentLink sees the state);
  // they are placed again when it, or a new owner, is ready.
  for (auto& [name, channel] : channels_) {
    if (channel.address == link.address && channel.generation == link.generation) {
      channel.generation = 0;
      channel.confirmed = false;
    }
  }
  std::string address = link.address;
  link.retry = loop_.After(link.backoff.Next(), [this, address] {
    auto it = links_.find(address);
    if (!stopped_ && it != links_.end() && it->second.state == State::down) Connect(it->second);
  });
  cluster_.RequestRefresh();
  on_health_();
}

void Subscriber::OnReply(const std::string& address, RespValue&& reply) {
  auto it = links_.find(address);
  if (it == links_.end()) return;
  Link& link = it->second;
  // PONG: "+PONG" before the first subscription, ["pong", ""] after.
  if (reply.Is("PONG") || (reply.is_array() && !reply.array.empty() && reply.array[0].Is("pong"))) {
    link.pings = std::max(0, link.pings - 1);
    if (link.state == State::connecting) {
      link.state = State::ready;
      link.backoff.Reset();
      log::Info("redis bus: subscriber link to ", address, " ready");
      for (auto& [name, channel] : channels_) Place(name, channel);
      on_health_();
    }
    return;
  }
  if (reply.is_error()) {
    // A MOVED for an SSUBSCRIBE sent on a stale map, or worse: the replies
    // can no longer be matched to channels, so start this link afresh.
    log::Warn("redis bus: subscriber link to ", address, ": ", reply.str);
    return Reset(link, "error reply");
  }
  if (!reply.is_array() || reply.array.size() < 3 ||
      reply.array[0].type != RespValue::Type::string ||
      reply.array[1].type != RespValue::Type::string) {
    log::Warn("redis bus: subscriber link to ", address, ": unexpected reply");
    return Reset(link, "unexpected reply");
  }
  OnPush(link, reply.array[0].str, reply.array[1].str, reply);
}

void Subscriber::OnPush(Link& link, std::string_view kind, const std::string& name,
                        const RespValue& reply) {
  if (kind == "smessage") {
    if (!channels_.contains(name) || !handler_) return;  // unsubscribed meanwhile
    const RespValue& payload = reply.array[2];
    counters_.received++;
    handler_(name, payload.str);
  } else if (kind == "ssubscribe") {
    Consume(link.expect_sub, name);
    MaybeConfirm(link, name);
  } else if (kind == "sunsubscribe") {
    if (Consume(link.expect_unsub, name)) {
      MaybeConfirm(link, name);  // an SSUBSCRIBE after it may be all that was due
      return;
    }
    // Redis's own: the slot moved (or the node became a replica). Subscribe
    // again wherever the next map read says.
    log::Info("redis bus: ", name, " unsubscribed by ", link.address, ": slot moved");
    auto it = channels_.find(name);
    if (it != channels_.end() && it->second.address == link.address &&
        it->second.generation == link.generation) {
      it->second.generation = 0;
      it->second.confirmed = false;
    }
    cluster_.RequestRefresh();
  } else {
    log::Warn("redis bus: subscriber link to ", link.address, ": unexpected ", kind);
  }
}

void Subscriber::Tick(SteadyTime now) {
  std::vector<std::string> overdue;
  for (auto& [address, link] : links_) {
    if (link.state == State::down) continue;
    if (link.pings > 0) {
      if (now - link.ping_sent > Ms(options_.command_timeout_ms)) overdue.push_back(address);
    } else if (link.state == State::ready) {
      std::string ping;
      AppendCommand(ping, {"PING"});
      link.conn->Write(ping);
      link.pings = 1;
      link.ping_sent = now;
    }
  }
  for (const std::string& address : overdue) {
    auto it = links_.find(address);
    if (it != links_.end()) Reset(it->second, "no PONG in time");
  }
  // Channels that were not placed for want of a ready link (a map that
  // arrived before the link was up, a slot that moved) are placed here.
  if (cluster_.map() != nullptr) {
    for (auto& [name, channel] : channels_) {
      if (channel.generation == 0) Place(name, channel);
    }
  }
  std::size_t given_up = 0;
  while (!deadlines_.empty() && deadlines_.front().at <= now) {
    Deadline d = std::move(deadlines_.front());
    deadlines_.pop_front();
    auto it = channels_.find(d.channel);
    if (it == channels_.end()) continue;
    auto& waiters = it->second.waiters;
    auto w = std::find_if(waiters.begin(), waiters.end(),
                          [&](const Waiter& x) { return x.id == d.waiter; });
    if (w == waiters.end()) continue;
    std::function<void()> ready = std::move(w->ready);
    waiters.erase(w);
    ++given_up;
    ready();
  }
  if (given_up > 0) {
    log::Warn("redis bus: ", given_up, " subscription(s) not confirmed in time; still trying");
  }
}

}  // namespace ferry::redis
