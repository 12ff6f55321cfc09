// BusRouter: this node's side of the bus. Out: the notifications of a
// committed write (PublishDeliveries), per recipient user on `u:{user}` and,
// for a chat above config.chat_channel_threshold, once on `c:{chat}`. In:
// each bus message reaches the sessions of this node it concerns (new
// entries, 4409 for a client that connected elsewhere, 4401 for a deleted
// client).
//
// Thread-safe: publishes come from the I/O threads (after a commit),
// messages from the bus.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "bus/bus.h"
#include "common/clock.h"
#include "common/config.h"
#include "protocol/protocol.h"
#include "service/chat_channel_grace.h"
#include "service/session_registry.h"
#include "store/store.h"

namespace ferry {

class BusRouter {
 public:
  // All must outlive the router.
  BusRouter(const Config& config, Bus& bus, Clock& clock, SessionRegistry& sessions);
  // Takes the bus's incoming messages from now on.
  void Start();

  // Publishes the notifications for the inbox entries a committed write of
  // chat `chat_id` created: per recipient user on `u:{user}`, and for a big
  // chat once on `c:{chat}` (then per user too only during the grace
  // period, and for chat events).
  void PublishDeliveries(const std::string& chat_id, protocol::EncodedEntry entry,
                         const std::vector<Delivery>& deliveries);

 private:
  void OnMessage(std::string_view channel, std::string_view payload);

  const Config& config_;
  Bus& bus_;
  Clock& clock_;
  SessionRegistry& sessions_;
  ChatChannelGrace grace_;  // which big chats still go out per user too
};

}  // namespace ferry
