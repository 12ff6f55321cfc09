// The scenarios. Everything here runs on the one thread that drives Net (see
// net.h), so the state needs no locks. Frames are built by string
// concatenation and read by searching for `"key":` — the server writes
// compact JSON, and a key pattern cannot occur inside a string value because
// quotes there are escaped — so a frame costs no allocation beyond its text.
//
// direct is open-loop: message k is due at t0 + k/R whatever happened to the
// earlier ones, and both latencies are measured from that due time, so a
// stalled server or a backed-up connection shows up in the numbers instead of
// silently slowing the sender (coordinated omission).
#include <boost/json.hpp>
#include <charconv>
#include <cmath>
#include <iostream>
#include <optional>
#include <random>

#include "bench.h"
#include "net.h"

namespace ferry::bench {
namespace json = boost::json;
using namespace std::chrono_literals;

namespace {

constexpr std::int64_t kHelloId = 1;
constexpr std::int64_t kCreateChatId = 2;
constexpr std::int64_t kSendBase = 1000;  // send k carries id kSendBase + k

// The string value of "key", or nullopt. Escapes are not decoded (ids and
// types never contain any).
std::optional<std::string_view> FindStr(std::string_view text, std::string_view key) {
  std::string pat = "\"" + std::string(key) + "\":\"";
  auto at = text.find(pat);
  if (at == std::string_view::npos) return std::nullopt;
  auto start = at + pat.size();
  auto end = text.find('"', start);
  if (end == std::string_view::npos) return std::nullopt;
  return text.substr(start, end - start);
}

std::optional<std::int64_t> FindInt(std::string_view text, std::string_view key) {
  std::string pat = "\"" + std::string(key) + "\":";
  auto at = text.find(pat);
  if (at == std::string_view::npos) return std::nullopt;
  const char* p = text.data() + at + pat.size();
  std::int64_t v = 0;
  auto [ptr, ec] = std::from_chars(p, text.data() + text.size(), v);
  if (ec != std::errc()) return std::nullopt;
  return v;
}

std::string RandomPrefix() {
  static const char* kAlpha = "abcdefghijklmnopqrstuvwxyz0123456789";
  std::random_device rd;
  std::string p = "b";
  for (int i = 0; i < 6; ++i) p += kAlpha[rd() % 36];
  return p + "-";
}

std::uint64_t Micros(Clock::duration d) {
  auto us = std::chrono::duration_cast<std::chrono::microseconds>(d).count();
  return us < 0 ? 0 : static_cast<std::uint64_t>(us);
}

std::string Fixed(double v, int digits) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.*f", digits, v);
  return buf;
}

struct Peer {
  std::string token;
  int partner = -1;
  bool leader = false;  // creates the pair's chat
  bool hello_ok = false;
  bool chat_event = false;  // got (and acked) the chat's `created` event
  std::string chat;
  std::int64_t last_seq = 0;
  Clock::time_point connect_start;
};

// Connection handling common to the scenarios: connect with bounded
// concurrency, hello, answer pings, ack entries, count errors.
class Runner {
 public:
  Runner(const Options& o, const Server& s, Report& r)
      : options_(o), server_(s), report_(r), net_(Callbacks()) {}

  Net& net() { return net_; }
  std::vector<Peer>& peers() { return peers_; }

  // Connects every peer and says hello; returns the wall time it took.
  double ConnectAll(std::vector<Account> accounts) {
    peers_.resize(accounts.size());
    for (std::size_t i = 0; i < accounts.size(); ++i) peers_[i].token = std::move(accounts[i].token);
    int n = static_cast<int>(peers_.size());
    source_addrs_ = options_.source_addrs > 0 ? options_.source_addrs : (n + 15999) / 16000;
    auto start = Clock::now();
    for (int i = 0; i < std::min(n, options_.connect_concurrency); ++i) StartNext();
    // Bounded: 30 s plus 10 ms per connection.
    net_.RunUntil(start + 30s + n * 10ms, [&] { return finished_connects_ >= n; });
    double secs = std::chrono::duration<double>(Clock::now() - start).count();
    if (finished_connects_ < n) report_.Error("connect phase timed out");
    return secs;
  }

