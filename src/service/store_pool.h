// StorePool: a node's store workers, one Store (one database connection)
// each, sized by ferryd's --store-pool. Jobs are routed by a key, so all the
// work of one client (or one user, or one attachment) runs on one worker in
// the order it was submitted, and the workers' transactions run side by side.
// Across workers nothing is ordered: that is the multi-writer contract every
// Store backend that accepts more than one worker keeps (store.h), exactly
// as for two nodes on one database. The embedded SQLite store has one writer,
// so it always gets a pool of one.
#pragma once

#include <memory>
#include <string_view>
#include <vector>

#include "service/metrics.h"
#include "service/store_worker.h"
#include "store/store.h"

namespace ferry {

class StorePool {
 public:
  // `stores` must not be empty. Each worker queues up to `queue_max` jobs.
  StorePool(std::vector<std::unique_ptr<Store>> stores, std::size_t queue_max,
            std::size_t batch_max, Metrics& metrics, Millis max_wait_ms = 0,
            const Clock& clock = SystemClock::Instance(), std::int64_t commit_interval_us = 0);

  StorePool(const StorePool&) = delete;
  StorePool& operator=(const StorePool&) = delete;

  void Start();
  // Stops every worker (each runs what it has queued first). Idempotent.
  void Stop();

  // The worker for `key`: the same one for the same key, always.
  StoreWorker& For(std::string_view key);
  // The index For(key) uses; for tests and metrics.
  std::size_t LaneOf(std::string_view key) const;
  StoreWorker& Lane(std::size_t i) { return *workers_[i]; }
  std::size_t size() const { return workers_.size(); }

 private:
  std::vector<std::unique_ptr<StoreWorker>> workers_;
};

}  // namespace ferry
