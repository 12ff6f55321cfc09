// The messaging scenarios: direct (1:1 chats, pairs of users) and group
// (chats of --group-size members). Both are one schedule: N users in chats
// of `size` members (direct: 2); message k is sent by user k mod N into its
// chat and must reach the size - 1 other members, who ack every entry.
//
// Open loop: message k is due at t0 + k/R whatever happened to the earlier
// ones, and both latencies (send -> ok, send -> each recipient) are measured
// from that due time, so a stalled server or a backed-up connection shows up
// in the numbers instead of silently slowing the sender (coordinated
// omission).
//
// --ramp runs steps on the same connections, each a fresh warmup + window
// at a higher rate, while each step is sustained: every message acked and
// delivered (within the 10 s drain after the window), deliveries during the
// window at least 95% of those offered, p99 at most 500 ms. Then it bisects
// between the last sustained and the first unsustained rate a few times
// (--ramp-refine), to pin down the maximum.
#include <boost/json.hpp>
#include <charconv>
#include <cmath>

#include "bench.h"
#include "runner.h"
#include "window_exec.h"

namespace ferry::bench {
namespace json = boost::json;
using namespace std::chrono_literals;

namespace {

constexpr double kSustainedFraction = 0.95;
constexpr std::uint64_t kP99LimitUs = 500'000;  // a ramp step above is not sustained
// Beyond these the generator, not the server, is the limit: its send lag
// p99, or its own CPU (it runs on one thread) over the window.
constexpr std::uint64_t kLagLimitUs = 100'000;
constexpr double kGeneratorCpuLimit = 0.9;
constexpr std::uint64_t kGoodP99Us = 15'000;  // the latency target the ramp reports against
constexpr auto kDrain = 10s;

struct StepResult {
  double rate = 0;                   // offered, messages/s
  double seconds = 0;                // window length
  std::int64_t sent = 0;             // messages of the step sent, warmup included
  std::int64_t skipped = 0;          // due from a sender without a chat (its connect failed)
  std::int64_t acked = 0;            // of `sent`
  std::int64_t refused = 0;          // of `sent`: answered `unavailable` (the server shed them)
  std::int64_t deliveries = 0;       // of `sent`, one per recipient
  std::int64_t window_due = 0;       // messages due in the window
  std::int64_t window_complete = 0;  // of those, delivered to every recipient by the end
  std::int64_t window_arrivals = 0;  // deliveries (of any message) arriving in the window
  std::int64_t late = 0;             // acks and deliveries of earlier steps' messages
  Histogram ack, e2e, send_lag;      // microseconds
  double server_cpu = 0;             // ferryd processes
  double extra_cpu = 0;              // the other server processes (--extra-pid)
  ServerCpu cpu;                     // per process
  double own_cpu = 0;
  bool drained = false;       // everything sent was acked and delivered
  double settle_seconds = 0;  // waited for the server's store before the step

  double DeliveriesPerSecond() const { return static_cast<double>(window_arrivals) / seconds; }
  // Sends never answered, and deliveries of accepted sends never made.
  std::int64_t LostAcks() const { return sent - acked - refused; }
  std::int64_t LostDeliveries(int fanout) const { return (sent - refused) * fanout - deliveries; }
};

class Traffic {
 public:
  Traffic(const Options& o, const Server& server, Report& r, int size)
      : o_(o),
        server_(server),
        r_(r),
        size_(size),
        n_(o.connections),
        run_(o, server, r, MakeAccounts(server, o.connections, RandomPrefix())),
        pad_(static_cast<std::size_t>(std::max(0, o.body_bytes - 12)), 'x'),
        window_exec_(o.window_exec) {}

  int fanout() const { return size_ - 1; }
  std::uint64_t duplicates() const { return run_.duplicates(); }
  void Close() { run_.CloseAll(); }

