#include "service/receipt_coalescer.h"

#include <algorithm>

namespace ferry {

void ReceiptCoalescer::Moved(const std::string& chat_id, ReceiptKind kind, Millis now) {
  if (keys_.size() >= kMaxKeys && !keys_.contains({chat_id, kind})) {
    // Forget the keys no longer holding anything back; if that is not
    // enough, the rest are due now (bounded memory beats coalescing).
    std::erase_if(keys_,
                  [now](const auto& kv) { return !kv.second.pending && DueAt(kv.second) <= now; });
    if (keys_.size() >= kMaxKeys) {
      for (auto& [key, state] : keys_) state.flushed.reset();
    }
  }
  keys_[{chat_id, kind}].pending = true;
}

std::vector<ReceiptCoalescer::Key> ReceiptCoalescer::TakeDue(Millis now) {
  std::vector<Key> due;
  for (auto it = keys_.begin(); it != keys_.end();) {
    State& s = it->second;
    if (s.pending && DueAt(s) <= now) {
      due.push_back(it->first);
      s.pending = false;
      s.flushed = now;
    }
    // A key flushed over a second ago with nothing pending holds nothing back.
    if (!s.pending && DueAt(s) <= now) {
      it = keys_.erase(it);
    } else {
      ++it;
    }
  }
  return due;
}

std::vector<ReceiptCoalescer::Key> ReceiptCoalescer::TakeAll() {
  std::vector<Key> all;
  for (const auto& [key, state] : keys_) {
    if (state.pending) all.push_back(key);
  }
  keys_.clear();
  return all;
}

std::optional<Millis> ReceiptCoalescer::NextDue() const {
  std::optional<Millis> next;
  for (const auto& [key, state] : keys_) {
    if (state.pending) next = next ? std::min(*next, DueAt(state)) : DueAt(state);
  }
  return next;
}

}  // namespace ferry
