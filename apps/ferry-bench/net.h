// The load generator's network layer: many client WebSocket connections to
// /v1/ws on ONE io_context, driven by ONE thread (the caller of RunUntil).
// Every callback runs on that thread, so the scenario code needs no locks.
// This header keeps Asio and Beast out of the other translation units: they
// are only in net.cc (a Beast TU costs ~40 s and 1.3 GB to compile).
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

namespace ferry::bench {

using Clock = std::chrono::steady_clock;

class Net {
 public:
  struct Callbacks {
    // The WebSocket upgrade of `conn` succeeded.
    std::function<void(int conn)> opened;
    // One text frame; the view is valid only during the call.
    std::function<void(int conn, std::string_view text)> text;
    // `conn` is gone: a failed connect/upgrade (code 0, reason = the error),
    // a close frame from the server (its code), or a dropped connection (1006).
    // Not called for connections closed by CloseAll().
    std::function<void(int conn, int code, const std::string& reason)> closed;
  };

  explicit Net(Callbacks callbacks);
  ~Net();
  Net(const Net&) = delete;
  Net& operator=(const Net&) = delete;

  // Starts connecting connection number `conn` (numbers are the caller's,
  // dense from 0). `source`: an IPv4 address to bind (e.g. "127.0.0.2", to
  // spread ports over several source addresses), or "" for the default.
  // A number may be connected again once its connection is gone (closed,
  // failed or dropped); a still-open one is dropped first.
  void Connect(int conn, const std::string& host, std::uint16_t port, const std::string& source);
  // Ends `conn` at once, as a lost network would for the server: a TCP reset
  // (SO_LINGER 0), no close frame, no TIME_WAIT left behind; frames still
  // queued are discarded. No `closed` callback.
  void Drop(int conn);
  // Queues a text frame; frames go out in order, one write at a time.
  void Send(int conn, std::string text);
  // Frames queued but not yet written, over all connections (backpressure).
  std::size_t queued() const;

  // Runs `fn` on the loop thread at `when` (immediately if in the past).
  void At(Clock::time_point when, std::function<void()> fn);
  // Runs `fn` on the loop thread once `fd` (not owned) is readable; one shot.
  // `fn` must not refer to anything that may be gone by then.
  void WhenReadable(int fd, std::function<void()> fn);

  // Runs the loop until `done()` is true (checked after every handler) or
  // `deadline` passes. Returns done().
  bool RunUntil(Clock::time_point deadline, const std::function<bool()>& done);

  // Closes every open connection with a close handshake, waiting at most
  // `timeout` for the server's answers, then drops what is left.
  void CloseAll(Clock::duration timeout);

  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace ferry::bench
