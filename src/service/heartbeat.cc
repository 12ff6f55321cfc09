#include "service/heartbeat.h"

namespace ferry {

void Heartbeat::Started(Millis now) {
  started_ = true;
  next_ping_ = now + settings_.interval_ms;
}

void Heartbeat::PingQueued(Millis now) {
  ping_queued_ = true;
  next_ping_ = now + settings_.interval_ms;
}

void Heartbeat::PingSent(Millis now) {
  ping_queued_ = false;
  ping_sent_ = now;
}

Heartbeat::Due Heartbeat::Check(Millis now) const {
  if (!started_)
    return now >= opened_at_ + settings_.hello_timeout_ms ? Due::hello_timeout : Due::nothing;
  if (ping_sent_ && now >= *ping_sent_ + settings_.pong_timeout_ms) return Due::pong_timeout;
  if (!ping_sent_ && !ping_queued_ && now >= next_ping_) return Due::ping;
  return Due::nothing;
}

std::optional<Millis> Heartbeat::Deadline() const {
  if (!started_) return opened_at_ + settings_.hello_timeout_ms;
  if (ping_sent_) return *ping_sent_ + settings_.pong_timeout_ms;
  if (ping_queued_) return std::nullopt;
  return next_ping_;
}

}  // namespace ferry
