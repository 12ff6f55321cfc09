// StorePool: one worker per store, jobs routed by key. What the service
// relies on: a key always lands on the same worker (so one client's jobs
// keep their order), keys spread over every worker, and a worker stuck in a
// long transaction does not hold up the others.
#include "service/store_pool.h"

#include <gtest/gtest.h>

#include <future>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include "common/clock.h"
#include "store/sqlite/sqlite_store.h"

namespace ferry {
namespace {

std::vector<std::unique_ptr<Store>> MemoryStores(int n) {
  std::vector<std::unique_ptr<Store>> stores;
  for (int i = 0; i < n; ++i)
    stores.push_back(std::move(*OpenSqliteStore(SqliteOptions{":memory:"})));
  return stores;
}

// Which Store a job ran on, by address.
const Store* StoreOf(StoreWorker& w) {
  std::promise<const Store*> p;
  EXPECT_TRUE(w.Submit([&](Store& s) { p.set_value(&s); }));
  return p.get_future().get();
}

TEST(StorePool, AKeyAlwaysLandsOnOneWorkerAndKeysSpreadOverAll) {
  Metrics metrics;
  StorePool pool(MemoryStores(4), 1000, 64, metrics);
  pool.Start();
  std::set<const Store*> used;
  for (int i = 0; i < 64; ++i) {
    std::string key = "client-" + std::to_string(i);
    const Store* first = StoreOf(pool.For(key));
    EXPECT_EQ(StoreOf(pool.For(key)), first) << key;
    EXPECT_EQ(StoreOf(pool.Lane(pool.LaneOf(key))), first) << key;
    used.insert(first);
  }
  EXPECT_EQ(used.size(), 4u);
  pool.Stop();
}

TEST(StorePool, OneKeysJobsRunInOrder) {
  Metrics metrics;
  StorePool pool(MemoryStores(3), 10'000, 64, metrics);
  pool.Start();
  std::map<std::string, std::vector<int>> seen;  // each key's jobs run on one thread
  std::promise<void> all;
  int left = 3 * 500;
  std::mutex mu;
  for (int i = 0; i < 500; ++i) {
    for (std::string key : {"a", "b", "c"}) {
      ASSERT_TRUE(pool.For(key).Submit([&, key, i](Store&) {
        std::lock_guard lock(mu);
        seen[key].push_back(i);
        if (--left == 0) all.set_value();
      }));
    }
  }
  all.get_future().wait();
  for (auto& [key, order] : seen) {
    ASSERT_EQ(order.size(), 500u) << key;
    for (int i = 0; i < 500; ++i) EXPECT_EQ(order[i], i) << key;
  }
  pool.Stop();
  EXPECT_EQ(metrics.store_queue_depth.load(), 0);
}

TEST(StorePool, ABusyWorkerDoesNotHoldUpTheOthers) {
  Metrics metrics;
  StorePool pool(MemoryStores(2), 100, 64, metrics);
  pool.Start();
  std::promise<void> release;
  std::shared_future<void> released = release.get_future().share();
  std::promise<void> started;
  ASSERT_TRUE(pool.Lane(0).Submit([&started, released](Store&) {
    started.set_value();
    released.wait();
  }));
  started.get_future().wait();
  ASSERT_TRUE(pool.Lane(0).Submit([](Store&) {}));  // waits behind the busy job
  EXPECT_EQ(metrics.store_queue_depth.load(), 1);   // summed over the pool
  std::promise<void> other;
  ASSERT_TRUE(pool.Lane(1).Submit([&](Store&) { other.set_value(); }));
  other.get_future().wait();  // hangs (the test times out) if lanes share a thread
  release.set_value();
  pool.Stop();
  EXPECT_EQ(metrics.store_queue_depth.load(), 0);
}

TEST(StorePool, StopRunsWhatEveryWorkerQueued) {
  Metrics metrics;
  StorePool pool(MemoryStores(3), 100, 64, metrics);
  pool.Start();
  std::atomic<int> ran{0};
  for (int i = 0; i < 30; ++i) {
    ASSERT_TRUE(pool.Lane(i % 3).Submit([&](Store&) { ++ran; }));
  }
  pool.Stop();
  EXPECT_EQ(ran.load(), 30);
  EXPECT_FALSE(pool.Lane(1).Submit([](Store&) {}));
}

// The time bound: once the oldest queued job has waited longer than
// max_wait, writes admitted unless_behind (sends) are refused and counted;
// other work still queues; once the backlog is gone sends are taken again.
TEST(StoreWorker, RefusesSendsWhileTheQueueIsBehind) {
  Metrics metrics;
  ManualClock clock(0);
  StoreWorker worker(std::move(MemoryStores(1)[0]), 100, 64, metrics, /*max_wait_ms=*/100, clock);
  worker.Start();
  std::promise<void> release;
  std::shared_future<void> released = release.get_future().share();
  std::promise<void> started;
  ASSERT_TRUE(worker.Submit([&started, released](Store&) {
    started.set_value();
    released.wait();
  }));
  started.get_future().wait();  // the worker is busy; the queue is empty

  using Admit = StoreWorker::Admit;
  std::atomic<int> done{0};
  auto count = [&done](Errc) { ++done; };
  AckOp first{"nobody", 1}, second{"nobody", 1}, third{"nobody", 1}, fourth{"nobody", 1};
  ASSERT_TRUE(worker.Write(&first, count, Admit::unless_behind));  // nothing waits yet
  clock.Advance(100);
  EXPECT_TRUE(worker.Write(&second, count, Admit::unless_behind));  // 100 ms: not over
  clock.Advance(1);
  EXPECT_FALSE(worker.Write(&third, count, Admit::unless_behind));  // 101 ms behind
  EXPECT_EQ(metrics.store_shed_total.load(), 1);
  EXPECT_TRUE(worker.Write(&third, count));  // acks and the like still queue

  release.set_value();
  std::promise<void> drained;
  ASSERT_TRUE(worker.Submit([&drained](Store&) { drained.set_value(); }));
  drained.get_future().wait();  // the backlog is gone
  EXPECT_TRUE(worker.Write(&fourth, count, Admit::unless_behind));
  worker.Stop();
  EXPECT_EQ(done.load(), 4);
  EXPECT_EQ(metrics.store_shed_total.load(), 1);
}

// Group commit pacing: after a commit the next one waits for the interval
// (here far longer than the test), unless a full batch is queued, and Stop
// commits what still waits.
TEST(StoreWorker, PacedCommitsWaitForTheIntervalOrAFullBatch) {
  Metrics metrics;
  StoreWorker worker(std::move(MemoryStores(1)[0]), 100, /*batch_max=*/2, metrics, 0,
                     SystemClock::Instance(), /*commit_interval_us=*/60'000'000);
  worker.Start();
  std::promise<void> first_done, pair_done, last_done;
  std::atomic<int> pair{0};
  AckOp a{"nobody", 1}, b{"nobody", 1}, c{"nobody", 1}, d{"nobody", 1};
  ASSERT_TRUE(worker.Write(&a, [&](Errc) { first_done.set_value(); }));  // no commit yet: at once
  first_done.get_future().wait();
  auto one_of_pair = [&](Errc) {
    if (++pair == 2) pair_done.set_value();
  };
  std::future<void> pair_future = pair_done.get_future();
  ASSERT_TRUE(worker.Write(&b, one_of_pair));  // waits for the interval...
  // Not committed meanwhile (unpaced, it would be within microseconds; paced,
  // not for a minute: this wait cannot flake either way).
  EXPECT_EQ(pair_future.wait_for(std::chrono::milliseconds(100)), std::future_status::timeout);
  EXPECT_EQ(pair.load(), 0);
  ASSERT_TRUE(worker.Write(&c, one_of_pair));  // ...until the batch is full
  pair_future.wait();
  EXPECT_EQ(metrics.store_batches_total.load(), 2);  // b and c in one commit
  ASSERT_TRUE(worker.Write(&d, [&](Errc) { last_done.set_value(); }));
  worker.Stop();  // does not wait out the interval
  last_done.get_future().wait();
  EXPECT_EQ(metrics.store_batches_total.load(), 3);
}

}  // namespace
}  // namespace ferry
