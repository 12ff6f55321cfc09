// Shared declarations of ferry-bench (the load generator): options, the
// server under test (started here or given), account setup, /proc readings,
// the report every scenario fills, and the helpers that format and merge it.
// Scenarios run on one thread per process (see net.h); account setup uses a
// few helper threads, and --procs forks worker processes (see cohort.h).
#pragma once

#include <boost/json/array.hpp>
#include <boost/json/object.hpp>
#include <chrono>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "histogram.h"

namespace ferry::bench {

struct Options {
  std::string scenario;                // idle | direct | group | offline | reconnect | smoke
  int connections = 100;               // N (direct, group: users; reconnect: the ones dropped)
  double rate = 1000;                  // R, messages/s in total (direct, group)
  double duration = 10;                // measurement window, seconds
  double warmup = 2;                   // seconds before the window (direct, group)
  int body_bytes = 64;                 // message body size (direct, group)
  int group_size = 100;                // members per chat (group; reconnect: senders' chats)
  int pending = 10000;                 // K entries waiting for the offline user
  int repeat = 1;                      // offline, reconnect: measured runs
  int procs = 1;                       // generator processes (idle, reconnect)
  bool ramp = false;                   // direct, group: step the rate up (see traffic.cc)
  double ramp_start = 0;               // first rate, 0: --rate
  double ramp_factor = 1.5;            // next rate = rate * factor ...
  double ramp_step = 0;                // ... or rate + step when > 0
  double ramp_max = 1e6;               // never offer more than this
  int ramp_steps = 30;                 // at most this many steps, refinement included
  int ramp_refine = 2;                 // bisection steps after the first unsustained one
  int connect_concurrency = 256;       // connects+hellos in flight at once (per process)
  int source_addrs = 0;                // 0: auto (one per 16k connections)
  std::string json_file;               // --json FILE
  std::string ferryd;                  // start this ferryd ...
  std::vector<std::string> ferryd_args;  // ... with these extra flags
  std::vector<std::string> servers;    // ... or these HOST:PORTs (round robin)
  std::vector<int> server_pids;        // ferryd processes: RSS and CPU from /proc
  std::vector<int> extra_pids;         // other server processes (Redis, ...): CPU only
  std::string window_exec;             // direct, group: `CMD start|end STEP` at a window's edges
  std::vector<int> server_cpus;        // pin the ferryd we start
  std::vector<int> bench_cpus;         // pin ourselves (workers: round robin)
  bool keep_data = false;
};

// One address connections go to: a ferryd node (or a proxy in front of some).
struct Node {
  std::string host = "127.0.0.1";
  std::uint16_t port = 0;

  std::string Address() const { return host + ":" + std::to_string(port); }
};

// The server under test: one ferryd, or the nodes of a cluster. Connection
// number c (counted over all generator processes) goes to nodes[c % size],
// so with two or more nodes the two users of a 1:1 pair are on different
// nodes and a chat's members are spread over all of them. Accounts may be
// set up on any node (the nodes share one database). `pids` are the ferryd
// processes whose RSS and CPU are measured (given in the order of `nodes`
// when there is one per node, which gives per-node figures); `extra_pids`
// are the other processes the server needs (Redis, PostgreSQL, a proxy):
// their CPU, with that of their child processes, counts toward "all server
// processes" but not toward ferryd's RSS or CPU.
struct Server {
  std::vector<Node> nodes;  // at least one
  std::vector<int> pids;    // empty: unknown (no /proc readings)
  std::vector<int> extra_pids;
  bool started_here = false;  // then nodes and pids hold just that ferryd
  std::string password_cost = "unknown";
  std::string dir;  // temp dir of a ferryd started here

  const Node& first() const { return nodes.front(); }
  bool measured() const { return !pids.empty(); }
  // `pids` without repeats (a process given twice is read once).
  std::vector<int> UniquePids() const;
  // The pid of nodes[i] when pids are given one per node, else 0.
  int PidOfNode(std::size_t i) const { return pids.size() == nodes.size() ? pids[i] : 0; }
};

// CPU seconds used so far by the server's processes, read at one instant
// (ReadServerCpu), and the difference of two readings. An unreadable
// process reads as -1 and is left out of the sums.
struct ServerCpu {
  std::vector<double> ferryd;  // one per Server::UniquePids()
  std::vector<double> extra;   // one per Server::extra_pids, children included

