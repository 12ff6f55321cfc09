// Time source. Wall-clock milliseconds since the Unix epoch are what the
// protocol carries (`ts`, `lastSeen`); timeouts (heartbeats, ack resends)
// run on Monotonic(), which never jumps when the wall clock is set. Tests
// inject a ManualClock and move both at will. Thread-safe: any thread.
#pragma once

#include <atomic>
#include <cstdint>

namespace ferry {

using Millis = std::int64_t;  // milliseconds since the Unix epoch

class Clock {
 public:
  virtual ~Clock() = default;
  virtual Millis Now() const = 0;
  // Milliseconds from an arbitrary start; only differences mean anything.
  virtual Millis Monotonic() const = 0;
};

// The system's real-time clock.
class SystemClock final : public Clock {
 public:
  Millis Now() const override;
  Millis Monotonic() const override;
  static SystemClock& Instance();
};

// A clock that only moves when told to.
class ManualClock final : public Clock {
 public:
  explicit ManualClock(Millis start) : now_(start) {}
  Millis Now() const override { return now_.load(); }
  Millis Monotonic() const override { return now_.load(); }
  void Advance(Millis by) { now_ += by; }
  void Set(Millis t) { now_ = t; }

 private:
  std::atomic<Millis> now_;
};

constexpr Millis kMillisPerDay = 24LL * 3600 * 1000;

}  // namespace ferry
