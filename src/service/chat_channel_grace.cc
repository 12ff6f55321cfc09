#include "service/chat_channel_grace.h"

namespace ferry {

bool ChatChannelGrace::InGrace(const std::string& chat_id, Millis now, bool restart) {
  std::lock_guard lock(mu_);
  auto it = since_.find(chat_id);
  if (it == since_.end()) {
    // Clear-when-full: cheaper than an LRU, and a forgotten chat only gets
    // a second grace, i.e. some per-user publishes more.
    if (since_.size() >= max_chats_) since_.clear();
    since_.emplace(chat_id, now);
    return true;
  }
  if (restart) it->second = now;
  // A wall clock stepping back keeps the grace longer; that only costs
  // publishes.
  return now - it->second < grace_ms_;
}

void ChatChannelGrace::Forget(const std::string& chat_id) {
  std::lock_guard lock(mu_);
  if (!since_.empty()) since_.erase(chat_id);
}

}  // namespace ferry
