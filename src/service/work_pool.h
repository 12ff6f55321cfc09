// WorkPool: a few threads for CPU-heavy work that must stay off the I/O
// threads (Argon2id password hashing). Bounded: Submit refuses (returns
// false) when `queue_max` jobs already wait, and the caller answers
// `rate_limited`. Thread-safe.
#pragma once

#include <condition_variable>
#include <deque>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace ferry {

class WorkPool {
 public:
  WorkPool(int threads, std::size_t queue_max);
  ~WorkPool();  // Stop()s

  // Runs what is queued, then joins the threads; Submit refuses from then
  // on. Idempotent.
  void Stop();

  WorkPool(const WorkPool&) = delete;
  WorkPool& operator=(const WorkPool&) = delete;

  bool Submit(std::function<void()> fn);

 private:
  void Loop();

  const std::size_t queue_max_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::function<void()>> queue_;  // GUARDED_BY(mu_)
  bool stopping_ = false;                    // GUARDED_BY(mu_)
  std::vector<std::thread> threads_;
};

}  // namespace ferry
