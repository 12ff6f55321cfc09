// RedisBus under cluster faults, on a cluster of its own (the fixture in
// CMakeLists.txt; FERRY_REDIS_DIR is its directory, with the seeds in
// redis_nodes; deploy/lib/redis.sh breaks it). Each test leaves the cluster as it found it:
// 3 masters with a replica each.
#include <gtest/gtest.h>

#include <cstdio>

#include "bus/redis/redis_bus.h"
#include "bus/redis/slot_map.h"
#include "tests/bus/bus_test_util.h"

namespace ferry {
namespace {

using namespace bustest;

// Runs `call` (redis.sh functions) in bash; returns its stdout, or nullopt
// if it failed.
std::optional<std::string> RedisSh(const std::string& call) {
  std::string command = std::string("bash -c '. \"") + FERRY_REDIS_SH + "\" && " + call + "'";
  FILE* pipe = popen(command.c_str(), "r");
  if (pipe == nullptr) return std::nullopt;
  std::string out;
  char buf[256];
  while (std::fgets(buf, sizeof buf, pipe) != nullptr) out += buf;
  return pclose(pipe) == 0 ? std::optional(out) : std::nullopt;
}

class RedisFaultTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const char* dir = std::getenv("FERRY_REDIS_DIR");
    if (dir == nullptr) GTEST_SKIP() << "FERRY_REDIS_DIR not set: no cluster to break";
    dir_ = dir;
    seeds_ = RedisSeeds(dir_ + "/redis_nodes");
    ASSERT_FALSE(seeds_.empty());
    ASSERT_TRUE(RedisSh("redis_wait_cluster " + dir_ + " 3 1")) << "cluster not in shape";
    RedisBusOptions options;
    options.seeds = seeds_;
    options.node_id = Unique("node");
    // No periodic map reads during a test: what the bus learns, it learns
    // from the failure itself.
    options.slot_refresh_ms = 600'000;
    bus_ = std::make_unique<RedisBus>(options);
    bus_->SetHandler(inbox_.Handler());
    prefix_ = Unique("f");
    // Channels on every shard (60 users spread over 16384 slots).
    ReadyCount ready;
    for (int i = 0; i < kUsers; ++i) bus_->Subscribe(Channel(i), ready.Callback());
    ASSERT_TRUE(WaitUntil([&] { return ready() == kUsers && bus_->Healthy(); }, 10s));
  }

  void TearDown() override {
    bus_.reset();
    if (!dir_.empty()) {
      // Back in shape for the next test: every node up, each master with a
      // replica (a killed node restarted rejoins as a replica).
      for (const std::string& port : killed_) RedisSh("redis_restart_node " + dir_ + " " + port);
      EXPECT_TRUE(RedisSh("redis_wait_cluster " + dir_ + " 3 1")) << "cluster not restored";
    }
  }

  std::string Channel(int i) { return UserChannel(prefix_ + "-" + std::to_string(i)); }

  // Publishes a new payload to every channel that has not yet received one,
  // every 200 ms, until all have (or `timeout`). At most once delivery:
  // while the cluster heals, single publishes may be lost.
  bool AllChannelsDeliver(std::chrono::milliseconds timeout, Bus* via = nullptr) {
    Bus& publisher = via != nullptr ? *via : *bus_;
    auto deadline = std::chrono::steady_clock::now() + timeout;
    std::vector<bool> got(kUsers, false);
    std::map<int, std::vector<std::string>> sent;
    for (int round = 0; std::chrono::steady_clock::now() < deadline; ++round) {
      bool all = true;
      for (int i = 0; i < kUsers; ++i) {
        if (!got[i]) {
          for (const std::string& p : sent[i]) got[i] = got[i] || inbox_.Has(Channel(i), p);
        }
        if (got[i]) continue;
        all = false;
        std::string payload = Unique("round-" + std::to_string(round));  // new on every call
        publisher.Publish(Channel(i), payload);
        sent[i].push_back(payload);
      }
      if (all) return true;
      std::this_thread::sleep_for(200ms);
    }
    int missing = 0;
    for (bool g : got) missing += !g;
    ADD_FAILURE() << missing << " of " << kUsers << " channels receive nothing";
    return false;
  }

