// TimerWheel (timer_wheel.h): every connection's deadline in a hashed
// wheel behind one Asio timer.
#include "net/timer_wheel.h"

#include <utility>

namespace ferry::net {
namespace asio = boost::asio;

asio::execution_context::id TimerWheel::id;

namespace {
// The io_context a wheel's own timer runs on: ferryd's executors are an
// io_context's (or strands of one).
asio::io_context& IoContextOf(asio::execution_context& context) {
  return static_cast<asio::io_context&>(context);
}
}  // namespace

TimerWheel::TimerWheel(asio::execution_context& context)
    : asio::execution_context::service(context),
      slots_(kSlots, nullptr),
      epoch_(std::chrono::steady_clock::now()),
      timer_(IoContextOf(context)) {}

TimerWheel::~TimerWheel() = default;

// The io_context is going away. Connections still linked unlink themselves
// as their handlers are destroyed, after this: the lists stay valid.
void TimerWheel::shutdown() {
  std::lock_guard lock(mu_);
  stopped_ = true;
  boost::system::error_code ignored;
  timer_.cancel();
}

std::int64_t TimerWheel::NowUs() const {
  return std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::steady_clock::now() -
                                                               epoch_)
      .count();
}

std::uint64_t TimerWheel::NowTick() const {
  return static_cast<std::uint64_t>(NowUs() / (kTickMs * 1000));
}

void TimerWheel::Arm(Timed& t, std::int64_t delay_ms) {
  // Rounded up to a tick (never early), and never into a tick already fired.
  constexpr std::int64_t kTickUs = kTickMs * 1000;
  std::int64_t at_us = NowUs() + std::max<std::int64_t>(delay_ms, 0) * 1000;
  auto due = static_cast<std::uint64_t>((at_us + kTickUs - 1) / kTickUs);
  std::lock_guard lock(mu_);
  if (t.linked_) Unlink(t);
  ++t.generation_;
  t.due_ = std::max(due, done_ + 1);
  Link(t);
  if (wake_ == 0 || t.due_ < wake_) WakeAt(t.due_);
}

void TimerWheel::Cancel(Timed& t) {
  std::lock_guard lock(mu_);
  if (t.linked_) Unlink(t);
  ++t.generation_;
}

std::size_t TimerWheel::Armed() {
  std::lock_guard lock(mu_);
  return armed_;
}

void TimerWheel::Link(Timed& t) {
  Timed*& head = slots_[t.due_ % kSlots];
  t.prev_ = nullptr;
  t.next_ = head;
  if (head) head->prev_ = &t;
  head = &t;
  t.linked_ = true;
  ++armed_;
}

void TimerWheel::Unlink(Timed& t) {
  if (t.prev_) {
    t.prev_->next_ = t.next_;
  } else {
    slots_[t.due_ % kSlots] = t.next_;
  }
  if (t.next_) t.next_->prev_ = t.prev_;
  t.prev_ = t.next_ = nullptr;
  t.linked_ = false;
  --armed_;
}

void TimerWheel::WakeAt(std::uint64_t tick) {
  if (stopped_) return;
  wake_ = tick;
  // Replacing the expiry aborts a wait in progress; its handler finds ec set
  // and leaves the new wait to run.
  timer_.expires_at(epoch_ + std::chrono::milliseconds(static_cast<std::int64_t>(tick) * kTickMs));
  timer_.async_wait([this](boost::system::error_code ec) { OnTick(ec); });
}

void TimerWheel::OnTick(boost::system::error_code ec) {
  if (ec) return;  // re-armed earlier (WakeAt), or the io_context is stopping
  std::vector<std::pair<std::shared_ptr<Timed>, std::uint32_t>> due;
  {
    std::lock_guard lock(mu_);
    if (stopped_) return;
    wake_ = 0;
    std::uint64_t now = NowTick();
    // Every slot from the first not fired to now, but no slot twice.
    std::uint64_t first = std::max(done_ + 1, now >= kSlots ? now - kSlots + 1 : 0);
    for (std::uint64_t tick = first; tick <= now; ++tick) {
      Timed* t = slots_[tick % kSlots];
      while (t) {
        Timed* next = t->next_;
        if (t->due_ <= now) {
          Unlink(*t);
          // A connection that is already dying gets nothing: it cancels
          // its deadline as it is destroyed.
          if (std::shared_ptr<Timed> alive = t->KeepAlive()) {
            due.emplace_back(std::move(alive), t->generation_);
          }
        }
        t = next;
      }
    }
    done_ = now;
    // The next slot that holds anything, within one turn.
    if (armed_ > 0) {
      std::uint64_t next = now + 1;
      while (next < now + kSlots && !slots_[next % kSlots]) ++next;
      WakeAt(next);
    }
  }
  // Outside the lock: a firing may arm again, and the last reference to a
  // connection may go here.
  for (auto& [timed, generation] : due) timed->OnWheelTimer(generation);
}

}  // namespace ferry::net
