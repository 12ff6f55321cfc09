// Chat rules (see the header). Set operations on sorted user lists.
#include "store/chat_rules.h"

#include <algorithm>
#include <iterator>

namespace ferry::chat_rules {
namespace {

std::vector<std::string> SortedUnique(std::vector<std::string> users) {
  std::sort(users.begin(), users.end());
  users.erase(std::unique(users.begin(), users.end()), users.end());
  return users;
}

}  // namespace

std::vector<std::string> NamedUsers(const ChatOp& op) {
  std::vector<std::string> users = op.members;
  if (op.kind == ChatOp::Kind::create) users.push_back(op.actor_user);
  return SortedUnique(std::move(users));
}

MemberChange Create(const ChatOp& op) {
  MemberChange change;
  std::vector<std::string> members = NamedUsers(op);
  if (members.size() > op.max_members) {
    change.status = Errc::too_many_members;
    return change;
  }
  change.event = ChatEvent{op.chat_id, "created", members, op.actor_user, op.now};
  change.notify = members;
  change.insert = std::move(members);
  return change;
}

MemberChange Add(const ChatOp& op, std::vector<std::string> current) {
  MemberChange change;
  current = SortedUnique(std::move(current));
  std::vector<std::string> named = NamedUsers(op);
  std::set_difference(named.begin(), named.end(), current.begin(), current.end(),
                      std::back_inserter(change.insert));
  if (change.insert.empty()) return change;  // everyone named is a member already
  if (current.size() + change.insert.size() > op.max_members) {
    change.status = Errc::too_many_members;
    change.insert.clear();
    return change;
  }
  std::merge(current.begin(), current.end(), change.insert.begin(), change.insert.end(),
             std::back_inserter(change.notify));
  change.event = ChatEvent{op.chat_id, "membersAdded", change.insert, op.actor_user, op.now};
  return change;
}

MemberChange Remove(const ChatOp& op, std::vector<std::string> current) {
  MemberChange change;
  current = SortedUnique(std::move(current));
  std::vector<std::string> named = NamedUsers(op);
  std::set_intersection(named.begin(), named.end(), current.begin(), current.end(),
                        std::back_inserter(change.remove));
  if (change.remove.empty()) return change;  // nobody named is a member
  change.event = ChatEvent{op.chat_id, "membersRemoved", change.remove, op.actor_user, op.now};
  // The members after the change plus the removed users are exactly the
  // members before it.
  change.notify = std::move(current);
  return change;
}

}  // namespace ferry::chat_rules
