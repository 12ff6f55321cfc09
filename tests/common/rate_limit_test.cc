#include "common/rate_limit.h"

#include <gtest/gtest.h>

namespace ferry {
namespace {

TEST(TokenBucket, TakesTheBurstThenRefillsAtTheRate) {
  RateRule rule{60, 3};  // one a second, three at once
  TokenBucket b;
  for (int i = 0; i < 3; ++i) EXPECT_EQ(b.Take(rule, 1000), 0) << i;
  EXPECT_EQ(b.Take(rule, 1000), 1000);  // the next token in a second
  EXPECT_EQ(b.Take(rule, 1600), 400);   // refused: nothing taken
  EXPECT_EQ(b.Take(rule, 2000), 0);
  EXPECT_GT(b.Take(rule, 2000), 0);
  // Never above the burst, however long it rests.
  for (int i = 0; i < 3; ++i) EXPECT_EQ(b.Take(rule, 100'000), 0);
  EXPECT_GT(b.Take(rule, 100'000), 0);
}

TEST(TokenBucket, AnOffRuleNeverRefuses) {
  RateRule off{0, 1};
  TokenBucket b;
  for (int i = 0; i < 1000; ++i) ASSERT_EQ(b.Take(off, 0), 0);
  b.Charge(off, 0);
  EXPECT_EQ(b.Wait(off, 0), 0);
}

TEST(TokenBucket, ChargeTakesEvenWhenEmptyButNeverBelowZero) {
  RateRule rule{60, 2};
  TokenBucket b;
  b.Charge(rule, 0);
  b.Charge(rule, 0);
  b.Charge(rule, 0);  // no debt: a second brings one back
  EXPECT_EQ(b.Wait(rule, 0), 1000);
  EXPECT_EQ(b.Wait(rule, 1000), 0);
}

TEST(TokenBucket, SpendGoesIntoDebtAndWaitsUntilItIsRepaid) {
  RateRule rule{60'000, 100};  // 1,000 a second (a byte budget, say)
  TokenBucket b;
  b.Spend(rule, 0, 600);            // 500 in debt
  EXPECT_EQ(b.Wait(rule, 0), 501);  // the debt, then one token
  EXPECT_EQ(b.Wait(rule, 501), 0);
  b.Spend(RateRule{0, 1}, 501, 1e9);  // an off rule takes nothing
  EXPECT_EQ(b.Wait(rule, 501), 0);
}

TEST(RateLimiter, KeysHaveTheirOwnBuckets) {
  RateLimiter limiter(RateRule{60, 1});
  EXPECT_EQ(limiter.Take("a", 0), 0);
  EXPECT_GT(limiter.Take("a", 0), 0);
  EXPECT_EQ(limiter.Take("b", 0), 0);
  EXPECT_EQ(limiter.Wait("c", 0), 0);  // unseen: full
}

TEST(RateLimiter, StaysBoundedAndForgetsOnlyFullBuckets) {
  RateLimiter limiter(RateRule{60, 1}, /*max_keys=*/2);
  EXPECT_EQ(limiter.Take("a", 0), 0);
  EXPECT_EQ(limiter.Take("b", 0), 0);
  // Full: "a" and "b" are empty, so nothing can be forgotten safely, and
  // the map starts over rather than grow.
  EXPECT_EQ(limiter.Take("c", 0), 0);
  EXPECT_EQ(limiter.Take("a", 0), 0);
  // "c" and "a" are spent now; "c" refills by 10 s, "a" is still spent.
  EXPECT_GT(limiter.Take("a", 500), 0);
  EXPECT_EQ(limiter.Take("d", 10'000), 0);  // forgets the full "c" and "a"
}

TEST(ParseRateRule, ReadsRatesPerSecondOrMinuteAndOff) {
  RateRule r;
  ASSERT_TRUE(ParseRateRule("10/s:100", &r));
  EXPECT_DOUBLE_EQ(r.per_minute, 600);
  EXPECT_DOUBLE_EQ(r.burst, 100);
  ASSERT_TRUE(ParseRateRule("0.5/min:1", &r));
  EXPECT_DOUBLE_EQ(r.per_minute, 0.5);
  ASSERT_TRUE(ParseRateRule("off", &r));
  EXPECT_FALSE(r.Enabled());
}

TEST(ParseRateRule, RefusesAnythingElseAndLeavesTheRuleAlone) {
  for (const char* bad : {"", "10", "10/s", "10/h:5", "/s:5", "10/s:", "-1/s:5", "10/s:0.5",
                          "0/s:5", "10/s:5x", "nan/s:5", "inf/s:5", "10:5/s", "Off"}) {
    RateRule r{1, 2};
    EXPECT_FALSE(ParseRateRule(bad, &r)) << bad;
    EXPECT_DOUBLE_EQ(r.per_minute, 1) << bad;
  }
}

TEST(RetryAfterSeconds, RoundsUpToWholeSecondsAtLeastOne) {
  EXPECT_EQ(RetryAfterSeconds(0), 1);
  EXPECT_EQ(RetryAfterSeconds(1), 1);
  EXPECT_EQ(RetryAfterSeconds(1000), 1);
  EXPECT_EQ(RetryAfterSeconds(1001), 2);
  EXPECT_EQ(RetryAfterSeconds(59'500), 60);
}

}  // namespace
}  // namespace ferry
