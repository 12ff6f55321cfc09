// ferry-bench: the Ferry load generator. Parses the command line, starts a
// private ferryd (or uses --server), runs one scenario and prints a table
// plus optional JSON. Loopback only. Single-threaded during measurement (see
// net.h); account setup uses a few threads.
//
//   ferry-bench idle   --ferryd PATH --connections 2000 --duration 10
//   ferry-bench direct --ferryd PATH --connections 400 --rate 2000 --duration 10
//   ferry-bench smoke  --ferryd PATH     (both, small; exit 1 on any error)
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
  idle     open N authenticated WebSockets and hold them: connect+hello rate,
           server RSS per connection
  direct   N users in 1:1 pairs sending R msg/s in total (open loop): delivered
           msgs/s, ack and end-to-end latency, server CPU per message
  smoke    a short idle and direct run; exit status 1 on any error
options:
  --ferryd PATH            start this ferryd (temp data dir, --password-cost min)
  --ferryd-arg ARG         extra flag for that ferryd (repeatable)
  --server HOST:PORT       use a running server instead (loopback)
  --server-pid PID         its PID, for RSS/CPU readings from /proc
  --connections N          connections (= users), default 100
  --rate R                 direct: messages/s in total, default 1000
  --duration S             measurement window (idle: hold time), default 10
  --warmup S               direct: sending before the window, default 2
  --body-bytes B           direct: message body size, default 64
  --connect-concurrency C  connects in flight at once, default 256
  --source-addrs K         spread connections over 127.0.0.2 .. 127.0.0.(K+1)
  --server-cpus LIST       pin the ferryd started here (e.g. 0)
  --bench-cpus LIST        pin this process (e.g. 1)
  --json FILE              also write the results as JSON
  --keep-data              keep the temp dir of the ferryd started here
)";

std::vector<int> CpuList(const std::string& s) {
  std::vector<int> cpus;
  std::stringstream ss(s);
  for (std::string item; std::getline(ss, item, ',');) cpus.push_back(std::stoi(item));
  return cpus;
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
    if (i + 1 >= argc) throw std::invalid_argument(flag + " needs a value");
    std::string v = argv[++i];
    if (flag == "--ferryd") o.ferryd = v;
    else if (flag == "--ferryd-arg") o.ferryd_args.push_back(v);
    else if (flag == "--server") o.server = v;
    else if (flag == "--server-pid") o.server_pid = std::stoi(v);
    else if (flag == "--connections") o.connections = std::stoi(v);
    else if (flag == "--rate") o.rate = std::stod(v);
    else if (flag == "--duration") o.duration = std::stod(v);
    else if (flag == "--warmup") o.warmup = std::stod(v);
    else if (flag == "--body-bytes") o.body_bytes = std::stoi(v);
    else if (flag == "--connect-concurrency") o.connect_concurrency = std::stoi(v);
    else if (flag == "--source-addrs") o.source_addrs = std::stoi(v);
    else if (flag == "--server-cpus") o.server_cpus = CpuList(v);
    else if (flag == "--bench-cpus") o.bench_cpus = CpuList(v);
    else if (flag == "--json") o.json_file = v;
    else throw std::invalid_argument("unknown option " + flag);
  }
  if (o.ferryd.empty() == o.server.empty()) {
    throw std::invalid_argument("give exactly one of --ferryd PATH and --server HOST:PORT");
  }
  if (o.connections < 1 || o.rate <= 0 || o.duration <= 0 || o.warmup < 0 ||
      o.connect_concurrency < 1 || o.body_bytes < 0 || o.body_bytes > 60000) {
    throw std::invalid_argument("bad numeric option");
  }
  return o;
}

void RaiseFileLimit() {
  rlimit l{};
  if (getrlimit(RLIMIT_NOFILE, &l) == 0 && l.rlim_cur < l.rlim_max) {
    l.rlim_cur = l.rlim_max;
    setrlimit(RLIMIT_NOFILE, &l);
  }
}

void Print(const Report& r, const Server& s) {
  std::printf("\n== ferry-bench %s  (server %s:%u%s, password cost %s)\n", r.scenario.c_str(),
              s.host.c_str(), s.port, s.started_here ? ", started here" : "",
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
  return {{"tool", "ferry-bench"},
          {"scenario", r.scenario},
          {"server", {{"address", s.host + ":" + std::to_string(s.port)},
                      {"pid", s.pid},
                      {"startedHere", s.started_here},
                      {"passwordCost", s.password_cost},
                      {"serverCpus", scpus},
                      {"benchCpus", bcpus}}},
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
    std::printf("started ferryd pid %d on 127.0.0.1:%u (--password-cost min: benchmark only)\n",
                server.pid, server.port);
  } else {
    auto ep = client::ParseServer(o.server);
    server.host = ep.host;
    server.port = ep.port;
    server.pid = o.server_pid;
  }
  PinTo(o.bench_cpus);  // after the fork: the ferryd keeps its own CPUs

  std::vector<Report> reports;
  int status = 0;
  try {
    if (o.scenario == "idle") {
      reports.push_back(RunIdle(o, server));
    } else if (o.scenario == "direct") {
      reports.push_back(RunDirect(o, server));
    } else if (o.scenario == "smoke") {
      // Small and short: a functional check of both scenarios, no timing
      // assertions.
      Options idle = o;
      idle.connections = 100;
      idle.duration = 2;
      reports.push_back(RunIdle(idle, server));
      Options direct = o;
      direct.connections = 40;
      direct.rate = 400;
      direct.warmup = 1;
      direct.duration = 4;
      reports.push_back(RunDirect(direct, server));
      const auto& d = reports.back().json;
      if (d.at("messagesDelivered").as_int64() != d.at("messagesDue").as_int64()) {
        reports.back().Error("not every message delivered");
      }
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
