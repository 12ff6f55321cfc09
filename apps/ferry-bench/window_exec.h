// WindowExec: --window-exec CMD, a command run when each measurement window
// of direct and group opens and closes, for readings outside the server's
// processes taken over exactly the window (e.g. Redis INFO commandstats,
// PostgreSQL's pg_stat_database). It runs as `CMD PHASE STEP` through
// /bin/sh (PHASE: start | end; STEP: 1, 2, ... per ramp step, 1 for a fixed
// rate), with stdin, stdout and stderr inherited and no other descriptor.
//
// Spawn() does not wait, so the send schedule is not held up (open loop);
// Wait() reaps the commands after the step, so whatever they record is
// complete before the next step starts and before ferry-bench exits. Loop
// thread only, like everything in a scenario.
#pragma once

#include <sys/types.h>

#include <string>
#include <vector>

#include "bench.h"

namespace ferry::bench {

class WindowExec {
 public:
  explicit WindowExec(std::string command) : command_(std::move(command)) {}
  ~WindowExec();
  WindowExec(const WindowExec&) = delete;
  WindowExec& operator=(const WindowExec&) = delete;

  // Starts the command for `phase` of `step`; does nothing without one. A
  // command that cannot be started is counted at Wait().
  void Spawn(const char* phase, int step);
  // Waits for the commands started so far, at most 30 s in all. Each that
  // failed to start, exited non-zero or is still running then (it is left
  // running) is an error in `r`.
  void Wait(Report& r);

 private:
  std::string command_;
  std::vector<pid_t> running_;
  std::vector<std::string> failures_;
};

}  // namespace ferry::bench