  int hellos() const { return hellos_; }
  const Histogram& connect_latency() const { return connect_latency_; }
  std::uint64_t closes() const { return closes_; }

  // Hooks of the direct scenario.
  std::function<void(int, std::string_view)> on_ok;       // (conn, frame) for ids >= kSendBase
  std::function<void(int, std::string_view)> on_message;  // (conn, frame), new entries only

  void Ack(int c, std::int64_t seq) {
    net_.Send(c, "{\"type\":\"ack\",\"upTo\":" + std::to_string(seq) + "}");
  }

 private:
  Net::Callbacks Callbacks() {
    return {[this](int c) { Opened(c); }, [this](int c, std::string_view t) { Text(c, t); },
            [this](int c, int code, const std::string& reason) { Closed(c, code, reason); }};
  }

  void StartNext() {
    int n = static_cast<int>(peers_.size());
    if (next_connect_ >= n) return;
    int c = next_connect_++;
    peers_[c].connect_start = Clock::now();
    std::string source;
    if (source_addrs_ > 1) source = "127.0.0." + std::to_string(2 + c % source_addrs_);
    net_.Connect(c, server_.host, server_.port, source);
  }

  void Opened(int c) {
    net_.Send(c, "{\"type\":\"hello\",\"id\":1,\"token\":\"" + peers_[c].token + "\"}");
  }

  void Text(int c, std::string_view t) {
    auto type = FindStr(t, "type");
    if (!type) return report_.Error("frame without type: " + std::string(t.substr(0, 200)));
    Peer& p = peers_[c];
    if (*type == "ok") {
      auto id = FindInt(t, "id").value_or(-1);
      if (id == kHelloId) {
        p.hello_ok = true;
        ++hellos_;
        connect_latency_.Record(Micros(Clock::now() - p.connect_start));
        ++finished_connects_;
        StartNext();
      } else if (id == kCreateChatId) {
        auto chat = FindStr(t, "chatId");
        if (!chat) return report_.Error("createChat ok without chatId");
        p.chat = *chat;
        peers_[p.partner].chat = *chat;
        ++chats_created;
      } else if (id >= kSendBase && on_ok) {
        on_ok(c, t);
      }
    } else if (*type == "message" || *type == "chat") {
      auto seq = FindInt(t, "seq").value_or(0);
      if (seq <= p.last_seq) {  // a resend (our ack was late): already counted
        ++duplicates;
        return;
      }
      p.last_seq = seq;
      if (*type == "chat") {
        if (!p.chat_event) ++chat_events;
        p.chat_event = true;
      } else if (on_message) {
        on_message(c, t);
      }
      Ack(c, seq);  // as a real client: every entry is acknowledged on receipt
    } else if (*type == "ping") {
      net_.Send(c, "{\"type\":\"pong\"}");
    } else if (*type == "error") {
      if (FindInt(t, "id").value_or(-1) == kHelloId) {
        ++finished_connects_;
        StartNext();
      }
      report_.Error("error reply: " + std::string(t.substr(0, 300)));
    }
  }

  void Closed(int c, int code, const std::string& reason) {
    if (!peers_[c].hello_ok) {
      ++finished_connects_;
      report_.Error("connection " + std::to_string(c) + " failed: " + std::to_string(code) + " " +
                    reason);
      StartNext();
      return;
    }
    ++closes_;
    report_.Error("connection " + std::to_string(c) + " closed: " + std::to_string(code) + " " +
                  reason);
  }

  const Options& options_;
  const Server& server_;
  Report& report_;
  Net net_;
  std::vector<Peer> peers_;
  int source_addrs_ = 1;
  int next_connect_ = 0;
  int finished_connects_ = 0;
  int hellos_ = 0;
  std::uint64_t closes_ = 0;
  Histogram connect_latency_;

