#include "service/store_worker.h"

#include <algorithm>

#include "common/log.h"

namespace ferry {

StoreWorker::StoreWorker(std::unique_ptr<Store> store, std::size_t queue_max, std::size_t batch_max,
                         Metrics& metrics, Millis max_wait_ms, const Clock& clock,
                         std::int64_t commit_interval_us)
    : store_(std::move(store)),
      queue_max_(queue_max),
      batch_max_(batch_max),
      metrics_(metrics),
      max_wait_ms_(max_wait_ms),
      clock_(clock),
      commit_interval_(commit_interval_us) {}

StoreWorker::~StoreWorker() { Stop(); }

void StoreWorker::Start() { thread_ = std::thread([this] { Loop(); }); }

void StoreWorker::Stop() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

bool StoreWorker::Submit(std::function<void(Store&)> fn) {
  return Enqueue(Job{std::move(fn), {}, {}, false}, Admit::always);
}

bool StoreWorker::Write(WriteOp op, std::function<void(Errc)> done, Admit admit) {
  return Enqueue(Job{{}, op, std::move(done), true}, admit);
}

bool StoreWorker::Enqueue(Job job, Admit admit) {
  job.enqueued = clock_.Monotonic();
  {
    std::lock_guard lock(mu_);
    if (stopping_ || queue_.size() >= queue_max_) return false;
    if (admit == Admit::unless_behind && max_wait_ms_ > 0 && !queue_.empty() &&
        job.enqueued - queue_.front().enqueued > max_wait_ms_) {
      metrics_.store_shed_total.fetch_add(1, std::memory_order_relaxed);
      return false;
    }
    queued_writes_ += job.is_write;
    queue_.push_back(std::move(job));
    metrics_.store_queue_depth.fetch_add(1, std::memory_order_relaxed);  // summed over a pool
  }
  cv_.notify_one();
  return true;
}

// Each round takes everything queued. Writes go first, in one transaction per
// batch_max ops; then the other jobs run in arrival order. Running a read
// after writes that arrived later is safe: it only sees newer data, and every
// reader (delivery cursors) tolerates seeing more than it was told about.
void StoreWorker::Loop() {
  std::deque<Job> round;
  std::vector<Job> writes;
  for (;;) {
    {
      std::unique_lock lock(mu_);
      cv_.wait(lock, [&] { return stopping_ || !queue_.empty(); });
      if (queue_.empty() && stopping_) return;
      // Writes wait for the next commit slot, unless a full batch is there.
      // While writes fail the slots are further apart: each failed attempt
      // costs the disk a round of writes, and its callers only an
      // `unavailable` a little later.
      std::chrono::microseconds interval = commit_interval_;
      if (failures_.batches > 0) {
        interval = std::max<std::chrono::microseconds>(interval, kFailingWriteInterval);
      }
      if (queued_writes_ > 0 && interval.count() > 0) {
        cv_.wait_until(lock, last_commit_ + interval,
                       [&] { return stopping_ || queued_writes_ >= batch_max_; });
      }
      queued_writes_ = 0;
      round.swap(queue_);
      metrics_.store_queue_depth.fetch_sub(static_cast<std::int64_t>(round.size()),
                                           std::memory_order_relaxed);
    }
    for (Job& job : round) {
      if (job.is_write) {
        writes.push_back(std::move(job));
        if (writes.size() >= batch_max_) RunWrites(writes);
      }
    }
    if (!writes.empty()) RunWrites(writes);
    for (Job& job : round) {
      if (!job.is_write) job.fn(*store_);
    }
    round.clear();
  }
}

void StoreWorker::RunWrites(std::vector<Job>& writes) {
  last_commit_ = std::chrono::steady_clock::now();
  std::vector<WriteOp> ops;
  ops.reserve(writes.size());
  for (const Job& job : writes) ops.push_back(job.op);
  Result<void> r = store_->WriteBatch(ops);
  metrics_.store_batches_total.fetch_add(1, std::memory_order_relaxed);
  metrics_.store_batch_ops_total.fetch_add(static_cast<std::int64_t>(ops.size()),
                                           std::memory_order_relaxed);
  Errc status = r ? Errc::ok : Errc::unavailable;
  if (r) {
    NoteWriteOk();
  } else {
    NoteWriteFailed(ops.size());
  }
  for (Job& job : writes) job.done(status);
  writes.clear();
}

// One line per failed batch would be a thousand a second on a full disk,
// written to a log that often lives on that disk. (The store logs why.)
void StoreWorker::NoteWriteFailed(std::size_t ops) {
  metrics_.store_write_failures_total.fetch_add(1, std::memory_order_relaxed);
  auto now = std::chrono::steady_clock::now();
  if (failures_.batches++ == 0) {
    metrics_.store_failing_workers.fetch_add(1, std::memory_order_relaxed);
    failures_.first = failures_.logged = now;
    log::Error("store: a write transaction of ", ops,
               " ops failed; writes are answered unavailable until one commits again");
    return;
  }
  ++failures_.unlogged;
  if (now - failures_.logged >= kFailureLogInterval) {
    log::Error("store: writes still failing: ", failures_.unlogged, " more transactions failed in ",
               std::chrono::duration_cast<std::chrono::seconds>(now - failures_.logged).count(),
               " s");
    failures_.logged = now;
    failures_.unlogged = 0;
  }
}

void StoreWorker::NoteWriteOk() {
  if (failures_.batches == 0) return;
  metrics_.store_failing_workers.fetch_sub(1, std::memory_order_relaxed);
  auto failed_for = std::chrono::steady_clock::now() - failures_.first;
  log::Warn("store: writes commit again, after ", failures_.batches, " failed transactions over ",
            std::chrono::duration_cast<std::chrono::milliseconds>(failed_for).count(), " ms");
  failures_ = {};
}

}  // namespace ferry