  // Connects everyone and creates the chats: user g*size creates chat g
  // with the next size - 1 users.
  ConnectResult SetUp() {
    auto connected = run_.Connect(0, n_);
    std::vector<ChatPlan> plans(n_ / size_);
    for (int g = 0; g < n_ / size_; ++g) {
      plans[g].creator = g * size_;
      for (int m = 1; m < size_; ++m) plans[g].members.push_back(g * size_ + m);
    }
    run_.CreateChats(plans);
    run_.on_reply = [this](int c, std::int64_t id, std::string_view t) { OnReply(c, id, t); };
    run_.on_message = [this](int c, std::string_view t) { OnMessage(c, t); };
    run_.on_refused = [this](int c, std::int64_t id, std::string_view t) {
      return OnRefused(c, id, t);
    };
    return connected;
  }

  // One warmup + window at `rate`, then the drain.
  StepResult Step(double rate) {
    StepResult s;
    s.settle_seconds = Settle();
    s.rate = rate;
    step_ = &s;
    rate_ = rate;
    base_ = end_;
    first_measured_ = base_ + static_cast<std::int64_t>(std::ceil(o_.warmup * rate));
    end_ = base_ + static_cast<std::int64_t>(std::floor((o_.warmup + o_.duration) * rate));
    acked_.resize(end_, 0);
    deliveries_.resize(end_, 0);
    next_ = base_;
    t0_ = Clock::now() + 100ms;
    window_start_ = Due(first_measured_);
    window_end_ = Due(end_);
    window_closed_ = false;
    s.window_due = end_ - first_measured_;
    if (s.window_due < 1) {
      throw std::invalid_argument("--rate x --duration gives no message to measure");
    }
    s.seconds = static_cast<double>(s.window_due) / rate;

    ServerCpu cpu0;
    double own0 = 0;
    run_.net().At(window_start_, [&] {
      cpu0 = ReadServerCpu(server_);
      own0 = OwnCpuSeconds();
      window_exec_.Spawn("start", step_number_);
    });
    run_.net().At(window_end_, [&] {
      s.cpu = ReadServerCpu(server_).Since(cpu0);
      s.server_cpu = std::max(0.0, s.cpu.Ferryd());
      s.extra_cpu = std::max(0.0, s.cpu.Extra());
      s.own_cpu = OwnCpuSeconds() - own0;
      window_closed_ = true;
      window_exec_.Spawn("end", step_number_);
    });
    run_.net().At(t0_, [this] { Tick(); });
    // Every timer of the step is due by window_end_, so all of them fire
    // inside this call (the ones above capture its locals).
    s.drained = run_.RunUntil(window_end_ + kDrain, [&] {
      return window_closed_ && next_ >= end_ && s.acked + s.refused >= s.sent &&
             s.deliveries >= (s.sent - s.refused) * fanout();
    });
    for (std::int64_t k = first_measured_; k < end_; ++k) {
      s.window_complete += deliveries_[k] == fanout();
    }
    window_exec_.Wait(r_);
    ++step_number_;
    step_ = nullptr;
    return s;
  }

 private:
  // Waits until the server's store is idle: nothing queued and no write
  // batch committed since the previous look. After an overloaded step the
  // deletions of the acked entries may still be queued, and the next step
  // would measure them. Bounded (30 s); returns the seconds waited.
  double Settle() {
    auto start = Clock::now();
    double last_batches = -1;
    while (Clock::now() < start + 30s) {
      auto m = ServerMetrics(server_, {"ferry_store_queue_depth", "ferry_store_batches_total"});
      if (m[0] < 0 || m[1] < 0) break;  // unknown: nothing to wait for
      if (m[0] == 0 && m[1] == last_batches) break;
      last_batches = m[1];
      run_.RunUntil(Clock::now() + 50ms, [] { return false; });  // between two looks at /metrics
    }
    return Seconds(Clock::now() - start).count();
  }

  Clock::time_point Due(std::int64_t k) const {
    auto offset = static_cast<double>(k - base_) * 1e9 / rate_;
    return t0_ + std::chrono::nanoseconds(static_cast<std::int64_t>(offset));
  }

