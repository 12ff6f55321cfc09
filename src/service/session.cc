#include "service/session.h"

#include <algorithm>
#include <boost/json.hpp>
#include <chrono>
#include <limits>
#include <set>

#include "common/log.h"
#include "common/random.h"

namespace ferry {
namespace json = boost::json;

namespace {

constexpr std::size_t kMaxChatName = 256;
constexpr std::size_t kMaxTypingChats = 64;            // chats a connection remembers typing in
constexpr std::size_t kMaxPendingFrames = 64;          // frames pipelined behind hello
constexpr std::size_t kMaxPendingBytes = 1024 * 1024;  // and their bytes
constexpr std::size_t kMaxSyncsWaiting = 16;           // syncs awaiting their inbox read
constexpr int kMaxInflight = 64;  // store jobs one connection's requests may have queued

DeliveryCursor::Settings CursorSettings(const Config& c) {
  return {c.delivery_window, c.read_page, c.ack_timeout_ms, c.ack_retries};
}

Heartbeat::Settings HeartbeatSettings(const Config& c) {
  return {c.hello_timeout_ms, c.heartbeat_interval_ms, c.heartbeat_timeout_ms};
}

}  // namespace

ClientSession::ClientSession(Service& service, Transport* transport, Service::Post post,
                             std::string conn_id)
    : service_(service),
      transport_(transport),
      post_(std::move(post)),
      conn_id_(std::move(conn_id)),
      cursor_(CursorSettings(service.config())),
      chats_(service.bus()),
      heartbeat_(HeartbeatSettings(service.config())) {}

// Wraps `fn` into a callable for other threads: calling it posts fn(args...)
// onto this session's executor, where it runs only if the session is alive
// and not closed.
template <class F>
auto ClientSession::Bind(F fn) {
  return [weak = weak_from_this(), post = post_, fn = std::move(fn)](auto&&... args) {
    post([weak, fn, ... args = std::forward<decltype(args)>(args)]() mutable {
      auto self = weak.lock();
      if (!self || self->state_ == State::closed) return;
      fn(std::move(args)...);
    });
  };
}

// Every store job of this client runs on one store worker, in order.
StoreWorker& ClientSession::Lane() { return service_.store().For(client_.client_id); }

// One connection must not fill the store queue every connection shares: its
// queued jobs are counted, and past kMaxInflight the session stops reading
// its frames (OnText) until replies bring the count down (Reply). The count
// drops before a job's reply is posted, so the reply sees it.
bool ClientSession::Submit(const json::value& id, std::function<void(Store&)> fn) {
  auto inflight = inflight_;
  ++*inflight;
  bool ok = Lane().Submit([fn = std::move(fn), inflight](Store& s) {
    --*inflight;
    fn(s);
  });
  if (ok) return true;
  --*inflight;
  ReplyError(id, Errc::unavailable, "server overloaded, retry later");
  return false;
}

bool ClientSession::Write(const json::value& id, WriteOp op, std::function<void(Errc)> done,
                          StoreWorker::Admit admit) {
  auto inflight = inflight_;
  ++*inflight;
  bool ok = Lane().Write(
      op,
      [done = std::move(done), inflight](Errc status) {
        --*inflight;
        done(status);
      },
      admit);
  if (ok) return true;
  --*inflight;
  ReplyError(id, Errc::unavailable, "server overloaded, retry later");
  return false;
}

namespace {

// Writes the `receipt` entries of `keys` (marks of `user` moved by client
// `client_id`) and publishes them once committed. Callable after the
// connection closed: it holds nothing of the session. A key the store queue
// has no room for is dropped; its mark is durable and the next move, or
// chatReceipts, reports it.
void WriteReceipts(Service& service, const Service::Post& post, const std::string& client_id,
                   const std::string& user, std::vector<ReceiptCoalescer::Key> keys) {
  const Millis now = service.clock().Now();
  for (auto& [chat_id, kind] : keys) {
    auto op = std::make_shared<ReceiptOp>();
    op->chat_id = std::move(chat_id);
    op->user = user;
    op->kind = kind;
    op->actor_client = client_id;
    op->fanout_max = service.config().receipt_fanout_max;
    op->now = now;
    op->expires = now + service.config().RetentionMs();
    Service* s = &service;
    bool queued = service.store().For(client_id).Write(op.get(), [s, post, op](Errc status) {
      if (status != Errc::ok || !op->receipt || op->deliveries.empty()) return;
      s->metrics().entries_created_total.fetch_add(static_cast<std::int64_t>(op->deliveries.size()),
                                                   std::memory_order_relaxed);
      post([s, op] {  // off the store thread, as for sends
        s->router().PublishDeliveries(
            op->chat_id, protocol::EncodeEntry(InboxEntry{0, *op->receipt}), op->deliveries);
      });
    });
    if (!queued) log::Debug("receipt of ", op->chat_id, " dropped: store queue full");
  }
}

}  // namespace

// ---- Connection lifecycle ----

void ClientSession::OnOpen() {
  heartbeat_.Opened(Now());
  ScheduleTimer();
}

void ClientSession::OnText(std::string_view text) {
  if (state_ == State::closed || closing_) return;
  if (state_ == State::authenticating || (state_ == State::open && !hello_answered_)) {
    // Requests pipelined right behind hello wait for its answer (bounded).
    if (!before_hello_) before_hello_ = std::make_unique<BeforeHello>();
    before_hello_->bytes += text.size();
    if (before_hello_->frames.size() >= kMaxPendingFrames ||
        before_hello_->bytes > kMaxPendingBytes) {
      return CloseWith(close_code::kPolicy, "too many frames before hello completed");
    }
    before_hello_->frames.emplace_back(text);
    return;
  }
  protocol::Decoded d = protocol::DecodeRequest(text);
  if (state_ == State::awaiting_hello) {
    auto* hello = std::get_if<protocol::Hello>(&d.request);
    if (d.error != Errc::ok || !hello) {
      return CloseWith(close_code::kPolicy, "the first frame must be a valid hello");
    }
    return Handle(d.id, *hello);
  }
  if (d.error != Errc::ok) return ReplyError(d.id, d.error, d.message);
  std::visit(
      [&](auto& r) {
        using T = std::decay_t<decltype(r)>;
        if constexpr (std::is_same_v<T, protocol::Pong>) {
          heartbeat_.Pong();
          ScheduleTimer();
        } else if constexpr (std::is_same_v<T, protocol::Ack> ||
                             std::is_same_v<T, protocol::Typing>) {
          Handle(d.id, d.has_id, r);
        } else if constexpr (std::is_same_v<T, protocol::Hello>) {
          ReplyError(d.id, Errc::bad_request, "already authenticated");
        } else {
          Handle(d.id, r);
        }
      },
      d.request);
  if (!input_paused_ && *inflight_ >= kMaxInflight && transport_) {
    input_paused_ = true;
    transport_->PauseReading(true);
  }
}

void ClientSession::Handle(const json::value& id, protocol::Hello& r) {
  state_ = State::authenticating;
  std::optional<Seq> after = r.after;
  service_.accounts().Authenticate(
      r.token, Bind([this, id, after](Result<ClientInfo> info) {
        if (closing_) return;  // closed meanwhile: must not replace the client's live connection
        if (!info) {
          before_hello_.reset();
          if (ToErrc(info.error()) == Errc::unauthorized) {
            return CloseWith(close_code::kUnauthorized, "bad or revoked token");
          }
          return CloseWith(close_code::kUnavailable, "storage unavailable");
        }
        OnAuthenticated(id, after, std::move(*info));
      }));
}

void ClientSession::OnAuthenticated(const json::value& id, std::optional<Seq> after,
                                    ClientInfo client) {
  client_ = std::move(client);
  state_ = State::open;
  if (transport_) transport_->Authenticated();
  Bus& bus = service_.bus();
  // The kick goes out before this session registers, so it can only close
  // older connections (on other nodes, or here before registration), never
  // a newer one that registered meanwhile.
  bus.Publish(UserChannel(client_.user),
              protocol::EncodeBus(protocol::BusKick{client_.client_id, conn_id_}));
  if (auto previous = service_.sessions().Register(client_.client_id, shared_from_this())) {
    previous->CloseAsync(close_code::kReplaced, "replaced by a newer connection");
  }
  // The first inbox read waits for the user channel and the channels of the
  // user's big chats (Pump checks awaiting_ready_), so every entry committed
  // from then on is either in that read or notified afterwards.
  // The hello is answered only once the user channel is confirmed too:
  // from then on this node hears a newer connection's kick, so a client
  // that had its `ok` here and says hello on another node is closed here
  // (4409) -- before, a quick enough second hello left both open.
  awaiting_ready_ = 2;  // the user channel, and the chat list
  bus.Subscribe(UserChannel(client_.user), Bind([this] {
    AnswerHello();
    OnChannelReady();
  }));
  SubscribeBigChats(/*at_hello=*/true);
  bus.PresenceUp(client_.user);
  auto touch = std::make_shared<PresenceOp>();
  touch->client_id = client_.client_id;
  touch->user = client_.user;
  touch->now = service_.clock().Now();
  Lane().Write(touch.get(), [touch](Errc) {});

  cursor_.Start(client_.acked_seq, client_.head_seq, after, Now());
  ack_stored_ = cursor_.acked();
  ack_durable_ = cursor_.acked();
  log::Info("conn ", conn_id_, " hello user=", client_.user, " client=", client_.client_id,
            " head=", cursor_.head(), " after=", cursor_.delivered());

  json::object fields;
  fields["user"] = client_.user;
  fields["clientId"] = client_.client_id;
  fields["head"] = cursor_.head();
  fields["epoch"] = client_.epoch;
  if (!before_hello_) before_hello_ = std::make_unique<BeforeHello>();
  before_hello_->reply = protocol::OkReply(id, std::move(fields));
}

void ClientSession::AnswerHello() {
  if (hello_answered_) return;
  hello_answered_ = true;
  std::unique_ptr<BeforeHello> before = std::move(before_hello_);  // set by OnAuthenticated
  if (before) Reply(std::move(before->reply));
  heartbeat_.Started(Now());
  ScheduleTimer();
  Pump();

  if (before) {
    for (const std::string& frame : before->frames) OnText(frame);
  }
}

void ClientSession::OnClosed() {
  if (state_ == State::closed) return;
  bool was_open = state_ == State::open;
  state_ = State::closed;
  transport_ = nullptr;
  if (!was_open) return;
  service_.sessions().Unregister(client_.client_id, this);
  chats_.ReleaseAll();
  // Receipts waiting for their second go now; so do those of the last ack.
  WriteReceipts(service_, post_, client_.client_id, client_.user, receipts_.TakeAll());
  // Acks still merging behind one in flight must not be lost with the
  // connection (the store keeps the highest, whatever the order).
  if (cursor_.acked() > ack_stored_) {
    auto ack = std::make_shared<AckOp>();
    ack->client_id = client_.client_id;
    ack->user = client_.user;
    ack->up_to = cursor_.acked();
    Service* service = &service_;
    Lane().Write(ack.get(), [service, post = post_, ack](Errc status) {
      if (status != Errc::ok || ack->moved.empty()) return;
      post([service, post, ack] {
        std::vector<ReceiptCoalescer::Key> keys;
        for (const MarkMove& m : ack->moved) keys.emplace_back(m.chat_id, m.kind);
        WriteReceipts(*service, post, ack->client_id, ack->user, std::move(keys));
      });
    });
  }
  Bus& bus = service_.bus();
  bus.Unsubscribe(UserChannel(client_.user));
  // Presence drops only once the disconnect time is committed, so a
  // lastSeen that sees the user offline reads it, on whichever node it is
  // asked (another node reads the store, not this node's queue).
  auto gone = std::make_shared<PresenceOp>();
  gone->client_id = client_.client_id;
  gone->user = client_.user;
  gone->now = service_.clock().Now();
  gone->last_seen = true;
  auto down = [&bus, gone](Errc) { bus.PresenceDown(gone->user); };
  if (!Lane().Write(gone.get(), down)) down(Errc::unavailable);
}

void ClientSession::CloseWith(std::uint16_t code, std::string_view reason) {
  if (!transport_ || closing_) return;
  closing_ = true;
  log::Info("conn ", conn_id_, " closing code=", code, " reason=", reason);
  transport_->Close(code, reason);
}

void ClientSession::CloseAsync(std::uint16_t code, std::string reason) {
  post_([weak = weak_from_this(), code, reason = std::move(reason)] {
    if (auto self = weak.lock()) self->CloseWith(code, reason);
  });
}

void ClientSession::NotifyAsync(Seq seq, std::shared_ptr<const protocol::BusEntries> note) {
  post_([weak = weak_from_this(), seq, note = std::move(note)] {
    if (auto self = weak.lock()) self->OnNotify(seq, *note);
  });
}

// ---- Bus channels ----

// Reads the user's chats (on the store worker) and subscribes the channels
// of those above the threshold that this connection does not hold yet. If
// the read fails the session proceeds without them: the store is the
// truth, and ping.head and sync recover what their notifications miss.
void ClientSession::SubscribeBigChats(bool at_hello) {
  if (!chats_.BeginRefresh()) {
    if (at_hello) OnChannelReady();
    return;
  }
  auto done = Bind([this, at_hello](Result<std::vector<ChatInfo>> chats) {
    chats_.EndRefresh();
    if (chats) {
      for (const ChatInfo& chat : *chats) {
        if (chat.members.size() > service_.config().chat_channel_threshold) {
          SubscribeChat(chat.chat_id, at_hello);
        }
      }
    } else {
      log::Warn("conn ", conn_id_, " chat list failed: ", chats.error().message());
    }
    if (at_hello) OnChannelReady();  // the chat list's own share
  });
  bool queued = Lane().Submit([user = client_.user, done](Store& s) { done(s.ListChats(user)); });
  if (!queued) {
    chats_.EndRefresh();
    if (at_hello) OnChannelReady();
  }
}

// At hello the first inbox read waits for the channel. Later, entries
// published on it before the bus confirmed it were missed: one inbox read
// once it is confirmed picks them up.
void ClientSession::SubscribeChat(const std::string& chat_id, bool at_hello) {
  if (chats_.Holds(chat_id)) return;
  if (at_hello) {
    ++awaiting_ready_;
    if (!chats_.Add(chat_id, Bind([this] { OnChannelReady(); }))) --awaiting_ready_;
    return;
  }
  auto read_once_ready = [this] {
    cursor_.ReadAgain();
    Pump();
  };
  chats_.Add(chat_id, Bind(read_once_ready));
}

void ClientSession::OnChannelReady() {
  if (--awaiting_ready_ == 0) Pump();
}

// ---- Replies ----

void ClientSession::Reply(std::string frame) {
  if (!transport_ || closing_) return;
  if (input_paused_ && *inflight_ < kMaxInflight / 2) {
    input_paused_ = false;
    transport_->PauseReading(false);
  }
  transport_->Send(std::move(frame));
  if (transport_->QueuedBytes() > service_.config().SendQueueCap()) {
    CloseWith(close_code::kSlowConsumer, "send queue full");
  }
}

void ClientSession::ReplyError(const json::value& id, Errc code, std::string_view message) {
  service_.metrics().errors_total.fetch_add(1, std::memory_order_relaxed);
  Reply(protocol::ErrorReply(id, code, message));
}

// ---- Requests ----

namespace {

// Validates and normalizes a member list: sorted, unique. Names that cannot
// be users are unknown users (not_found).
Errc NormalizeMembers(std::vector<std::string>& members, std::string* message) {
  for (const std::string& m : members) {
    if (!protocol::ValidUser(m)) {
      *message = "unknown user '" + m + "'";
      return Errc::not_found;
    }
  }
  std::sort(members.begin(), members.end());
  members.erase(std::unique(members.begin(), members.end()), members.end());
  return Errc::ok;
}

}  // namespace

void ClientSession::Handle(const json::value& id, protocol::CreateChat& r) {
  std::string message;
  r.members.push_back(client_.user);
  if (Errc e = NormalizeMembers(r.members, &message); e != Errc::ok) {
    return ReplyError(id, e, message);
  }
  if (r.members.size() < 2) return ReplyError(id, Errc::bad_request, "a chat needs 2 members");
  if (r.members.size() > service_.config().max_members) {
    return ReplyError(id, Errc::too_many_members, "too many members");
  }
  if (r.name.size() > kMaxChatName) return ReplyError(id, Errc::bad_request, "name too long");
  auto op = std::make_shared<ChatOp>();
  op->kind = ChatOp::Kind::create;
  op->chat_id = RandomId();
  op->name = std::move(r.name);
  op->members = std::move(r.members);
  SubmitChatOp(id, std::move(op));
}

void ClientSession::Handle(const json::value& id, protocol::ChangeMembers& r) {
  std::string message;
  if (Errc e = NormalizeMembers(r.members, &message); e != Errc::ok) {
    return ReplyError(id, e, message);
  }
  auto op = std::make_shared<ChatOp>();
  op->kind = r.add ? ChatOp::Kind::add : ChatOp::Kind::remove;
  op->chat_id = std::move(r.chat_id);
  op->members = std::move(r.members);
  SubmitChatOp(id, std::move(op));
}

void ClientSession::SubmitChatOp(const json::value& id, std::shared_ptr<ChatOp> op) {
  Millis now = service_.clock().Now();
  op->actor_user = client_.user;
  op->actor_client = client_.client_id;
  op->max_members = service_.config().max_members;
  op->now = now;
  op->expires = now + service_.config().RetentionMs();
  auto reply = Bind([this, id, op](Errc status) {
    if (status != Errc::ok) return ReplyError(id, status, "storage unavailable");
    if (op->status != Errc::ok) {
      return ReplyError(id, op->status, std::string(ErrcName(op->status)));
    }
    json::object fields;
    if (op->kind == ChatOp::Kind::create) fields["chatId"] = op->chat_id;
    Reply(protocol::OkReply(id, std::move(fields)));
  });
  Service* service = &service_;
  Write(id, op.get(), [service, post = post_, op, reply](Errc status) {
    if (status == Errc::ok && op->status == Errc::ok && op->event) {
      service->metrics().entries_created_total.fetch_add(
          static_cast<std::int64_t>(op->deliveries.size()), std::memory_order_relaxed);
      post([service, op] {  // off the store thread, see Handle(Send)
        service->router().PublishDeliveries(
            op->event->chat_id, protocol::EncodeEntry(InboxEntry{0, *op->event}), op->deliveries);
      });
    }
    reply(status);
  });
}

void ClientSession::Handle(const json::value& id, protocol::Send& r) {
  // Far over a person's rate: a script, a loop, a flood. Refused before any
  // work, with when to retry (the client resends the same clientMsgId).
  if (Millis wait = sends_.Take(service_.config().send_per_client, Now())) {
    service_.metrics().rate_limited_total.fetch_add(1, std::memory_order_relaxed);
    service_.metrics().errors_total.fetch_add(1, std::memory_order_relaxed);
    return Reply(protocol::ErrorReply(id, Errc::rate_limited, "sending too fast", wait));
  }
  if (r.body.size() > service_.config().max_body_bytes) {
    return ReplyError(id, Errc::too_large, "body over the size limit");
  }
  if (r.attachments.size() > service_.config().max_attachments_per_message) {
    return ReplyError(id, Errc::bad_request, "too many attachments");
  }
  Millis now = service_.clock().Now();
  auto op = std::make_shared<SendOp>();
  op->attachment_ids = std::move(r.attachments);
  op->message.message_id = service_.message_ids().New(now, r.chat_id);
  op->message.chat_id = std::move(r.chat_id);
  op->message.sender = client_.user;
  op->message.sender_client = client_.client_id;
  op->message.client_msg_id = std::move(r.client_msg_id);
  op->message.ts = now;
  op->message.body = std::move(r.body);
  op->expires = now + service_.config().RetentionMs();
  auto started = std::chrono::steady_clock::now();
  auto reply = Bind([this, id, op](Errc status) {
    if (status != Errc::ok) return ReplyError(id, status, "storage unavailable");
    if (op->status != Errc::ok) {
      return ReplyError(id, op->status,
                        op->status == Errc::forbidden     ? "not a member of this chat"
                        : op->status == Errc::bad_request ? "attachment not uploaded or already sent"
                                                          : "no such chat or attachment");
    }
    json::object fields;
    fields["messageId"] = op->message.message_id;
    fields["ts"] = op->message.ts;
    Reply(protocol::OkReply(id, std::move(fields)));
  });
  Service* service = &service_;
  // The store worker only commits: encoding and publishing the notifications
  // is posted to this connection's executor (through post_ itself, not Bind,
  // so they go out even if the connection closed meanwhile).
  // New work: refused while the store is behind, so a send is answered
  // quickly either way and an overloaded server sheds load instead of
  // queueing seconds of it.
  Write(
      id, op.get(),
      [service, post = post_, op, reply, started](Errc status) {
        if (status == Errc::ok && op->status == Errc::ok) {
          Metrics& m = service->metrics();
          m.send_durable_seconds.Observe(
              std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count());
          if (!op->duplicate) {
            m.messages_sent_total.fetch_add(1, std::memory_order_relaxed);
            m.entries_created_total.fetch_add(static_cast<std::int64_t>(op->deliveries.size()),
                                              std::memory_order_relaxed);
            post([service, op] {
              service->router().PublishDeliveries(op->message.chat_id,
                                                  protocol::EncodeEntry(InboxEntry{0, op->message}),
                                                  op->deliveries);
            });
          }
        }
        reply(status);
      },
      StoreWorker::Admit::unless_behind);
}

void ClientSession::Handle(const json::value& id, bool has_id, protocol::Ack& r) {
  DeliveryCursor::AckResult ack = cursor_.Ack(r.up_to, Now());
  if (!ack.advanced) {
    // Acked before; answered once that ack is durable, as any ack with an id.
    if (has_id && ack.up_to <= ack_durable_) return Reply(protocol::OkReply(id));
    if (has_id) {
      ack_replies_.push_back(id);
      WriteAck();
    }
    return;
  }
  service_.metrics().acks_total.fetch_add(1, std::memory_order_relaxed);
  if (has_id) ack_replies_.push_back(id);
  WriteAck();
  Pump();
}

// One AckOp per connection is in the store queue at a time. Acks arriving
// meanwhile only raise acked_, and the next op writes the highest of them:
// a client acking every entry of a burst costs a few writes, not one each.
// Acks with an id are answered once the op that covers them is durable.
void ClientSession::WriteAck() {
  if (ack_in_flight_ || (cursor_.acked() <= ack_stored_ && ack_replies_.empty())) return;
  // Without a reply waiting, a write comes at most every interval; the timer
  // (AckWriteDue) brings the next one.
  if (ack_replies_.empty() && Now() < AckWriteDue()) return ScheduleTimer();
  ack_written_at_ = Now();
  const Seq up_to = cursor_.acked();
  const Seq previous = ack_stored_;
  auto op = std::make_shared<AckOp>();
  op->client_id = client_.client_id;
  op->user = client_.user;
  op->up_to = up_to;
  ack_stored_ = up_to;
  ack_in_flight_ = true;
  auto done = Bind([this, op, up_to, previous, replies = std::move(ack_replies_)](Errc status) {
    ack_in_flight_ = false;
    if (status == Errc::ok) {
      ack_durable_ = std::max(ack_durable_, up_to);
      MarksMoved(op->moved);
    }
    for (const json::value& id : replies) {
      if (status == Errc::ok) {
        Reply(protocol::OkReply(id));
      } else {
        ReplyError(id, status, "storage unavailable");
      }
    }
    if (status != Errc::ok) {
      // Not stored: the next ack, or the close, writes it again. No retry
      // from here, which would spin while the store is down.
      ack_stored_ = previous;
      return;
    }
    WriteAck();
  });
  ack_replies_.clear();
  if (!Lane().Write(op.get(), [op, done](Errc status) { done(status); })) {
    done(Errc::unavailable);  // the store queue is full
  }
}

void ClientSession::Handle(const json::value& id, protocol::Sync& r) {
  if (sync_replies_.size() >= kMaxSyncsWaiting) {
    return ReplyError(id, Errc::rate_limited, "too many syncs in flight");
  }
  cursor_.Rewind(r.after, Now());
  sync_replies_.push_back(id);
  Pump();
}

namespace {

bool ValidContentType(std::string_view t) {
  if (t.empty() || t.size() > 255) return false;
  for (char c : t) {
    if (c < 0x20 || c > 0x7e) return false;  // printable ASCII: safe in headers and bus lines
  }
  return true;
}

// 64 hex digits, returned lowercase; "" if invalid.
std::string NormalizeSha256(std::string_view hex) {
  if (hex.size() != 64) return {};
  std::string out(hex);
  for (char& c : out) {
    if (c >= 'A' && c <= 'F') c = static_cast<char>(c - 'A' + 'a');
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return {};
  }
  return out;
}

}  // namespace

void ClientSession::Handle(const json::value& id, protocol::AttachTarget& r) {
  const Config& config = service_.config();
  if (!ValidContentType(r.content_type)) {
    return ReplyError(id, Errc::bad_request, "contentType must be 1-255 printable ASCII characters");
  }
  if (r.size > config.max_attachment_bytes) {
    return ReplyError(id, Errc::too_large, "attachment over the size limit");
  }
  Attachment a;
  if (!r.sha256.empty() && (a.sha256 = NormalizeSha256(r.sha256)).empty()) {
    return ReplyError(id, Errc::bad_request, "sha256 must be 64 hex digits");
  }
  Millis now = service_.clock().Now();
  a.attachment_id = RandomId();
  a.owner = client_.user;
  a.content_type = std::move(r.content_type);
  a.size = r.size;
  a.created = now;
  // Never uploaded: the record goes a day after the URL stops working.
  a.expires = now + config.upload_url_ttl_s * 1000 + config.unsent_blob_ms;
  std::string url = service_.blobs().PresignPut(a.attachment_id, now, config.upload_url_ttl_s);
  // SigV4 dates have whole seconds: the URL stops working at the signing
  // second plus the TTL.
  Millis expires_at = now / 1000 * 1000 + config.upload_url_ttl_s * 1000;
  auto reply = Bind([this, id, key = a.attachment_id, url, expires_at](Errc status) {
    if (status != Errc::ok) return ReplyError(id, status, "storage unavailable");
    Reply(protocol::OkReply(
        id, json::object{{"attachmentId", key}, {"uploadUrl", url}, {"expiresAt", expires_at}}));
  });
  Submit(id, [a = std::move(a), reply](Store& s) {
    reply(s.CreateAttachment(a) ? Errc::ok : Errc::unavailable);
  });
}

void ClientSession::Handle(const json::value& id, protocol::LastSeen& r) {
  auto reply = Bind([this, id](Errc status, bool online, std::optional<Millis> last_seen) {
    if (status != Errc::ok) {
      return ReplyError(id, status,
                        status == Errc::forbidden ? "you share no chat with this user"
                                                  : "storage unavailable");
    }
    json::object fields;
    fields["online"] = online;
    fields["lastSeen"] = last_seen ? json::value(*last_seen) : json::value(nullptr);
    Reply(protocol::OkReply(id, std::move(fields)));
  });
  if (r.user == client_.user) return reply(Errc::ok, true, std::nullopt);  // we are connected
  if (!protocol::ValidUser(r.user)) return reply(Errc::forbidden, false, std::nullopt);
  Service* service = &service_;
  Submit(id, [service, me = client_.user, user = r.user, reply](Store& s) {
    Result<bool> shares = s.SharesChat(me, user);
    if (!shares) return reply(Errc::unavailable, false, std::nullopt);
    if (!*shares) return reply(Errc::forbidden, false, std::nullopt);
    // lastSeen "nobody": to everyone but the user, offline and never seen.
    Result<Privacy> privacy = s.GetPrivacy(user);
    if (!privacy) return reply(Errc::unavailable, false, std::nullopt);
    if (!privacy->last_seen_visible) return reply(Errc::ok, false, std::nullopt);
    service->bus().IsOnline(user, [service, user, reply](bool online) {
      if (online) return reply(Errc::ok, true, std::nullopt);
      bool ok = service->store().For(user).Submit([user, reply](Store& s2) {
        Result<std::optional<Millis>> ts = s2.GetLastSeen(user);
        if (!ts) return reply(Errc::unavailable, false, std::nullopt);
        reply(Errc::ok, false, *ts);
      });
      if (!ok) reply(Errc::unavailable, false, std::nullopt);
    });
  });
}

void ClientSession::Handle(const json::value& id, protocol::ListChats&) {
  auto reply = Bind([this, id](Result<std::vector<ChatInfo>> chats) {
    if (!chats) return ReplyError(id, Errc::unavailable, "storage unavailable");
    json::array list;
    for (const ChatInfo& c : *chats) {
      json::array members;
      for (const auto& m : c.members) members.emplace_back(m);
      list.push_back(json::object{{"chatId", c.chat_id}, {"name", c.name}, {"members", members}});
    }
    Reply(protocol::OkReply(id, json::object{{"chats", std::move(list)}}));
  });
  Submit(id, [user = client_.user, reply](Store& s) { reply(s.ListChats(user)); });
}

// ---- Receipts, typing, privacy (protocol v1.1) ----

void ClientSession::Handle(const json::value& id, protocol::MarkRead& r) {
  // A position of another chat, or a made-up one, is no message of this
  // chat (message_ids.h): not_found, as for an unknown chat.
  if (!service_.message_ids().IsOf(r.up_to, r.chat_id)) {
    return ReplyError(id, Errc::not_found, "no such message in this chat");
  }
  auto op = std::make_shared<MarkReadOp>();
  op->chat_id = std::move(r.chat_id);
  op->user = client_.user;
  op->up_to = std::move(r.up_to);
  Write(id, op.get(), Bind([this, id, op](Errc status) {
          if (status != Errc::ok) return ReplyError(id, status, "storage unavailable");
          if (op->status != Errc::ok) {
            return ReplyError(
                id, op->status,
                op->status == Errc::forbidden ? "not a member of this chat" : "no such chat");
          }
          Reply(protocol::OkReply(id));
          MarksMoved(op->moved);
        }));
}

void ClientSession::Handle(const json::value& id, protocol::ChatReceipts& r) {
  auto reply = Bind([this, id](Result<std::vector<MemberReceipts>> rows) {
    if (!rows) {
      Errc e = ToErrc(rows.error());
      return ReplyError(id, e,
                        e == Errc::not_found   ? "no such chat"
                        : e == Errc::forbidden ? "not a member of this chat"
                                               : "storage unavailable");
    }
    auto position = [](const std::optional<Position>& p) {
      return p ? json::value(protocol::PositionJson(*p)) : json::value(nullptr);
    };
    json::array members;
    for (const MemberReceipts& m : *rows) {
      members.push_back(json::object{
          {"user", m.user}, {"delivered", position(m.delivered)}, {"read", position(m.read)}});
    }
    Reply(protocol::OkReply(id, json::object{{"members", std::move(members)}}));
  });
  Submit(id, [chat = std::move(r.chat_id), user = client_.user, reply](Store& s) {
    reply(s.ChatReceipts(chat, user));
  });
}

void ClientSession::Handle(const json::value& id, protocol::SetPrivacy& r) {
  auto reply = Bind([this, id](Result<Privacy> privacy) {
    if (!privacy) return ReplyError(id, Errc::unavailable, "storage unavailable");
    Reply(protocol::OkReply(
        id, json::object{{"readReceipts", privacy->read_receipts},
                         {"lastSeen", privacy->last_seen_visible ? "everyone" : "nobody"}}));
  });
  Submit(id, [user = client_.user, r, reply](Store& s) {
    reply(s.SetPrivacy(user, r.read_receipts, r.last_seen_visible));
  });
}

// Typing is ephemeral: checked against the chat's roster, then sent to the
// other members' connected clients through the bus, never stored. Per chat
// and connection, one event per typing_interval_ms goes out; beyond it a
// `composing` is refused (rate_limited, with an id) and a `paused` dropped,
// except a `paused` right after a `composing`, which always goes (it ends
// what the others show).
void ClientSession::Handle(const json::value& id, bool has_id, protocol::Typing& r) {
  const Millis now = Now();
  if (!typing_) typing_ = std::make_unique<std::map<std::string, TypingSent>>();
  auto it = typing_->find(r.chat_id);
  if (it != typing_->end()) {
    const TypingSent& last = it->second;
    Millis wait = last.at + service_.config().typing_interval_ms - now;
    bool ends_composing = !r.composing && last.composing;
    if (wait > 0 && !ends_composing) {
      if (!r.composing) {  // a repeated pause: nothing new to show
        if (has_id) Reply(protocol::OkReply(id));
        return;
      }
      service_.metrics().rate_limited_total.fetch_add(1, std::memory_order_relaxed);
      if (has_id) Reply(protocol::ErrorReply(id, Errc::rate_limited, "typing too often", wait));
      return;
    }
  }
  if (typing_->size() >= kMaxTypingChats && it == typing_->end()) typing_->clear();
  (*typing_)[r.chat_id] = TypingSent{now, r.composing};
  auto reply = Bind([this, id, has_id](Errc status, const char* message) {
    if (!has_id) return;  // the contract: no reply, not even an error, without an id
    if (status != Errc::ok) return ReplyError(id, status, message);
    Reply(protocol::OkReply(id));
  });
  Service* service = &service_;
  Submit(id, [service, post = post_, chat = std::move(r.chat_id), user = client_.user,
              composing = r.composing, reply](Store& s) {
    Result<ChatRoster> roster = s.Roster(chat);
    if (!roster) {
      bool missing = ToErrc(roster.error()) == Errc::not_found;
      return reply(missing ? Errc::not_found : Errc::unavailable,
                   missing ? "no such chat" : "storage unavailable");
    }
    if (!std::binary_search(roster->members.begin(), roster->members.end(), user)) {
      return reply(Errc::forbidden, "not a member of this chat");
    }
    std::vector<Delivery> to;
    for (Delivery& d : roster->clients) {
      if (d.user != user) to.push_back(std::move(d));
    }
    reply(Errc::ok, "");
    if (to.empty()) return;
    post([service, chat, user, composing, to = std::move(to)] {  // off the store thread
      std::string frame = protocol::TypingFrame(chat, user, composing);
      // The bus carries it as an entry of type "typing" with seq 0 (bus_router.cc).
      protocol::EncodedEntry entry{"typing", frame.substr(frame.find(',') + 1), {}};
      service->router().PublishDeliveries(chat, std::move(entry), to);
    });
  });
}

void ClientSession::EphemeralAsync(std::shared_ptr<const std::string> frame) {
  post_([weak = weak_from_this(), frame = std::move(frame)] {
    auto self = weak.lock();
    if (!self || self->state_ != State::open || self->closing_ || !self->transport_) return;
    // Best effort: a connection with a backlog gets the entries, not this.
    if (self->transport_->QueuedBytes() >= self->service_.config().send_queue_high_bytes) return;
    self->transport_->Send(*frame);
  });
}

void ClientSession::MarksMoved(const std::vector<MarkMove>& moved) {
  if (moved.empty()) return;
  const Millis now = Now();
  for (const MarkMove& m : moved) receipts_.Moved(m.chat_id, m.kind, now);
  FlushReceipts();
}

void ClientSession::FlushReceipts() {
  std::vector<ReceiptCoalescer::Key> due = receipts_.TakeDue(Now());
  if (!due.empty()) WriteReceipts(service_, post_, client_.client_id, client_.user, std::move(due));
  ScheduleTimer();
}

// ---- Delivery ----

bool ClientSession::CanPush() const {
  return transport_ && !closing_ && !cursor_.WindowFull() &&
         transport_->QueuedBytes() < service_.config().send_queue_high_bytes;
}

// How many entries of the size pushed last fit below the soft limit, at
// least one (CanPush() held): a page of big entries is not read from the
// store only to be cut short there and read again. No limit before a push.
std::size_t ClientSession::PageFit() const {
  if (entry_bytes_ == 0) return std::numeric_limits<std::size_t>::max();
  std::size_t room = service_.config().send_queue_high_bytes - transport_->QueuedBytes();
  return room / entry_bytes_ + 1;
}

std::size_t ClientSession::Push(Seq seq, const protocol::EncodedEntry& entry) {
  std::string frame;
  if (entry.attachments.empty()) {
    frame = protocol::Frame(entry, seq);
  } else {
    // Download URLs are minted per recipient client at each push, so a
    // resend or a sync also refreshes them.
    Millis now = service_.clock().Now();
    frame = protocol::Frame(entry, seq, [&](const std::string& key) {
      return service_.blobs().PresignGet(key, client_.client_id, now,
                                         service_.config().download_url_ttl_s);
    });
  }
  std::size_t bytes = frame.size();
  transport_->Send(std::move(frame));
  cursor_.Pushed(seq, Now());
  service_.metrics().entries_delivered_total.fetch_add(1, std::memory_order_relaxed);
  return bytes;
}

void ClientSession::OnNotify(Seq seq, const protocol::BusEntries& note) {
  if (state_ != State::open) return;
  if (note.big_chat) SubscribeChat(note.chat_id, /*at_hello=*/false);
  if (cursor_.Notified(seq) && awaiting_ready_ == 0 && CanPush()) {
    Push(seq, note.entry);
    ScheduleTimer();
  } else {
    Pump();
  }
}

void ClientSession::Pump() {
  if (state_ != State::open || awaiting_ready_ > 0) return;
  if (!CanPush()) return;  // resumed by an ack or OnDrained
  std::optional<DeliveryCursor::Read> read = cursor_.BeginRead();
  if (!read) return;
  read->limit = std::min(read->limit, PageFit());
  auto done = Bind([this, gen = read->generation](Result<InboxPage> page) {
    OnInboxPage(gen, std::move(page));
  });
  service_.metrics().inbox_reads_total.fetch_add(1, std::memory_order_relaxed);
  bool ok = Lane().Submit([cid = client_.client_id, read = *read, done](Store& s) {
    done(s.ReadInbox(cid, read.after, read.limit));
  });
  if (!ok) {
    cursor_.EndRead(read->generation);
    CloseWith(close_code::kUnavailable, "server overloaded");
  }
}

void ClientSession::OnInboxPage(std::uint64_t generation, Result<InboxPage> page) {
  bool fresh = cursor_.EndRead(generation);
  if (!page) {
    if (ToErrc(page.error()) == Errc::not_found) {
      return CloseWith(close_code::kUnauthorized, "client deleted");
    }
    return CloseWith(close_code::kUnavailable, "storage unavailable");
  }
  if (!fresh) return Pump();  // rewound meanwhile: read again
  cursor_.SeeHead(page->head);
  for (const json::value& id : sync_replies_) {
    Reply(protocol::OkReply(id, json::object{{"head", cursor_.head()}}));
  }
  sync_replies_.clear();
  std::size_t pushed = 0, pushed_bytes = 0;
  for (const InboxEntry& entry : page->entries) {
    if (!cursor_.Undelivered(entry.seq)) continue;
    // Pushes share the send queue with replies and stop at the soft limit:
    // a page of big entries must not fill the queue to the hard cap, where
    // the next reply would close a client that reads. The rest of the page
    // is read again once the queue drains (OnDrained).
    if (!CanPush()) break;
    pushed_bytes += Push(entry.seq, protocol::EncodeEntry(entry));
    ++pushed;
  }
  if (pushed > 0) entry_bytes_ = pushed_bytes / pushed;
  // An empty page means nothing more is held as of the read. (A short page
  // proves nothing: the store may skip entries whose message expired.)
  if (page->entries.empty() && cursor_.SkipGone(page->head)) WriteAck();
  ScheduleTimer();
  Pump();
}

void ClientSession::OnDrained() { Pump(); }

// ---- Timers ----

Millis ClientSession::AckWriteDue() const {
  return ack_written_at_ + service_.config().ack_write_interval_ms;
}

void ClientSession::OnTimer() {
  armed_for_.reset();
  if (state_ == State::closed || closing_) return;
  const Millis now = Now();
  switch (heartbeat_.Check(now)) {
    case Heartbeat::Due::hello_timeout:
      // The hello never came, or the server could not complete it (store or
      // bus stuck): either way the client is not left waiting forever.
      if (state_ == State::awaiting_hello)
        return CloseWith(close_code::kTimeout, "no hello in time");
      return CloseWith(close_code::kUnavailable, "hello could not be completed in time");
    case Heartbeat::Due::pong_timeout:
      return CloseWith(close_code::kTimeout, "no pong in time");
    case Heartbeat::Due::ping:
      QueuePing(now);
      break;
    case Heartbeat::Due::nothing:
      break;
  }
  if (state_ == State::open) {
    WriteAck();  // if paced and due
    std::vector<ReceiptCoalescer::Key> due = receipts_.TakeDue(now);
    if (!due.empty())
      WriteReceipts(service_, post_, client_.client_id, client_.user, std::move(due));
  }
  if (heartbeat_.started()) {
    switch (cursor_.CheckAck(now)) {
      case DeliveryCursor::Timeout::give_up:
        return CloseWith(close_code::kTimeout, "ack timeout");
      case DeliveryCursor::Timeout::resend:
        service_.metrics().entries_redelivered_total.fetch_add(cursor_.Resent(),
                                                               std::memory_order_relaxed);
        Pump();
        break;
      case DeliveryCursor::Timeout::none:
        break;
    }
  }
  ScheduleTimer();
}

// The ping carries the head from the store, the truth, so a lost bus
// notification shows up there and the client syncs. If the store cannot
// answer, the ping still goes out with the head this connection knows, so a
// healthy client is not closed for a missing ping. The pong timeout counts
// from when the ping goes out.
void ClientSession::QueuePing(Millis now) {
  heartbeat_.PingQueued(now);
  auto send_ping = Bind([this](Result<InboxPage> page) {
    if (page && page->head > cursor_.head()) {
      // The store holds entries no notification announced: perhaps of a
      // big chat whose channel this connection lacks (its mark was lost,
      // or the chat list failed at hello). Read the chat list again; at
      // most once per heartbeat, as pings go.
      SubscribeBigChats(/*at_hello=*/false);
    }
    if (page) cursor_.SeeHead(page->head);
    SendPing();
  });
  bool queued = Lane().Submit([cid = client_.client_id, send_ping](Store& s) {
    send_ping(s.ReadInbox(cid, INT64_MAX, 0));
  });
  if (!queued) SendPing();
}

void ClientSession::SendPing() {
  heartbeat_.PingSent(Now());
  Reply(protocol::PingFrame(cursor_.head()));
  ScheduleTimer();
}

void ClientSession::ScheduleTimer() {
  if (state_ == State::closed || closing_ || !transport_) return;
  std::optional<Millis> deadline = heartbeat_.Deadline();
  if (heartbeat_.started()) {
    if (std::optional<Millis> ack = cursor_.AckDeadline()) {
      deadline = deadline ? std::min(*deadline, *ack) : *ack;
    }
  }
  if (std::optional<Millis> receipts = receipts_.NextDue()) {
    deadline = deadline ? std::min(*deadline, *receipts) : *receipts;
  }
  if (state_ == State::open && !ack_in_flight_ && cursor_.acked() > ack_stored_) {
    deadline = deadline ? std::min(*deadline, AckWriteDue()) : AckWriteDue();
  }
  if (!deadline) return;
  // An earlier arming stays: when it fires, OnTimer re-computes.
  if (armed_for_ && *armed_for_ <= *deadline) return;
  armed_for_ = *deadline;
  transport_->ArmTimer(std::max<Millis>(0, *deadline - Now()));
}

}  // namespace ferry
