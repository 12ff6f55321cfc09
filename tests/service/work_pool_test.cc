#include "service/work_pool.h"

#include <gtest/gtest.h>

#include <future>
#include <mutex>
#include <string>
#include <vector>

namespace ferry {
namespace {

// One thread, held by a first job while the others queue: the order they
// then run in is the pool's.
class HeldPool {
 public:
  explicit HeldPool(std::size_t queue_max, std::size_t per_key_max)
      : pool_(1, queue_max, per_key_max) {
    std::promise<void> started;
    EXPECT_TRUE(pool_.Submit("hold", [this, &started] {
      started.set_value();
      release_.get_future().wait();
    }));
    started.get_future().wait();  // the thread is inside it: nothing else runs
  }
  bool Submit(const std::string& key, const std::string& name) {
    return pool_.Submit(key, [this, name] {
      std::lock_guard lock(mu_);
      ran_.push_back(name);
    });
  }
  std::vector<std::string> Release() {
    release_.set_value();
    pool_.Stop();
    return ran_;
  }

 private:
  std::promise<void> release_;
  std::mutex mu_;
  std::vector<std::string> ran_;
  WorkPool pool_;  // last: its threads stop before the rest goes
};

TEST(WorkPool, KeysTakeTurnsSoABacklogDelaysOthersByOneJob) {
  HeldPool pool(100, 100);
  for (int i = 1; i <= 5; ++i) ASSERT_TRUE(pool.Submit("flood", "f" + std::to_string(i)));
  ASSERT_TRUE(pool.Submit("bob", "b1"));
  ASSERT_TRUE(pool.Submit("carol", "c1"));
  ASSERT_TRUE(pool.Submit("bob", "b2"));
  EXPECT_EQ(pool.Release(),
            (std::vector<std::string>{"f1", "b1", "c1", "f2", "b2", "f3", "f4", "f5"}));
}

TEST(WorkPool, RefusesAKeyOverItsShareAndAFullQueue) {
  HeldPool pool(/*queue_max=*/4, /*per_key_max=*/2);
  EXPECT_TRUE(pool.Submit("a", "a1"));
  EXPECT_TRUE(pool.Submit("a", "a2"));
  EXPECT_FALSE(pool.Submit("a", "a3"));  // a's share is waiting
  EXPECT_TRUE(pool.Submit("b", "b1"));
  EXPECT_TRUE(pool.Submit("c", "c1"));
  EXPECT_FALSE(pool.Submit("d", "d1"));  // four waiting in all
  EXPECT_EQ(pool.Release(), (std::vector<std::string>{"a1", "b1", "c1", "a2"}));
}

}  // namespace
}  // namespace ferry
