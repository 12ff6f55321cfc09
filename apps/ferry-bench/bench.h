// Shared declarations of ferry-bench (the load generator): options, the
// server under test (started here or given), account setup, /proc readings,
// and the report every scenario fills. Scenarios run on one thread (see
// net.h); only account setup uses a few helper threads.
#pragma once

#include <boost/json/object.hpp>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "histogram.h"

namespace ferry::bench {

struct Options {
  std::string scenario;                // idle | direct | smoke
  int connections = 100;               // N
  double rate = 1000;                  // R, messages/s in total (direct)
  double duration = 10;                // measurement window, seconds
  double warmup = 2;                   // seconds before the window (direct)
  int body_bytes = 64;                 // message body size (direct)
  int connect_concurrency = 256;       // connects+hellos in flight at once
  int source_addrs = 0;                // 0: auto (one per 16k connections)
  std::string json_file;               // --json FILE
  std::string ferryd;                  // start this ferryd ...
  std::vector<std::string> ferryd_args;  // ... with these extra flags
  std::string server;                  // ... or use HOST:PORT
  int server_pid = 0;                  // (its PID, for /proc readings)
  std::vector<int> server_cpus;        // pin the ferryd we start
  std::vector<int> bench_cpus;         // pin ourselves
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

// Scenarios (scenarios.cc).
Report RunIdle(const Options& options, const Server& server);
Report RunDirect(const Options& options, const Server& server);

// Formatting helpers.
boost::json::object LatencyJson(const Histogram& h);
std::string LatencyText(const Histogram& h);  // "p50 … p99 … p99.9 … max …" in ms

}  // namespace ferry::bench
