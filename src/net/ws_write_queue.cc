#include "net/ws_write_queue.h"

#include "net/ws_codec.h"

namespace ferry::net::ws {

WriteQueue::Frame& WriteQueue::Append(std::string payload) {
  auto frame = std::make_unique<Frame>();
  Frame* added = frame.get();
  bytes_ += payload.size();
  added->payload = std::move(payload);
  if (tail_) {
    tail_->next = std::move(frame);
  } else {
    head_ = std::move(frame);
  }
  tail_ = added;
  return *added;
}

void WriteQueue::Push(int opcode, std::string payload, bool close) {
  std::size_t size = payload.size();
  Frame& f = Append(std::move(payload));
  f.header_size = static_cast<std::uint8_t>(EncodeHeader(opcode, size, f.header));
  f.close = close;
}

bool WriteQueue::Written(std::size_t n) {
  bool close_written = false;
  while (n > 0 && head_) {
    std::size_t left = head_->size() - head_written_;
    if (n < left) {
      head_written_ += n;
      break;
    }
    n -= left;
    close_written = head_->close;
    bytes_ -= head_->payload.size();
    head_ = std::move(head_->next);  // takes `next` out first: no recursion
    head_written_ = 0;
  }
  if (!head_) tail_ = nullptr;
  return close_written;
}

void WriteQueue::DropUnsent(std::size_t in_flight) {
  std::size_t keep = in_flight > 0 ? in_flight : (head_written_ > 0 ? 1 : 0);
  Frame* last = nullptr;  // the last frame kept
  std::unique_ptr<Frame>* cut = &head_;
  for (std::size_t i = 0; i < keep && *cut; ++i) {
    last = cut->get();
    cut = &last->next;
  }
  std::unique_ptr<Frame> dropped = std::move(*cut);
  tail_ = last;
  while (dropped) {
    bytes_ -= dropped->payload.size();
    dropped = std::move(dropped->next);
  }
}

void WriteQueue::Clear() {
  while (head_) head_ = std::move(head_->next);  // a long queue without deep recursion
  tail_ = nullptr;
  head_written_ = 0;
  bytes_ = 0;
}

}  // namespace ferry::net::ws
