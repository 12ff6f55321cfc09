// ReceiptCoalescer: when the mark moves one connection makes become
// `receipt` entries (PROTOCOL.md v1.1: at most one a second per chat, user
// and kind). The first move of a (chat, kind) is due at once; moves within a
// second of the last flush of that key are due together at the end of the
// second. A flush writes the mark as the store holds it then, so nothing is
// lost by coalescing: the entry carries the highest position.
//
// Pure state on the caller's clock (Clock::Monotonic ms); confined to one
// ClientSession, whose timer calls TakeDue at NextDue.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "common/clock.h"
#include "common/domain.h"

namespace ferry {

class ReceiptCoalescer {
 public:
  using Key = std::pair<std::string, ReceiptKind>;  // (chat, kind)
  static constexpr Millis kInterval = 1000;
  // Keys remembered at most: past it, everything pending is due at once.
  static constexpr std::size_t kMaxKeys = 1024;

  // A mark of `chat_id` moved at `now`.
  void Moved(const std::string& chat_id, ReceiptKind kind, Millis now);
  // The keys due at `now`, flushed now (their next flush waits a second).
  std::vector<Key> TakeDue(Millis now);
  // Every pending key, due or not (the connection is going).
  std::vector<Key> TakeAll();
  // When the earliest pending key is due; nullopt if none is pending.
  std::optional<Millis> NextDue() const;

 private:
  struct State {
    std::optional<Millis> flushed;  // the last flush
    bool pending = false;
  };
  static Millis DueAt(const State& s) { return s.flushed ? *s.flushed + kInterval : 0; }

  std::map<Key, State> keys_;
};

}  // namespace ferry
