// WorkPool: a few threads for CPU-heavy work that must stay off the I/O
// threads (Argon2id password hashing, blob hashing). Bounded: Submit
// refuses (returns false) when `queue_max` jobs already wait, or when
// `per_key_max` jobs of the same key do, and the caller answers
// `rate_limited`.
//
// Fair between keys (a source address): jobs wait in one queue per key and
// the threads take them round-robin over the keys, so a key with many jobs
// waiting delays another key's job by at most one job per key ahead of it,
// not by its whole backlog. Thread-safe.
#pragma once

#include <condition_variable>
#include <deque>
#include <functional>
#include <limits>
#include <mutex>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

namespace ferry {

class WorkPool {
 public:
  WorkPool(int threads, std::size_t queue_max,
           std::size_t per_key_max = std::numeric_limits<std::size_t>::max());
  ~WorkPool();  // Stop()s

  // Runs what is queued, then joins the threads; Submit refuses from then
  // on. Idempotent.
  void Stop();

  WorkPool(const WorkPool&) = delete;
  WorkPool& operator=(const WorkPool&) = delete;

  bool Submit(std::function<void()> fn) { return Submit({}, std::move(fn)); }
  bool Submit(const std::string& key, std::function<void()> fn);

 private:
  void Loop();

  const std::size_t queue_max_;
  const std::size_t per_key_max_;
  std::mutex mu_;
  std::condition_variable cv_;
  // The keys with jobs waiting, in turn order, and their jobs.
  std::deque<std::string> turns_;                                            // GUARDED_BY(mu_)
  std::unordered_map<std::string, std::deque<std::function<void()>>> jobs_;  // GUARDED_BY(mu_)
  std::size_t queued_ = 0;                                                   // GUARDED_BY(mu_)
  bool stopping_ = false;                                                    // GUARDED_BY(mu_)
  std::vector<std::thread> threads_;
};

}  // namespace ferry
