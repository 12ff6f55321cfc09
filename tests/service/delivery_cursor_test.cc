// DeliveryCursor alone: no store, no socket, time given by the test.
#include "service/delivery_cursor.h"

#include <gtest/gtest.h>

namespace ferry {
namespace {

DeliveryCursor::Settings Small() {
  return {.window = 3, .read_page = 10, .ack_timeout_ms = 1000, .ack_retries = 2};
}

// A cursor after hello with nothing stored, its first read done.
DeliveryCursor Started(Seq acked = 0, Seq head = 0) {
  DeliveryCursor c(Small());
  c.Start(acked, head, std::nullopt, 0);
  auto read = c.BeginRead();
  EXPECT_TRUE(read);
  EXPECT_TRUE(c.EndRead(read->generation));
  return c;
}

TEST(DeliveryCursor, HelloReadsTheInboxFromWhatTheClientSaysItHas) {
  DeliveryCursor c(Small());
  c.Start(/*acked=*/2, /*head=*/9, /*after=*/4, 0);
  EXPECT_EQ(c.delivered(), 4);
  auto read = c.BeginRead();
  ASSERT_TRUE(read);
  EXPECT_EQ(read->after, 4);
  EXPECT_EQ(read->limit, 1u);   // 3 and 4 unacked: one more fits the window of 3
  EXPECT_FALSE(c.BeginRead());  // one read at a time
}

TEST(DeliveryCursor, HelloAfterIsClampedBetweenAckedAndHead) {
  DeliveryCursor below(Small());
  below.Start(4, 9, 1, 0);
  EXPECT_EQ(below.delivered(), 4);
  DeliveryCursor above(Small());
  above.Start(4, 9, 50, 0);
  EXPECT_EQ(above.delivered(), 9);
  DeliveryCursor none(Small());
  none.Start(4, 9, std::nullopt, 0);
  EXPECT_EQ(none.delivered(), 4);
}

TEST(DeliveryCursor, TheNextNotificationIsPushedDirectlyAGapIsRead) {
  DeliveryCursor c = Started();
  EXPECT_TRUE(c.Notified(1));
  c.Pushed(1, 0);
  EXPECT_FALSE(c.Notified(3));  // 2 is missing
  auto read = c.BeginRead();
  ASSERT_TRUE(read);
  EXPECT_EQ(read->after, 1);
  EXPECT_EQ(c.head(), 3);
  EXPECT_FALSE(c.Notified(4));  // not while the read is under way
}

TEST(DeliveryCursor, TheWindowBoundsUnackedEntries) {
  DeliveryCursor c = Started();
  for (Seq s = 1; s <= 3; ++s) {
    ASSERT_TRUE(c.Notified(s));
    c.Pushed(s, 0);
  }
  EXPECT_TRUE(c.WindowFull());
  c.Notified(4);
  EXPECT_FALSE(c.BeginRead());  // full: wait for an ack
  EXPECT_TRUE(c.Ack(2, 0).advanced);
  auto read = c.BeginRead();
  ASSERT_TRUE(read);
  EXPECT_EQ(read->after, 3);
  EXPECT_EQ(read->limit, 2u);
}

// A client that acks entry by entry behind a full window frees one place
// per ack. Reading each place as it comes would cost the store a read of
// one entry per ack (the offline drain made 992 reads of 10,000 entries so,
// docs/benchmarks.md); a read waits instead until a quarter of the window
// (or a page, if smaller) is free, as long as the acks of that many pushed
// entries are still to come.
TEST(DeliveryCursor, AFullWindowRefillsByAQuarterNotByOne) {
  DeliveryCursor c({.window = 8, .read_page = 100, .ack_timeout_ms = 1000, .ack_retries = 2});
  c.Start(0, 20, std::nullopt, 0);
  auto read = c.BeginRead();
  ASSERT_TRUE(read);
  EXPECT_EQ(read->limit, 8u);
  for (Seq s = 1; s <= 8; ++s) c.Pushed(s, 0);
  ASSERT_TRUE(c.EndRead(read->generation));
  EXPECT_TRUE(c.Ack(1, 0).advanced);
  EXPECT_FALSE(c.BeginRead());  // one place free, seven acks to come
  EXPECT_TRUE(c.Ack(2, 0).advanced);
  read = c.BeginRead();
  ASSERT_TRUE(read);
  EXPECT_EQ(read->after, 8);
  EXPECT_EQ(read->limit, 2u);
}

// Entries the client said at hello it has are not in flight: no ack of
// them is sure to come, so a read takes whatever room there is.
TEST(DeliveryCursor, ReadsTheLastPlacesWhenNoAckIsDue) {
  DeliveryCursor c({.window = 8, .read_page = 100, .ack_timeout_ms = 1000, .ack_retries = 2});
  c.Start(/*acked=*/0, /*head=*/20, /*after=*/7, 0);
  auto read = c.BeginRead();
  ASSERT_TRUE(read);
  EXPECT_EQ(read->after, 7);
  EXPECT_EQ(read->limit, 1u);
}

TEST(DeliveryCursor, AckAboveTheHeadCountsAsTheHead) {
  DeliveryCursor c = Started();
  c.Notified(1);
  c.Pushed(1, 0);
  DeliveryCursor::AckResult r = c.Ack(1'000'000, 0);
  EXPECT_TRUE(r.advanced);
  EXPECT_EQ(r.up_to, 1);
  EXPECT_EQ(c.acked(), 1);
  EXPECT_FALSE(c.Ack(1, 0).advanced);  // a repeat
  EXPECT_EQ(c.Ack(1, 0).up_to, 1);
}

TEST(DeliveryCursor, ARewindMakesTheReadUnderWayStale) {
  DeliveryCursor c = Started(0, 5);
  c.ReadAgain();
  auto first = c.BeginRead();
  ASSERT_TRUE(first);
  c.Rewind(0, 0);                              // a sync
  EXPECT_FALSE(c.EndRead(first->generation));  // drop that page
  auto second = c.BeginRead();
  ASSERT_TRUE(second);
  EXPECT_TRUE(c.EndRead(second->generation));
}

TEST(DeliveryCursor, AnEmptyPageSkipsGoneEntriesAndAcksThemIfNothingWaits) {
  DeliveryCursor c = Started(0, 0);
  c.Notified(4);  // 1..4 expired before the read
  auto read = c.BeginRead();
  ASSERT_TRUE(read && c.EndRead(read->generation));
  EXPECT_TRUE(c.SkipGone(4));
  EXPECT_EQ(c.delivered(), 4);
  EXPECT_EQ(c.acked(), 4);  // else the ack timer would resend what is gone
  EXPECT_FALSE(c.AckDeadline());
}

TEST(DeliveryCursor, AnEmptyPageDoesNotAckWhatWasPushedAndWaits) {
  DeliveryCursor c = Started();
  c.Notified(1);
  c.Pushed(1, 0);
  c.Notified(4);
  auto read = c.BeginRead();
  ASSERT_TRUE(read && c.EndRead(read->generation));
  EXPECT_FALSE(c.SkipGone(4));
  EXPECT_EQ(c.delivered(), 4);
  EXPECT_EQ(c.acked(), 0);
  // Acking what was pushed acks the skipped entries too.
  EXPECT_EQ(c.Ack(1, 0).up_to, 4);
}

TEST(DeliveryCursor, AnUnackedEntryIsResentAfterTheTimeoutThenGivenUp) {
  DeliveryCursor c = Started();
  c.Notified(1);
  c.Pushed(1, /*now=*/100);
  EXPECT_EQ(c.AckDeadline(), 1100);
  EXPECT_EQ(c.CheckAck(1099), DeliveryCursor::Timeout::none);
  EXPECT_EQ(c.CheckAck(1100), DeliveryCursor::Timeout::resend);
  EXPECT_EQ(c.Resent(), 1);
  EXPECT_EQ(c.delivered(), 0);  // rewound: read and push again
  auto read = c.BeginRead();
  ASSERT_TRUE(read && c.EndRead(read->generation));
  c.Pushed(1, 1100);
  EXPECT_EQ(c.CheckAck(2100), DeliveryCursor::Timeout::resend);
  c.Pushed(1, 2100);
  EXPECT_EQ(c.CheckAck(3100), DeliveryCursor::Timeout::give_up);  // 2 retries spent
}

TEST(DeliveryCursor, AnAckResetsTheRetries) {
  DeliveryCursor c = Started();
  c.Notified(1);
  c.Pushed(1, 0);
  EXPECT_EQ(c.CheckAck(1000), DeliveryCursor::Timeout::resend);
  c.Pushed(1, 1000);
  EXPECT_TRUE(c.Ack(1, 1500).advanced);
  EXPECT_FALSE(c.AckDeadline());
  c.Notified(2);
  c.Pushed(2, 1600);
  EXPECT_EQ(c.CheckAck(2600), DeliveryCursor::Timeout::resend);
  c.Pushed(2, 2600);
  EXPECT_EQ(c.CheckAck(3600), DeliveryCursor::Timeout::resend);  // a fresh allowance
}

}  // namespace
}  // namespace ferry
