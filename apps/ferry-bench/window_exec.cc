// WindowExec (see window_exec.h). posix_spawn rather than fork: the
// generator may hold thousands of sockets and a big heap, and it must not
// stall at the window's edge while the kernel copies its page tables. The
// command sees none of those sockets (closefrom 3).
#include "window_exec.h"

#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <thread>

extern char** environ;

namespace ferry::bench {
using namespace std::chrono_literals;

namespace {
constexpr auto kWaitLimit = 30s;
}

WindowExec::~WindowExec() {
  for (pid_t pid : running_) ::waitpid(pid, nullptr, WNOHANG);  // reap what has ended
}

void WindowExec::Spawn(const char* phase, int step) {
  if (command_.empty()) return;
  // The arguments follow the command as it was written, so that
  // `--window-exec "record.sh run-1"` runs `record.sh run-1 start 1`.
  std::string script = command_ + " \"$@\"";
  std::string step_text = std::to_string(step);
  std::vector<char*> argv = {
      const_cast<char*>("/bin/sh"), const_cast<char*>("-c"), script.data(), const_cast<char*>("sh"),
      const_cast<char*>(phase),     step_text.data(),        nullptr};
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addclosefrom_np(&actions, 3);
  pid_t pid = 0;
  int rc = ::posix_spawn(&pid, "/bin/sh", &actions, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  if (rc != 0) {
    failures_.push_back("--window-exec " + std::string(phase) + ": spawn failed");
    return;
  }
  running_.push_back(pid);
}

void WindowExec::Wait(Report& r) {
  auto deadline = std::chrono::steady_clock::now() + kWaitLimit;
  for (pid_t pid : running_) {
    int status = 0;
    pid_t done = 0;
    while ((done = ::waitpid(pid, &status, WNOHANG)) == 0 &&
           std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(10ms);  // polling a child, bounded by the deadline
    }
    if (done == 0) {
      failures_.push_back("--window-exec: pid " + std::to_string(pid) +
                          " still running after 30 s");
    } else if (done < 0 || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
      failures_.push_back("--window-exec: command failed (status " + std::to_string(status) + ")");
    }
  }
  running_.clear();
  for (const auto& f : failures_) r.Error(f);
  failures_.clear();
}

}  // namespace ferry::bench