  // Sends every message that is due, then sleeps until the next one is.
  void Tick() {
    auto now = Clock::now();
    for (; next_ < end_ && Due(next_) <= now; ++next_) {
      int c = static_cast<int>(next_ % n_);
      if (run_.peers()[c].chat.empty()) {  // its connection failed: already an error
        ++step_->skipped;
        continue;
      }
      step_->send_lag.Record(Micros(now - Due(next_)));
      run_.SendMessage(c, next_, "k" + std::to_string(next_) + " " + pad_);
      ++step_->sent;
    }
    if (next_ < end_) run_.net().At(Due(next_), [this] { Tick(); });
  }

  void OnReply(int, std::int64_t id, std::string_view t) {
    std::int64_t k = id - kSendBase;
    if (k < 0 || k >= end_ || acked_[k]) {
      return r_.Error("unexpected ok: " + std::string(t.substr(0, 200)));
    }
    acked_[k] = 1;
    if (!step_) return;
    if (k < base_) {
      ++step_->late;
      return;
    }
    ++step_->acked;
    if (k >= first_measured_) step_->ack.Record(Micros(Clock::now() - Due(k)));
  }

  // A send answered `unavailable`: the server shed it (overload), so it is
  // neither acked nor delivered, and not an error of the run.
  bool OnRefused(int, std::int64_t id, std::string_view t) {
    std::int64_t k = id - kSendBase;
    if (k < 0 || k >= end_ || acked_[k] || FindStr(t, "code") != "unavailable") return false;
    acked_[k] = 1;
    if (step_ && k >= base_) ++step_->refused;
    return true;
  }

  void OnMessage(int c, std::string_view t) {
    auto body = FindStr(t, "body");
    std::int64_t k = -1;
    if (body && body->size() > 1 && (*body)[0] == 'k') {
      std::from_chars(body->data() + 1, body->data() + body->size(), k);
    }
    if (k < 0 || k >= end_) return r_.Error("unexpected message: " + std::string(t.substr(0, 200)));
    int sender = static_cast<int>(k % n_);
    if (sender / size_ != c / size_ || sender == c) {
      return r_.Error("message from outside the chat");
    }
    // A second delivery under a new seq would be a server bug: counted once.
    if (deliveries_[k] >= fanout()) {
      return r_.Error("message " + std::to_string(k) + " delivered twice");
    }
    ++deliveries_[k];
    if (!step_) return;
    auto now = Clock::now();
    if (now >= window_start_ && now < window_end_) ++step_->window_arrivals;
    if (k < base_) {
      ++step_->late;
      return;
    }
    ++step_->deliveries;
    if (k >= first_measured_) step_->e2e.Record(Micros(now - Due(k)));
  }

