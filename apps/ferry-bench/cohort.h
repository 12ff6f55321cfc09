// --procs P: one scenario measured by P generator processes at once, each
// holding its share of the connections. One process can hold at most ~19.9K
// sockets (the descriptor limit is 20,000 and cannot be raised), and a
// reconnect storm briefly needs room for old and new sockets.
//
// RunCohort forks P workers (after ferryd was started, with no other thread
// alive), each pinned to one of --bench-cpus in turn. A worker measures and
// returns a JSON "part"; the scenario's summary merges the parts (sums,
// maxima, merged histograms: see bench.h). Phases that must line up across
// workers — "everyone connected", "drop now" — are barriers: Sync() tells
// the parent over a socketpair and waits for its "go", which names a start
// time slightly in the future on the shared monotonic clock, so all workers
// start the phase at the same instant. With P = 1 the scenario runs in this
// process and Sync() returns at once: one code path for both.
#pragma once

#include <boost/json/object.hpp>
#include <functional>
#include <vector>

#include "bench.h"
#include "net.h"

namespace ferry::bench {

class Cohort {
 public:
  Cohort() = default;  // the single-process cohort
  Cohort(int index, int size, int fd) : index_(index), size_(size), fd_(fd) {}

  int index() const { return index_; }
  int size() const { return size_; }
  // The worker that takes the server readings (RSS, CPU, /metrics).
  bool leader() const { return index_ == 0; }
  // Worker i's share of n items, and the number of items before it.
  int ShareOf(int i, int n) const { return n / size_ + (i < n % size_ ? 1 : 0); }
  int Share(int n) const { return ShareOf(index_, n); }
  int Offset(int n) const;

  // Barrier `name`: returns once every worker called Sync(name) and the
  // common start time has come; returns that time. Meanwhile `net` (if not
  // null) keeps being served, so pings are answered. Throws if a worker
  // failed or after 10 minutes.
  Clock::time_point Sync(const std::string& name, Net* net);

 private:
  std::string ReadLine(Net* net, Clock::time_point deadline);

  int index_ = 0;
  int size_ = 1;
  int fd_ = -1;  // to the parent; -1 when single
};

using Measure = std::function<boost::json::object(Cohort&)>;

// Runs `measure` in `procs` processes (in this one when procs is 1) and
// returns their parts in worker order. A worker that throws or dies yields a
// part with an error (and the other workers are stopped at their next
// barrier); the rest of the parts are still returned.
Parts RunCohort(int procs, const std::vector<int>& cpus, const Measure& measure);

}  // namespace ferry::bench
