// ChatChannelGrace: the publisher's memory of which big chats it still also
// publishes per user. An entry of a chat above the chat-channel threshold is
// published once on `c:{chat}`, which every node holding a connection of a
// member subscribes — once it knows the chat is big. For `grace_ms` after
// this node first publishes a chat as big, or publishes a membership change
// of it, the entry ALSO goes out per user (marked big), so a node whose
// subscription is not in place yet still gets it, and the mark that makes
// it subscribe.
//
// Bounded: at most `max_chats` are remembered; when full, all are forgotten
// (each then gets a new grace: extra publishes, never missing ones).
// Thread-safe (one mutex); BusRouter::PublishDeliveries calls it from the
// I/O threads.
#pragma once

#include <cstddef>
#include <mutex>
#include <string>
#include <unordered_map>

#include "common/clock.h"

namespace ferry {

class ChatChannelGrace {
 public:
  ChatChannelGrace(Millis grace_ms, std::size_t max_chats)
      : grace_ms_(grace_ms), max_chats_(max_chats) {}

  // A publish of big chat `chat_id` at `now`. Returns true while the chat is
  // in its grace period, which starts at the first such call (or again now,
  // if `restart`: its membership just changed).
  bool InGrace(const std::string& chat_id, Millis now, bool restart);

  // `chat_id` was just published as small: if it grows again, that crossing
  // gets a grace of its own.
  void Forget(const std::string& chat_id);

 private:
  const Millis grace_ms_;
  const std::size_t max_chats_;
  std::mutex mu_;
  std::unordered_map<std::string, Millis> since_;  // GUARDED_BY(mu_): chat -> grace start
};

}  // namespace ferry
