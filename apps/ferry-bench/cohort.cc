// Cohort and RunCohort (see cohort.h). The control channel is one
// socketpair per worker carrying text lines:
//   worker -> parent  "sync NAME"    reached barrier NAME
//                     "part JSON"    the result; the worker exits after it
//   parent -> worker  "go NANOS"     start at this steady_clock time
//                     "abort"        another worker failed: give up
// The parent releases a barrier when every worker waits at the same name;
// a worker that exits without a part, or waits at another name, makes it
// answer "abort" to the rest. The parent holds no connections, so it simply
// blocks in poll().
#include "cohort.h"

#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <boost/json.hpp>
#include <cstdio>
#include <stdexcept>
#include <thread>

namespace ferry::bench {
namespace json = boost::json;
using namespace std::chrono_literals;

namespace {

// Far above any phase (a 19.5K connect takes seconds); only a hang hits it.
constexpr auto kSilenceLimit = 10min;
// The lead time of a "go": enough for every worker (they may share one CPU)
// to be scheduled and read it before the start.
constexpr auto kGoLead = 30ms;

void WriteAll(int fd, const std::string& text) {
  for (std::size_t done = 0; done < text.size();) {
    ssize_t n = ::write(fd, text.data() + done, text.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) throw std::runtime_error("cohort: control channel write failed");
    done += static_cast<std::size_t>(n);
  }
}

bool Readable(int fd, int timeout_ms) {
  pollfd p{fd, POLLIN, 0};
  return ::poll(&p, 1, timeout_ms) > 0;
}

json::object ErrorPart(const std::string& what) {
  return {{"errors", 1}, {"errorSamples", json::array{json::string(what)}}};
}

struct Worker {
  pid_t pid = -1;
  int fd = -1;
  std::string in;       // bytes read, not yet a full line
  std::string waiting;  // the barrier it waits at, "" if none
  bool eof = false;
  bool has_part = false;
  json::object part;
};

[[noreturn]] void WorkerMain(int index, int procs, int fd, const std::vector<int>& cpus,
                             const Measure& measure) {
  json::object part;
  try {
    if (!cpus.empty()) PinTo({cpus[index % cpus.size()]});
    Cohort cohort(index, procs, fd);
    part = measure(cohort);
  } catch (const std::exception& e) {
    part = ErrorPart("worker " + std::to_string(index) + ": " + e.what());
  }
  try {
    WriteAll(fd, "part " + json::serialize(part) + "\n");
  } catch (const std::exception&) {
    _exit(1);
  }
  std::fflush(nullptr);
  _exit(0);  // not exit(): the parent's atexit handlers and buffers are not ours
}

class Parent {
 public:
  explicit Parent(std::vector<Worker>& workers) : workers_(workers) {}

  void Run() {
    auto silence_deadline = Clock::now() + kSilenceLimit;
    while (Live() > 0) {
      std::vector<pollfd> fds;
      for (auto& w : workers_) {
        if (!w.eof) fds.push_back({w.fd, POLLIN, 0});
      }
      auto left =
          std::chrono::duration_cast<std::chrono::milliseconds>(silence_deadline - Clock::now());
      if (left <= 0ms) return KillAll("no word from the workers for 10 minutes");
      if (::poll(fds.data(), fds.size(), static_cast<int>(left.count())) <= 0) continue;
      silence_deadline = Clock::now() + kSilenceLimit;
      for (auto& w : workers_) {
        if (!w.eof) ReadFrom(w);
      }
      Release();
    }
  }

 private:
  int Live() const {
    int n = 0;
    for (const auto& w : workers_) n += !w.eof;
    return n;
  }

  void ReadFrom(Worker& w) {
    if (!Readable(w.fd, 0)) return;
    char buf[65536];
    ssize_t n = ::read(w.fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) return;
    if (n <= 0) {
      w.eof = true;
      ::close(w.fd);
      if (!w.has_part) {
        w.part = ErrorPart("worker pid " + std::to_string(w.pid) + " exited without a result");
      }
      return;
    }
    w.in.append(buf, static_cast<std::size_t>(n));
    for (std::size_t nl; (nl = w.in.find('\n')) != std::string::npos;) {
      std::string line = w.in.substr(0, nl);
      w.in.erase(0, nl + 1);
      if (line.rfind("sync ", 0) == 0) {
        w.waiting = line.substr(5);
      } else if (line.rfind("part ", 0) == 0) {
        w.has_part = true;
        boost::system::error_code ec;
        auto v = json::parse(line.substr(5), ec);
        w.part = !ec && v.is_object() ? v.as_object() : ErrorPart("worker sent a bad result");
      }
    }
  }

