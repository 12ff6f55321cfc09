// The chat rules alone (their effect through each backend is the
// conformance suite's): what a change decides, and that it does not depend
// on the order a database returns the members in.
#include "store/chat_rules.h"

#include <gtest/gtest.h>

namespace ferry::chat_rules {
namespace {

using Users = std::vector<std::string>;

ChatOp Op(ChatOp::Kind kind, Users members, std::size_t max_members = 100) {
  ChatOp op;
  op.kind = kind;
  op.chat_id = "c";
  op.actor_user = "alice";
  op.members = std::move(members);
  op.max_members = max_members;
  return op;
}

TEST(ChatRules, CreateAddsTheCreatorAndDeduplicates) {
  MemberChange c = Create(Op(ChatOp::Kind::create, {"bob", "bob", "carol"}));
  EXPECT_EQ(c.status, Errc::ok);
  EXPECT_EQ(c.insert, (Users{"alice", "bob", "carol"}));
  EXPECT_EQ(c.notify, c.insert);
  ASSERT_TRUE(c.event);
  EXPECT_EQ(c.event->event, "created");
  EXPECT_EQ(Create(Op(ChatOp::Kind::create, {"bob", "carol"}, 2)).status, Errc::too_many_members);
}

// A database whose collation is not byte order (e.g. en_US: "alice" before
// "Zed") hands the members over in another order; the rules must not care.
TEST(ChatRules, AddAndRemoveDoNotDependOnTheOrderOfCurrentMembers) {
  Users current{"bob", "Zed", "alice"};
  MemberChange add = Add(Op(ChatOp::Kind::add, {"Zed", "carol"}), current);
  EXPECT_EQ(add.insert, (Users{"carol"}));
  EXPECT_EQ(add.notify, (Users{"Zed", "alice", "bob", "carol"}));
  MemberChange remove = Remove(Op(ChatOp::Kind::remove, {"Zed", "dave"}), current);
  EXPECT_EQ(remove.remove, (Users{"Zed"}));
  EXPECT_EQ(remove.notify, (Users{"Zed", "alice", "bob"}));
}

TEST(ChatRules, NothingToDoIsNoEvent) {
  EXPECT_FALSE(Add(Op(ChatOp::Kind::add, {"bob"}), {"alice", "bob"}).event);
  EXPECT_FALSE(Remove(Op(ChatOp::Kind::remove, {"carol"}), {"alice", "bob"}).event);
}

TEST(ChatRules, AddPastTheLimitChangesNothing) {
  MemberChange c = Add(Op(ChatOp::Kind::add, {"carol", "dave"}, 3), {"alice", "bob"});
  EXPECT_EQ(c.status, Errc::too_many_members);
  EXPECT_TRUE(c.insert.empty());
  EXPECT_FALSE(c.event);
}

}  // namespace
}  // namespace ferry::chat_rules
