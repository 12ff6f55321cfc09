// The connection-centric scenarios: idle (hold N connections), offline
// (drain a full inbox) and reconnect (N clients drop and come back at once).
// idle and reconnect run under --procs: each worker measures its share and
// returns a part (see cohort.h), and a Summarize function merges the parts
// into the report — with one process there is just one part.
#include <algorithm>
#include <boost/json.hpp>

#include "bench.h"
#include "cohort.h"
#include "runner.h"

namespace ferry::bench {
namespace json = boost::json;
using namespace std::chrono_literals;

namespace {

Clock::time_point After(double seconds) {
  return Clock::now() + std::chrono::duration_cast<Clock::duration>(Seconds(seconds));
}

double Ms(Clock::duration d) { return std::chrono::duration<double, std::milli>(d).count(); }

void ConnectToPart(const ConnectResult& c, json::object& part) {
  part["hellos"] = c.hellos;
  part["connectFailed"] = c.failed;
  part["connectSeconds"] = c.seconds;
  part["connectLatency"] = HistogramJson(c.latency);
}

// Every worker's connect phase starts at the same barrier, so the slowest
// worker's time is the wall time of the whole phase.
void ConnectSummary(const Parts& parts, int n, Report& r) {
  ConnectReport(r, n, SumInt(parts, "hellos"), MaxDouble(parts, "connectSeconds"),
                MergedHistogram(parts, "connectLatency"));
}

// ---- idle ----

// Per process (Server::UniquePids()): its RSS now.
json::array RssByPid(const Server& server) {
  json::array kb;
  for (int pid : server.UniquePids()) kb.push_back(RssKb(pid));
  return kb;
}

json::object MeasureIdle(const Options& o, const Server& server, Cohort& cohort) {
  Report errors;
  int n = cohort.Share(o.connections);
  Runner run(o, server, errors, MakeAccounts(server, n, RandomPrefix()),
             cohort.Offset(o.connections));
  json::object part;
  cohort.Sync("accounts", &run.net());  // the baseline RSS includes every worker's setup
  if (cohort.leader()) {
    part["serverRssBeforeKb"] = ServerRssKb(server);
    part["rssBeforeKbByPid"] = RssByPid(server);
  }
  cohort.Sync("connect", &run.net());
  // What connecting costs each side: the server's CPU from the common start
  // to the barrier after the last worker's last hello, and each worker's own.
  ServerCpu connect_cpu0 = ReadServerCpu(server);
  double own0 = OwnCpuSeconds();
  ConnectResult connected = run.Connect(0, n);
  part["benchCpuConnectSeconds"] = OwnCpuSeconds() - own0;
  ConnectToPart(connected, part);

  // Hold: the connections stay open, answering pings; the server's idle
  // cost is its CPU over the hold, its memory the RSS at the end. The
  // barriers make sure every worker holds all of its connections meanwhile.
  cohort.Sync("hold", &run.net());
  ServerCpu cpu0 = ReadServerCpu(server);
  if (cohort.leader()) {
    part["serverCpuConnectSeconds"] = std::max(0.0, cpu0.Since(connect_cpu0).Ferryd());
  }
  run.RunUntil(After(o.duration), [] { return false; });
  if (cohort.leader()) {
    ServerCpu cpu = ReadServerCpu(server).Since(cpu0);
    part["serverCpuHoldSeconds"] = std::max(0.0, cpu.Ferryd());
    part["extraCpuHoldSeconds"] = std::max(0.0, cpu.Extra());
    part["serverRssHeldKb"] = ServerRssKb(server);
    part["rssHeldKbByPid"] = RssByPid(server);
  }
  json::array by_node(server.nodes.size(), 0);
  for (int c = 0; c < n; ++c) {
    if (run.peers()[c].hello_ok) by_node[run.NodeOf(c)] = by_node[run.NodeOf(c)].as_int64() + 1;
  }
  auto open = std::count_if(run.peers().begin(), run.peers().end(),
                            [](const Peer& p) { return p.hello_ok; });
  part["hellosByNode"] = std::move(by_node);
  part["closedDuringHold"] = json::value_to<std::int64_t>(part["hellos"]) - open;
  cohort.Sync("release", &run.net());
  run.CloseAll();
  ErrorsToPart(errors, part);
  return part;
}

// The element-wise sum of the integer arrays `key` of the parts.
std::vector<std::int64_t> SumArrays(const Parts& parts, const char* key) {
  std::vector<std::int64_t> sum;
  for (const auto& p : parts) {
    const auto* v = p.if_contains(key);
    if (!v) continue;
    const auto& a = v->as_array();
    sum.resize(std::max(sum.size(), a.size()), 0);
    for (std::size_t i = 0; i < a.size(); ++i) sum[i] += json::value_to<std::int64_t>(a[i]);
  }
  return sum;
}

// With several ferryd processes: each one's RSS, and per connection when
// the pids were given one per node (so its connections are known).
void IdlePerProcess(const Server& server, const Parts& parts, Report& r) {
  auto pids = server.UniquePids();
  auto before = SumArrays(parts, "rssBeforeKbByPid"), held = SumArrays(parts, "rssHeldKbByPid");
  auto hellos = SumArrays(parts, "hellosByNode");
  bool per_node = server.pids.size() == server.nodes.size();
  json::array rows;
  for (std::size_t i = 0; i < pids.size() && i < before.size() && i < held.size(); ++i) {
    std::int64_t conns = 0;
    std::string addresses;
    for (std::size_t k = 0; k < server.nodes.size() && per_node; ++k) {
      if (server.PidOfNode(k) != pids[i]) continue;
      conns += k < hellos.size() ? hellos[k] : 0;
      addresses += (addresses.empty() ? "" : ",") + server.nodes[k].Address();
    }
    double per_conn = conns ? static_cast<double>(held[i] - before[i]) * 1024.0 / conns : 0;
    std::string row = std::to_string(before[i] / 1024) + " MiB before, " +
                      std::to_string(held[i] / 1024) + " MiB held";
    if (per_node) {
      row += ", " + std::to_string(conns) + " connections, " + Fixed(per_conn / 1024.0, 1) +
             " KiB per connection";
    }
    r.Row("  pid " + std::to_string(pids[i]) + (per_node ? " (" + addresses + ")" : ""), row);
    json::object j{{"pid", pids[i]}, {"rssBeforeKb", before[i]}, {"rssHeldKb", held[i]}};
    if (per_node) {
      j["addresses"] = addresses;
      j["connections"] = conns;
      j["rssPerConnectionBytes"] = per_conn;
    }
    rows.push_back(std::move(j));
  }
  r.json["processes"] = std::move(rows);
}

Report SummarizeIdle(const Options& o, const Server& server, const Parts& parts) {
  Report r;
  r.scenario = "idle";
  MergeErrors(parts, r);
  int n = o.connections;
  ConnectSummary(parts, n, r);
  std::int64_t hellos = SumInt(parts, "hellos");
  r.json["procs"] = o.procs;
  r.json["holdSeconds"] = o.duration;
  r.json["closedDuringHold"] = SumInt(parts, "closedDuringHold");
  if (server.nodes.size() > 1) {
    json::array by_node;
    for (auto h : SumArrays(parts, "hellosByNode")) by_node.push_back(h);
    r.json["hellosByNode"] = std::move(by_node);
  }
  if (server.measured()) {
    auto rss_base = SumInt(parts, "serverRssBeforeKb"), rss_held = SumInt(parts, "serverRssHeldKb");
    if (rss_base == 0 || rss_held == 0) r.Error("server RSS unreadable: is ferryd still running?");
    double cpu = MaxDouble(parts, "serverCpuHoldSeconds");
    double per_conn =
        hellos && rss_held ? static_cast<double>(rss_held - rss_base) * 1024.0 / hellos : 0;
    r.Row("server RSS", std::to_string(rss_base / 1024) + " MiB before, " +
                            std::to_string(rss_held / 1024) + " MiB held");
    r.Row("server RSS per connection", Fixed(per_conn / 1024.0, 1) + " KiB");
    if (server.UniquePids().size() > 1) IdlePerProcess(server, parts, r);
    r.Row("server CPU while holding", Fixed(100.0 * cpu / o.duration, 1) + " %");
    double connect_cpu = MaxDouble(parts, "serverCpuConnectSeconds");
    if (hellos > 0) {
      r.Row("server CPU per connect", Fixed(1e6 * connect_cpu / hellos, 0) +
                                          " us (connect, upgrade and hello; 10 ms ticks)");
      r.json["serverCpuConnectSeconds"] = connect_cpu;
      r.json["serverCpuPerConnectUs"] = 1e6 * connect_cpu / hellos;
    }
    r.json["serverRssBeforeKb"] = rss_base;
    r.json["serverRssHeldKb"] = rss_held;
    r.json["serverRssPerConnectionBytes"] = per_conn;
    r.json["serverCpuHoldSeconds"] = cpu;
  }
  if (!server.extra_pids.empty()) {
    double extra = MaxDouble(parts, "extraCpuHoldSeconds");
    r.Row("other server processes CPU", Fixed(100.0 * extra / o.duration, 1) + " % while holding");
    r.json["extraCpuHoldSeconds"] = extra;
  }
  // The busiest worker's CPU over its connect phase, as a share of its core.
  double bench_pct = 0;
  for (const auto& p : parts) {
    double secs = p.at("connectSeconds").to_number<double>();
    if (secs > 0) {
      bench_pct = std::max(
          bench_pct, 100.0 * p.at("benchCpuConnectSeconds").to_number<double>() / secs);
    }
  }
  r.Row("generator CPU connecting", Fixed(bench_pct, 0) + " % of a core (busiest process)");
  r.json["benchCpuConnectPercent"] = bench_pct;
  if (o.procs > 1) r.Row("generator processes", std::to_string(o.procs));
  if (hellos != n) r.Error("only " + std::to_string(hellos) + " hellos");
  return r;
}

// ---- offline ----

struct DrainRun {
  bool complete = false;
  double hello_ms = 0;     // connect start -> hello ok
  double received_ms = 0;  // connect start -> the K-th message
  double acked_ms = 0;     // connect start -> the ok of the ack of the K-th
  double server_cpu_ms = -1;  // the server's CPU over the same span; -1 if unknown
  double bench_cpu_ms = 0;    // this generator's own CPU over the same span
};

// ferryd's CPU by its threads' run times: a drain lasts tens of
// milliseconds, too short for CpuSeconds' ticks. -1 if a pid is unreadable.
double DrainCpuSeconds(const Server& server) {
  double total = 0;
  for (int pid : server.UniquePids()) {
    double s = ThreadsCpuSeconds(pid);
    if (s < 0) return -1;
    total += s;
  }
  return server.UniquePids().empty() ? -1 : total;
}

constexpr int kSender = 0;
constexpr int kRecipient = 1;

// Fills the offline recipient's inbox: K sends in a row into their 1:1 chat,
// then waits until every one is acknowledged, i.e. durable.
bool FillInbox(Runner& run, int k_total, Report& r) {
  run.Connect(kSender, kSender + 1);
  if (!run.CreateChats({{kSender, {kRecipient}}})) return false;
  std::int64_t oks = 0;
  run.on_reply = [&](int, std::int64_t id, std::string_view) { oks += id >= kSendBase; };
  for (int k = 0; k < k_total; ++k) run.SendMessage(kSender, k, "k" + std::to_string(k));
  if (!run.RunUntil(Clock::now() + 30s + k_total * 2ms, [&] { return oks >= k_total; })) {
    r.Error("offline: only " + std::to_string(oks) + " of " + std::to_string(k_total) +
            " sends acknowledged");
    return false;
  }
  return true;
}

DrainRun OfflineOnce(const Options& o, const Server& server, Report& r) {
  const int k_total = o.pending;
  Runner run(o, server, r, MakeAccounts(server, 2, RandomPrefix()));
  if (!FillInbox(run, k_total, r)) return {};
  Peer& recipient = run.peers()[kRecipient];
  Clock::time_point received_at, acked_at;
  // The last message is acked with an id: its ok comes once the server has
  // committed the deletion of the whole inbox.
  run.on_message = [&](int c, std::string_view) {
    if (c != kRecipient || recipient.messages != static_cast<std::uint64_t>(k_total)) return;
    received_at = Clock::now();
    run.AckWithReply(kRecipient);
  };
  run.on_reply = [&](int c, std::int64_t id, std::string_view) {
    if (c == kRecipient && id == kAckId) acked_at = Clock::now();
  };
  double cpu0 = DrainCpuSeconds(server);
  double own0 = OwnCpuSeconds();
  auto start = Clock::now();
  run.Connect(kRecipient, kRecipient + 1);
  run.RunUntil(start + 30s + k_total * 1ms, [&] { return acked_at != Clock::time_point{}; });
  double cpu1 = DrainCpuSeconds(server);
  DrainRun d;
  d.bench_cpu_ms = (OwnCpuSeconds() - own0) * 1000;
  if (cpu0 >= 0 && cpu1 >= 0) d.server_cpu_ms = (cpu1 - cpu0) * 1000;
  d.complete =
      acked_at != Clock::time_point{} && recipient.messages == static_cast<std::uint64_t>(k_total);
  if (!d.complete) {
    r.Error("offline: " + std::to_string(recipient.messages) + " of " + std::to_string(k_total) +
            " entries received" +
            (acked_at == Clock::time_point{} ? ", final ack not confirmed" : ""));
  }
  d.hello_ms = Ms(recipient.hello_at - start);
  d.received_ms = Ms(received_at - start);
  d.acked_ms = Ms(acked_at - start);
  run.CloseAll();
  return d;
}

// ---- reconnect ----

// Each dropped member belongs to one sender's chat; while the members are
// away each sender sends one message, which every member must have received
// to count as caught up.
struct ReconnectLayout {
  int members = 0;  // peers [0, members) drop and reconnect
  int senders = 0;  // peers [members, members + senders) stay
  int fan = 99;     // members per sender's chat
};

std::vector<ChatPlan> SenderChats(const ReconnectLayout& l) {
  std::vector<ChatPlan> plans(l.senders);
  for (int s = 0; s < l.senders; ++s) {
    plans[s].creator = l.members + s;
    for (int m = s * l.fan; m < std::min(l.members, (s + 1) * l.fan); ++m) {
      plans[s].members.push_back(m);
    }
  }
  return plans;
}

// Sends the cycle's message from every sender and waits until all are
// durable (acknowledged), so the members' inboxes hold it before they return.
void SendWhileAway(Runner& run, const ReconnectLayout& l, int cycle, Report& errors) {
  int oks = 0;
  run.on_reply = [&](int, std::int64_t id, std::string_view) { oks += id >= kSendBase; };
  for (int s = 0; s < l.senders; ++s) {
    run.SendMessage(l.members + s, cycle, "while away " + std::to_string(cycle));
  }
  if (!run.RunUntil(Clock::now() + 30s, [&] { return oks >= l.senders; })) {
    errors.Error("reconnect: only " + std::to_string(oks) + " of " + std::to_string(l.senders) +
                 " sends acknowledged");
  }
  run.on_reply = nullptr;
}

// Waits until the server has noticed every drop (its connection gauge is
// down to the senders of all workers), so the storm meets a server that is
// done with the old connections.
void WaitDropsNoticed(Runner& run, const Server& server, int all_senders, Report& errors) {
  double open = -1;
  auto deadline = Clock::now() + 10s;
  while ((open = ServerMetrics(server, {"ferry_connections"})[0]) > all_senders &&
         Clock::now() < deadline) {
    run.RunUntil(Clock::now() + 20ms, [] { return false; });  // between two looks at /metrics
  }
  if (open > all_senders) {
    errors.Error("server still counts " + Fixed(open, 0) + " connections after the drop");
  }
}

// One drop + reconnect cycle of this worker; returns its part of the cycle.
json::object ReconnectCycle(Runner& run, const ReconnectLayout& l, int cycle, int all_senders,
                            Cohort& cohort, const Server& server, Report& errors) {
  auto& peers = run.peers();
  cohort.Sync("drop", &run.net());
  run.Drop(0, l.members);
  SendWhileAway(run, l, cycle, errors);
  if (cohort.leader()) WaitDropsNoticed(run, server, all_senders, errors);

  std::vector<std::uint64_t> expected(l.members);
  std::vector<Clock::time_point> caught(l.members);
  for (int c = 0; c < l.members; ++c) expected[c] = peers[c].messages + 1;
  int caught_up = 0;
  run.on_message = [&](int c, std::string_view) {
    if (c < l.members && peers[c].messages == expected[c]) {
      caught[c] = Clock::now();
      ++caught_up;
    }
  };
  auto start = cohort.Sync("reconnect", &run.net());
  auto connected = run.Connect(0, l.members);
  run.RunUntil(start + 30s, [&] { return caught_up >= l.members; });
  run.on_message = nullptr;

  Histogram back, caught_latency;
  for (int c = 0; c < l.members; ++c) {
    if (peers[c].hello_ok) back.Record(Micros(peers[c].hello_at - start));
    if (caught[c] != Clock::time_point{}) caught_latency.Record(Micros(caught[c] - start));
  }
  if (caught_up < l.members) {
    errors.Error("reconnect: " + std::to_string(l.members - caught_up) +
                 " clients not caught up within 30 s");
  }
  return {{"back", back.count()},
          {"caughtUp", caught_up},
          {"connectFailed", connected.failed},
          {"backLatency", HistogramJson(back)},
          {"caughtUpLatency", HistogramJson(caught_latency)}};
}

json::object MeasureReconnect(const Options& o, const Server& server, Cohort& cohort) {
  Report errors;
  ReconnectLayout l;
  l.fan = std::max(1, o.group_size - 1);
  l.members = cohort.Share(o.connections);
  l.senders = (l.members + l.fan - 1) / l.fan;
  int all_senders = 0;
  for (int i = 0; i < cohort.size(); ++i) {
    all_senders += (cohort.ShareOf(i, o.connections) + l.fan - 1) / l.fan;
  }

  int offset = 0;  // connections of the workers before this one
  for (int i = 0; i < cohort.index(); ++i) {
    int members = cohort.ShareOf(i, o.connections);
    offset += members + (members + l.fan - 1) / l.fan;
  }
  Runner run(o, server, errors, MakeAccounts(server, l.members + l.senders, RandomPrefix()),
             offset);
  json::object part;
  part["senders"] = l.senders;
  cohort.Sync("connect", &run.net());
  ConnectToPart(run.Connect(0, l.members + l.senders), part);
  run.CreateChats(SenderChats(l));
  json::array cycles;
  for (int cycle = 0; cycle < o.repeat; ++cycle) {
    cycles.push_back(ReconnectCycle(run, l, cycle, all_senders, cohort, server, errors));
  }
  part["cycles"] = std::move(cycles);
  cohort.Sync("finish", &run.net());  // nobody leaves while others still measure
  run.CloseAll();
  ErrorsToPart(errors, part);
  return part;
}

// The parts of cycle i of every worker.
Parts CycleParts(const Parts& parts, std::size_t i) {
  Parts cycle;
  for (const auto& p : parts) {
    const auto* cycles = p.if_contains("cycles");
    if (cycles && i < cycles->as_array().size()) cycle.push_back(cycles->as_array()[i].as_object());
  }
  return cycle;
}

Report SummarizeReconnect(const Options& o, const Parts& parts) {
  Report r;
  r.scenario = "reconnect";
  MergeErrors(parts, r);
  int n = o.connections;
  auto senders = SumInt(parts, "senders");
  ConnectSummary(parts, n + static_cast<int>(senders), r);
  r.json["members"] = n;
  r.json["senders"] = senders;
  r.json["procs"] = o.procs;
  r.Row("setup", std::to_string(n) + " clients in chats of " + std::to_string(o.group_size) +
                     " with " + std::to_string(senders) + " senders, " + std::to_string(o.procs) +
                     " generator process(es)");
  json::array cycles;
  std::vector<double> back_s, caught_s;
  // The cycles some worker finished (all of them, unless a worker failed).
  std::size_t done = 0;
  for (const auto& p : parts) {
    if (const auto* c = p.if_contains("cycles")) done = std::max(done, c->as_array().size());
  }
  if (done < static_cast<std::size_t>(o.repeat)) {
    r.Row("cycles", std::to_string(done) + " of " + std::to_string(o.repeat) + " done");
  }
  for (std::size_t i = 0; i < done; ++i) {
    Parts cp = CycleParts(parts, i);
    Histogram back = MergedHistogram(cp, "backLatency"),
              caught = MergedHistogram(cp, "caughtUpLatency");
    auto caught_up = SumInt(cp, "caughtUp");
    std::int64_t failures = n - caught_up;
    double all_back = static_cast<double>(back.max()) / 1e6,
           all_caught = static_cast<double>(caught.max()) / 1e6;
    back_s.push_back(all_back);
    caught_s.push_back(all_caught);
    // The last one back / caught up, counted from the common start.
    r.Row("cycle " + std::to_string(i + 1),
          std::to_string(SumInt(cp, "back")) + " back after " + Fixed(all_back, 2) + " s, " +
              std::to_string(caught_up) + " caught up after " + Fixed(all_caught, 2) + " s, " +
              std::to_string(failures) + " failures");
    r.Row("  caught up (from start)", LatencyText(caught));
    cycles.push_back({{"back", SumInt(cp, "back")},
                      {"caughtUp", caught_up},
                      {"failures", failures},
                      {"connectFailed", SumInt(cp, "connectFailed")},
                      {"backSeconds", all_back},
                      {"caughtUpSeconds", all_caught},
                      {"backLatencyUs", LatencyJson(back)},
                      {"caughtUpLatencyUs", LatencyJson(caught)}});
  }
  r.Row("median: all caught up", Fixed(Median(caught_s), 2) + " s");
  r.json["cycles"] = std::move(cycles);
  r.json["medianBackSeconds"] = Median(back_s);
  r.json["medianCaughtUpSeconds"] = Median(caught_s);
  return r;
}

}  // namespace

Report RunIdle(const Options& o, const Server& server) {
  auto parts =
      RunCohort(o.procs, o.bench_cpus, [&](Cohort& c) { return MeasureIdle(o, server, c); });
  return SummarizeIdle(o, server, parts);
}

Report RunReconnect(const Options& o, const Server& server) {
  auto parts =
      RunCohort(o.procs, o.bench_cpus, [&](Cohort& c) { return MeasureReconnect(o, server, c); });
  return SummarizeReconnect(o, parts);
}

Report RunOffline(const Options& o, const Server& server) {
  Report r;
  r.scenario = "offline";
  std::vector<double> hello, received, acked, from_hello, cpu_us, bench_cpu;
  json::array runs;
  for (int i = 0; i < o.repeat; ++i) {
    DrainRun d = OfflineOnce(o, server, r);
    if (!d.complete) continue;
    hello.push_back(d.hello_ms);
    received.push_back(d.received_ms);
    acked.push_back(d.acked_ms);
    from_hello.push_back(d.acked_ms - d.hello_ms);
    bench_cpu.push_back(100.0 * d.bench_cpu_ms / d.acked_ms);
    std::string cpu = ", generator " + Fixed(bench_cpu.back(), 0) + "% of a core";
    if (d.server_cpu_ms >= 0) {
      cpu_us.push_back(1000.0 * d.server_cpu_ms / o.pending);
      cpu = ", server CPU " + Fixed(d.server_cpu_ms, 1) + " ms (" + Fixed(cpu_us.back(), 2) +
            " us/entry)" + cpu;
    }
    r.Row("run " + std::to_string(i + 1), "hello " + Fixed(d.hello_ms, 1) + " ms, all received " +
                                              Fixed(d.received_ms, 1) + " ms, acked " +
                                              Fixed(d.acked_ms, 1) + " ms" + cpu);
    runs.push_back({{"helloMs", d.hello_ms},
                    {"receivedMs", d.received_ms},
                    {"ackedMs", d.acked_ms},
                    {"serverCpuMs", d.server_cpu_ms},
                    {"benchCpuMs", d.bench_cpu_ms},
                    {"entriesPerSecond", o.pending / (d.acked_ms / 1000.0)}});
  }
  double med = Median(acked);
  r.Row("pending entries", std::to_string(o.pending) + " (1:1 chat, sent while offline)");
  r.Row("median connect -> acked",
        Fixed(med, 1) + " ms (" + Fixed(med > 0 ? o.pending / (med / 1000.0) : 0, 0) +
            " entries/s); from hello ok " + Fixed(Median(from_hello), 1) + " ms");
  r.json["pending"] = o.pending;
  r.json["repeat"] = o.repeat;
  r.json["runs"] = std::move(runs);
  r.json["medianHelloMs"] = Median(hello);
  r.json["medianReceivedMs"] = Median(received);
  r.json["medianAckedMs"] = med;
  r.json["medianAckedFromHelloMs"] = Median(from_hello);
  r.json["medianBenchCpuPercent"] = Median(bench_cpu);
  if (!cpu_us.empty()) {
    r.Row("median server CPU", Fixed(Median(cpu_us), 2) + " us per entry (connect to acked)");
    r.json["medianServerCpuUsPerEntry"] = Median(cpu_us);
  }
  return r;
}

}  // namespace ferry::bench