  const Options& o_;
  const Server& server_;
  Report& r_;
  const int size_;
  const int n_;
  Runner run_;
  const std::string pad_;
  // Per message, over all steps: k never repeats, so neither do the
  // clientMsgIds (a repeated one would be deduplicated by the server).
  std::vector<std::uint8_t> acked_;
  std::vector<std::uint16_t> deliveries_;
  // The step in progress (null between steps).
  StepResult* step_ = nullptr;
  double rate_ = 1;
  std::int64_t base_ = 0, first_measured_ = 0, end_ = 0, next_ = 0;
  Clock::time_point t0_, window_start_, window_end_;
  bool window_closed_ = false;
  WindowExec window_exec_;
  int step_number_ = 1;
};

double UsPer(double cpu_seconds, double count) { return count > 0 ? cpu_seconds * 1e6 / count : 0; }

json::object StepJson(const StepResult& s, int fanout, const Server& server) {
  double deliveries_per_s = s.DeliveriesPerSecond();
  json::object j{{"rate", s.rate},
                 {"messagesDue", s.window_due},
                 {"messagesDelivered", s.window_complete},
                 {"deliveredPerSecond", deliveries_per_s / fanout},
                 {"deliveriesPerSecond", deliveries_per_s},
                 {"ackLatencyUs", LatencyJson(s.ack)},
                 {"endToEndLatencyUs", LatencyJson(s.e2e)},
                 {"sendLagUs", LatencyJson(s.send_lag)},
                 {"refused", s.refused},
                 {"lostAcks", s.LostAcks()},
                 {"lostDeliveries", s.LostDeliveries(fanout)},
                 {"skipped", s.skipped},
                 {"late", s.late},
                 {"settleSeconds", s.settle_seconds},
                 {"windowSeconds", s.seconds},
                 {"generatorCpuSeconds", s.own_cpu},
                 {"generatorCpuPercent", 100.0 * s.own_cpu / s.seconds}};
  double arrivals = static_cast<double>(s.window_arrivals);
  if (server.measured()) {
    j["serverCpuSeconds"] = s.server_cpu;
    j["serverCpuUsPerMessage"] = UsPer(s.server_cpu, arrivals / fanout);
    j["serverCpuUsPerDelivery"] = UsPer(s.server_cpu, arrivals);
  }
  // ferryd plus the processes it needs (Redis, PostgreSQL, ...).
  if (!server.extra_pids.empty()) {
    double all = s.server_cpu + s.extra_cpu;
    j["extraCpuSeconds"] = s.extra_cpu;
    j["allCpuSeconds"] = all;
    j["allCpuUsPerMessage"] = UsPer(all, arrivals / fanout);
    j["allCpuUsPerDelivery"] = UsPer(all, arrivals);
  }
  if (server.UniquePids().size() + server.extra_pids.size() > 1) {
    j["cpuByProcess"] = CpuByProcessJson(server, s.cpu);
  }
  return j;
}

// Why a ramp step is not sustained, or "" if it is.
std::string Unsustained(const StepResult& s, int fanout) {
  bool lost = s.LostAcks() > 0 || s.LostDeliveries(fanout) > 0;
  if (lost) return "not all acked and delivered within 10 s";
  if (s.refused > 0) return "sends refused (unavailable): the server shed load";
  if (s.DeliveriesPerSecond() < kSustainedFraction * s.rate * fanout) {
    return "delivered below 95% of offered";
  }
  if (std::max(s.ack.ValueAtPercentile(99), s.e2e.ValueAtPercentile(99)) > kP99LimitUs) {
    return "p99 over 500 ms";
  }
  if (s.send_lag.ValueAtPercentile(99) > kLagLimitUs) {
    return "generator cannot keep up (send lag p99 over 100 ms)";
  }
  if (s.own_cpu > kGeneratorCpuLimit * s.seconds) return "generator CPU-bound (over 90% of a core)";
  return "";
}

bool WithinGoodP99(const StepResult& s) {
  return s.ack.ValueAtPercentile(99) <= kGoodP99Us && s.e2e.ValueAtPercentile(99) <= kGoodP99Us;
}

std::string Ms(std::uint64_t us) { return Fixed(static_cast<double>(us) / 1000.0, 2); }

// One line per ramp step: delivered, ack and e2e percentiles, CPU.
std::string StepLine(const StepResult& s, int fanout, const Server& server) {
  auto pct = [](const Histogram& h) {
    return Ms(h.ValueAtPercentile(50)) + "/" + Ms(h.ValueAtPercentile(99)) + "/" +
           Ms(h.ValueAtPercentile(99.9));
  };
  std::string line = Fixed(s.DeliveriesPerSecond() / fanout, 0) + " msg/s";
  if (fanout > 1) line += " (" + Fixed(s.DeliveriesPerSecond(), 0) + " deliveries/s)";
  line += ", ack " + pct(s.ack) + ", e2e " + pct(s.e2e) + " ms p50/p99/p99.9";
  if (s.refused > 0) line += ", " + std::to_string(s.refused) + " sends refused";
  double arrivals = s.DeliveriesPerSecond() * s.seconds;
  if (server.measured()) {
    line += ", " + Fixed(UsPer(s.server_cpu, arrivals / fanout), 1) + " µs/msg";
    if (fanout > 1) line += " (" + Fixed(UsPer(s.server_cpu, arrivals), 2) + " µs/delivery)";
  }
  if (!server.extra_pids.empty()) {
    line += ", all processes " + Fixed(UsPer(s.server_cpu + s.extra_cpu, arrivals / fanout), 1) +
            " µs/msg";
  }
  return line;
}

void FixedReport(const StepResult& s, const Options& o, const Server& server, int fanout,
                 Report& r) {
  std::int64_t lost_acks = s.LostAcks(), lost_deliveries = s.LostDeliveries(fanout);
  if (lost_acks) r.Error(std::to_string(lost_acks) + " sends never acknowledged");
  if (lost_deliveries) r.Error(std::to_string(lost_deliveries) + " deliveries never made");
  double per_s = s.DeliveriesPerSecond();
  std::string chats = fanout == 1 ? std::to_string(o.connections / 2) + " pairs"
                                  : std::to_string(o.connections / (fanout + 1)) + " chats of " +
                                        std::to_string(fanout + 1);
  r.Row("chats / rate", chats + ", " + Fixed(s.rate, 0) + " msg/s total, " + Fixed(o.warmup, 1) +
                            " s warmup + " + Fixed(o.duration, 1) + " s");
  r.Row("messages in window", std::to_string(s.window_due) + " due, " +
                                  std::to_string(s.window_complete) +
                                  " delivered to every recipient");
  r.Row("delivered msgs/s", Fixed(per_s / fanout, 0));
  if (fanout > 1) {
    r.Row("fan-out deliveries/s",
          Fixed(per_s, 0) + " (each message to " + std::to_string(fanout) + ")");
  }
  r.Row("ack latency (send->ok)", LatencyText(s.ack));
  r.Row(fanout > 1 ? "end-to-end (send->each)" : "end-to-end (send->recv)", LatencyText(s.e2e));
  r.Row("generator send lag", LatencyText(s.send_lag));
  if (s.refused > 0) {
    r.Row("refused (unavailable)",
          std::to_string(s.refused) + " sends, " +
              Fixed(100.0 * static_cast<double>(s.refused) /
                        static_cast<double>(std::max<std::int64_t>(1, s.sent)),
                    1) +
              " % (latencies above are of the accepted ones)");
  }
  r.Row("lost acks / deliveries",
        std::to_string(lost_acks) + " / " + std::to_string(lost_deliveries));
  double window = per_s * s.seconds;  // deliveries that arrived in the window
  auto cpu_text = [&](double seconds) {
    std::string text = Fixed(100.0 * seconds / s.seconds, 1) + " % of a core, " +
                       Fixed(UsPer(seconds, window / fanout), 1) + " µs per message";
    if (fanout > 1) text += ", " + Fixed(UsPer(seconds, window), 2) + " µs per delivery";
    return text;
  };
  if (server.measured()) r.Row("server CPU", cpu_text(s.server_cpu));
  if (!server.extra_pids.empty()) {
    std::size_t others = server.extra_pids.size();
    std::string what = others == 1 ? " other process)" : " other processes)";
    r.Row("all server processes CPU", cpu_text(s.server_cpu + s.extra_cpu) + " (ferryd and " +
                                          std::to_string(others) + what);
  }
  if (server.UniquePids().size() + server.extra_pids.size() > 1) {
    std::string by;
    for (const auto& p : CpuByProcessJson(server, s.cpu)) {
      const auto& row = p.as_object();
      by += (by.empty() ? "" : ", ") + std::string(row.at("name").as_string()) + " " +
            std::to_string(row.at("pid").as_int64()) + " " +
            Fixed(100.0 * row.at("cpuSeconds").to_number<double>() / s.seconds, 0) + "%";
    }
    r.Row("  CPU by process", by);
  }
  r.Row("generator CPU", Fixed(100.0 * s.own_cpu / s.seconds, 1) + " % of a core");
  for (auto& [key, value] : StepJson(s, fanout, server)) r.json[key] = value;
  r.json["warmupSeconds"] = o.warmup;
  r.json["durationSeconds"] = o.duration;
}

void RampReport(Traffic& t, const Options& o, const Server& server, Report& r) {
  json::array steps;
  double rate = o.ramp_start > 0 ? o.ramp_start : o.rate;
  double lo = 0, hi = 0, good = 0,
         lo_deliveries = 0;  // best sustained, first unsustained, best within 15 ms
  std::string stop = "--ramp-steps reached";
  for (int i = 0, refines = 0; i < o.ramp_steps; ++i) {
    StepResult s = t.Step(rate);
    std::string why = Unsustained(s, t.fanout());
    if (why.empty()) {
      if (rate > lo) lo_deliveries = s.DeliveriesPerSecond();
      lo = std::max(lo, rate);
      if (WithinGoodP99(s)) good = std::max(good, rate);
    } else {
      if (hi == 0) stop = why + " at " + Fixed(rate, 0) + " msg/s";
      hi = hi > 0 ? std::min(hi, rate) : rate;
    }
    auto j = StepJson(s, t.fanout(), server);
    j["sustained"] = why.empty();
    if (!why.empty()) j["unsustained"] = why;
    steps.push_back(std::move(j));
    r.Row("step " + std::to_string(i + 1) + " @ " + Fixed(rate, 0) + "/s",
          StepLine(s, t.fanout(), server) + (why.empty() ? "" : "  [" + why + "]"));
    if (!s.drained) break;  // a backlog left would be measured by the next step
    if (hi == 0) {          // still climbing
      rate = o.ramp_step > 0 ? rate + o.ramp_step : rate * o.ramp_factor;
      if (rate > o.ramp_max) {
        stop = "--ramp-max reached";
        break;
      }
    } else if (lo > 0 && refines++ < o.ramp_refine) {
      rate = (lo + hi) / 2;
    } else {
      break;
    }
  }
  r.Row("max sustained rate",
        Fixed(lo, 0) + " msg/s" +
            (t.fanout() > 1 ? " (" + Fixed(lo_deliveries, 0) + " deliveries/s)" : ""));
  r.Row("max rate with p99 <= 15 ms", Fixed(good, 0) + " msg/s (ack and end-to-end)");
  r.Row("ramp stopped", stop);
  r.json["mode"] = "ramp";
  r.json["warmupSeconds"] = o.warmup;
  r.json["durationSeconds"] = o.duration;
  r.json["steps"] = std::move(steps);
  r.json["maxSustainedRate"] = lo;
  r.json["maxSustainedDeliveriesPerSecond"] = lo_deliveries;
  r.json["maxRateP99Within15ms"] = good;
  r.json["stopReason"] = stop;
}

Report RunTraffic(const Options& o, const Server& server, const std::string& name, int size) {
  if (size < 2 || o.connections < size || o.connections % size) {
    throw std::invalid_argument(name + " needs --connections to be a multiple of " +
                                std::to_string(size));
  }
  Report r;
  r.scenario = name;
  Traffic t(o, server, r, size);
  auto connected = t.SetUp();
  ConnectReport(r, o.connections, connected.hellos, connected.seconds, connected.latency);
  r.json["groupSize"] = size;
  r.json["chats"] = o.connections / size;
  if (size == 2) r.json["pairs"] = o.connections / 2;
  r.json["bodyBytes"] = o.body_bytes;
  if (o.ramp) {
    RampReport(t, o, server, r);
  } else {
    FixedReport(t.Step(o.rate), o, server, t.fanout(), r);
  }
  r.Row("resends seen", std::to_string(t.duplicates()));
  r.json["resendsSeen"] = t.duplicates();
  t.Close();
  return r;
}

}  // namespace

Report RunDirect(const Options& o, const Server& server) {
  return RunTraffic(o, server, "direct", 2);
}
Report RunGroup(const Options& o, const Server& server) {
  return RunTraffic(o, server, "group", o.group_size);
}

}  // namespace ferry::bench