 public:
  int chats_created = 0;
  int chat_events = 0;
  std::uint64_t duplicates = 0;
};

void ConnectReport(Report& r, const Runner& run, int n, double secs) {
  r.Row("connections", std::to_string(run.hellos()) + " of " + std::to_string(n) + " said hello");
  r.Row("connect+hello rate", Fixed(run.hellos() / secs, 0) + " /s (" + Fixed(secs, 2) + " s)");
  r.Row("connect+hello latency", LatencyText(run.connect_latency()));
  r.json["connections"] = n;
  r.json["hellos"] = run.hellos();
  r.json["connectSeconds"] = secs;
  r.json["connectPerSecond"] = run.hellos() / secs;
  r.json["connectLatencyUs"] = LatencyJson(run.connect_latency());
}

}  // namespace

void Report::Error(const std::string& what) {
  ++errors;
  if (error_samples.size() < 10) error_samples.push_back(what);
}

boost::json::object LatencyJson(const Histogram& h) {
  return {{"count", h.count()},
          {"p50", h.ValueAtPercentile(50)},
          {"p99", h.ValueAtPercentile(99)},
          {"p99_9", h.ValueAtPercentile(99.9)},
          {"max", h.max()},
          {"mean", h.mean()}};
}

std::string LatencyText(const Histogram& h) {
  if (h.count() == 0) return "(none)";
  auto ms = [](std::uint64_t us) { return Fixed(static_cast<double>(us) / 1000.0, 2); };
  return "p50 " + ms(h.ValueAtPercentile(50)) + "  p99 " + ms(h.ValueAtPercentile(99)) +
         "  p99.9 " + ms(h.ValueAtPercentile(99.9)) + "  max " + ms(h.max()) + " ms";
}

Report RunIdle(const Options& o, const Server& server) {
  Report r;
  r.scenario = "idle";
  int n = o.connections;
  auto accounts = MakeAccounts(server, n, RandomPrefix());
  std::uint64_t rss_base = RssKb(server.pid);
  Runner run(o, server, r);
  double secs = run.ConnectAll(std::move(accounts));
  ConnectReport(r, run, n, secs);

  // Hold: the connections stay open, answering pings; the server's idle
  // cost is its CPU over the hold, its memory the RSS at the end.
  double cpu0 = CpuSeconds(server.pid);
  auto hold_end = Clock::now() + std::chrono::duration_cast<Clock::duration>(
                                     std::chrono::duration<double>(o.duration));
  run.net().RunUntil(hold_end, [] { return false; });
  double cpu1 = CpuSeconds(server.pid);
  std::uint64_t rss_held = RssKb(server.pid);
  run.net().CloseAll(5s);

  r.json["holdSeconds"] = o.duration;
  r.json["closedDuringHold"] = run.closes();
  if (server.pid > 0) {
    double per_conn = run.hellos() ? (static_cast<double>(rss_held) - rss_base) * 1024.0 / run.hellos() : 0;
    r.Row("server RSS", std::to_string(rss_base / 1024) + " MiB before, " +
                            std::to_string(rss_held / 1024) + " MiB held");
    r.Row("server RSS per connection", Fixed(per_conn / 1024.0, 1) + " KiB");
    r.Row("server CPU while holding", Fixed(100.0 * (cpu1 - cpu0) / o.duration, 1) + " %");
    r.json["serverRssBeforeKb"] = rss_base;
    r.json["serverRssHeldKb"] = rss_held;
    r.json["serverRssPerConnectionBytes"] = per_conn;
    r.json["serverCpuHoldSeconds"] = cpu1 - cpu0;
  }
  if (run.hellos() != n) r.Error("only " + std::to_string(run.hellos()) + " hellos");
  return r;
}

