// The server under test: starting and stopping a private ferryd (fork + exec,
// so its CPU pinning is set before it starts any thread), reading its RSS and
// CPU time from /proc, and creating accounts over HTTP with the synchronous
// client library (setup is not measured, so its one-connection-per-request
// cost does not matter; a few threads overlap the password hashing).
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <boost/json.hpp>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <mutex>
#include <sstream>
#include <stdexcept>
#include <thread>

#include "bench.h"
#include "client/client.h"

namespace ferry::bench {
namespace fs = std::filesystem;
namespace json = boost::json;
using namespace std::chrono_literals;

namespace {
const char* kPassword = "bench-password";
constexpr int kAccountThreads = 16;

cpu_set_t CpuSet(const std::vector<int>& cpus) {
  cpu_set_t set;
  CPU_ZERO(&set);
  for (int c : cpus) CPU_SET(c, &set);
  return set;
}
}  // namespace

void PinTo(const std::vector<int>& cpus) {
  if (cpus.empty()) return;
  cpu_set_t set = CpuSet(cpus);
  if (sched_setaffinity(0, sizeof set, &set) != 0) throw std::runtime_error("sched_setaffinity failed");
}

Server StartFerryd(const Options& options) {
  Server s;
  std::string tmpl = (fs::temp_directory_path() / "ferry-bench-XXXXXX").string();
  if (!mkdtemp(tmpl.data())) throw std::runtime_error("mkdtemp failed");
  s.dir = tmpl;
  s.started_here = true;
  s.password_cost = "min";
  std::string port_file = s.dir + "/port";
  std::vector<std::string> args = {options.ferryd,  "--listen",        "127.0.0.1:0",
                                   "--data-dir",    s.dir + "/data",   "--port-file",
                                   port_file,       "--password-cost", "min",
                                   "--log-level",   "warn"};
  args.insert(args.end(), options.ferryd_args.begin(), options.ferryd_args.end());
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  std::string log = s.dir + "/ferryd.log";
  cpu_set_t set = CpuSet(options.server_cpus);

  pid_t pid = fork();
  if (pid < 0) throw std::runtime_error("fork failed");
  if (pid == 0) {
    // Child: only async-signal-safe calls until exec.
    int fd = open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
    if (fd >= 0) {
      dup2(fd, 1);
      dup2(fd, 2);
      close(fd);
    }
    if (!options.server_cpus.empty()) sched_setaffinity(0, sizeof set, &set);
    execv(argv[0], argv.data());
    _exit(127);
  }
  s.pid = pid;
  auto deadline = std::chrono::steady_clock::now() + 30s;
  while (!fs::exists(port_file)) {
    int status;
    if (waitpid(pid, &status, WNOHANG) == pid) {
      s.pid = 0;
      throw std::runtime_error("ferryd exited at start:\n" + FerrydLogTail(s));
    }
    if (std::chrono::steady_clock::now() > deadline) {
      StopFerryd(s, true);
      throw std::runtime_error("ferryd did not start listening");
    }
    std::this_thread::sleep_for(5ms);  // polling for the port file, bounded by the deadline
  }
  std::ifstream in(port_file);
  int port = 0;
  in >> port;
  s.port = static_cast<std::uint16_t>(port);
  return s;
}

void StopFerryd(Server& s, bool keep_data) {
  if (s.started_here && s.pid > 0) {
    kill(s.pid, SIGTERM);
    // A clean shutdown is bounded; a hung one gets SIGKILL after 20 s.
    auto deadline = std::chrono::steady_clock::now() + 20s;
    int status = 0;
    while (waitpid(s.pid, &status, WNOHANG) == 0) {
      if (std::chrono::steady_clock::now() > deadline) {
        kill(s.pid, SIGKILL);
        waitpid(s.pid, &status, 0);
        break;
      }
      std::this_thread::sleep_for(10ms);
    }
    s.pid = 0;
  }
  if (s.started_here && !keep_data && !s.dir.empty()) {
    std::error_code ec;
    fs::remove_all(s.dir, ec);
  }
}

std::string FerrydLogTail(const Server& s) {
  std::ifstream in(s.dir + "/ferryd.log");
  std::stringstream ss;
  ss << in.rdbuf();
  std::string text = ss.str();
  return text.size() > 3000 ? text.substr(text.size() - 3000) : text;
}

std::uint64_t RssKb(int pid) {
  if (pid <= 0) return 0;
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("VmRSS:", 0) == 0) return std::stoull(line.substr(6));
  }
  return 0;
}