  // Answers the waiting workers: "go" once all of them wait at the same
  // barrier, "abort" once that cannot happen any more (a worker is gone, or
  // waits at another barrier).
  void Release() {
    std::string name;
    int waiting = 0;
    bool mismatch = false, gone = false;
    for (const auto& w : workers_) {
      gone = gone || w.eof;
      if (w.eof || w.waiting.empty()) continue;
      if (name.empty()) name = w.waiting;
      mismatch = mismatch || w.waiting != name;
      ++waiting;
    }
    if (waiting == 0) return;
    std::string answer;
    if (waiting == static_cast<int>(workers_.size()) && !mismatch) {
      auto go = (Clock::now() + kGoLead).time_since_epoch();
      answer = "go " +
               std::to_string(std::chrono::duration_cast<std::chrono::nanoseconds>(go).count()) +
               "\n";
    } else if (mismatch || gone) {
      answer = "abort\n";
    } else {
      return;  // the others are still on their way
    }
    for (auto& w : workers_) {
      if (w.eof || w.waiting.empty()) continue;
      w.waiting.clear();
      try {
        WriteAll(w.fd, answer);
      } catch (const std::exception&) {
        // It died meanwhile; its EOF reports it.
      }
    }
  }

  void KillAll(const std::string& why) {
    for (auto& w : workers_) {
      if (w.eof) continue;
      ::kill(w.pid, SIGKILL);
      ::close(w.fd);
      w.eof = true;
      w.part = ErrorPart(why);
    }
  }

  std::vector<Worker>& workers_;
};

}  // namespace

int Cohort::Offset(int n) const {
  int offset = 0;
  for (int i = 0; i < index_; ++i) offset += ShareOf(i, n);
  return offset;
}

Clock::time_point Cohort::Sync(const std::string& name, Net* net) {
  if (fd_ < 0) return Clock::now();
  WriteAll(fd_, "sync " + name + "\n");
  std::string line = ReadLine(net, Clock::now() + kSilenceLimit);
  if (line == "abort") throw std::runtime_error("barrier " + name + ": another worker failed");
  if (line.rfind("go ", 0) != 0) throw std::runtime_error("barrier " + name + ": " + line);
  Clock::time_point start{std::chrono::nanoseconds(std::stoll(line.substr(3)))};
  if (net) {
    net->RunUntil(start, [] { return false; });
  } else {
    std::this_thread::sleep_until(start);  // a start time, not a condition
  }
  return start;
}

std::string Cohort::ReadLine(Net* net, Clock::time_point deadline) {
  // Wait for the parent, serving the connections meanwhile. The parent
  // writes each line at once, so once a byte is there the rest follows.
  bool ready = false;
  if (net) {
    auto flag = std::make_shared<bool>(false);  // outlives us if we time out
    net->WhenReadable(fd_, [flag] { *flag = true; });
    ready = net->RunUntil(deadline, [&] { return *flag; });
  } else {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
    ready = Readable(fd_, static_cast<int>(std::max<std::int64_t>(0, left.count())));
  }
  if (!ready) throw std::runtime_error("no word from the parent");
  std::string line;
  for (char c; ::read(fd_, &c, 1) == 1;) {
    if (c == '\n') return line;
    line += c;
  }
  throw std::runtime_error("parent gone");
}

Parts RunCohort(int procs, const std::vector<int>& cpus, const Measure& measure) {
  if (procs <= 1) {
    Cohort single;
    return {measure(single)};
  }
  std::fflush(nullptr);  // or the children would print our buffered output again
  std::vector<Worker> workers(procs);
  for (int i = 0; i < procs; ++i) {
    int pair[2];
    if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair) != 0) {
      throw std::runtime_error("socketpair failed");
    }
    pid_t pid = ::fork();
    if (pid < 0) throw std::runtime_error("fork failed");
    if (pid == 0) {
      ::close(pair[0]);
      for (int j = 0; j < i; ++j) ::close(workers[j].fd);  // the earlier workers' channels
      WorkerMain(i, procs, pair[1], cpus, measure);
    }
    ::close(pair[1]);
    workers[i].pid = pid;
    workers[i].fd = pair[0];
  }
  Parent(workers).Run();
  Parts parts;
  for (auto& w : workers) {
    int status = 0;
    ::waitpid(w.pid, &status, 0);
    parts.push_back(std::move(w.part));
  }
  return parts;
}

}  // namespace ferry::bench