  double Ferryd() const;  // sums
  double Extra() const;
  ServerCpu Since(const ServerCpu& before) const;  // this - before, per process
};

struct Account {
  std::string user;
  std::string token;
};

// What a scenario reports: rows for the human table, the same in JSON, and
// the number of errors (anything but a clean run).
struct Report {
  std::string scenario;
  std::vector<std::pair<std::string, std::string>> rows;
  boost::json::object json;
  std::uint64_t errors = 0;
  std::vector<std::string> error_samples;  // the first few, for the log

  void Row(const std::string& label, const std::string& value) { rows.emplace_back(label, value); }
  void Error(const std::string& what);
};

// Server process and /proc (server.cc).
Server StartFerryd(const Options& options);
void StopFerryd(Server& server, bool keep_data);
std::string FerrydLogTail(const Server& server);
std::uint64_t RssKb(int pid);              // VmRSS, 0 if unreadable
double CpuSeconds(int pid);                // utime + stime, -1 if unreadable
// The run time of `pid`'s live threads, summed from /proc/PID/task/*/schedstat
// (nanoseconds, where CpuSeconds counts 10 ms ticks): for windows of tens of
// milliseconds. A thread that ends between two readings drops out of the
// second, so only for servers whose threads live as long as they do.
// -1 if unreadable.
double ThreadsCpuSeconds(int pid);
// utime + stime of `pid` and of each of its descendants, plus what they
// inherited from reaped children (cutime + cstime): all the CPU of a process
// tree such as a PostgreSQL postmaster and its backends. -1 if unreadable.
double TreeCpuSeconds(int pid);
// /proc/PID/comm, "?" if unreadable.
std::string ProcessName(int pid);
// VmRSS summed over UniquePids(); 0 if unknown.
std::uint64_t ServerRssKb(const Server& server);
ServerCpu ReadServerCpu(const Server& server);
// The server's processes and their CPU in `cpu` as JSON rows:
// [{pid, name, role: "ferryd" | "extra", cpuSeconds}].
boost::json::array CpuByProcessJson(const Server& server, const ServerCpu& cpu);
double OwnCpuSeconds();                    // this process, user + system
void PinTo(const std::vector<int>& cpus);  // this thread/process; throws
// Registers and logs in `count` users, spread over the server's nodes.
std::vector<Account> MakeAccounts(const Server& server, int count, const std::string& prefix);
// The values of unlabelled metrics in one read of /metrics of each node
// (e.g. "ferry_connections"), summed over the nodes (each address once); -1
// for each one that some node does not report.
std::vector<double> ServerMetrics(const Server& server, const std::vector<std::string>& names);

// Scenarios (scenarios.cc: idle, offline, reconnect; traffic.cc: direct and
// group, fixed rate or ramp).
Report RunIdle(const Options& options, const Server& server);
Report RunDirect(const Options& options, const Server& server);
Report RunGroup(const Options& options, const Server& server);
Report RunOffline(const Options& options, const Server& server);
Report RunReconnect(const Options& options, const Server& server);

// Formatting and merging helpers (report.cc).
using Seconds = std::chrono::duration<double>;
std::string Fixed(double v, int digits);
std::uint64_t Micros(std::chrono::steady_clock::duration d);  // >= 0
double Median(std::vector<double> values);                     // 0 if empty
std::string RandomPrefix();  // "b" + 6 random [a-z0-9] + "-": a fresh user name space
boost::json::object LatencyJson(const Histogram& h);
std::string LatencyText(const Histogram& h);  // "p50 … p99 … p99.9 … max …" in ms
// Rows and JSON of a connect phase: N wanted, hellos, wall seconds, latency.
void ConnectReport(Report& r, int n, std::int64_t hellos, double seconds, const Histogram& latency);
// A histogram's raw state as JSON, and back (for --procs workers).
boost::json::object HistogramJson(const Histogram& h);
Histogram HistogramFromJson(const boost::json::value& v);

// One JSON object per generator process (see cohort.h), and what a summary
// needs from them: sums, maxima, merged histograms, the workers' errors.
using Parts = std::vector<boost::json::object>;
std::int64_t SumInt(const Parts& parts, const char* key);
double MaxDouble(const Parts& parts, const char* key);
Histogram MergedHistogram(const Parts& parts, const char* key);
void ErrorsToPart(const Report& r, boost::json::object& part);
void MergeErrors(const Parts& parts, Report& r);

}  // namespace ferry::bench
