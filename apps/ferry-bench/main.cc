// ferry-bench: the Ferry load generator. Parses the command line, starts a
// private ferryd (or uses --server), runs one scenario and prints a table
// plus optional JSON. Loopback only. Single-threaded during measurement (see
// net.h); account setup uses a few threads; --procs forks workers.
//
//   ferry-bench idle      --ferryd PATH --connections 19500 --duration 10
//   ferry-bench direct    --ferryd PATH --connections 400 --rate 2000 --duration 10
//   ferry-bench direct    --ferryd PATH --connections 400 --ramp --rate 1000
//   ferry-bench group     --ferryd PATH --connections 1000 --rate 500
//   ferry-bench offline   --ferryd PATH --pending 10000 --repeat 3
//   ferry-bench reconnect --ferryd PATH --connections 19000 --procs 2
//   ferry-bench smoke     --ferryd PATH     (all of them, small; exit 1 on any error)
//   ferry-bench direct    --server A --server B --server-pid PA,PB --extra-pid R
//                                         (a cluster: pairs across nodes A and B)
#include <sys/resource.h>

#include <boost/json.hpp>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <sstream>
#include <stdexcept>

#include "bench.h"
#include "client/client.h"

namespace ferry::bench {
namespace {
namespace json = boost::json;

const char* kUsage = R"(usage: ferry-bench SCENARIO [options]
scenarios:
  idle       open N authenticated WebSockets and hold them: connect+hello rate,
             server RSS per connection
  direct     N users in 1:1 pairs sending R msg/s in total (open loop): delivered
             msgs/s, ack and end-to-end latency, server CPU per message
  group      N users in chats of --group-size, R msg/s in total into them: fan-out
             deliveries/s, ack and send->each-recipient latency, CPU per delivery
  offline    a user with --pending K entries connects: time until all are
             received and the ack is committed (--repeat runs, fresh users)
  reconnect  N clients drop at once (TCP reset) while one message each is sent
             to them, then reconnect at once: time until all are back and have
             it, failures (--repeat cycles on the same clients)
  smoke      all of the above, small and short; exit status 1 on any error
options:
  --ferryd PATH            start this ferryd (temp data dir, --password-cost min),
                           or a server that takes ferryd's flags (ferry-null)
  --ferryd-arg ARG         extra flag for that ferryd (repeatable)
  --server HOST:PORT       use a running server instead (loopback); repeatable
                           or a comma list: the nodes of a cluster. Connections
                           go round robin over them (direct: the two users of a
                           pair on different nodes; group: members spread over
                           them); accounts are set up on any of them
  --server-pid PID         a ferryd's PID, for RSS/CPU readings from /proc;
                           repeatable or a comma list, summed over all (given
                           one per --server, in that order: per-node RSS)
  --extra-pid PID          another process the server needs (Redis, PostgreSQL,
                           HAProxy): its CPU and its children's counts toward
                           "all server processes", not toward ferryd's RSS or
                           CPU; repeatable or a comma list
  --window-exec CMD        direct, group: run `CMD start STEP` (through sh) as
                           each measurement window opens and `CMD end STEP` as
                           it closes (waited for once the step is drained), e.g.
                           to read Redis or PostgreSQL counters over the window
  --connections N          connections (= users), default 100
  --rate R                 direct, group: messages/s in total, default 1000
  --duration S             measurement window (idle: hold time), default 10
  --warmup S               direct, group: sending before the window, default 2
  --body-bytes B           direct, group: message body size, default 64
  --group-size M           group: members per chat; reconnect: senders' chats
                           (1 sender + M-1 clients), default 100
  --ramp                   direct, group: step the rate up from --rate (or
                           --ramp-start) while each step is sustained
  --ramp-start R           first rate of the ramp
  --ramp-factor F          next step = rate * F, default 1.5
  --ramp-step S            next step = rate + S instead
  --ramp-max R             never offer more, default 1000000
  --ramp-steps K           at most K steps in all, default 30
  --ramp-refine K          bisection steps after the first unsustained one, default 2
  --pending K              offline: entries waiting, default 10000
  --repeat K               offline, reconnect: measured runs, default 1
  --procs P                idle, reconnect: P generator processes, N/P each
  --connect-concurrency C  connects in flight at once (per process), default 256
  --source-addrs K         spread connections over 127.0.0.2 .. 127.0.0.(K+1)
  --server-cpus LIST       pin the ferryd started here (e.g. 0)
  --bench-cpus LIST        pin this process (e.g. 1); workers take one each in turn
  --json FILE              also write the results as JSON
  --keep-data              keep the temp dir of the ferryd started here
)";

std::vector<std::string> CommaList(const std::string& s) {
  std::vector<std::string> items;
  std::stringstream ss(s);
  for (std::string item; std::getline(ss, item, ',');) {
    if (!item.empty()) items.push_back(item);
  }
  return items;
}

std::vector<int> CpuList(const std::string& s) {
  std::vector<int> numbers;
  for (const auto& item : CommaList(s)) numbers.push_back(std::stoi(item));
  return numbers;
}

void Append(std::vector<std::string>& to, const std::vector<std::string>& items) {
  to.insert(to.end(), items.begin(), items.end());
}

void Append(std::vector<int>& to, const std::vector<int>& items) {
  to.insert(to.end(), items.begin(), items.end());
}

Options Parse(int argc, char** argv) {
  if (argc < 2) throw std::invalid_argument("no scenario");
  Options o;
  o.scenario = argv[1];
  for (int i = 2; i < argc; ++i) {
    std::string flag = argv[i];
    if (flag == "--keep-data") {
      o.keep_data = true;
      continue;
    }
    if (flag == "--ramp") {
      o.ramp = true;
      continue;
    }
    if (i + 1 >= argc) throw std::invalid_argument(flag + " needs a value");
    std::string v = argv[++i];
    if (flag == "--ferryd") o.ferryd = v;
    else if (flag == "--ferryd-arg") o.ferryd_args.push_back(v);
    else if (flag == "--server") Append(o.servers, CommaList(v));
    else if (flag == "--server-pid") Append(o.server_pids, CpuList(v));
    else if (flag == "--extra-pid") Append(o.extra_pids, CpuList(v));
    else if (flag == "--window-exec") o.window_exec = v;
    else if (flag == "--connections") o.connections = std::stoi(v);
    else if (flag == "--rate") o.rate = std::stod(v);
    else if (flag == "--duration") o.duration = std::stod(v);
    else if (flag == "--warmup") o.warmup = std::stod(v);
    else if (flag == "--body-bytes") o.body_bytes = std::stoi(v);
    else if (flag == "--group-size") o.group_size = std::stoi(v);
    else if (flag == "--ramp-start") o.ramp_start = std::stod(v);
    else if (flag == "--ramp-factor") o.ramp_factor = std::stod(v);
    else if (flag == "--ramp-step") o.ramp_step = std::stod(v);
    else if (flag == "--ramp-max") o.ramp_max = std::stod(v);
    else if (flag == "--ramp-steps") o.ramp_steps = std::stoi(v);
    else if (flag == "--ramp-refine") o.ramp_refine = std::stoi(v);
    else if (flag == "--pending") o.pending = std::stoi(v);
    else if (flag == "--repeat") o.repeat = std::stoi(v);
    else if (flag == "--procs") o.procs = std::stoi(v);
    else if (flag == "--connect-concurrency") o.connect_concurrency = std::stoi(v);
    else if (flag == "--source-addrs") o.source_addrs = std::stoi(v);
    else if (flag == "--server-cpus") o.server_cpus = CpuList(v);
    else if (flag == "--bench-cpus") o.bench_cpus = CpuList(v);
    else if (flag == "--json") o.json_file = v;
    else throw std::invalid_argument("unknown option " + flag);
  }
  if (o.ferryd.empty() == o.servers.empty()) {
    throw std::invalid_argument("give exactly one of --ferryd PATH and --server HOST:PORT");
  }
  if (o.connections < 1 || o.rate <= 0 || o.duration <= 0 || o.warmup < 0 ||
      o.connect_concurrency < 1 || o.body_bytes < 0 || o.body_bytes > 60000 || o.group_size < 2 ||
      o.pending < 1 || o.repeat < 1 || o.procs < 1 || o.procs > o.connections ||
      o.ramp_start < 0 || o.ramp_step < 0 || (o.ramp_step == 0 && o.ramp_factor <= 1) ||
      o.ramp_steps < 1 || o.ramp_refine < 0) {
    throw std::invalid_argument("bad numeric option");
  }
  // The other scenarios need all their connections in one process: chats
  // and schedules span them.
  if (o.procs > 1 && o.scenario != "idle" && o.scenario != "reconnect") {
    throw std::invalid_argument("--procs applies to idle and reconnect");
  }
  return o;
}

// Small and short: a functional check of every scenario, the ramp and
// --procs, with no timing assertions. Each scenario counts anything
// incomplete (a message not delivered, a client not caught up) as an error.
void RunSmoke(const Options& o, const Server& server, std::vector<Report>& reports) {
  Options idle = o;
  idle.connections = 100;
  idle.duration = 1;
  idle.procs = 2;
  reports.push_back(RunIdle(idle, server));

  Options direct = o;
  direct.connections = 40;
  direct.rate = 400;
  direct.warmup = 1;
  direct.duration = 2;
  reports.push_back(RunDirect(direct, server));
  const auto& d = reports.back().json;
  if (d.at("messagesDelivered").as_int64() != d.at("messagesDue").as_int64()) {
    reports.back().Error("not every message delivered");
  }

  Options ramp = direct;
  ramp.ramp = true;
  ramp.rate = 100;
  ramp.ramp_factor = 2;
  ramp.ramp_steps = 2;
  ramp.warmup = 0.5;
  ramp.duration = 1;
  reports.push_back(RunDirect(ramp, server));

  Options group = o;
  group.connections = 20;
  group.group_size = 10;
  group.rate = 100;
  group.warmup = 0.5;
  group.duration = 1.5;
  reports.push_back(RunGroup(group, server));

  Options offline = o;
  offline.pending = 300;
  offline.repeat = 1;
  reports.push_back(RunOffline(offline, server));

  Options reconnect = o;
  reconnect.connections = 60;
  reconnect.group_size = 21;  // 3 senders
  reconnect.procs = 2;
  reconnect.repeat = 2;
  reports.push_back(RunReconnect(reconnect, server));
}

void RaiseFileLimit() {
  rlimit l{};
  if (getrlimit(RLIMIT_NOFILE, &l) == 0 && l.rlim_cur < l.rlim_max) {
    l.rlim_cur = l.rlim_max;
    setrlimit(RLIMIT_NOFILE, &l);
  }
}

// "server A" or "servers A, B, C".
std::string ServerText(const Server& s) {
  std::string text = s.nodes.size() > 1 ? "servers " : "server ";
  for (std::size_t i = 0; i < s.nodes.size(); ++i) text += (i ? ", " : "") + s.nodes[i].Address();
  return text;
}

void Print(const Report& r, const Server& s) {
  std::printf("\n== ferry-bench %s  (%s%s, password cost %s)\n", r.scenario.c_str(),
              ServerText(s).c_str(), s.started_here ? ", started here" : "",
              s.password_cost.c_str());
  for (const auto& [label, value] : r.rows) std::printf("  %-26s %s\n", label.c_str(), value.c_str());
  std::printf("  %-26s %llu\n", "errors", static_cast<unsigned long long>(r.errors));
  for (const auto& e : r.error_samples) std::printf("    ! %s\n", e.c_str());
  std::fflush(stdout);
}

json::object ToJson(const Report& r, const Options& o, const Server& s) {
  json::array scpus, bcpus;
  for (int c : o.server_cpus) scpus.push_back(c);
  for (int c : o.bench_cpus) bcpus.push_back(c);
  json::object server{{"address", s.first().Address()},
                      {"pid", s.measured() ? s.pids.front() : 0},
                      {"startedHere", s.started_here},
                      {"passwordCost", s.password_cost},
                      {"serverCpus", scpus},
                      {"benchCpus", bcpus}};
  // Which server binary ran (ferryd, or another that takes its flags).
  if (s.started_here) server["program"] = o.ferryd;
  // Several nodes or processes: all of them (one ferryd alone: as before).
  if (s.nodes.size() > 1 || s.pids.size() > 1 || !s.extra_pids.empty()) {
    json::array addresses;
    for (const auto& n : s.nodes) addresses.push_back(json::string(n.Address()));
    server["addresses"] = std::move(addresses);
    server["pids"] = json::value_from(s.pids);
    server["extraPids"] = json::value_from(s.extra_pids);
  }
  return {{"tool", "ferry-bench"},
          {"scenario", r.scenario},
          {"server", std::move(server)},
          {"results", r.json},
          {"errors", r.errors},
          {"errorSamples", json::value_from(r.error_samples)}};
}

int Main(int argc, char** argv) {
  Options o;
  try {
    o = Parse(argc, argv);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "ferry-bench: %s\n%s", e.what(), kUsage);
    return 2;
  }
  RaiseFileLimit();  // before forking ferryd, which inherits it
  Server server;
  if (!o.ferryd.empty()) {
    server = StartFerryd(o);
    std::printf("started %s pid %d on 127.0.0.1:%u (--password-cost min: benchmark only)\n",
                o.ferryd.c_str(), server.pids.front(), server.first().port);
  } else {
    for (const auto& address : o.servers) {
      auto ep = client::ParseServer(address);
      server.nodes.push_back({ep.host, ep.port});
    }
    server.pids = o.server_pids;
  }
  server.extra_pids = o.extra_pids;
  PinTo(o.bench_cpus);  // after the fork: the ferryd keeps its own CPUs

