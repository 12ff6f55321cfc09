// Time source. Wall-clock milliseconds since the Unix epoch are what the
// protocol carries (`ts`, `lastSeen`); tests inject a ManualClock.
// Thread-safe: Now() may be called from any thread.
#pragma once

#include <atomic>
#include <cstdint>

namespace ferry {

using Millis = std::int64_t;  // milliseconds since the Unix epoch

class Clock {
 public:
  virtual ~Clock() = default;
  virtual Millis Now() const = 0;
};

// The system's real-time clock.
class SystemClock final : public Clock {
 public:
  Millis Now() const override;
  static SystemClock& Instance();
};

// A clock that only moves when told to.
class ManualClock final : public Clock {
 public:
  explicit ManualClock(Millis start) : now_(start) {}
  Millis Now() const override { return now_.load(); }
  void Advance(Millis by) { now_ += by; }
  void Set(Millis t) { now_ = t; }

 private:
  std::atomic<Millis> now_;
};

constexpr Millis kMillisPerDay = 24LL * 3600 * 1000;

}  // namespace ferry