Report RunDirect(const Options& o, const Server& server) {
  Report r;
  r.scenario = "direct";
  int n = o.connections;
  if (n < 2 || n % 2) throw std::invalid_argument("direct needs an even number of connections");
  auto accounts = MakeAccounts(server, n, RandomPrefix());
  std::vector<std::string> users;
  for (auto& a : accounts) users.push_back(a.user);
  Runner run(o, server, r);
  auto& peers = run.peers();
  peers.resize(n);
  for (int i = 0; i < n; ++i) {
    peers[i].partner = i ^ 1;
    peers[i].leader = i % 2 == 0;
  }
  double secs = run.ConnectAll(std::move(accounts));
  ConnectReport(r, run, n, secs);

  // One 1:1 chat per pair, created by the leader; wait until both sides
  // know it (the follower through its `created` event).
  for (int i = 0; i < n; i += 2) {
    if (!peers[i].hello_ok) continue;
    run.net().Send(i, "{\"type\":\"createChat\",\"id\":2,\"members\":[\"" + users[i + 1] + "\"]}");
  }
  run.net().RunUntil(Clock::now() + 30s, [&] {
    return run.chats_created >= n / 2 && run.chat_events >= n / 2;
  });
  if (run.chats_created < n / 2) r.Error("only " + std::to_string(run.chats_created) + " chats created");

  // The schedule.
  const double rate = o.rate;
  const auto total = static_cast<std::int64_t>(std::floor((o.warmup + o.duration) * rate));
  const auto first_measured = static_cast<std::int64_t>(std::ceil(o.warmup * rate));
  const auto t0 = Clock::now() + 100ms;
  auto due = [&](std::int64_t k) {
    return t0 + std::chrono::nanoseconds(static_cast<std::int64_t>(static_cast<double>(k) * 1e9 / rate));
  };
  const auto window_start = due(first_measured);
  const auto window_end = due(total);
  std::string pad(static_cast<std::size_t>(std::max(0, o.body_bytes - 12)), 'x');

  std::vector<std::uint8_t> acked(total, 0), delivered(total, 0);
  std::int64_t acked_count = 0, delivered_count = 0, sent = 0, skipped = 0;
  Histogram ack_latency, e2e_latency, send_lag;

  run.on_ok = [&](int, std::string_view t) {
    auto k = FindInt(t, "id").value_or(0) - kSendBase;
    if (k < 0 || k >= total || acked[k]) return r.Error("unexpected ok: " + std::string(t.substr(0, 200)));
    acked[k] = 1;
    ++acked_count;
    if (k >= first_measured) ack_latency.Record(Micros(Clock::now() - due(k)));
  };
  run.on_message = [&](int c, std::string_view t) {
    auto body = FindStr(t, "body");
    std::int64_t k = -1;
    if (body && body->size() > 1 && (*body)[0] == 'k') {
      std::from_chars(body->data() + 1, body->data() + body->size(), k);
    }
    if (k < 0 || k >= total) return r.Error("unexpected message: " + std::string(t.substr(0, 200)));
    if (static_cast<int>(k % n) != peers[c].partner) r.Error("message from a stranger");
    if (delivered[k]) return;  // a resend under a new seq would be a server bug; counted once
    delivered[k] = 1;
    ++delivered_count;
    if (k >= first_measured) e2e_latency.Record(Micros(Clock::now() - due(k)));
  };

  std::int64_t next = 0;
  std::function<void()> tick = [&] {
    auto now = Clock::now();
    for (; next < total && due(next) <= now; ++next) {
      int c = static_cast<int>(next % n);
      if (peers[c].chat.empty()) {  // its connection failed: already an error
        ++skipped;
        continue;
      }
      send_lag.Record(Micros(now - due(next)));
      run.net().Send(c, "{\"type\":\"send\",\"id\":" + std::to_string(kSendBase + next) +
                            ",\"chatId\":\"" + peers[c].chat + "\",\"clientMsgId\":\"" +
                            std::to_string(next) + "\",\"body\":\"k" + std::to_string(next) + " " +
                            pad + "\"}");
      ++sent;
    }
    if (next < total) run.net().At(due(next), tick);
  };
  double cpu_start = 0, cpu_end = 0, own_start = 0, own_end = 0;
  run.net().At(window_start, [&] {
    cpu_start = CpuSeconds(server.pid);
    own_start = OwnCpuSeconds();
  });
  run.net().At(window_end, [&] {
    cpu_end = CpuSeconds(server.pid);
    own_end = OwnCpuSeconds();
  });
  run.net().At(t0, tick);
  // Run the schedule, then drain: every message acked and delivered, or 10 s.
  run.net().RunUntil(window_end + 10s, [&] {
    return next >= total && Clock::now() >= window_end && acked_count + skipped >= total &&
           delivered_count + skipped >= total;
  });
  std::uint64_t duplicates = run.duplicates;
  run.net().CloseAll(5s);

  std::int64_t measured = total - first_measured;
  std::int64_t lost_acks = 0, lost_deliveries = 0, measured_delivered = 0;
  for (std::int64_t k = 0; k < total; ++k) {
    lost_acks += !acked[k];
    lost_deliveries += !delivered[k];
    if (k >= first_measured) measured_delivered += delivered[k];
  }
  if (lost_acks) r.Error(std::to_string(lost_acks) + " sends never acknowledged");
  if (lost_deliveries) r.Error(std::to_string(lost_deliveries) + " messages never delivered");

  double server_cpu = cpu_end - cpu_start;
  double us_per_msg = measured_delivered ? server_cpu * 1e6 / measured_delivered : 0;
  r.Row("pairs / rate", std::to_string(n / 2) + " pairs, " + Fixed(rate, 0) + " msg/s total, " +
                             Fixed(o.warmup, 1) + " s warmup + " + Fixed(o.duration, 1) + " s");
  r.Row("messages in window", std::to_string(measured) + " due, " + std::to_string(measured_delivered) +
                                  " delivered");
  r.Row("delivered msgs/s", Fixed(measured_delivered / o.duration, 0));
  r.Row("ack latency (send->ok)", LatencyText(ack_latency));
  r.Row("end-to-end (send->recv)", LatencyText(e2e_latency));
  r.Row("generator send lag", LatencyText(send_lag));
  r.Row("lost acks / deliveries", std::to_string(lost_acks) + " / " + std::to_string(lost_deliveries) +
                                      " (resends seen: " + std::to_string(duplicates) + ")");
  if (server.pid > 0) {
    r.Row("server CPU", Fixed(100.0 * server_cpu / o.duration, 1) + " % of a core, " +
                            Fixed(us_per_msg, 1) + " µs per message");
  }
  r.Row("generator CPU", Fixed(100.0 * (own_end - own_start) / o.duration, 1) + " % of a core");
  r.json["pairs"] = n / 2;
  r.json["rate"] = rate;
  r.json["warmupSeconds"] = o.warmup;
  r.json["durationSeconds"] = o.duration;
  r.json["bodyBytes"] = o.body_bytes;
  r.json["messagesDue"] = measured;
  r.json["messagesDelivered"] = measured_delivered;
  r.json["deliveredPerSecond"] = measured_delivered / o.duration;
  r.json["ackLatencyUs"] = LatencyJson(ack_latency);
  r.json["endToEndLatencyUs"] = LatencyJson(e2e_latency);
  r.json["sendLagUs"] = LatencyJson(send_lag);
  r.json["lostAcks"] = lost_acks;
  r.json["lostDeliveries"] = lost_deliveries;
  r.json["resendsSeen"] = duplicates;
  if (server.pid > 0) {
    r.json["serverCpuSeconds"] = server_cpu;
    r.json["serverCpuUsPerMessage"] = us_per_msg;
  }
  r.json["generatorCpuSeconds"] = own_end - own_start;
  return r;
}

}  // namespace ferry::bench
