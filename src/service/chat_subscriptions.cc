#include "service/chat_subscriptions.h"

namespace ferry {

bool ChatSubscriptions::Add(const std::string& chat_id, std::function<void()> ready) {
  // After release the connection is gone: a late subscription would never
  // be given back.
  if (released_ || !held_.insert(chat_id).second) return false;
  bus_.Subscribe(ChatChannel(chat_id), std::move(ready));
  return true;
}

void ChatSubscriptions::ReleaseAll() {
  released_ = true;
  for (const std::string& chat_id : held_) bus_.Unsubscribe(ChatChannel(chat_id));
  held_.clear();
}

bool ChatSubscriptions::BeginRefresh() {
  if (refreshing_ || released_) return false;
  refreshing_ = true;
  return true;
}

}  // namespace ferry
