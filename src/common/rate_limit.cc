#include "common/rate_limit.h"

#include <algorithm>
#include <charconv>
#include <cmath>

namespace ferry {

double TokenBucket::Level(const RateRule& rule, Millis now) const {
  if (tokens_ == kFull) return rule.burst;
  double refilled =
      static_cast<double>(std::max<Millis>(0, now - at_)) * rule.per_minute / 60'000.0;
  return std::min(rule.burst, tokens_ + refilled);
}

void TokenBucket::Refill(const RateRule& rule, Millis now) {
  tokens_ = Level(rule, now);
  at_ = now;
}

Millis TokenBucket::Wait(const RateRule& rule, Millis now) const {
  if (!rule.Enabled()) return 0;
  double level = Level(rule, now);
  if (level >= 1) return 0;
  double ms = (1 - level) * 60'000.0 / rule.per_minute;
  return std::max<Millis>(1, static_cast<Millis>(std::ceil(ms)));
}

Millis TokenBucket::Take(const RateRule& rule, Millis now) {
  if (Millis wait = Wait(rule, now)) return wait;
  Refill(rule, now);
  tokens_ -= 1;
  return 0;
}

void TokenBucket::Charge(const RateRule& rule, Millis now) {
  if (!rule.Enabled()) return;
  Refill(rule, now);
  tokens_ = std::max(0.0, tokens_ - 1);
}

void TokenBucket::Spend(const RateRule& rule, Millis now, double units) {
  if (!rule.Enabled()) return;
  Refill(rule, now);
  tokens_ -= units;
}

namespace {

bool ParsePositive(std::string_view text, double* out) {
  if (text.empty()) return false;
  double v = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (ec != std::errc() || end != text.data() + text.size() || !(v > 0) || !std::isfinite(v)) {
    return false;
  }
  *out = v;
  return true;
}

}  // namespace

bool ParseRateRule(std::string_view spec, RateRule* out) {
  if (spec == "off") {
    *out = RateRule{0, 1};
    return true;
  }
  std::size_t slash = spec.find('/');
  std::size_t colon = spec.find(':');
  if (slash == std::string_view::npos || colon == std::string_view::npos || colon < slash) {
    return false;
  }
  std::string_view unit = spec.substr(slash + 1, colon - slash - 1);
  double rate = 0, burst = 0;
  if (!ParsePositive(spec.substr(0, slash), &rate) ||
      !ParsePositive(spec.substr(colon + 1), &burst)) {
    return false;
  }
  if (burst < 1) return false;
  if (unit == "s") {
    rate *= 60;
  } else if (unit != "min") {
    return false;
  }
  *out = RateRule{rate, burst};
  return true;
}

TokenBucket& RateLimiter::BucketLocked(std::string_view key, Millis now) {
  if (buckets_.size() >= max_keys_ && !buckets_.contains(std::string(key))) {
    std::erase_if(buckets_, [&](const auto& kv) { return kv.second.Full(rule_, now); });
    if (buckets_.size() >= max_keys_) buckets_.clear();
  }
  return buckets_[std::string(key)];
}

Millis RateLimiter::Take(std::string_view key, Millis now) {
  if (!rule_.Enabled()) return 0;
  std::lock_guard lock(mu_);
  return BucketLocked(key, now).Take(rule_, now);
}

Millis RateLimiter::Wait(std::string_view key, Millis now) {
  if (!rule_.Enabled()) return 0;
  std::lock_guard lock(mu_);
  auto it = buckets_.find(std::string(key));
  return it == buckets_.end() ? 0 : it->second.Wait(rule_, now);
}

void RateLimiter::Charge(std::string_view key, Millis now) {
  if (!rule_.Enabled()) return;
  std::lock_guard lock(mu_);
  BucketLocked(key, now).Charge(rule_, now);
}

}  // namespace ferry
