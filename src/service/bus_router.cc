#include "service/bus_router.h"

#include <algorithm>
#include <memory>

#include "common/log.h"
#include "service/session.h"

namespace ferry {

BusRouter::BusRouter(const Config& config, Bus& bus, Clock& clock, SessionRegistry& sessions)
    : config_(config),
      bus_(bus),
      clock_(clock),
      sessions_(sessions),
      grace_(config.chat_channel_grace_ms, config.chat_channel_grace_max) {}

void BusRouter::Start() {
  bus_.SetHandler(
      [this](std::string_view channel, std::string_view payload) { OnMessage(channel, payload); });
}

// Small chats: one publish per recipient user on `u:{user}`, listing that
// user's (client, seq) pairs. A chat with more recipient users than the
// threshold: one publish on `c:{chat}` listing every pair, which each
// subscribed node filters by the clients it holds. During the grace period,
// and for chat events (rare, and what tells nodes a chat grew), it also goes
// out per user, marked big so the receiving nodes subscribe the chat channel.
//
// Recipient users are counted from `deliveries` (users with an active client
// other than the sender's). That never exceeds the member count a session
// compares at hello, so whenever this side publishes on the chat channel
// alone, the members' sessions subscribed it.
void BusRouter::PublishDeliveries(const std::string& chat_id, protocol::EncodedEntry entry,
                                  const std::vector<Delivery>& deliveries) {
  if (deliveries.empty()) return;
  std::vector<const Delivery*> sorted;
  sorted.reserve(deliveries.size());
  for (const Delivery& d : deliveries) sorted.push_back(&d);
  std::sort(sorted.begin(), sorted.end(),
            [](const Delivery* a, const Delivery* b) { return a->user < b->user; });
  std::size_t users = 0;
  for (std::size_t i = 0; i < sorted.size(); ++i) {
    users += i == 0 || sorted[i]->user != sorted[i - 1]->user;
  }
  const bool big = !chat_id.empty() && users > config_.chat_channel_threshold;
  const bool chat_event = entry.type == "chat";
  bool per_user = true;
  if (!big) {
    if (!chat_id.empty()) grace_.Forget(chat_id);
  } else {
    per_user = grace_.InGrace(chat_id, clock_.Now(), /*restart=*/chat_event) || chat_event;
  }
  protocol::BusEntries msg{std::move(entry), {}, big ? chat_id : std::string(), big};
  if (big && !chat_event) {
    msg.deliveries.reserve(sorted.size());
    for (const Delivery* d : sorted) msg.deliveries.emplace_back(d->client_id, d->seq);
    bus_.Publish(ChatChannel(chat_id), protocol::EncodeBus(msg));
  }
  if (!per_user) return;
  for (std::size_t i = 0; i < sorted.size();) {
    std::size_t j = i;
    msg.deliveries.clear();
    while (j < sorted.size() && sorted[j]->user == sorted[i]->user) {
      msg.deliveries.emplace_back(sorted[j]->client_id, sorted[j]->seq);
      ++j;
    }
    bus_.Publish(UserChannel(sorted[i]->user), protocol::EncodeBus(msg));
    i = j;
  }
}

void BusRouter::OnMessage(std::string_view channel, std::string_view payload) {
  std::optional<protocol::BusMessage> msg = protocol::DecodeBus(payload);
  if (!msg) {
    log::Warn("bus: malformed payload on ", channel);
    return;
  }
  if (auto* e = std::get_if<protocol::BusEntries>(&*msg); e && e->entry.type == "typing") {
    // Ephemeral (seq 0): the frame as it is, to whichever listed clients are here.
    auto frame = std::make_shared<const std::string>("{\"type\":\"typing\"," + e->entry.tail);
    for (const auto& [client_id, seq] : e->deliveries) {
      if (auto s = sessions_.Find(client_id)) s->EphemeralAsync(frame);
    }
  } else if (e) {
    // Clients this node does not hold are skipped: a chat channel's payload
    // lists every member's.
    auto note = std::make_shared<const protocol::BusEntries>(std::move(*e));
    for (const auto& [client_id, seq] : note->deliveries) {
      if (auto s = sessions_.Find(client_id)) {
        s->NotifyAsync(seq, note);
      }
    }
  } else if (auto* k = std::get_if<protocol::BusKick>(&*msg)) {
    if (auto s = sessions_.Find(k->client_id); s && s->conn_id() != k->conn_id) {
      s->CloseAsync(close_code::kReplaced, "replaced by a newer connection");
    }
  } else if (auto* r = std::get_if<protocol::BusRevoke>(&*msg)) {
    if (auto s = sessions_.Find(r->client_id)) {
      s->CloseAsync(close_code::kUnauthorized, "client deleted");
    }
  }
}

}  // namespace ferry
