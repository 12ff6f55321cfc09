// TimerWheel on a real io_context: deadlines fire in order, once, not
// early; re-arming and cancelling win over an earlier arming; a connection
// that is gone is not called. Waits are on conditions (the io_context runs
// until they hold), with a generous bound so a slow machine only runs
// longer.
#include "net/timer_wheel.h"

#include <gtest/gtest.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <vector>

namespace ferry::net {
namespace {
namespace asio = boost::asio;
using Clock = std::chrono::steady_clock;

struct Fired {
  std::string name;
  std::int64_t after_ms;  // since the test's start
};

class Conn final : public TimerWheel::Timed, public std::enable_shared_from_this<Conn> {
 public:
  Conn(TimerWheel& wheel, asio::io_context& ioc, std::string name, std::vector<Fired>& fired,
       Clock::time_point start)
      : wheel_(wheel), ioc_(ioc), name_(std::move(name)), fired_(fired), start_(start) {}
  ~Conn() { wheel_.Cancel(*this); }

  void Arm(std::int64_t ms) { wheel_.Arm(*this, ms); }
  void Cancel() { wheel_.Cancel(*this); }

 private:
  std::shared_ptr<Timed> KeepAlive() override { return weak_from_this().lock(); }
  void OnWheelTimer(std::uint32_t generation) override {
    asio::post(ioc_, [self = shared_from_this(), generation] {
      if (generation != self->Generation()) return;
      auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - self->start_);
      self->fired_.push_back({self->name_, ms.count()});
    });
  }

  TimerWheel& wheel_;
  asio::io_context& ioc_;
  std::string name_;
  std::vector<Fired>& fired_;
  Clock::time_point start_;
};

class TimerWheelTest : public ::testing::Test {
 protected:
  std::shared_ptr<Conn> Make(std::string name) {
    return std::make_shared<Conn>(wheel_, ioc_, std::move(name), fired_, start_);
  }
  // Runs the io_context until `done` holds (or 10 s pass: a failure).
  void RunUntil(const std::function<bool()>& done) {
    auto limit = Clock::now() + std::chrono::seconds(10);
    while (!done() && Clock::now() < limit) {
      ioc_.restart();
      ioc_.run_for(std::chrono::milliseconds(5));
    }
    ASSERT_TRUE(done()) << "condition not reached in 10 s";
  }
  std::vector<std::string> Names() const {
    std::vector<std::string> names;
    for (const Fired& f : fired_) names.push_back(f.name);
    return names;
  }

  asio::io_context ioc_;
  TimerWheel& wheel_ = TimerWheel::Of(ioc_.get_executor());
  std::vector<Fired> fired_;
  Clock::time_point start_ = Clock::now();
};

TEST_F(TimerWheelTest, FiresInDeadlineOrderAndNotEarly) {
  auto a = Make("a"), b = Make("b"), c = Make("c");
  a->Arm(90);
  b->Arm(30);
  c->Arm(60);
  EXPECT_EQ(wheel_.Armed(), 3u);
  RunUntil([&] { return fired_.size() == 3; });
  EXPECT_EQ(Names(), (std::vector<std::string>{"b", "c", "a"}));
  EXPECT_GE(fired_[0].after_ms, 30);
  EXPECT_GE(fired_[1].after_ms, 60);
  EXPECT_GE(fired_[2].after_ms, 90);
  EXPECT_EQ(wheel_.Armed(), 0u);
}

TEST_F(TimerWheelTest, ReArmingReplacesTheEarlierDeadline) {
  auto a = Make("a"), b = Make("b");
  a->Arm(20);
  a->Arm(120);  // later: the 20 ms deadline is gone
  b->Arm(60);
  EXPECT_EQ(wheel_.Armed(), 2u);
  RunUntil([&] { return fired_.size() == 2; });
  EXPECT_EQ(Names(), (std::vector<std::string>{"b", "a"}));
  EXPECT_GE(fired_[1].after_ms, 120);

  // Earlier than what the wheel waits for: it wakes sooner.
  fired_.clear();
  start_ = Clock::now();
  auto far = Make("far");
  far->Arm(5000);
  a->Arm(10);
  RunUntil([&] { return fired_.size() == 1; });
  EXPECT_EQ(Names(), std::vector<std::string>{"a"});
  EXPECT_LT(fired_[0].after_ms, 5000);
}

TEST_F(TimerWheelTest, CancelledAndDestroyedConnectionsAreNotCalled) {
  auto a = Make("a"), b = Make("b"), c = Make("c");
  a->Arm(20);
  b->Arm(20);
  c->Arm(40);
  a->Cancel();
  b.reset();  // gone: its destructor unlinks it
  EXPECT_EQ(wheel_.Armed(), 1u);
  RunUntil([&] { return fired_.size() == 1; });
  EXPECT_EQ(Names(), std::vector<std::string>{"c"});
  // Nothing else comes: the wheel is empty and a later deadline still fires alone.
  c->Arm(30);
  RunUntil([&] { return fired_.size() == 2; });
  EXPECT_EQ(Names(), (std::vector<std::string>{"c", "c"}));
}

// A deadline further than one turn of the wheel waits out whole turns in its
// slot instead of firing when the slot first comes round.
TEST_F(TimerWheelTest, ADeadlineBeyondOneTurnWaitsForItsTurn) {
  const std::int64_t turn = TimerWheel::kTickMs * static_cast<std::int64_t>(TimerWheel::kSlots);
  auto near = Make("near"), far = Make("far");
  far->Arm(turn + 40);  // same slot as a deadline 40 ms away
  near->Arm(40);
  RunUntil([&] { return fired_.size() == 1; });
  EXPECT_EQ(Names(), std::vector<std::string>{"near"});
  EXPECT_EQ(wheel_.Armed(), 1u);  // far still waits
  RunUntil([&] { return fired_.size() == 2; });
  EXPECT_EQ(fired_[1].name, "far");
  EXPECT_GE(fired_[1].after_ms, turn + 40);
}

// Many connections on one slot, and a zero delay.
TEST_F(TimerWheelTest, ManyDeadlinesFireOnceEach) {
  std::vector<std::shared_ptr<Conn>> conns;
  for (int i = 0; i < 500; ++i) {
    conns.push_back(Make("n"));
    conns.back()->Arm(i % 2 == 0 ? 0 : 16);
  }
  EXPECT_EQ(wheel_.Armed(), 500u);
  RunUntil([&] { return fired_.size() == 500; });
  EXPECT_EQ(wheel_.Armed(), 0u);
  // With nothing armed the wheel's timer is not waiting: the io_context
  // runs out of work (a wheel that kept ticking would hold it for 2 s), and
  // nothing fired twice.
  ioc_.restart();
  ioc_.run_for(std::chrono::seconds(2));
  EXPECT_TRUE(ioc_.stopped());
  EXPECT_EQ(fired_.size(), 500u);
}

}  // namespace
}  // namespace ferry::net
