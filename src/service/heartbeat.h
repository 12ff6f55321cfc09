// Heartbeat: the deadlines of one connection that are about the connection
// itself -- the hello must be answered in time, a ping goes out every
// interval once it is, and its pong must come back in time. Pure state on
// the injected clock's monotonic milliseconds: the session asks what is due
// when its timer fires and arms the timer for Deadline(). Not thread-safe
// (the session's executor owns it).
//
// Lifecycle: Opened (the hello deadline starts) -> Started (the hello was
// answered; the hello deadline ends, the first ping is one interval later)
// -> PingQueued (its head is being read) -> PingSent (the pong deadline
// starts) -> Pong -> ... The hello deadline covers the whole handshake, so a
// hello the server cannot complete (store or bus stuck) ends in time too.
#pragma once

#include <optional>

#include "common/clock.h"

namespace ferry {

class Heartbeat {
 public:
  struct Settings {
    Millis hello_timeout_ms = 10'000;
    Millis interval_ms = 20'000;
    Millis pong_timeout_ms = 10'000;
  };
  explicit Heartbeat(Settings settings) : settings_(settings) {}

  void Opened(Millis now) { opened_at_ = now; }
  void Started(Millis now);
  // A ping is on its way (waiting for the store's head); the next one is due
  // one interval from now.
  void PingQueued(Millis now);
  void PingSent(Millis now);
  void Pong() { ping_sent_.reset(); }

  enum class Due {
    nothing,
    hello_timeout,  // not Started() within hello_timeout_ms of Opened()
    pong_timeout,   // a ping sent pong_timeout_ms ago is unanswered
    ping,           // time for the next ping (call PingQueued)
  };
  // The first deadline that has passed at `now`, in that order.
  Due Check(Millis now) const;
  // When Check() will next have something to say; nullopt while nothing is
  // scheduled (a queued ping re-arms through PingSent).
  std::optional<Millis> Deadline() const;

  bool started() const { return started_; }

 private:
  const Settings settings_;
  Millis opened_at_ = 0;
  bool started_ = false;
  Millis next_ping_ = 0;
  bool ping_queued_ = false;
  std::optional<Millis> ping_sent_;  // a ping awaits its pong
};

}  // namespace ferry
