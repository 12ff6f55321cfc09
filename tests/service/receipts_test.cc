// Receipt coalescing (receipt_coalescer.h) and signed message ids
// (message_ids.h): pure units, on a hand-driven clock.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <set>

#include "common/random.h"
#include "service/message_ids.h"
#include "service/receipt_coalescer.h"

namespace ferry {
namespace {

using ::testing::ElementsAre;
using ::testing::IsEmpty;
using Key = ReceiptCoalescer::Key;
constexpr auto kDelivered = ReceiptKind::delivered;
constexpr auto kRead = ReceiptKind::read;

TEST(ReceiptCoalescer, TheFirstMoveIsDueAtOnceLaterOnesOnceASecond) {
  ReceiptCoalescer c;
  EXPECT_EQ(c.NextDue(), std::nullopt);
  c.Moved("c1", kDelivered, 10'000);
  EXPECT_EQ(c.NextDue(), 0);
  EXPECT_THAT(c.TakeDue(10'000), ElementsAre(Key{"c1", kDelivered}));
  EXPECT_EQ(c.NextDue(), std::nullopt);
  // Three more moves within the second: one flush, at its end.
  c.Moved("c1", kDelivered, 10'100);
  c.Moved("c1", kDelivered, 10'500);
  c.Moved("c1", kDelivered, 10'900);
  EXPECT_EQ(c.NextDue(), 11'000);
  EXPECT_THAT(c.TakeDue(10'999), IsEmpty());
  EXPECT_THAT(c.TakeDue(11'000), ElementsAre(Key{"c1", kDelivered}));
  EXPECT_THAT(c.TakeDue(11'500), IsEmpty());
  // A move long after the last flush is due at once again.
  c.Moved("c1", kDelivered, 20'000);
  EXPECT_THAT(c.TakeDue(20'000), ElementsAre(Key{"c1", kDelivered}));
}

TEST(ReceiptCoalescer, KeysAreIndependent) {
  ReceiptCoalescer c;
  c.Moved("c1", kDelivered, 1'000);
  c.TakeDue(1'000);
  c.Moved("c1", kDelivered, 1'200);  // waits until 2,000
  c.Moved("c1", kRead, 1'200);       // its own key: due now
  c.Moved("c2", kDelivered, 1'200);
  EXPECT_THAT(c.TakeDue(1'200), ElementsAre(Key{"c1", kRead}, Key{"c2", kDelivered}));
  EXPECT_THAT(c.TakeDue(2'000), ElementsAre(Key{"c1", kDelivered}));
}

TEST(ReceiptCoalescer, TakeAllReturnsWhatIsPendingDueOrNot) {
  ReceiptCoalescer c;
  c.Moved("c1", kDelivered, 1'000);
  c.TakeDue(1'000);
  c.Moved("c1", kDelivered, 1'100);
  c.Moved("c2", kRead, 1'100);
  EXPECT_THAT(c.TakeAll(), ElementsAre(Key{"c1", kDelivered}, Key{"c2", kRead}));
  EXPECT_THAT(c.TakeAll(), IsEmpty());
  EXPECT_EQ(c.NextDue(), std::nullopt);
}

TEST(ReceiptCoalescer, MemoryIsBoundedAndNothingIsLostAtTheBound) {
  ReceiptCoalescer c;
  for (std::size_t i = 0; i < ReceiptCoalescer::kMaxKeys; ++i) {
    c.Moved("c" + std::to_string(i), kDelivered, 1'000);
  }
  c.TakeDue(1'000);
  c.Moved("c0", kDelivered, 1'001);   // throttled until 2,000
  c.Moved("new", kDelivered, 1'002);  // over the bound: everything pending is due now
  std::vector<Key> due = c.TakeDue(1'002);
  EXPECT_THAT(due, ElementsAre(Key{"c0", kDelivered}, Key{"new", kDelivered}));
}

TEST(MessageIds, AnIdVerifiesForItsChatAndTimeOnly) {
  InitCrypto();
  MessageIds ids("key-1");
  std::string id = ids.New(1'700'000'000'123, "chat-a");
  EXPECT_EQ(id.size(), 27u);
  EXPECT_NE(id.front(), '-');
  EXPECT_TRUE(ids.IsOf(Position{1'700'000'000'123, id}, "chat-a"));
  EXPECT_FALSE(ids.IsOf(Position{1'700'000'000'123, id}, "chat-b"));  // another chat
  EXPECT_FALSE(ids.IsOf(Position{1'700'000'000'124, id}, "chat-a"));  // another time
  EXPECT_FALSE(MessageIds("key-2").IsOf(Position{1'700'000'000'123, id}, "chat-a"));
  std::string forged = id;
  forged.back() = forged.back() == 'A' ? 'B' : 'A';
  EXPECT_FALSE(ids.IsOf(Position{1'700'000'000'123, forged}, "chat-a"));
  for (const char* junk : {"", "x", "not base64 at all!", "AAAAAAAAAAAAAAAAAAAAAA"}) {
    EXPECT_FALSE(ids.IsOf(Position{0, junk}, "chat-a")) << junk;
  }
  // Later times sort later; ids of one millisecond are distinct.
  EXPECT_LT(ids.New(1'000, "c"), ids.New(2'000, "c"));
  EXPECT_NE(ids.New(1'000, "c"), ids.New(1'000, "c"));
}

// Clients order a chat by (ts, messageId), so messages sent in one
// millisecond (a burst of three, say) must not show in a random order.
TEST(MessageIds, IdsOfOneMillisecondSortInTheOrderMinted) {
  InitCrypto();
  MessageIds ids("key-1");
  for (Millis ts : {Millis{1'700'000'000'000}, Millis{1'700'000'000'001}}) {
    std::string previous = ids.New(ts, "chat-a");
    for (int i = 0; i < 5'000; ++i) {
      std::string id = ids.New(ts, i % 2 == 0 ? "chat-a" : "chat-b");
      ASSERT_LT(previous, id) << "id " << i << " of ms " << ts;
      EXPECT_TRUE(ids.IsOf(Position{ts, id}, i % 2 == 0 ? "chat-a" : "chat-b"));
      previous = id;
    }
  }
  // Another process's ids of the same millisecond are still distinct.
  std::set<std::string> seen;
  for (int i = 0; i < 1'000; ++i) seen.insert(MessageIds("key-1").New(5'000, "c"));
  EXPECT_EQ(seen.size(), 1'000u);
}

}  // namespace
}  // namespace ferry
