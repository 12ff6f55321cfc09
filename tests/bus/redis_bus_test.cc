// RedisBus beyond the common contract: several nodes (bus instances) on one
// cluster, presence leases, stats, and a cluster that cannot be reached.
#include "bus/redis/redis_bus.h"

#include <gtest/gtest.h>

#include "tests/bus/bus_test_util.h"

namespace ferry {
namespace {

using namespace bustest;

class RedisBusTest : public ::testing::Test {
 protected:
  void SetUp() override {
    seeds_ = RedisSeeds();
    if (seeds_.empty()) GTEST_SKIP() << "FERRY_REDIS_NODES_FILE not set";
    prefix_ = Unique("r");
  }
  std::unique_ptr<RedisBus> Node(std::int64_t ttl_ms = 30'000) {
    RedisBusOptions options;
    options.seeds = seeds_;
    options.node_id = Unique("node");
    options.presence_ttl_ms = ttl_ms;
    return std::make_unique<RedisBus>(options);
  }
  std::string User(const std::string& name) { return prefix_ + "-" + name; }

  std::vector<std::string> seeds_;
  std::string prefix_;
};

TEST_F(RedisBusTest, PublishOnOneNodeReachesSubscribersOnOthers) {
  auto a = Node(), b = Node(), c = Node();
  Inbox in_a, in_b, in_c;
  a->SetHandler(in_a.Handler());
  b->SetHandler(in_b.Handler());
  c->SetHandler(in_c.Handler());
  std::string alice = UserChannel(User("alice")), bob = UserChannel(User("bob"));
  ASSERT_TRUE(SubscribeAndWait(*a, alice));
  ASSERT_TRUE(SubscribeAndWait(*c, alice));
  ASSERT_TRUE(SubscribeAndWait(*c, bob));
  b->Publish(alice, "for alice");
  b->Publish(bob, "for bob");
  EXPECT_TRUE(WaitUntil([&] { return in_a.Has(alice, "for alice"); }));
  EXPECT_TRUE(WaitUntil([&] { return in_c.Has(alice, "for alice") && in_c.Has(bob, "for bob"); }));
  EXPECT_TRUE(in_b.Of(alice).empty());  // b never subscribed
  EXPECT_TRUE(in_a.Of(bob).empty());
  EXPECT_TRUE(WaitUntil([&] { return b->stats().published >= 2; }));
  EXPECT_EQ(b->stats().dropped, 0u);
  EXPECT_EQ(a->stats().received, 1u);
}

TEST_F(RedisBusTest, ReadyMeansSubscribedEvenOnAFreshNode) {
  // b is up and publishes at once; a has just started: its `ready` must
  // wait for Redis to confirm, or b's publish would find nobody.
  auto b = Node();
  ASSERT_TRUE(WaitUntil([&] { return b->Healthy(); }));
  auto a = Node();
  Inbox in_a;
  a->SetHandler(in_a.Handler());
  constexpr int kChannels = 20;
  for (int i = 0; i < kChannels; ++i) {
    std::string channel = UserChannel(User("fresh" + std::to_string(i)));
    RedisBus* publisher = b.get();
    a->Subscribe(channel, [publisher, channel] { publisher->Publish(channel, "first"); });
  }
  auto all = [&] {
    for (int i = 0; i < kChannels; ++i) {
      if (!in_a.Has(UserChannel(User("fresh" + std::to_string(i))), "first")) return false;
    }
    return true;
  };
  EXPECT_TRUE(WaitUntil(all, 5s));
}

TEST_F(RedisBusTest, PresenceIsSharedBetweenNodes) {
  auto a = Node(), b = Node();
  std::string user = User("carol");
  a->PresenceUp(user);
  EXPECT_EQ(IsOnlineNow(*a, user), true);  // ordered after the ZADD on a
  EXPECT_TRUE(WaitUntil([&] { return IsOnlineNow(*b, user) == true; }, 5s));
  b->PresenceUp(user);
  EXPECT_EQ(IsOnlineNow(*b, user), true);
  a->PresenceDown(user);
  EXPECT_EQ(IsOnlineNow(*a, user), true);  // still on b
  b->PresenceDown(user);
  EXPECT_EQ(IsOnlineNow(*b, user), false);
  EXPECT_EQ(IsOnlineNow(*a, user), false);
}

TEST_F(RedisBusTest, LeaseIsRenewedAndExpiresWhenTheNodeIsGone) {
  constexpr std::int64_t kTtl = 1500;  // renewed every 500 ms: slack for a loaded machine
  auto a = Node(kTtl), b = Node(kTtl);
  std::string user = User("dora");
  a->PresenceUp(user);
  ASSERT_EQ(IsOnlineNow(*a, user), true);
  // Renewals (every ttl/3) keep it online well past one TTL.
  auto until = std::chrono::steady_clock::now() + std::chrono::milliseconds(4 * kTtl);
  while (std::chrono::steady_clock::now() < until) {
    ASSERT_EQ(IsOnlineNow(*b, user), true) << "lease lapsed while node a was alive";
    std::this_thread::sleep_for(50ms);
  }
  a.reset();  // a "crash": no PresenceDown
  EXPECT_TRUE(WaitUntil([&] { return IsOnlineNow(*b, user) == false; }, 5s));
}

TEST_F(RedisBusTest, HealthyAndCountsAfterStart) {
  auto a = Node();
  EXPECT_TRUE(WaitUntil([&] { return a->Healthy(); }));
  EXPECT_GE(a->stats().slot_map_reads, 1u);
  EXPECT_EQ(a->stats().reconnects, 0u);
  EXPECT_FALSE(a->node_id().empty());
}

TEST_F(RedisBusTest, ManySubscribersResubscribeQuickly) {
  // A reconnect storm's worth of channels: pipelined, they confirm fast.
  constexpr int kUsers = 5000;
  auto a = Node();
  ReadyCount ready;
  auto start = std::chrono::steady_clock::now();
  for (int i = 0; i < kUsers; ++i) {
    a->Subscribe(UserChannel(User("s" + std::to_string(i))), ready.Callback());
  }
  ASSERT_TRUE(WaitUntil([&] { return ready() == kUsers; }, 20s));
  auto took = std::chrono::steady_clock::now() - start;
  EXPECT_LT(took, 5s);
  EXPECT_TRUE(a->Healthy());
}

TEST(RedisBusUnreachable, GivesUpInBoundedTime) {
  RedisBusOptions options;
  options.seeds = {"127.0.0.1:1"};  // nothing listens there
  options.subscribe_timeout_ms = 300;
  options.command_timeout_ms = 300;
  options.connect_timeout_ms = 300;
  RedisBus bus(options);
  ReadyCount ready;
  auto start = std::chrono::steady_clock::now();
  bus.Subscribe("u:{x}", ready.Callback());
  EXPECT_EQ(IsOnlineNow(bus, "x"), false);
  EXPECT_TRUE(WaitUntil([&] { return ready() == 1; }, 3s));
  EXPECT_LT(std::chrono::steady_clock::now() - start, 3s);
  bus.Publish("u:{x}", "lost");
  EXPECT_TRUE(WaitUntil([&] { return bus.stats().dropped == 1; }, 3s));
  EXPECT_FALSE(bus.Healthy());
}

TEST(RedisBusUnreachable, OutboxIsBounded) {
  RedisBusOptions options;
  options.seeds = {"127.0.0.1:1"};
  options.outbox_max = 10;
  RedisBus bus(options);
  for (int i = 0; i < 1000; ++i) {
    bus.Publish("u:{x}", "m");  // never blocks
    ASSERT_LE(bus.stats().outbox, 10u);
  }
  EXPECT_TRUE(WaitUntil([&] { return bus.stats().dropped == 1000; }, 5s));
}

TEST(RedisBusUnreachable, DestructionRunsPendingCallbacksOnce) {
  ReadyCount ready;
  auto online = std::make_shared<std::atomic<int>>(0);
  {
    RedisBusOptions options;
    options.seeds = {"127.0.0.1:1"};
    options.subscribe_timeout_ms = 60'000;
    options.connect_timeout_ms = 60'000;
    RedisBus bus(options);
    bus.Subscribe("u:{y}", ready.Callback());
    bus.IsOnline("y", [online](bool) { ++*online; });
  }
  EXPECT_EQ(ready(), 1);
  EXPECT_EQ(*online, 1);
}

TEST(RedisBusOptionsTest, BadSeedsAreRejected) {
  RedisBusOptions options;
  EXPECT_THROW(RedisBus{options}, std::invalid_argument);
  options.seeds = {"no-port"};
  EXPECT_THROW(RedisBus{options}, std::invalid_argument);
}

}  // namespace
}  // namespace ferry
