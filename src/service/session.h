// ClientSession: the chat logic of one WebSocket connection -- the hello
// handshake and the request handlers, tying together the connection's
// DeliveryCursor (which inbox entries go out, and when again) and its
// Heartbeat (hello, ping and pong deadlines), both pure state on the
// injected clock, with the store, the bus and the socket (Transport).
//
// Threading: confined to the connection's executor. Every method, and every
// completion it schedules, runs there (completions from the store worker
// come back through Service::Post). The Transport pointer is used only until
// OnClosed().
//
// Bus channels: the user's (`u:{user}`) and, through ChatSubscriptions, the
// chat channels of the user's big chats. The first inbox read waits until
// the bus confirmed every one subscribed at hello, so an entry committed
// after that read is notified; a channel subscribed later is followed by an
// inbox read once confirmed, for the same reason.
#pragma once

#include <atomic>
#include <boost/json/value.hpp>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/rate_limit.h"
#include "protocol/protocol.h"
#include "service/chat_subscriptions.h"
#include "service/delivery_cursor.h"
#include "service/heartbeat.h"
#include "service/receipt_coalescer.h"
#include "service/service.h"

namespace ferry {

// The net layer's side of a connection. Called only on the connection's
// executor.
class Transport {
 public:
  virtual ~Transport() = default;
  // Queues one text frame.
  virtual void Send(std::string frame) = 0;
  // Sends a close frame with `code` and shuts the connection down; the
  // session then gets OnClosed().
  virtual void Close(std::uint16_t code, std::string_view reason) = 0;
  // Bytes queued for writing and not yet written.
  virtual std::size_t QueuedBytes() const = 0;
  // Calls the session's OnTimer() after `delay_ms`, replacing any earlier arming.
  virtual void ArmTimer(std::int64_t delay_ms) = 0;
  // Stops (true) or resumes (false) reading the client's frames: back-pressure
  // when the client's requests have too much store work queued.
  virtual void PauseReading(bool paused) = 0;
  // The connection's hello was accepted: it no longer counts against the
  // caps on unauthenticated connections.
  virtual void Authenticated() {}
};

// WebSocket close codes used by Ferry (PROTOCOL.md).
namespace close_code {
constexpr std::uint16_t kPolicy = 1008;         // first frame not a valid hello
constexpr std::uint16_t kUnauthorized = 4401;   // bad or revoked token
constexpr std::uint16_t kTimeout = 4408;        // hello, pong or ack timeout
constexpr std::uint16_t kReplaced = 4409;       // a newer connection of the client
constexpr std::uint16_t kSlowConsumer = 4429;   // send queue over its hard cap
constexpr std::uint16_t kUnavailable = 1013;    // server overloaded / storage down
}  // namespace close_code

class ClientSession : public std::enable_shared_from_this<ClientSession> {
 public:
  ClientSession(Service& service, Transport* transport, Service::Post post, std::string conn_id);

  // The connection is open (after the WebSocket upgrade): arms the hello timer.
  void OnOpen();
  // One complete text message from the client.
  void OnText(std::string_view text);
  // The timer armed through Transport::ArmTimer fired.
  void OnTimer();
  // The send queue dropped below the high-water mark.
  void OnDrained();
  // The connection is gone; the transport must not be used any more.
  void OnClosed();

  // Thread-safe (called from the bus): post onto this session's executor.
  // `note` carries the entry and, if marked big, the chat whose channel this
  // connection then subscribes.
  void NotifyAsync(Seq seq, std::shared_ptr<const protocol::BusEntries> note);
  // Thread-safe: an ephemeral frame (a `typing` event) for this connection,
  // dropped if it is closed or its send queue is over the soft limit.
  void EphemeralAsync(std::shared_ptr<const std::string> frame);
  void CloseAsync(std::uint16_t code, std::string reason);

  const std::string& conn_id() const { return conn_id_; }
  const std::string& client_id() const { return client_.client_id; }

 private:
  // Request handlers, one per request type.
  void Handle(const boost::json::value& id, protocol::Hello& r);
  void Handle(const boost::json::value& id, protocol::CreateChat& r);
  void Handle(const boost::json::value& id, protocol::ChangeMembers& r);
  void Handle(const boost::json::value& id, protocol::Send& r);
  void Handle(const boost::json::value& id, bool has_id, protocol::Ack& r);
  void Handle(const boost::json::value& id, protocol::Sync& r);
  void Handle(const boost::json::value& id, protocol::AttachTarget& r);
  void Handle(const boost::json::value& id, protocol::LastSeen& r);
  void Handle(const boost::json::value& id, protocol::ListChats& r);
  void Handle(const boost::json::value& id, protocol::MarkRead& r);
  void Handle(const boost::json::value& id, protocol::ChatReceipts& r);
  void Handle(const boost::json::value& id, bool has_id, protocol::Typing& r);
  void Handle(const boost::json::value& id, protocol::SetPrivacy& r);