double CpuSeconds(int pid) {
  if (pid <= 0) return -1;
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  // Fields after the command name (which may contain spaces) start at ")".
  auto paren = text.rfind(')');
  if (paren == std::string::npos) return -1;
  std::istringstream fields(text.substr(paren + 2));
  std::string f;
  unsigned long long utime = 0, stime = 0;
  for (int i = 3; i <= 15 && fields >> f; ++i) {  // field 3 is the state
    if (i == 14) utime = std::stoull(f);
    if (i == 15) stime = std::stoull(f);
  }
  return static_cast<double>(utime + stime) / static_cast<double>(sysconf(_SC_CLK_TCK));
}

double OwnCpuSeconds() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return static_cast<double>(u.ru_utime.tv_sec + u.ru_stime.tv_sec) +
         static_cast<double>(u.ru_utime.tv_usec + u.ru_stime.tv_usec) / 1e6;
}

std::vector<Account> MakeAccounts(const Server& server, int count, const std::string& prefix) {
  client::Endpoint ep{server.host, server.port};
  std::vector<Account> accounts(count);
  std::atomic<int> next{0};
  std::mutex mu;
  std::string failure;
  // POST with retries on 429/503 (the server's hashing queue is bounded).
  auto post = [&](const std::string& target, const json::object& body, int want) {
    for (int attempt = 0;; ++attempt) {
      auto r = client::Http(ep, "POST", target, json::serialize(body));
      if (r.status == want) return r;
      if ((r.status == 429 || r.status == 503) && attempt < 100) {
        std::this_thread::sleep_for(50ms);  // back off as Retry-After asks, shortened
        continue;
      }
      throw std::runtime_error(target + " " + std::to_string(r.status) + ": " + r.raw);
    }
  };
  auto worker = [&] {
    try {
      for (int i; (i = next++) < count;) {
        std::string user = prefix + std::to_string(i);
        post("/v1/register", {{"user", user}, {"password", kPassword}}, 201);
        auto r = post("/v1/login", {{"user", user}, {"password", kPassword}, {"device", "bench"}}, 200);
        accounts[i] = {user, json::value_to<std::string>(r.body.at("token"))};
      }
    } catch (const std::exception& e) {
      std::lock_guard lock(mu);
      if (failure.empty()) failure = e.what();
      next = count;
    }
  };
  // Each request waits for a durable commit (fsync), so the threads mostly
  // wait; more of them in flight make the server's group commits larger.
  auto start = std::chrono::steady_clock::now();
  std::vector<std::thread> threads;
  for (int t = 0; t < std::min(kAccountThreads, count); ++t) threads.emplace_back(worker);
  for (auto& t : threads) t.join();
  if (!failure.empty()) throw std::runtime_error("account setup: " + failure);
  double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  if (count >= 1000) {  // worth a line: it dominates the wall time of big runs
    std::printf("set up %d accounts in %.1f s (%.0f /s)\n", count, secs, count / secs);
    std::fflush(stdout);
  }
  return accounts;
}

std::vector<double> ServerMetrics(const Server& server, const std::vector<std::string>& names) {
  std::vector<double> values(names.size(), -1);
  try {
    auto r = client::Http({server.host, server.port}, "GET", "/metrics");
    if (r.status != 200) return values;
    // "NAME VALUE" (a prefix match on "NAME " skips NAME_total and labelled series).
    std::istringstream lines(r.raw);
    for (std::string line; std::getline(lines, line);) {
      for (std::size_t i = 0; i < names.size(); ++i) {
        const std::string& name = names[i];
        if (line.rfind(name + " ", 0) == 0) values[i] = std::stod(line.substr(name.size() + 1));
      }
    }
  } catch (const std::exception&) {
    // Unreachable or unparsable: unknown.
  }
  return values;
}

}  // namespace ferry::bench
