#include "service/work_pool.h"

namespace ferry {

WorkPool::WorkPool(int threads, std::size_t queue_max, std::size_t per_key_max)
    : queue_max_(queue_max), per_key_max_(per_key_max) {
  for (int i = 0; i < threads; ++i) threads_.emplace_back([this] { Loop(); });
}

WorkPool::~WorkPool() { Stop(); }

void WorkPool::Stop() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  for (auto& t : threads_) {
    if (t.joinable()) t.join();
  }
}

bool WorkPool::Submit(const std::string& key, std::function<void()> fn) {
  {
    std::lock_guard lock(mu_);
    if (stopping_ || queued_ >= queue_max_) return false;
    auto it = jobs_.find(key);
    std::size_t waiting = it == jobs_.end() ? 0 : it->second.size();
    if (waiting >= per_key_max_) return false;
    auto& jobs = it == jobs_.end() ? jobs_[key] : it->second;
    if (jobs.empty()) turns_.push_back(key);
    jobs.push_back(std::move(fn));
    ++queued_;
  }
  cv_.notify_one();
  return true;
}

void WorkPool::Loop() {
  for (;;) {
    std::function<void()> fn;
    {
      std::unique_lock lock(mu_);
      cv_.wait(lock, [&] { return stopping_ || queued_ > 0; });
      if (queued_ == 0) return;  // stopping and drained
      std::string key = std::move(turns_.front());
      turns_.pop_front();
      auto it = jobs_.find(key);
      fn = std::move(it->second.front());
      it->second.pop_front();
      --queued_;
      // The key's next job waits for its next turn, behind every other key.
      if (it->second.empty()) {
        jobs_.erase(it);
      } else {
        turns_.push_back(std::move(key));
      }
    }
    fn();
  }
}

}  // namespace ferry
