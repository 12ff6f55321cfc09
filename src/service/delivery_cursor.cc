#include "service/delivery_cursor.h"

#include <algorithm>

namespace ferry {

void DeliveryCursor::Start(Seq acked, Seq head, std::optional<Seq> after, Millis now) {
  acked_ = acked;
  head_ = head;
  delivered_ = std::clamp(after.value_or(acked_), acked_, std::max(acked_, head_));
  last_pushed_ = delivered_;
  pushed_from_ = delivered_;
  unacked_since_ = now;  // entries the client says it has get a full ack timeout
  need_read_ = true;
}

bool DeliveryCursor::WindowFull() const {
  return static_cast<std::size_t>(delivered_ - acked_) >= settings_.window;
}

bool DeliveryCursor::Notified(Seq seq) {
  head_ = std::max(head_, seq);
  return !reading_ && !need_read_ && seq == delivered_ + 1;
}

void DeliveryCursor::SeeHead(Seq head) { head_ = std::max(head_, head); }

void DeliveryCursor::Pushed(Seq seq, Millis now) {
  if (delivered_ == acked_) unacked_since_ = now;  // the ack clock starts
  last_pushed_ = seq;
  delivered_ = seq;
  head_ = std::max(head_, seq);
}

DeliveryCursor::AckResult DeliveryCursor::Ack(Seq requested, Millis now) {
  Seq up_to = std::min(requested, head_);
  // Entries between the last one pushed and delivered_ were skipped as gone
  // (expired): acking everything pushed acks them too.
  if (up_to >= last_pushed_) up_to = std::max(up_to, delivered_);
  if (up_to <= acked_) return {up_to, false};
  acked_ = up_to;
  delivered_ = std::max(delivered_, acked_);
  retries_ = 0;
  unacked_since_ = now;
  return {up_to, true};
}

void DeliveryCursor::Rewind(Seq to, Millis now) {
  ++generation_;
  delivered_ = std::max(acked_, std::min(to, head_));
  last_pushed_ = delivered_;
  pushed_from_ = delivered_;
  unacked_since_ = now;
  need_read_ = true;
}

std::optional<DeliveryCursor::Read> DeliveryCursor::BeginRead() {
  if (reading_ || (delivered_ >= head_ && !need_read_) || WindowFull()) return std::nullopt;
  std::size_t room = settings_.window - static_cast<std::size_t>(delivered_ - acked_);
  // No silly window: while the acks still to come would free a quarter of
  // the window (or a page), wait for them rather than read the one or two
  // places each ack frees.
  std::size_t enough = std::min(settings_.read_page, settings_.window / 4);
  Seq awaited = std::max<Seq>(0, last_pushed_ - std::max(acked_, pushed_from_));
  if (room < enough && room + static_cast<std::size_t>(awaited) >= enough) return std::nullopt;
  reading_ = true;
  need_read_ = false;
  return Read{delivered_, std::min(settings_.read_page, room), generation_};
}

bool DeliveryCursor::EndRead(std::uint64_t generation) {
  reading_ = false;
  return generation == generation_;
}

bool DeliveryCursor::SkipGone(Seq page_head) {
  SeeHead(page_head);
  if (page_head <= delivered_) return false;
  delivered_ = page_head;
  // Nothing pushed awaits an ack: the skipped entries count as acked, or
  // the ack timer would resend (and finally close) over entries that are gone.
  if (last_pushed_ > acked_) return false;
  acked_ = delivered_;
  return true;
}

DeliveryCursor::Timeout DeliveryCursor::CheckAck(Millis now) {
  if (delivered_ <= acked_ || now < unacked_since_ + settings_.ack_timeout_ms) {
    return Timeout::none;
  }
  if (retries_ >= settings_.ack_retries) return Timeout::give_up;
  ++retries_;
  resent_ = delivered_ - acked_;
  Rewind(acked_, now);
  return Timeout::resend;
}

std::optional<Millis> DeliveryCursor::AckDeadline() const {
  if (delivered_ <= acked_) return std::nullopt;
  return unacked_since_ + settings_.ack_timeout_ms;
}

}  // namespace ferry
