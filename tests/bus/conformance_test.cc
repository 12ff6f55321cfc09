// The Bus contract (bus/bus.h), run against every backend: LocalBus and a
// RedisBus on the test Redis Cluster (3 masters + 3 replicas, started by
// the ctest fixture; FERRY_REDIS_NODES_FILE names its seeds).
//
// "Not delivered" is checked with a sentinel: a channel sharing the hash
// tag (so the shard, and with it the order) is published to afterwards;
// once the sentinel's message is in, the earlier one would have been too.
#include <gtest/gtest.h>

#include "bus/local/local_bus.h"
#include "bus/redis/redis_bus.h"
#include "tests/bus/bus_test_util.h"

namespace ferry {
namespace {

using namespace bustest;

struct LocalBackend {
  static std::unique_ptr<Bus> Make() { return std::make_unique<LocalBus>(); }
};

struct RedisBackend {
  static std::unique_ptr<Bus> Make() {
    std::vector<std::string> seeds = RedisSeeds();
    if (seeds.empty()) return nullptr;
    RedisBusOptions options;
    options.seeds = seeds;
    options.node_id = Unique("node");
    return std::make_unique<RedisBus>(options);
  }
};

template <class Backend>
class BusConformance : public ::testing::Test {
 protected:
  void SetUp() override {
    bus_ = Backend::Make();
    if (!bus_) GTEST_SKIP() << "FERRY_REDIS_NODES_FILE not set: no Redis Cluster to test on";
    bus_->SetHandler(inbox_.Handler());
    prefix_ = Unique("t");
  }

  // A user name unique to this test.
  std::string User(const std::string& name) { return prefix_ + "-" + name; }
  std::string Sentinel(const std::string& user) { return "s:{" + user + "}"; }

  // Publishes to the sentinel of `user` and waits until it arrives.
  ::testing::AssertionResult Flush(const std::string& user) {
    std::string payload = Unique("flush");
    bus_->Publish(Sentinel(user), payload);
    if (!WaitUntil([&] { return inbox_.Has(Sentinel(user), payload); }, 5s)) {
      return ::testing::AssertionFailure() << "the sentinel message never arrived";
    }
    return ::testing::AssertionSuccess();
  }

