// Heartbeat alone: deadlines on a clock the test moves.
#include "service/heartbeat.h"

#include <gtest/gtest.h>

namespace ferry {
namespace {

using Due = Heartbeat::Due;

Heartbeat::Settings Fast() {
  return {.hello_timeout_ms = 100, .interval_ms = 1000, .pong_timeout_ms = 300};
}

TEST(Heartbeat, TheHelloMustBeAnsweredInTime) {
  Heartbeat h(Fast());
  h.Opened(10);
  EXPECT_EQ(h.Deadline(), 110);
  EXPECT_EQ(h.Check(109), Due::nothing);
  EXPECT_EQ(h.Check(110), Due::hello_timeout);
}

TEST(Heartbeat, NoPingBeforeTheHelloIsAnswered) {
  Heartbeat h(Fast());
  h.Opened(0);
  EXPECT_EQ(h.Check(99), Due::nothing);  // a ping is never due before Started
  h.Started(50);
  EXPECT_EQ(h.Check(5000 - 1), Due::ping);  // long past the hello timeout: no longer applies
}

TEST(Heartbeat, PingsEveryIntervalAndWaitsForThePong) {
  Heartbeat h(Fast());
  h.Opened(0);
  h.Started(0);
  EXPECT_EQ(h.Deadline(), 1000);
  EXPECT_EQ(h.Check(999), Due::nothing);
  EXPECT_EQ(h.Check(1000), Due::ping);
  h.PingQueued(1000);
  EXPECT_FALSE(h.Deadline());  // re-armed when the ping goes out
  EXPECT_EQ(h.Check(5000), Due::nothing);
  h.PingSent(1010);
  EXPECT_EQ(h.Deadline(), 1310);
  EXPECT_EQ(h.Check(1309), Due::nothing);
  h.Pong();
  EXPECT_EQ(h.Deadline(), 2000);  // one interval after the last ping was queued
  EXPECT_EQ(h.Check(2000), Due::ping);
}

TEST(Heartbeat, AMissingPongIsATimeout) {
  Heartbeat h(Fast());
  h.Opened(0);
  h.Started(0);
  h.PingQueued(1000);
  h.PingSent(1000);
  EXPECT_EQ(h.Check(1300), Due::pong_timeout);
}

}  // namespace
}  // namespace ferry
