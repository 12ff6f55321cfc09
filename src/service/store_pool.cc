#include "service/store_pool.h"

#include <functional>
#include <stdexcept>

namespace ferry {

StorePool::StorePool(std::vector<std::unique_ptr<Store>> stores, std::size_t queue_max,
                     std::size_t batch_max, Metrics& metrics, Millis max_wait_ms,
                     const Clock& clock, std::int64_t commit_interval_us) {
  if (stores.empty()) throw std::invalid_argument("StorePool: no store");
  workers_.reserve(stores.size());
  for (auto& store : stores) {
    workers_.push_back(std::make_unique<StoreWorker>(
        std::move(store), queue_max, batch_max, metrics, max_wait_ms, clock, commit_interval_us));
  }
}

void StorePool::Start() {
  for (auto& w : workers_) w->Start();
}

void StorePool::Stop() {
  for (auto& w : workers_) w->Stop();
}

std::size_t StorePool::LaneOf(std::string_view key) const {
  if (workers_.size() == 1) return 0;
  return std::hash<std::string_view>{}(key) % workers_.size();
}

StoreWorker& StorePool::For(std::string_view key) { return *workers_[LaneOf(key)]; }

}  // namespace ferry