  static constexpr int kUsers = 60;
  std::string dir_;
  std::vector<std::string> seeds_;
  std::vector<std::string> killed_;
  Inbox inbox_;
  std::unique_ptr<RedisBus> bus_;
  std::string prefix_;
};

TEST_F(RedisFaultTest, MasterKilledReplicaTakesOver) {
  ASSERT_TRUE(AllChannelsDeliver(5s));
  std::optional<std::string> killed = RedisSh("redis_kill_master " + dir_ + " 1");
  ASSERT_TRUE(killed);
  killed_.push_back(killed->substr(0, killed->find(' ')));
  // The dead master's slots have no working connection until the replica
  // is promoted (node timeout 2 s) and the bus has read the new map.
  EXPECT_TRUE(WaitUntil([&] { return !bus_->Healthy(); }, 5s)) << "never unhealthy";
  EXPECT_TRUE(WaitUntil([&] { return bus_->Healthy(); }, 20s)) << "never healthy again";
  EXPECT_TRUE(AllChannelsDeliver(10s));
  EXPECT_GE(bus_->stats().reconnects, 1u);
}

TEST_F(RedisFaultTest, MasterStoppedForFiveSeconds) {
  ASSERT_TRUE(AllChannelsDeliver(5s));
  std::optional<std::string> masters = RedisSh("redis_masters " + dir_);
  ASSERT_TRUE(masters);
  std::string port = masters->substr(0, masters->find('\n'));
  ASSERT_TRUE(RedisSh("redis_stop_node " + dir_ + " " + port));
  auto stopped_at = std::chrono::steady_clock::now();
  // Stopped, the process still accepts TCP connections but never answers:
  // only reply time-outs can tell.
  bool went_unhealthy = WaitUntil([&] { return !bus_->Healthy(); }, 5s);
  std::this_thread::sleep_until(stopped_at + 5s);  // the fault lasts 5 s, not a sync
  ASSERT_TRUE(RedisSh("redis_cont_node " + dir_ + " " + port));
  EXPECT_TRUE(went_unhealthy) << "a stopped master went unnoticed";
  EXPECT_TRUE(WaitUntil([&] { return bus_->Healthy(); }, 20s)) << "never healthy again";
  EXPECT_TRUE(AllChannelsDeliver(10s));
}

TEST_F(RedisFaultTest, SlotMovedToAnotherMaster) {
  int slot = redis::KeySlot(Channel(0));
  std::optional<std::string> owner =
      RedisSh("redis_slot_owner " + dir_ + " " + std::to_string(slot));
  std::optional<std::string> masters = RedisSh("redis_masters " + dir_);
  ASSERT_TRUE(owner && masters);
  std::string from = owner->substr(0, owner->find('\n'));
  std::string to;
  std::istringstream ports(*masters);
  for (std::string port; std::getline(ports, port);) {
    if (port != from) to = port;
  }
  ASSERT_NE(to, from);
  ASSERT_TRUE(RedisSh("redis_move_slot " + dir_ + " " + std::to_string(slot) + " " + to));
  // Published by a node that knows the new owner from the start, so this
  // bus learns of the move only from Redis's sunsubscribe (its own
  // publishes would also hear MOVED).
  RedisBusOptions options;
  options.seeds = seeds_;
  options.node_id = Unique("publisher");
  RedisBus publisher(options);
  ASSERT_TRUE(WaitUntil([&] { return publisher.Healthy(); }));
  EXPECT_TRUE(AllChannelsDeliver(5s, &publisher));
  ASSERT_TRUE(RedisSh("redis_move_slot " + dir_ + " " + std::to_string(slot) + " " + from));
  EXPECT_TRUE(AllChannelsDeliver(5s));  // back, through this bus's own MOVED or sunsubscribe
}

}  // namespace
}  // namespace ferry
