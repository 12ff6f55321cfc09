// Rate limits: token buckets, one per key (a source address, an account, a
// client). A bucket holds up to `burst` tokens and refills `per_minute` of
// them a minute; an action takes one. Every limit in Config is one Rule;
// per_minute == 0 switches the limit off.
//
// TokenBucket is plain data for one owner (a connection's strand);
// RateLimiter is a thread-safe map of them, bounded to `max_keys` buckets so
// that a spray of keys cannot grow it without limit: when full, buckets that
// have refilled completely are forgotten (they hold nothing a fresh bucket
// would not), and if none has, the whole map is (it fails open, for a
// moment, rather than refusing everyone).
#pragma once

#include <cstddef>
#include <limits>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>

#include "common/clock.h"

namespace ferry {

struct RateRule {
  double per_minute = 0;  // 0: no limit
  double burst = 1;

  bool Enabled() const { return per_minute > 0; }
};

class TokenBucket {
 public:
  // Takes a token if one is there: returns 0. Else returns the milliseconds
  // until one will be (at least 1) and takes nothing. With the rule off: 0.
  Millis Take(const RateRule& rule, Millis now);
  // The same answer as Take, taking nothing.
  Millis Wait(const RateRule& rule, Millis now) const;
  // Takes a token whether or not one is there (down to zero).
  void Charge(const RateRule& rule, Millis now);
  // Takes `units` tokens, going into debt if there are fewer: Wait then
  // answers when the debt is repaid and a token is back. With the rule off: nothing.
  void Spend(const RateRule& rule, Millis now, double units);
  bool Full(const RateRule& rule, Millis now) const { return Level(rule, now) >= rule.burst; }

 private:
  double Level(const RateRule& rule, Millis now) const;
  void Refill(const RateRule& rule, Millis now);

  double tokens_ = kFull;                                                   // below zero: in debt
  static constexpr double kFull = std::numeric_limits<double>::infinity();  // never used
  Millis at_ = 0;
};

class RateLimiter {
 public:
  explicit RateLimiter(RateRule rule, std::size_t max_keys = 100'000)
      : rule_(rule), max_keys_(max_keys) {}

  const RateRule& rule() const { return rule_; }

  // As TokenBucket, for the bucket of `key`. With the rule off: always 0.
  Millis Take(std::string_view key, Millis now);
  Millis Wait(std::string_view key, Millis now);
  void Charge(std::string_view key, Millis now);

 private:
  TokenBucket& BucketLocked(std::string_view key, Millis now);

  const RateRule rule_;
  const std::size_t max_keys_;
  std::mutex mu_;
  std::unordered_map<std::string, TokenBucket> buckets_;  // GUARDED_BY(mu_)
};

// Parses "RATE/s:BURST", "RATE/min:BURST" (RATE and BURST positive numbers,
// BURST at least 1) or "off". Returns false, leaving `out` alone, on anything else.
bool ParseRateRule(std::string_view spec, RateRule* out);

// Seconds for a Retry-After header (HTTP wants whole seconds): rounded up, at least 1.
inline long RetryAfterSeconds(Millis wait_ms) {
  return wait_ms <= 1000 ? 1 : (wait_ms + 999) / 1000;
}

}  // namespace ferry
