// Shared declarations of ferry-bench (the load generator): options, the
// server under test (started here or given), account setup, /proc readings,
// the report every scenario fills, and the helpers that format and merge it.
// Scenarios run on one thread per process (see net.h); account setup uses a
// few helper threads, and --procs forks worker processes (see cohort.h).
#pragma once

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
  std::string server;                  // ... or use HOST:PORT
  int server_pid = 0;                  // (its PID, for /proc readings)
  std::vector<int> server_cpus;        // pin the ferryd we start
  std::vector<int> bench_cpus;         // pin ourselves (workers: round robin)
  bool keep_data = false;
};

struct Server {
  std::string host = "127.0.0.1";
  std::uint16_t port = 0;
  int pid = 0;              // 0: unknown (no /proc readings)
  bool started_here = false;
  std::string password_cost = "unknown";
  std::string dir;          // temp dir of a ferryd started here
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
double OwnCpuSeconds();                    // this process, user + system
void PinTo(const std::vector<int>& cpus);  // this thread/process; throws
std::vector<Account> MakeAccounts(const Server& server, int count, const std::string& prefix);
// The values of unlabelled metrics in one read of the server's /metrics
// (e.g. "ferry_connections"); -1 for each one that cannot be read.
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
