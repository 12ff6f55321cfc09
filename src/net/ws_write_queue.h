// ws::WriteQueue: the frames a WebSocket connection has yet to write, for
// one gathered write at a time (ferryd's WsSession and ferry-null's).
//
// A write that waits for a full socket holds the addresses of what it
// gathered, frame headers included, while more frames are queued behind
// it: so every frame is its own block and never moves. An empty queue
// holds nothing.
//
// Not thread-safe: one connection's strand.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

namespace ferry::net::ws {

class WriteQueue {
 public:
  WriteQueue() = default;
  WriteQueue(const WriteQueue&) = delete;
  WriteQueue& operator=(const WriteQueue&) = delete;
  ~WriteQueue() { Clear(); }

  // Bytes written as they are, with no frame header (the upgrade's response).
  void PushRaw(std::string bytes) { Append(std::move(bytes)); }
  // A frame of `opcode`. `close`: our close frame, after which nothing is
  // written (Gather stops there).
  void Push(int opcode, std::string payload, bool close = false);

  bool empty() const { return !head_; }
  // Payload bytes queued, not yet wholly written (headers not counted).
  std::size_t bytes() const { return bytes_; }

  // Hands the bytes not yet written, from the first, to add(data, size) in
  // at most `max_pieces` pieces, stopping once `max_bytes` are reached or
  // after the close frame. What it handed stays put until Written() or
  // DropUnsent() releases it. Returns how many frames the pieces span.
  template <class Add>
  std::size_t Gather(std::size_t max_pieces, std::size_t max_bytes, Add&& add);

  // `n` bytes of what Gather handed were written. True if that finished our
  // close frame.
  bool Written(std::size_t n);

  // Drops the frames not yet begun, except the first `in_flight` (those of
  // a write under way, which must finish).
  void DropUnsent(std::size_t in_flight);

  void Clear();

 private:
  struct Frame {
    std::string payload;
    std::unique_ptr<Frame> next;
    char header[10];
    std::uint8_t header_size = 0;
    bool close = false;
    std::size_t size() const { return header_size + payload.size(); }
  };

  Frame& Append(std::string payload);

  std::unique_ptr<Frame> head_;  // the first frame not wholly written
  Frame* tail_ = nullptr;
  std::size_t head_written_ = 0;  // bytes of head_ written
  std::size_t bytes_ = 0;
};

template <class Add>
std::size_t WriteQueue::Gather(std::size_t max_pieces, std::size_t max_bytes, Add&& add) {
  std::size_t frames = 0, pieces = 0, bytes = 0, skip = head_written_;
  for (const Frame* f = head_.get(); f && pieces + 2 <= max_pieces && bytes < max_bytes;
       f = f->next.get()) {
    ++frames;
    std::size_t header_skip = skip < f->header_size ? skip : f->header_size;
    std::size_t payload_skip = skip - header_skip;
    if (f->header_size > header_skip) {
      add(f->header + header_skip, f->header_size - header_skip);
      ++pieces;
    }
    if (f->payload.size() > payload_skip) {
      add(f->payload.data() + payload_skip, f->payload.size() - payload_skip);
      ++pieces;
    }
    bytes += f->size() - skip;
    skip = 0;
    if (f->close) break;
  }
  return frames;
}

}  // namespace ferry::net::ws
