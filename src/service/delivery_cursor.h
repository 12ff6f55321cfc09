// DeliveryCursor: which of one client's inbox entries go out next, and
// when unacked ones go out again. Pure state on the injected clock's
// monotonic milliseconds, with no store, bus or socket: the session feeds
// it what happened (a notification, an inbox page, an ack, a push) and asks
// what to do (push this entry now? read the inbox from where? resend?).
// Not thread-safe (the session's executor owns it).
//
// Invariant: acked() <= delivered() <= head(). Entries are pushed strictly
// in seq order. A notification whose seq is delivered()+1 may be pushed
// directly; anything else (a gap, a full window, a read under way) is served
// by reading the inbox, which is the truth. A resend after the ack timeout,
// and a client's `sync`, are a Rewind: delivered() goes back and the inbox
// is read again; a page of a read started before the rewind is stale.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>

#include "common/clock.h"
#include "common/domain.h"

namespace ferry {

class DeliveryCursor {
 public:
  struct Settings {
    std::size_t window = 64;      // pushed, unacked entries at most
    std::size_t read_page = 256;  // entries per inbox read at most
    Millis ack_timeout_ms = 10'000;
    int ack_retries = 5;  // resends of the oldest unacked entry before giving up
  };
  explicit DeliveryCursor(Settings settings) : settings_(settings) {}

  // Hello: the client's stored ack and inbox head, and the seq the client
  // says it has (clamped into [acked, head]). The inbox is read first.
  void Start(Seq acked, Seq head, std::optional<Seq> after, Millis now);

  Seq acked() const { return acked_; }
  Seq delivered() const { return delivered_; }
  Seq head() const { return head_; }
  bool WindowFull() const;

  // A notification of entry `seq`. True if it is the next one to push and
  // no read is under way or needed: the session may push it directly.
  bool Notified(Seq seq);
  // The store's head, learnt from a read or a ping.
  void SeeHead(Seq head);
  // Entry `seq` went out.
  void Pushed(Seq seq, Millis now);

  struct AckResult {
    Seq up_to = 0;          // what the ack covers, clamped to what is known
    bool advanced = false;  // it acked something new
  };
  // The client acked up to `requested`. Values above the head count as the
  // head; acking everything pushed also acks entries skipped as gone.
  AckResult Ack(Seq requested, Millis now);

  // Delivers again from `to` (clamped into [acked, head]).
  void Rewind(Seq to, Millis now);
  // Entries may have been missed (a channel confirmed late): read the inbox
  // from delivered() even if head() says nothing is new.
  void ReadAgain() { need_read_ = true; }

  struct Read {
    Seq after = 0;
    std::size_t limit = 0;
    std::uint64_t generation = 0;
  };
  // A read to start now, if one is due and none is under way; it is then
  // under way until EndRead.
  std::optional<Read> BeginRead();
  // The read ended (page or error). False if the page is stale (a rewind
  // came since it started): drop it and read again.
  bool EndRead(std::uint64_t generation);
  // Whether entry `seq` of a fresh page is still to push.
  bool Undelivered(Seq seq) const { return seq > delivered_; }
  // A fresh page came back empty with head `page_head`: entries up to it
  // that were not returned expired. True if that acked them too (nothing
  // pushed was waiting for an ack): the ack should be stored.
  bool SkipGone(Seq page_head);

  enum class Timeout { none, resend, give_up };
  // Checks the ack timeout at `now`. `resend`: delivery was rewound to
  // acked() (Resent() entries go out again); `give_up`: out of retries.
  Timeout CheckAck(Millis now);
  Seq Resent() const { return resent_; }
  // When CheckAck next has something to say; nullopt with nothing unacked.
  std::optional<Millis> AckDeadline() const;

 private:
  const Settings settings_;
  Seq acked_ = 0;
  Seq delivered_ = 0;
  Seq head_ = 0;
  Seq last_pushed_ = 0;           // highest seq actually sent (or the client said it has)
  Seq pushed_from_ = 0;           // entries after it up to last_pushed_ were sent here
  bool reading_ = false;          // a read is under way
  bool need_read_ = false;        // read even if head_ says nothing is new
  std::uint64_t generation_ = 0;  // bumped by every rewind
  Millis unacked_since_ = 0;      // when delivered_ > acked_ last made progress
  int retries_ = 0;               // resends of the entry after acked_
  Seq resent_ = 0;
};

}  // namespace ferry
