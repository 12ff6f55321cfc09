// Loop: the bus thread — one io_context run by one thread it owns — and the
// two kinds of I/O the Redis bus needs from it: timers and RESP connections
// to "host:port". Keeps Asio out of every header: this file and loop.cc
// are the only Asio code of the Redis bus.
//
// Threading: Post() may be called from any thread; everything else, and
// every callback, runs on the loop thread.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <thread>

#include "bus/redis/resp.h"

namespace ferry::redis {

// A pending timer; Cancel() guarantees its callback will not run.
class Timer {
 public:
  virtual ~Timer() = default;
  virtual void Cancel() = 0;
};

// One TCP connection speaking RESP. Bytes written before it is connected
// are sent once it is. Exactly one of the handlers `closed` (any failure:
// connect, timeout, I/O, protocol) ends it, unless Close() was called first;
// after Close() no handler runs.
class RespConnection {
 public:
  struct Handlers {
    std::function<void()> connected;
    std::function<void(RespValue&&)> reply;
    std::function<void(const std::string& why)> closed;
  };
  virtual ~RespConnection() = default;
  // Queues a command's bytes; everything queued in one loop turn goes out
  // in one write, with one write in flight at a time.
  virtual void Write(std::string_view bytes) = 0;
  virtual void Close() = 0;
};

class Loop {
 public:
  Loop();
  ~Loop();  // Requires Stop() to have returned.
  Loop(const Loop&) = delete;
  Loop& operator=(const Loop&) = delete;

  // Starts the thread. Stop(last) runs `last` on the loop thread, then ends
  // the loop (handlers still queued are dropped unrun) and joins it.
  void Start();
  void Stop(std::function<void()> last);

  void Post(std::function<void()> fn);
  bool InLoop() const { return std::this_thread::get_id() == thread_.get_id(); }

  // Runs `fn` once after `delay` unless cancelled first.
  std::shared_ptr<Timer> After(std::chrono::milliseconds delay, std::function<void()> fn);

  // Connects to "host:port" (a numeric or resolvable host), failing after
  // `connect_timeout`.
  std::shared_ptr<RespConnection> Connect(const std::string& address,
                                          std::chrono::milliseconds connect_timeout,
                                          RespConnection::Handlers handlers);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
  std::thread thread_;
};

}  // namespace ferry::redis