  std::vector<Report> reports;
  int status = 0;
  try {
    if (o.scenario == "idle") {
      reports.push_back(RunIdle(o, server));
    } else if (o.scenario == "direct") {
      reports.push_back(RunDirect(o, server));
    } else if (o.scenario == "group") {
      reports.push_back(RunGroup(o, server));
    } else if (o.scenario == "offline") {
      reports.push_back(RunOffline(o, server));
    } else if (o.scenario == "reconnect") {
      reports.push_back(RunReconnect(o, server));
    } else if (o.scenario == "smoke") {
      RunSmoke(o, server, reports);
    } else {
      throw std::invalid_argument("unknown scenario " + o.scenario);
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "ferry-bench: %s\n", e.what());
    if (server.started_here) std::fprintf(stderr, "ferryd log:\n%s\n", FerrydLogTail(server).c_str());
    status = 1;
  }
  for (const auto& r : reports) {
    Print(r, server);
    if (r.errors) status = 1;
  }
  if (!o.json_file.empty()) {
    json::value out;
    if (reports.size() == 1) {
      out = ToJson(reports[0], o, server);
    } else {
      json::array all;
      for (const auto& r : reports) all.push_back(ToJson(r, o, server));
      out = all;
    }
    std::ofstream(o.json_file) << json::serialize(out) << "\n";
  }
  if (status && server.started_here) {
    std::fprintf(stderr, "ferryd log tail:\n%s\n", FerrydLogTail(server).c_str());
  }
  StopFerryd(server, o.keep_data);
  return status;
}

}  // namespace
}  // namespace ferry::bench

int main(int argc, char** argv) {
  try {
    return ferry::bench::Main(argc, argv);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "ferry-bench: %s\n", e.what());
    return 1;
  }
}
