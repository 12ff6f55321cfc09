// MessageIds: mints message ids that prove which chat they belong to, so a
// position a client sends back (markRead's upTo) can be checked without
// keeping a row per message: once every recipient has acked a message the
// store holds nothing of it.
//
// An id is 20 bytes in base64url (27 characters): the send time in
// milliseconds (6 bytes, so ids of one millisecond sort after the earlier
// ones), 8 random bytes, and the first 6 bytes of HMAC-SHA256(key, time |
// random | chatId). The key is the deployment's (Store::Secret), shared by
// every node. Ids minted before there was a key (v1.0) do not verify.
//
// Thread-safe: immutable after construction.
#pragma once

#include <string>
#include <string_view>

#include "common/clock.h"
#include "common/domain.h"

namespace ferry {

class MessageIds {
 public:
  // `key`: any bytes; kept.
  explicit MessageIds(std::string key) : key_(std::move(key)) {}

  // A new id for a message of `chat_id` sent at `ts`.
  std::string New(Millis ts, std::string_view chat_id) const;
  // Whether `position` is (ts, id) of an id New(ts, chat_id) minted.
  bool IsOf(const Position& position, std::string_view chat_id) const;

 private:
  std::string key_;
};

}  // namespace ferry
