// Chat rules: what a membership change (createChat, addMembers,
// removeMembers) does, decided once for every Store backend. A backend
// reads what the rules need (the chat's current members, whether the named
// users exist) under its own locking, asks these functions, and writes
// what they decide: which members to insert or delete, the `chat` event,
// and which users' clients receive it. So SQLite and PostgreSQL cannot
// drift apart on who is a member or who hears of a change.
//
// Pure functions; any thread.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "store/store.h"

namespace ferry::chat_rules {

struct MemberChange {
  Errc status = Errc::ok;           // ok | too_many_members
  std::optional<ChatEvent> event;   // absent: nothing changes (and nothing is written)
  std::vector<std::string> insert;  // members to add, sorted
  std::vector<std::string> remove;  // members to delete, sorted
  std::vector<std::string> notify;  // users whose active clients (but op.actor_client)
                                    // get the event, sorted
};

// The users a change names, sorted and without duplicates; for create, the
// actor too (the creator is always a member). The backend checks that they
// all exist (not_found otherwise) -- after Create's member limit, before
// Add's and Remove's.
std::vector<std::string> NamedUsers(const ChatOp& op);

// create: too_many_members past op.max_members; else every named user
// becomes a member and all of them hear of it.
MemberChange Create(const ChatOp& op);

// add / remove, given the chat's members now (in any order: a database's
// collation need not be byte order), read after the
// backend checked that the chat exists (not_found), that the actor is a
// member (forbidden) and that the named users exist (not_found).
// Add: only users not yet members are added and announced; too_many_members
// if they would take the chat past op.max_members; the members after the
// change hear of it. Remove: only current members are removed; the members
// before the change (those left and those removed) hear of it.
MemberChange Add(const ChatOp& op, std::vector<std::string> current);
MemberChange Remove(const ChatOp& op, std::vector<std::string> current);

}  // namespace ferry::chat_rules
