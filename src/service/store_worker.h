// StoreWorker: the one thread that owns the Store. Callers on I/O threads
// hand it jobs and get completions back (on the worker thread; they post
// onward to their own executor). Write ops that queue up while a transaction
// runs are committed together in the next one: group commit, so many sends
// share one fsync and durability does not cap throughput.
//
// Bounded: at most `queue_max` jobs wait. Past that, Submit/Write refuse
// (return false) and the caller answers `unavailable`. Bounded in time too:
// new work that may be refused (Admit::unless_behind: a send) is refused
// once the oldest queued job has waited more than `max_wait_ms`, so under
// overload the store queue stays short instead of every send waiting behind
// seconds of it (it bounds only this queue: on a core shared with the I/O
// thread the backlog can wait in the sockets instead, see
// docs/benchmarks.md). Acks, reads and presence still queue: they finish
// work already accepted. Thread-safe.
//
// A failed write transaction (a full disk, an I/O error, a lost database
// connection) fails every op in it with `unavailable`; the store has rolled
// it back, so none of it is seen (though after a failed fsync the whole of it
// may turn up after a restart, see sqlite_store.h), and nothing is retried
// here: callers answer `unavailable` and clients retry. While writes keep failing the
// worker tries a transaction at most every kFailingWriteInterval (the writes
// of that interval share it), so a sick disk is not hammered a thousand
// times a second and the log gets a line when failures start, one every
// kFailureLogInterval while they last, and one when writes work again.
#pragma once

#include <chrono>
#include <condition_variable>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "common/clock.h"
#include "service/metrics.h"
#include "store/store.h"

namespace ferry {

class StoreWorker {
 public:
  // max_wait_ms 0: no time bound. `clock` (its Monotonic()) times the waits.
  // Transactions start at most every commit_interval_us (0: no pacing).
  StoreWorker(std::unique_ptr<Store> store, std::size_t queue_max, std::size_t batch_max,
              Metrics& metrics, Millis max_wait_ms = 0,
              const Clock& clock = SystemClock::Instance(), std::int64_t commit_interval_us = 0);
  ~StoreWorker();  // Stop()s

  StoreWorker(const StoreWorker&) = delete;
  StoreWorker& operator=(const StoreWorker&) = delete;

  void Start();
  // Runs the jobs already queued, then joins the thread. Idempotent.
  void Stop();

  // Runs `fn(store)` on the worker thread. False if the queue is full or the
  // worker stopped; then `fn` never runs.
  bool Submit(std::function<void(Store&)> fn);

  // Commits `op` in the next group transaction, then calls done(status) on the
  // worker thread: ok once durable (the op's outputs are set), unavailable if
  // the transaction failed. The caller keeps `op` alive until `done` (capture
  // its owner in `done`). False if refused, as for Submit, or, with
  // Admit::unless_behind, if the queue is behind (see the top).
  enum class Admit { always, unless_behind };
  bool Write(WriteOp op, std::function<void(Errc)> done, Admit admit = Admit::always);

  static constexpr std::chrono::milliseconds kFailingWriteInterval{100};
  static constexpr std::chrono::seconds kFailureLogInterval{10};

 private:
  struct Job {
    std::function<void(Store&)> fn;  // read or standalone job, or
    WriteOp op{};                    // a write op, when is_write
    std::function<void(Errc)> done;
    bool is_write = false;
    Millis enqueued = 0;  // clock_.Monotonic() when queued
  };

  bool Enqueue(Job job, Admit admit);
  void Loop();
  void RunWrites(std::vector<Job>& writes);
  // Log lines for a failed or successful write transaction (see the top).
  void NoteWriteFailed(std::size_t ops);
  void NoteWriteOk();

  std::unique_ptr<Store> store_;
  const std::size_t queue_max_;
  const std::size_t batch_max_;
  Metrics& metrics_;
  const Millis max_wait_ms_;
  const Clock& clock_;

  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Job> queue_;  // GUARDED_BY(mu_)
  bool stopping_ = false;  // GUARDED_BY(mu_)
  std::size_t queued_writes_ = 0;  // GUARDED_BY(mu_): write jobs in queue_
  std::thread thread_;
  // Group commit pacing (worker thread only): a transaction starts at most
  // every commit_interval_, so that at moderate rates the writes of an
  // interval share one commit instead of each paying its own.
  std::chrono::microseconds commit_interval_{0};
  std::chrono::steady_clock::time_point last_commit_{};
  // Write transactions failed since the last one that committed (worker
  // thread only): how many, since when, and how many of them no log line
  // has counted yet.
  struct WriteFailures {
    std::int64_t batches = 0;
    std::int64_t unlogged = 0;
    std::chrono::steady_clock::time_point first{};
    std::chrono::steady_clock::time_point logged{};
  };
  WriteFailures failures_;
};

}  // namespace ferry
