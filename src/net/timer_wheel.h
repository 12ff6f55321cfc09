// TimerWheel: one coarse timer for every connection of an io_context.
//
// An idle connection always has a deadline armed (its next heartbeat), and
// an Asio timer per connection costs ~300 bytes while it waits: the timer
// object and its pending wait operation. Here a connection holds a
// `TimerWheel::Timed` base of 40 bytes instead, linked into one slot of a
// hashed wheel (kSlots slots of kTickMs each; a deadline further than one
// turn waits out whole turns in its slot), and one Asio timer wakes at the
// next slot that holds anything.
//
// Deadlines are rounded up to the next tick: heartbeats, ack timeouts and
// close timeouts are seconds, where 8 ms does not matter.
//
// Threading: Arm() and Cancel() may be called from any thread, each
// connection from one at a time (its strand). A deadline that comes due
// calls the connection's OnWheelTimer() on the wheel's thread, with no lock
// held and the connection kept alive for the call; it posts to its own
// strand and there compares the generation it was given with Generation(),
// which a later Arm() or Cancel() has moved on.
//
// The wheel is an Asio service: TimerWheel::Of(executor) finds (or makes)
// the one of the executor's io_context.
#pragma once

#include <boost/asio/execution_context.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <vector>

namespace ferry::net {

class TimerWheel : public boost::asio::execution_context::service {
 public:
  static constexpr std::int64_t kTickMs = 8;
  static constexpr std::size_t kSlots = 256;  // one turn: ~2 s

  // A connection's link into the wheel. The derived class is owned by a
  // shared_ptr and must Cancel() before it dies.
  class Timed {
   public:
    Timed() = default;
    Timed(const Timed&) = delete;
    Timed& operator=(const Timed&) = delete;

    // Moved on by every Arm() and Cancel(); read on the connection's strand.
    std::uint32_t Generation() const { return generation_; }

   protected:
    virtual ~Timed() = default;
    // A strong reference for the duration of a firing; null if dying.
    virtual std::shared_ptr<Timed> KeepAlive() = 0;
    // Deadline `generation` came due (see the file comment).
    virtual void OnWheelTimer(std::uint32_t generation) = 0;

   private:
    friend class TimerWheel;
    Timed* prev_ = nullptr;
    Timed* next_ = nullptr;
    std::uint64_t due_ = 0;  // in ticks
    std::uint32_t generation_ = 0;
    bool linked_ = false;
  };

  using key_type = TimerWheel;
  static boost::asio::execution_context::id id;

  explicit TimerWheel(boost::asio::execution_context& context);
  ~TimerWheel() override;

  // The wheel of the io_context behind `executor`.
  template <class Executor>
  static TimerWheel& Of(const Executor& executor) {
    return boost::asio::use_service<TimerWheel>(
        boost::asio::query(executor, boost::asio::execution::context));
  }

  // Replaces `t`'s deadline with one `delay_ms` from now.
  void Arm(Timed& t, std::int64_t delay_ms);
  // Removes `t`'s deadline, if any.
  void Cancel(Timed& t);

  // Deadlines armed and not yet fired or cancelled.
  std::size_t Armed();

 private:
  void shutdown() override;

  std::int64_t NowUs() const;  // since epoch_
  std::uint64_t NowTick() const;
  void Link(Timed& t);
  void Unlink(Timed& t);
  void WakeAt(std::uint64_t tick);  // requires mu_
  void OnTick(boost::system::error_code ec);

  std::mutex mu_;
  std::vector<Timed*> slots_;  // GUARDED_BY(mu_); heads of doubly linked lists
  std::size_t armed_ = 0;      // GUARDED_BY(mu_)
  std::uint64_t done_ = 0;     // GUARDED_BY(mu_): ticks up to this one are fired
  std::uint64_t wake_ = 0;     // GUARDED_BY(mu_): the tick the timer waits for (0: none)
  bool stopped_ = false;       // GUARDED_BY(mu_)
  const std::chrono::steady_clock::time_point epoch_;
  boost::asio::steady_timer timer_;  // GUARDED_BY(mu_)
};

}  // namespace ferry::net