  Inbox inbox_;
  std::unique_ptr<Bus> bus_;
  std::string prefix_;
};

struct BackendNames {
  template <class T>
  static std::string GetName(int) {
    return std::is_same_v<T, LocalBackend> ? "Local" : "Redis";
  }
};

using Backends = ::testing::Types<LocalBackend, RedisBackend>;
TYPED_TEST_SUITE(BusConformance, Backends, BackendNames);

TYPED_TEST(BusConformance, PublishAfterReadyIsDelivered) {
  // No wait for Healthy(): `ready` alone must be enough, even on a bus
  // constructed a moment ago.
  std::string channel = UserChannel(this->User("alice"));
  ASSERT_TRUE(SubscribeAndWait(*this->bus_, channel));
  this->bus_->Publish(channel, "hello");
  EXPECT_TRUE(WaitUntil([&] { return this->inbox_.Has(channel, "hello"); }, 5s));
  EXPECT_EQ(this->inbox_.Of(channel), std::vector<std::string>{"hello"});
}

TYPED_TEST(BusConformance, PayloadsAreBinarySafe) {
  std::string channel = UserChannel(this->User("bin"));
  ASSERT_TRUE(SubscribeAndWait(*this->bus_, channel));
  std::string payload("a\0b\r\n*3\r\n", 10);
  std::string big(200 * 1024, 'x');
  this->bus_->Publish(channel, payload);
  this->bus_->Publish(channel, big);
  ASSERT_TRUE(WaitUntil([&] { return this->inbox_.Of(channel).size() == 2; }, 5s));
  EXPECT_EQ(this->inbox_.Of(channel), (std::vector<std::string>{payload, big}));
}

TYPED_TEST(BusConformance, UnsubscribeStopsDelivery) {
  std::string user = this->User("bob");
  std::string channel = UserChannel(user);
  ASSERT_TRUE(SubscribeAndWait(*this->bus_, channel));
  ASSERT_TRUE(SubscribeAndWait(*this->bus_, this->Sentinel(user)));
  this->bus_->Unsubscribe(channel);
  this->bus_->Publish(channel, "after");
  ASSERT_TRUE(this->Flush(user));
  EXPECT_TRUE(this->inbox_.Of(channel).empty());
}

TYPED_TEST(BusConformance, SubscriptionsAreReferenceCounted) {
  std::string user = this->User("carol");
  std::string channel = UserChannel(user);
  ASSERT_TRUE(SubscribeAndWait(*this->bus_, this->Sentinel(user)));
  ASSERT_TRUE(SubscribeAndWait(*this->bus_, channel));
  ASSERT_TRUE(SubscribeAndWait(*this->bus_, channel));  // confirmed already: ready at once
  this->bus_->Unsubscribe(channel);
  this->bus_->Publish(channel, "one left");
  EXPECT_TRUE(WaitUntil([&] { return this->inbox_.Has(channel, "one left"); }, 5s));
  this->bus_->Unsubscribe(channel);
  this->bus_->Publish(channel, "none left");
  ASSERT_TRUE(this->Flush(user));
  EXPECT_EQ(this->inbox_.Count(channel, "none left"), 0u);
  EXPECT_EQ(this->inbox_.Count(channel, "one left"), 1u);
}

TYPED_TEST(BusConformance, ReadyRunsOncePerSubscribe) {
  std::string channel = UserChannel(this->User("dave"));
  ReadyCount first, second;
  this->bus_->Subscribe(channel, first.Callback());
  this->bus_->Subscribe(channel, second.Callback());
  this->bus_->Subscribe(channel);  // no callback: fine too
  ASSERT_TRUE(WaitUntil([&] { return first() == 1 && second() == 1; }, 5s));
  std::this_thread::sleep_for(50ms);  // room for a wrong second call
  EXPECT_EQ(first(), 1);
  EXPECT_EQ(second(), 1);
}

TYPED_TEST(BusConformance, PublishWithoutSubscribersIsFine) {
  std::string user = this->User("nobody");
  ASSERT_TRUE(SubscribeAndWait(*this->bus_, this->Sentinel(user)));
  this->bus_->Publish(UserChannel(user), "into the void");
  ASSERT_TRUE(this->Flush(user));
  EXPECT_EQ(this->inbox_.Total(), 1u);  // the sentinel's only
}

TYPED_TEST(BusConformance, ManyChannelsOverAllShards) {
  constexpr int kUsers = 300;
  ReadyCount ready;
  for (int i = 0; i < kUsers; ++i) {
    this->bus_->Subscribe(UserChannel(this->User("m" + std::to_string(i))), ready.Callback());
  }
  ASSERT_TRUE(WaitUntil([&] { return ready() == kUsers; }, 10s)) << ready() << " ready";
  for (int i = 0; i < kUsers; ++i) {
    this->bus_->Publish(UserChannel(this->User("m" + std::to_string(i))), "n" + std::to_string(i));
  }
  auto all = [&] {
    for (int i = 0; i < kUsers; ++i) {
      if (!this->inbox_.Has(UserChannel(this->User("m" + std::to_string(i))),
                            "n" + std::to_string(i))) {
        return false;
      }
    }
    return true;
  };
  EXPECT_TRUE(WaitUntil(all, 10s));
  EXPECT_EQ(this->inbox_.Total(), static_cast<std::size_t>(kUsers));
}

TYPED_TEST(BusConformance, PresenceCountsConnections) {
  std::string user = this->User("erin");
  EXPECT_EQ(IsOnlineNow(*this->bus_, user), false);
  this->bus_->PresenceUp(user);
  this->bus_->PresenceUp(user);
  EXPECT_EQ(IsOnlineNow(*this->bus_, user), true);
  this->bus_->PresenceDown(user);
  EXPECT_EQ(IsOnlineNow(*this->bus_, user), true);  // one connection left
  this->bus_->PresenceDown(user);
  EXPECT_EQ(IsOnlineNow(*this->bus_, user), false);
  this->bus_->PresenceDown(user);  // one too many: ignored
  EXPECT_EQ(IsOnlineNow(*this->bus_, user), false);
  this->bus_->PresenceUp(user);
  EXPECT_EQ(IsOnlineNow(*this->bus_, user), true);
  EXPECT_EQ(IsOnlineNow(*this->bus_, this->User("never")), false);
}

TYPED_TEST(BusConformance, HealthyWhenBackendIsUp) {
  EXPECT_TRUE(WaitUntil([&] { return this->bus_->Healthy(); }, 10s));
}

}  // namespace
}  // namespace ferry
