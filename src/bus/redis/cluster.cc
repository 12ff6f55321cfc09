#include "bus/redis/cluster.h"

#include <algorithm>

#include "common/log.h"

namespace ferry::redis {
namespace {

std::chrono::milliseconds Ms(std::int64_t ms) { return std::chrono::milliseconds(ms); }

std::string Ping() {
  std::string cmd;
  AppendCommand(cmd, {"PING"});
  return cmd;
}

// "MOVED 3999 127.0.0.1:6381" / "ASK 3999 127.0.0.1:6381".
bool ParseRedirect(const std::string& error, bool* ask, std::string* address) {
  std::string_view text = error;
  if (text.starts_with("MOVED ")) {
    *ask = false;
  } else if (text.starts_with("ASK ")) {
    *ask = true;
  } else {
    return false;
  }
  std::size_t space = text.rfind(' ');
  *address = std::string(text.substr(space + 1));
  std::string host;
  std::uint16_t port;
  return SplitAddress(*address, &host, &port);
}

}  // namespace

Cluster::Cluster(Loop& loop, const RedisBusOptions& options, Counters& counters,
                 std::function<void()> on_topology)
    : loop_(loop),
      options_(options),
      counters_(counters),
      on_topology_(std::move(on_topology)),
      refresh_backoff_(options.backoff_min_ms, options.backoff_max_ms) {}

Cluster::~Cluster() = default;

void Cluster::Start() { StartRefresh(); }

void Cluster::Stop() {
  stopped_ = true;
  std::vector<Request> failed = std::move(unrouted_);
  for (auto& [address, node] : nodes_) {
    if (node.conn) node.conn->Close();
    if (node.retry) node.retry->Cancel();
    for (Request& r : node.sent) failed.push_back(std::move(r));
    for (Request& r : node.waiting) failed.push_back(std::move(r));
  }
  nodes_.clear();
  if (refresh_timer_) refresh_timer_->Cancel();
  if (probe_) probe_->Close();
  if (probe_timeout_) probe_timeout_->Cancel();
  Fail(std::move(failed));
}

void Cluster::Fail(std::vector<Request> requests) {
  for (Request& r : requests) {
    if (r.done) r.done(nullptr);
  }
}

bool Cluster::Healthy() const {
  if (!map_ || !map_->Complete()) return false;
  for (const std::string& master : map_->masters) {
    auto it = nodes_.find(master);
    if (it == nodes_.end() || it->second.state != State::ready) return false;
  }
  return true;
}

// ---- Commands ----

void Cluster::Send(int slot, std::string command, ReplyFn done) {
  Request req;
  req.command = std::move(command);
  req.slot = slot;
  req.done = std::move(done);
  if (stopped_) {
    if (req.done) req.done(nullptr);
    return;
  }
  if (!map_) {
    unrouted_.push_back(std::move(req));  // routed (or failed) by the first map read
    return;
  }
  const std::string& master = map_->MasterOf(slot);
  if (master.empty()) {
    if (req.done) req.done(nullptr);
    return;
  }
  Route(master, std::move(req));
}

Cluster::Node& Cluster::NodeFor(const std::string& address) {
  auto [it, added] = nodes_.try_emplace(address, address, options_);
  if (added) Connect(it->second);
  return it->second;
}

void Cluster::Route(const std::string& address, Request req) {
  Node& node = NodeFor(address);
  switch (node.state) {
    case State::down:  // waiting to reconnect: the shard is down for now
      if (req.done) req.done(nullptr);
      return;
    case State::connecting:
      node.waiting.push_back(std::move(req));
      return;
    case State::ready:
      WriteRequest(node, std::move(req), std::chrono::steady_clock::now());
      return;
  }
}

void Cluster::WriteRequest(Node& node, Request req, SteadyTime now) {
  if (req.asking) {
    std::string asking;
    AppendCommand(asking, {"ASKING"});
    node.conn->Write(asking);
    Request reply_of_asking;
    reply_of_asking.sent_at = now;
    node.sent.push_back(std::move(reply_of_asking));
  }
  node.conn->Write(req.command);
  req.sent_at = now;
  node.sent.push_back(std::move(req));
}

void Cluster::Connect(Node& node) {
  node.state = State::connecting;
  std::string address = node.address;
  node.conn = loop_.Connect(
      address, Ms(options_.connect_timeout_ms),
      {.connected = nullptr,
       .reply = [this, address](RespValue&& reply) { OnReply(address, std::move(reply)); },
       .closed =
           [this, address](const std::string& why) {
             auto it = nodes_.find(address);
             if (it != nodes_.end()) Reset(it->second, why);
           }});
  // The handshake: the connection is ready when this PING is answered (a
  // TCP connect alone succeeds even to a stopped process).
  node.conn->Write(Ping());
  Request handshake;
  handshake.done = [this, address](const RespValue* reply) { OnHandshake(address, reply); };
  handshake.sent_at = std::chrono::steady_clock::now();
  node.sent.push_back(std::move(handshake));
}

void Cluster::OnHandshake(const std::string& address, const RespValue* reply) {
  auto it = nodes_.find(address);
  if (reply == nullptr || it == nodes_.end()) return;  // failed: Reset() retries
  Node& node = it->second;
  node.state = State::ready;
  node.backoff.Reset();
  auto now = std::chrono::steady_clock::now();
  std::vector<Request> waiting = std::move(node.waiting);
  node.waiting.clear();
  for (Request& r : waiting) WriteRequest(node, std::move(r), now);
  log::Info("redis bus: connected to ", address);
  on_topology_();
}

void Cluster::OnReply(const std::string& address, RespValue&& reply) {
  auto it = nodes_.find(address);
  if (it == nodes_.end()) return;
  Node& node = it->second;
  if (node.sent.empty()) {
    log::Warn("redis bus: unexpected reply from ", address);
    return Reset(node, "unexpected reply");
  }
  Request req = std::move(node.sent.front());
  node.sent.pop_front();
  if (reply.is_error() && Redirect(req, reply)) return;
  if (req.done) req.done(&reply);
}

// Follows MOVED/ASK; false if `reply` is not one (or the hops ran out).
bool Cluster::Redirect(Request& req, const RespValue& reply) {
  bool ask = false;
  std::string target;
  if (!ParseRedirect(reply.str, &ask, &target)) return false;
  if (!ask) RequestRefresh();  // the slot has a new owner for good
  if (++req.redirects > 5) {
    log::Warn("redis bus: too many redirections, last: ", reply.str);
    return false;
  }
  req.asking = ask;
  Route(target, std::move(req));
  return true;
}

void Cluster::Reset(Node& node, const std::string& why) {
  // A connection that worked is news; another failed attempt to reopen one
  // is not.
  if (node.state == State::ready) {
    log::Warn("redis bus: connection to ", node.address, " lost: ", why);
    counters_.reconnects++;
  } else {
    log::Debug("redis bus: connection to ", node.address, " failed: ", why);
  }
  if (node.conn) node.conn->Close();
  node.conn = nullptr;
  node.state = State::down;
  std::vector<Request> failed;
  for (Request& r : node.sent) failed.push_back(std::move(r));
  for (Request& r : node.waiting) failed.push_back(std::move(r));
  node.sent.clear();
  node.waiting.clear();
  std::string address = node.address;
  node.retry = loop_.After(node.backoff.Next(), [this, address] {
    auto it = nodes_.find(address);
    if (!stopped_ && it != nodes_.end() && it->second.state == State::down) Connect(it->second);
  });
  Fail(std::move(failed));
  RequestRefresh();
  on_topology_();
}

// Connections to every master of the map; those to former masters go once
// nothing waits on them.
void Cluster::SyncNodes() {
  for (const std::string& master : map_->masters) NodeFor(master);
  for (auto it = nodes_.begin(); it != nodes_.end();) {
    Node& node = it->second;
    bool master =
        std::find(map_->masters.begin(), map_->masters.end(), node.address) != map_->masters.end();
    if (!master && node.sent.empty() && node.waiting.empty()) {
      if (node.conn) node.conn->Close();
      if (node.retry) node.retry->Cancel();
      it = nodes_.erase(it);
    } else {
      ++it;
    }
  }
}

void Cluster::Tick(SteadyTime now) {
  auto timeout = Ms(options_.command_timeout_ms);
  std::vector<std::string> overdue;
  for (auto& [address, node] : nodes_) {
    if (node.state == State::down) continue;
    if (!node.sent.empty() && now - node.sent.front().sent_at > timeout) {
      overdue.push_back(address);
    } else if (node.state == State::ready && node.sent.empty()) {
      node.conn->Write(Ping());
      Request ping;
      ping.sent_at = now;
      node.sent.push_back(std::move(ping));
    }
  }
  for (const std::string& address : overdue) {
    auto it = nodes_.find(address);
    if (it != nodes_.end()) Reset(it->second, "no reply in time");
  }
  if (!Healthy() || now - last_refresh_ > Ms(options_.slot_refresh_ms)) RequestRefresh();
}

// ---- The slot map ----

void Cluster::RequestRefresh() {
  if (stopped_ || refreshing_ || refresh_timer_) return;
  refresh_timer_ = loop_.After(refresh_backoff_.Next(), [this] {
    refresh_timer_ = nullptr;
    StartRefresh();
  });
}

void Cluster::StartRefresh() {
  if (stopped_ || refreshing_) return;
  refreshing_ = true;
  last_refresh_ = std::chrono::steady_clock::now();
  // Working masters first (cheapest to reach), then every node of the last
  // map, then the seeds.
  std::vector<std::string> candidates;
  auto add = [&](const std::string& a) {
    if (std::find(candidates.begin(), candidates.end(), a) == candidates.end()) {
      candidates.push_back(a);
    }
  };
  for (auto& [address, node] : nodes_) {
    if (node.state == State::ready) add(address);
  }
  if (map_) {
    for (const std::string& a : map_->nodes) add(a);
  }
  for (const std::string& a : options_.seeds) add(a);
  TryRefresh(std::move(candidates), 0);
}

void Cluster::TryRefresh(std::vector<std::string> candidates, std::size_t next) {
  if (next >= candidates.size()) {
    log::Warn("redis bus: no node answered CLUSTER SLOTS (", candidates.size(), " tried)");
    return RefreshDone(std::nullopt);
  }
  std::string address = candidates[next];
  std::string host = address.substr(0, address.rfind(':'));
  // Each attempt ends exactly once: a reply, a failure or the timeout,
  // whichever comes first; `attempt` tells a stale callback from the live one.
  auto attempt = std::make_shared<bool>(true);
  auto finish = [this, attempt, candidates, next](std::optional<SlotMap> map) {
    if (!*attempt) return;
    *attempt = false;
    if (probe_) probe_->Close();
    probe_ = nullptr;
    if (probe_timeout_) probe_timeout_->Cancel();
    probe_timeout_ = nullptr;
    if (map) return RefreshDone(std::move(map));
    TryRefresh(candidates, next + 1);
  };
  probe_ = loop_.Connect(address, Ms(options_.connect_timeout_ms),
                         {.connected = nullptr,
                          .reply =
                              [finish, host, address](RespValue&& reply) {
                                std::optional<SlotMap> map = ParseClusterSlots(reply, host);
                                if (!map) {
                                  log::Warn("redis bus: bad CLUSTER SLOTS reply from ", address,
                                            reply.is_error() ? ": " + reply.str : "");
                                }
                                finish(std::move(map));
                              },
                          .closed = [finish](const std::string&) { finish(std::nullopt); }});
  std::string cmd;
  AppendCommand(cmd, {"CLUSTER", "SLOTS"});
  probe_->Write(cmd);
  probe_timeout_ = loop_.After(Ms(options_.connect_timeout_ms + options_.command_timeout_ms),
                               [finish] { finish(std::nullopt); });
}

void Cluster::RefreshDone(std::optional<SlotMap> map) {
  refreshing_ = false;
  std::vector<Request> unrouted = std::move(unrouted_);
  unrouted_.clear();
  if (!map) {
    Fail(std::move(unrouted));
    RequestRefresh();
    return;
  }
  counters_.slot_map_reads++;
  bool changed = !map_ || *map_ != *map;
  if (changed) {
    log::Info("redis bus: slot map: ", map->masters.size(), " masters",
              map->Complete() ? "" : ", some slots uncovered");
  }
  map_ = std::move(map);
  SyncNodes();
  // A map that changed is progress: the next read may come soon. One that
  // did not while something is still broken waits longer each time.
  if (changed || Healthy()) {
    refresh_backoff_.Reset();
  }
  for (Request& r : unrouted) Send(r.slot, std::move(r.command), std::move(r.done));
  on_topology_();
}

}  // namespace ferry::redis