  void OnAuthenticated(const boost::json::value& id, std::optional<Seq> after, ClientInfo client);
  void SubmitChatOp(const boost::json::value& id, std::shared_ptr<ChatOp> op);

  // Bus channels (see file comment).
  void SubscribeBigChats(bool at_hello);
  void SubscribeChat(const std::string& chat_id, bool at_hello);
  void OnChannelReady();
  // Sends the hello's `ok` (once the user channel is confirmed), starts the
  // heartbeat and serves the requests that queued behind the hello.
  void AnswerHello();

  // Delivery.
  void OnNotify(Seq seq, const protocol::BusEntries& note);
  void CloseWith(std::uint16_t code, std::string_view reason);
  void Pump();
  void OnInboxPage(std::uint64_t generation, Result<InboxPage> page);
  // Queues entry `seq`; returns the frame's size in bytes.
  std::size_t Push(Seq seq, const protocol::EncodedEntry& entry);
  bool CanPush() const;
  std::size_t PageFit() const;
  void WriteAck();

  // Receipts: the marks this connection's acks and markReads raised become
  // `receipt` entries, coalesced (receipt_coalescer.h); FlushReceipts
  // writes those due now.
  void MarksMoved(const std::vector<MarkMove>& moved);
  void FlushReceipts();

  // Replies and helpers.
  void Reply(std::string frame);
  void ReplyError(const boost::json::value& id, Errc code, std::string_view message);
  // Runs `fn` on this session's executor if the session is still alive and open.
  template <class F>
  auto Bind(F fn);
  // Store work for request `id`, counted in inflight_; reading pauses while
  // too much is queued. On refusal (store queue full, or behind for a write
  // admitted unless_behind) replies unavailable.
  StoreWorker& Lane();
  bool Submit(const boost::json::value& id, std::function<void(Store&)> fn);
  bool Write(const boost::json::value& id, WriteOp op, std::function<void(Errc)> done,
             StoreWorker::Admit admit = StoreWorker::Admit::always);
  void QueuePing(Millis now);
  void SendPing();
  void ScheduleTimer();
  // When the next paced ack write may go (config.ack_write_interval_ms).
  Millis AckWriteDue() const;
  Millis Now() const { return service_.clock().Monotonic(); }

  Service& service_;
  Transport* transport_;  // null after OnClosed
  Service::Post post_;
  const std::string conn_id_;

  enum class State { awaiting_hello, authenticating, open, closed } state_ = State::awaiting_hello;
  bool closing_ = false;  // Close() was called; ignore further frames
  ClientInfo client_;
  // Until the hello is answered (made on first use: an idle connection,
  // long past its hello, holds none of it).
  struct BeforeHello {
    std::vector<std::string> frames;  // received before the hello was answered
    std::size_t bytes = 0;            // their size
    std::string reply;                // the hello's `ok`, until AnswerHello
  };
  std::unique_ptr<BeforeHello> before_hello_;
  bool hello_answered_ = false;
  // Store jobs of this connection's requests not yet run (shared with them).
  std::shared_ptr<std::atomic<int>> inflight_ = std::make_shared<std::atomic<int>>(0);
  bool input_paused_ = false;

  DeliveryCursor cursor_;
  std::size_t entry_bytes_ = 0;  // mean frame size of the last page's pushes (PageFit)
  // Channels subscribed at hello the bus has not confirmed yet, plus one for
  // the chat list read then; inbox reads start at 0.
  int awaiting_ready_ = 1;
  ChatSubscriptions chats_;
  std::vector<boost::json::value> sync_replies_;  // sync ids answered after the next page
  Seq ack_stored_ = 0;          // highest ack handed to the store
  Seq ack_durable_ = 0;         // highest ack the store committed
  bool ack_in_flight_ = false;  // an AckOp of this connection is queued
  Millis ack_written_at_ = 0;   // when the last AckOp was queued (pacing)
  std::vector<boost::json::value> ack_replies_;  // ack ids answered by the next AckOp

  ReceiptCoalescer receipts_;
  struct TypingSent {
    Millis at = 0;           // when the last one was forwarded
    bool composing = false;  // what it said
  };
  // By chat; bounded (session.cc). Made on the first typing request.
  std::unique_ptr<std::map<std::string, TypingSent>> typing_;

  Heartbeat heartbeat_;
  TokenBucket sends_;                // Config::send_per_client
  std::optional<Millis> armed_for_;  // the timer is armed for this time
};

}  // namespace ferry
