// StoreWorker: the one thread that owns the Store. Callers on I/O threads
// hand it jobs and get completions back (on the worker thread; they post
// onward to their own executor). Write ops that queue up while a transaction
// runs are committed together in the next one: group commit, so many sends
// share one fsync and durability does not cap throughput.
//
// Bounded: at most `queue_max` jobs wait. Past that, Submit/Write refuse
// (return false) and the caller answers `unavailable`. Thread-safe.
#pragma once

#include <condition_variable>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "service/metrics.h"
#include "store/store.h"

namespace ferry {

class StoreWorker {
 public:
  StoreWorker(std::unique_ptr<Store> store, std::size_t queue_max, std::size_t batch_max,
              Metrics& metrics);
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
  // its owner in `done`). False if refused, as for Submit.
  bool Write(WriteOp op, std::function<void(Errc)> done);

 private:
  struct Job {
    std::function<void(Store&)> fn;  // read or standalone job, or
    WriteOp op{};                    // a write op, when is_write
    std::function<void(Errc)> done;
    bool is_write = false;
  };

  bool Enqueue(Job job);
  void Loop();
  void RunWrites(std::vector<Job>& writes);

  std::unique_ptr<Store> store_;
  const std::size_t queue_max_;
  const std::size_t batch_max_;
  Metrics& metrics_;

  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Job> queue_;  // GUARDED_BY(mu_)
  bool stopping_ = false;  // GUARDED_BY(mu_)
  std::thread thread_;
};

}  // namespace ferry
