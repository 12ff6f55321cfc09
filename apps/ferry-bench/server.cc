// The server under test: starting and stopping a private ferryd (fork + exec,
// so its CPU pinning is set before it starts any thread), reading the RSS and
// CPU time of its processes (and of the other processes a cluster runs on)
// from /proc, and creating accounts over HTTP, on any of its nodes, with the
// synchronous client library (setup is not measured, so its one-connection-per-request
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
  std::vector<std::string> args = {
      options.ferryd, "--listen", "127.0.0.1:0", "--data-dir", s.dir + "/data", "--port-file",
      port_file, "--password-cost", "min", "--log-level", "warn",
      // The generator is every user at once, from one address.
      "--behind-l4-proxy", "--limit", "all=off", "--max-unauthenticated", "1000000"};
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
  s.pids = {pid};
  auto deadline = std::chrono::steady_clock::now() + 30s;
  while (!fs::exists(port_file)) {
    int status;
    if (waitpid(pid, &status, WNOHANG) == pid) {
      s.pids.clear();
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
  s.nodes = {Node{"127.0.0.1", static_cast<std::uint16_t>(port)}};
  return s;
}

void StopFerryd(Server& s, bool keep_data) {
  if (s.started_here && !s.pids.empty()) {
    pid_t pid = s.pids.front();
    kill(pid, SIGTERM);
    // A clean shutdown is bounded; a hung one gets SIGKILL after 20 s.
    auto deadline = std::chrono::steady_clock::now() + 20s;
    int status = 0;
    while (waitpid(pid, &status, WNOHANG) == 0) {
      if (std::chrono::steady_clock::now() > deadline) {
        kill(pid, SIGKILL);
        waitpid(pid, &status, 0);
        break;
      }
      std::this_thread::sleep_for(10ms);
    }
    s.pids.clear();
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

namespace {
// Fields 3 (the state) to 17 (cstime) of /proc/PID/stat, which follow the
// command name (that may contain spaces): fields[i] is field i + 3. Empty
// if unreadable (e.g. the process is gone).
std::vector<std::string> StatFields(const std::string& pid) {
  std::ifstream in("/proc/" + pid + "/stat");
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  auto paren = text.rfind(')');
  if (paren == std::string::npos || paren + 2 > text.size()) return {};
  std::istringstream stream(text.substr(paren + 2));
  std::vector<std::string> fields;
  for (std::string f; fields.size() < 15 && stream >> f;) fields.push_back(std::move(f));
  return fields.size() == 15 ? fields : std::vector<std::string>{};
}

// Fields 14..17: utime, stime, cutime, cstime, in clock ticks.
double TicksToSeconds(const std::vector<std::string>& fields, int last_field) {
  unsigned long long ticks = 0;
  for (int field = 14; field <= last_field; ++field) ticks += std::stoull(fields[field - 3]);
  return static_cast<double>(ticks) / static_cast<double>(sysconf(_SC_CLK_TCK));
}

}  // namespace

double CpuSeconds(int pid) {
  if (pid <= 0) return -1;
  auto fields = StatFields(std::to_string(pid));
  return fields.empty() ? -1 : TicksToSeconds(fields, 15);
}

double ThreadsCpuSeconds(int pid) {
  if (pid <= 0) return -1;
  std::error_code ec;
  unsigned long long ns = 0;
  bool any = false;
  for (const auto& task : fs::directory_iterator("/proc/" + std::to_string(pid) + "/task", ec)) {
    std::ifstream in(task.path() / "schedstat");
    unsigned long long run_ns = 0;
    if (in >> run_ns) {
      ns += run_ns;
      any = true;
    }
  }
  return any ? static_cast<double>(ns) / 1e9 : -1;
}

double TreeCpuSeconds(int root) {
  if (root <= 0) return -1;
  // One pass over /proc for the parent of every process, then the tree
  // below `root`. Each process counts its own time plus that of the
  // children it reaped, so a backend that ended between two readings is
  // still counted (in its parent's cutime).
  std::vector<std::pair<int, int>> parent_of;  // (pid, ppid)
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator("/proc", ec)) {
    const std::string name = entry.path().filename().string();
    if (name.empty() || name.find_first_not_of("0123456789") != std::string::npos) continue;
    auto fields = StatFields(name);
    if (!fields.empty()) parent_of.emplace_back(std::stoi(name), std::stoi(fields[1]));
  }
  std::vector<int> tree = {root};
  for (std::size_t i = 0; i < tree.size(); ++i) {
    for (auto [pid, ppid] : parent_of) {
      if (ppid == tree[i]) tree.push_back(pid);
    }
  }
  double total = -1;
  for (int pid : tree) {
    auto fields = StatFields(std::to_string(pid));
    if (fields.empty()) continue;  // ended meanwhile: its parent reaps its time
    total = std::max(total, 0.0) + TicksToSeconds(fields, 17);
  }
  return total;
}

std::string ProcessName(int pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/comm");
  std::string name;
  return std::getline(in, name) && !name.empty() ? name : "?";
}

std::vector<int> Server::UniquePids() const {
  std::vector<int> unique;
  for (int pid : pids) {
    if (pid > 0 && std::find(unique.begin(), unique.end(), pid) == unique.end()) {
      unique.push_back(pid);
    }
  }
  return unique;
}

std::uint64_t ServerRssKb(const Server& server) {
  std::uint64_t sum = 0;
  for (int pid : server.UniquePids()) sum += RssKb(pid);
  return sum;
}

namespace {
double SumReadable(const std::vector<double>& values) {
  double sum = -1;
  for (double v : values) {
    if (v >= 0) sum = std::max(sum, 0.0) + v;
  }
  return sum;
}

std::vector<double> Difference(const std::vector<double>& after,
                               const std::vector<double>& before) {
  std::vector<double> d(after.size(), -1);
  for (std::size_t i = 0; i < after.size() && i < before.size(); ++i) {
    if (after[i] >= 0 && before[i] >= 0) d[i] = after[i] - before[i];
  }
  return d;
}
}  // namespace

double ServerCpu::Ferryd() const { return SumReadable(ferryd); }
double ServerCpu::Extra() const { return SumReadable(extra); }

ServerCpu ServerCpu::Since(const ServerCpu& before) const {
  return {Difference(ferryd, before.ferryd), Difference(extra, before.extra)};
}

ServerCpu ReadServerCpu(const Server& server) {
  ServerCpu cpu;
  for (int pid : server.UniquePids()) cpu.ferryd.push_back(CpuSeconds(pid));
  for (int pid : server.extra_pids) cpu.extra.push_back(TreeCpuSeconds(pid));
  return cpu;
}

json::array CpuByProcessJson(const Server& server, const ServerCpu& cpu) {
  json::array rows;
  auto add = [&](int pid, const char* role, double seconds) {
    rows.push_back(
        {{"pid", pid}, {"name", ProcessName(pid)}, {"role", role}, {"cpuSeconds", seconds}});
  };
  auto pids = server.UniquePids();
  for (std::size_t i = 0; i < pids.size() && i < cpu.ferryd.size(); ++i) {
    add(pids[i], "ferryd", cpu.ferryd[i]);
  }
  for (std::size_t i = 0; i < server.extra_pids.size() && i < cpu.extra.size(); ++i) {
    add(server.extra_pids[i], "extra", cpu.extra[i]);
  }
  return rows;
}

double OwnCpuSeconds() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return static_cast<double>(u.ru_utime.tv_sec + u.ru_stime.tv_sec) +
         static_cast<double>(u.ru_utime.tv_usec + u.ru_stime.tv_usec) / 1e6;
}

std::vector<Account> MakeAccounts(const Server& server, int count, const std::string& prefix) {
  std::vector<Account> accounts(count);
  std::atomic<int> next{0};
  std::mutex mu;
  std::string failure;
  // POST with retries on 429/503 (the server's hashing queue is bounded).
  auto post = [&](const client::Endpoint& ep, const std::string& target, const json::object& body,
                  int want) {
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
  // Thread t talks to node t mod N: the nodes share one database, and
  // spreading the hashing over them shortens the setup.
  auto worker = [&](const Node& node) {
    client::Endpoint ep{node.host, node.port};
    try {
      for (int i; (i = next++) < count;) {
        std::string user = prefix + std::to_string(i);
        post(ep, "/v1/register", {{"user", user}, {"password", kPassword}}, 201);
        auto r = post(ep, "/v1/login",
                      {{"user", user}, {"password", kPassword}, {"device", "bench"}}, 200);
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
  for (int t = 0; t < std::min(kAccountThreads, count); ++t) {
    threads.emplace_back(worker, std::cref(server.nodes[t % server.nodes.size()]));
  }
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
  std::vector<double> sums(names.size(), 0);
  std::vector<std::string> seen;  // addresses already read
  for (const Node& node : server.nodes) {
    if (std::find(seen.begin(), seen.end(), node.Address()) != seen.end()) continue;
    seen.push_back(node.Address());
    std::vector<double> values(names.size(), -1);
    try {
      auto r = client::Http({node.host, node.port}, "GET", "/metrics");
      if (r.status != 200) return std::vector<double>(names.size(), -1);
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
    for (std::size_t i = 0; i < names.size(); ++i) {
      sums[i] = sums[i] < 0 || values[i] < 0 ? -1 : sums[i] + values[i];
    }
  }
  return sums;
}

}  // namespace ferry::bench
