// MessageIds: mints message ids that prove which chat they belong to, so a
// position a client sends back (markRead's upTo) can be checked without
// keeping a row per message: once every recipient has acked a message the
// store holds nothing of it.
//
// An id is 20 bytes in base64url (27 characters): the send time in
// milliseconds (6 bytes, so ids of one millisecond sort after the earlier
// ones), a counter (3 bytes), 5 random bytes, and the first 6 bytes of
// HMAC-SHA256(key, time | counter | random | chatId). The key is the
// deployment's (Store::Secret), shared by every node. Ids minted before
// there was a key (v1.0) do not verify.
//
// Clients order a chat by (ts, messageId), so the counter makes the ids one
// MessageIds mints in one millisecond sort, as strings, in the order they
// were minted: a burst from one sender shows in the order sent. It is 4
// base64url digits, each 0..51 ('A'-'Z', 'a'-'z', which sort in ASCII as
// they count), starting each millisecond at a random value in the lower
// half of its range. Ids of one millisecond from different nodes sort
// arbitrarily among themselves.
//
// Thread-safe: New serializes on a mutex; the rest is immutable.
#pragma once

#include <cstdint>
#include <mutex>
#include <string>
#include <string_view>

#include "common/clock.h"
#include "common/domain.h"

namespace ferry {

class MessageIds {
 public:
  // `key`: any bytes; kept.
  explicit MessageIds(std::string key) : key_(std::move(key)) {}

  // A new id for a message of `chat_id` sent at `ts`: greater than every
  // id this object minted before with the same `ts`.
  std::string New(Millis ts, std::string_view chat_id) const;
  // Whether `position` is (ts, id) of an id New(ts, chat_id) minted.
  bool IsOf(const Position& position, std::string_view chat_id) const;

 private:
  std::string key_;
  mutable std::mutex mu_;
  mutable Millis counter_ts_ = -1;      // GUARDED_BY(mu_): the millisecond of next_counter_
  mutable std::uint32_t next_counter_ = 0;  // GUARDED_BY(mu_)
};

}  // namespace ferry
