// ferry-null: the floor the benchmarks measure ferryd against. A Ferry
// server that speaks just enough of the protocol for ferry-bench's
// scenarios (register, login, /metrics' connection gauge, and on the
// WebSocket hello, createChat, send, ack, sync, ping/pong) and nothing
// else: accounts, chats and inboxes live in memory, nothing is durable,
// passwords are not checked, and one thread does everything. What it spends
// per message is what any server pays to move that message over a
// WebSocket: read, unmask and parse the send, encode the entry, write the
// ok and the push.
//
// It shares ferryd's wire codec (src/protocol), its WebSocket framing
// (net/ws_codec) and the shape of its WebSocket session (net/websocket.cc:
// a small first read, gathered writes, one write in flight, queued bytes
// capped), so ferryd's CPU per message as a multiple of this one's
// measures what lies between: the service, the store and durability. Beast
// parses and writes its HTTP only. It takes ferryd's command line
// (bench tools start either one the same way) and ignores what it does not
// need.
//
// Left out on purpose: idempotent resends of a clientMsgId, ack timeouts
// and resends, hello and pong timeouts, membership changes, attachments,
// receipts and the HTTP client list (requests of those kinds get
// bad_request), and ferryd's delivery window: hello pushes every entry
// held at once, so a backlog over Config::send_queue_max_bytes (4 MiB,
// ~15,000 small entries) closes the connection with 4429.
//
// Threading: one io_context run by main's thread. Every handler runs there,
// so the Hub needs no locks. A WebSocket session is owned by its pending
// handlers; its client refers to it by a raw pointer that the session
// clears when it stops delivering (Detach).
#include <array>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/websocket/rfc6455.hpp>
#include <boost/json.hpp>
#include <deque>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "common/clock.h"
#include "common/config.h"
#include "common/errc.h"
#include "common/listen.h"
#include "common/random.h"
#include "net/ws_codec.h"
#include "net/ws_write_queue.h"
#include "protocol/protocol.h"

namespace ferry::null_server {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace websocket = beast::websocket;
namespace json = boost::json;
namespace ws = net::ws;
using tcp = asio::ip::tcp;

Millis NowMs() { return SystemClock::Instance().Now(); }

// ---- In-memory state ----

class WsSession;
struct User;

// An inbox entry: its seq in one client's inbox and the encoding every
// recipient of it shares.
struct Entry {
  Seq seq = 0;
  std::shared_ptr<const protocol::EncodedEntry> encoded;
};

struct Client {
  std::string id;
  std::string device;
  User* owner = nullptr;
  Seq head = 0;
  std::deque<Entry> inbox;    // unacknowledged entries, seq ascending
  WsSession* live = nullptr;  // the connection that said hello last, if open
};

struct User {
  std::string name;
  std::vector<std::unique_ptr<Client>> clients;
};

struct Chat {
  std::vector<User*> members;  // no repeats
};

struct Sent {
  std::string message_id;
  Millis ts = 0;
};

// Every account, chat and inbox. Operations named after the requests; each
// one that creates entries pushes them to the recipients' live sessions.
class Hub {
 public:
  explicit Hub(const Config& config)
      : config_(config), epoch_(RandomId(8)), message_id_prefix_(RandomId(8)) {}

  const Config& config() const { return config_; }
  const std::string& epoch() const { return epoch_; }
  int connections = 0;  // upgraded WebSockets still open

  Errc Register(const std::string& name);
  // A new client for a new device label, the existing one for a known label;
  // `token` is a new token for it.
  Result<Client*> Login(const std::string& name, const std::string& device, std::string& token);
  // Null for an unknown token.
  Client* Authenticate(const std::string& token) const;
  const User* FindUser(const std::string& name) const;

  Result<std::string> CreateChat(Client& from, const std::vector<std::string>& names);
  Result<Sent> Send(Client& from, protocol::Send& request);
  // Drops the entries up to `up_to`; nothing is stored, so that is all.
  static void Ack(Client& client, Seq up_to);
  // A ping to every live session (the heartbeat; pongs are not awaited).
  void PingAll();

 private:
  // A new entry in the inbox of every client of `to` except `except`.
  void Deliver(const std::vector<User*>& to, const Client* except, protocol::EncodedEntry entry);
  // 22 characters, as ferryd's: a random process prefix and a counter
  // (unique, which is all a message id needs to be; no syscall per id).
  std::string NextMessageId();

  const Config& config_;
  const std::string epoch_;  // a restart loses every inbox: a new epoch says so
  const std::string message_id_prefix_;
  std::uint64_t messages_ = 0;
  std::unordered_map<std::string, User> users_;
  std::unordered_map<std::string, Client*> tokens_;
  std::unordered_map<std::string, Chat> chats_;
};

// ---- WebSocket session ----

// Framing is ferryd's own (net/ws_codec.h), run the way net/websocket.cc
// runs it, so that both pay the same per frame: the same first read, the
// same thread buffer, the same gathered writes. Left out: ferryd's read
// budget, message deadlines, read pauses under back-pressure and TLS.

// A connection's own read buffer: a request of this size or less costs one
// read. What follows a full one is read at once, without waiting, into the
// thread's buffer (no guard for a second use, as ferryd has: here nothing
// reads inside a handler).
constexpr std::size_t kOwnReadBytes = 256;
constexpr std::size_t kThreadReadBytes = 64 * 1024;
thread_local std::array<char, kThreadReadBytes> thread_read_buffer;

// One write gathers at most this many buffers (Asio passes up to 64 to
// sendmsg), and stops adding frames past this many bytes.
constexpr std::size_t kGatherBuffers = 64;
constexpr std::size_t kGatherBytes = 256 * 1024;

// How long our close frame may wait to be written (a client that does not
// read holds it), and then how long the client has to end its side.
constexpr auto kCloseWriteTimeout = std::chrono::seconds(5);
constexpr auto kCloseLinger = std::chrono::seconds(2);

// A buffer sequence for one gathered write.
struct Gather {
  std::array<asio::const_buffer, kGatherBuffers> buffers;
  std::size_t count = 0;
  const asio::const_buffer* begin() const { return buffers.data(); }
  const asio::const_buffer* end() const { return buffers.data() + count; }
  void Add(const char* data, std::size_t size) {
    if (size > 0) buffers[count++] = asio::const_buffer(data, size);
  }
};

// One WebSocket connection on a bare socket: a frame reader, a queue of
// frames with one write in flight, and the requests of its client. The
// queue is bounded by Config::send_queue_max_bytes: a client that does not
// read is closed with 4429, as ferryd does.
class WsSession : public std::enable_shared_from_this<WsSession> {
 public:
  WsSession(tcp::socket socket, Hub& hub)
      : socket_(std::move(socket)), hub_(hub), reader_(hub.config().max_frame_bytes) {}
  ~WsSession() { Detach(); }

  // Answers the upgrade (its key checked by the HTTP session) and serves.
  // `leftover`: bytes read past the request, the client's first frames.
  void Start(std::string_view key, asio::const_buffer leftover) {
    beast::error_code ec;
    socket_.non_blocking(true, ec);  // for ReadMoreNow; Asio's async ops are unaffected
    queue_.PushRaw(
        "HTTP/1.1 101 Switching Protocols\r\nServer: ferry-null\r\nUpgrade: websocket\r\n"
        "Connection: Upgrade\r\nSec-WebSocket-Accept: " +
        ws::AcceptKey(key) + "\r\n\r\n");
    ++hub_.connections;
    counted_ = true;
    Flush();
    if (leftover.size() > 0) {
      std::string bytes(static_cast<const char*>(leftover.data()), leftover.size());
      Process(bytes.data(), bytes.size());
    }
    DoRead();
  }

  void Push(const Entry& entry) { Send(protocol::Frame(*entry.encoded, entry.seq)); }
  void Ping() { Send(protocol::PingFrame(client_->head)); }

  // Queues a close frame; frames not yet on the wire are dropped (the inbox
  // keeps the entries). The client's messages go unread from now on.
  void Close(std::uint16_t code, std::string_view reason) {
    if (closing_ || closed_) return;
    closing_ = true;
    Detach();
    DropUnsent();
    Enqueue(ws::kClose, ws::ClosePayload(code, reason), /*close=*/true);
    FinishAfter(kCloseWriteTimeout);
  }

 private:
  void Send(std::string frame) {
    if (closing_ || closed_) return;
    if (queue_.bytes() + frame.size() > hub_.config().send_queue_max_bytes) {
      return Close(4429, "too much queued for a client that does not read");
    }
    Enqueue(ws::kText, std::move(frame));
  }

  void Enqueue(int opcode, std::string payload, bool close = false) {
    queue_.Push(opcode, std::move(payload), close);
    ScheduleFlush();
  }

  // Frames queued inside one of this connection's handlers go out together
  // when it ends; one queued from elsewhere (a push from another
  // connection's send, the heartbeat) a moment later, with whatever joins it.
  void ScheduleFlush() {
    if (writing_ || flush_posted_) return;
    if (processing_) {
      flush_after_processing_ = true;
      return;
    }
    flush_posted_ = true;
    asio::post(socket_.get_executor(), [self = shared_from_this()] {
      self->flush_posted_ = false;
      self->Flush();
    });
  }

  void Flush() {
    if (writing_ || closed_ || queue_.empty()) return;
    Gather gather;
    in_flight_ = queue_.Gather(kGatherBuffers, kGatherBytes,
                               [&](const char* data, std::size_t size) { gather.Add(data, size); });
    writing_ = true;
    socket_.async_write_some(
        gather,
        [self = shared_from_this()](beast::error_code ec, std::size_t n) { self->OnWrite(ec, n); });
  }

  void OnWrite(beast::error_code ec, std::size_t written) {
    writing_ = false;
    if (ec) return Finish();
    if (queue_.Written(written)) return CloseWritten();
    Flush();
  }

  // Drops the frames not yet on the wire; those begun (or in the write in
  // flight) are finished.
  void DropUnsent() { queue_.DropUnsent(writing_ ? in_flight_ : 0); }

  void DoRead() {
    if (reading_ || closed_) return;
    reading_ = true;
    socket_.async_read_some(
        asio::buffer(own_buffer_),
        [self = shared_from_this()](beast::error_code ec, std::size_t n) { self->OnRead(ec, n); });
  }

  void OnRead(beast::error_code ec, std::size_t n) {
    reading_ = false;
    if (ec) return Finish();
    if (!Draining()) Process(own_buffer_.data(), n);
    // A full buffer: more may be there (a read that finds nothing costs a
    // system call, which a typical request does not pay).
    if (n == own_buffer_.size()) ReadMoreNow();
    DoRead();
  }

  void ReadMoreNow() {
    char* buffer = thread_read_buffer.data();
    while (!closed_) {
      beast::error_code ec;
      std::size_t n = socket_.read_some(asio::buffer(buffer, kThreadReadBytes), ec);
      if (ec == asio::error::would_block) break;
      if (ec) return Finish();
      if (!Draining()) Process(buffer, n);
      if (n < kThreadReadBytes) break;
    }
  }

  // Parses `size` bytes at `data`, which stay put until it returns, and
  // acts on what they hold; the reader keeps an incomplete frame's bytes.
  void Process(char* data, std::size_t size) {
    processing_ = true;
    reader_.Feed(data, size);
    while (!closed_ && !Draining()) {
      std::optional<ws::Event> event = reader_.Next();
      if (!event || !Handle(*event)) break;
    }
    reader_.Keep();
    processing_ = false;
    if (flush_after_processing_) {
      flush_after_processing_ = false;
      Flush();
    }
  }

  // False: read nothing more.
  bool Handle(const ws::Event& event) {
    using Kind = ws::Event::Kind;
    switch (event.kind) {
      case Kind::message:
        // Closing: the client no longer acts (e.g. one replaced by a newer hello).
        if (!closing_) OnText(event.payload);
        return true;
      case Kind::ping:
        if (!closing_) Enqueue(ws::kPong, std::string(event.payload));
        return true;
      case Kind::pong:
        return true;
      case Kind::close:
        peer_closed_ = true;
        if (closing_) {
          // The answer to our close: done, unless ours is still queued.
          if (queue_.empty()) Finish();
          return false;
        }
        // Echoes the code (RFC 6455 section 5.5.1), not the reason.
        Close(event.code == ws::close::kNoStatus ? ws::close::kNormal : event.code, {});
        return false;
      case Kind::error:
        Fail(event.code, event.payload);
        return false;
    }
    return false;
  }

  // Closes because the client broke a rule: the TCP connection ends once
  // the close frame is written, without waiting for the client's answer.
  void Fail(std::uint16_t code, std::string_view why) {
    failed_ = true;
    if (closing_) {
      if (!writing_) Finish();
      return;
    }
    Close(code, why);
  }

  // No more frames are read after the client's close or a broken rule:
  // what still comes is read and dropped until the client ends TCP.
  bool Draining() const { return peer_closed_ || failed_; }

  // Our close frame is out: a FIN follows it, and reading goes on (for the
  // client's answering close, or to drain) until the client ends its side,
  // for closing the socket at once would answer bytes still arriving with
  // a reset, which can destroy the close frame before the client reads it.
  void CloseWritten() {
    beast::error_code ignored;
    socket_.shutdown(tcp::socket::shutdown_send, ignored);
    FinishAfter(kCloseLinger);
    DoRead();
  }

  // Ends the connection after `delay` unless it ends before. The timer is
  // made on the first close: an open connection holds none.
  void FinishAfter(std::chrono::milliseconds delay) {
    if (closed_) return;
    if (!timer_) timer_ = std::make_unique<asio::steady_timer>(socket_.get_executor());
    timer_->expires_after(delay);
    timer_->async_wait([self = shared_from_this()](beast::error_code ec) {
      if (!ec) self->Finish();
    });
  }

  // The connection is over: runs once.
  void Finish() {
    if (closed_) return;
    closed_ = true;
    Detach();
    if (timer_) timer_->cancel();
    if (counted_) --hub_.connections;
    beast::error_code ignored;
    socket_.shutdown(tcp::socket::shutdown_both, ignored);
    socket_.close(ignored);
  }

  // This connection stops receiving its client's entries.
  void Detach() {
    if (client_ && client_->live == this) client_->live = nullptr;
  }

  // ---- requests: decoded by ferryd's codec, one handler per type ----

  void OnText(std::string_view text) {
    protocol::Decoded d = protocol::DecodeRequest(text);
    if (!client_) {  // the first frame must be a valid hello
      auto* hello = std::get_if<protocol::Hello>(&d.request);
      if (d.error != Errc::ok || !hello) return Close(1008, "the first frame must be hello");
      return OnHello(d.id, *hello);
    }
    if (d.error != Errc::ok) return Send(protocol::ErrorReply(d.id, d.error, d.message));
    std::visit([&](auto& request) { Handle(d, request); }, d.request);
  }

  void OnHello(const json::value& id, const protocol::Hello& hello) {
    Client* client = hub_.Authenticate(hello.token);
    if (!client) return Close(4401, "bad token");
    if (client->live) client->live->Close(4409, "another connection of this client said hello");
    client_ = client;
    client->live = this;
    Send(protocol::OkReply(id, {{"user", client->owner->name},
                                {"clientId", client->id},
                                {"head", client->head},
                                {"epoch", hub_.epoch()}}));
    PushAfter(hello.after.value_or(0));
  }

  void PushAfter(Seq after) {
    for (const Entry& entry : client_->inbox) {
      if (entry.seq > after) Push(entry);
    }
  }

  void Reply(const protocol::Decoded& d, Errc error) {
    Send(protocol::ErrorReply(d.id, error, ErrcName(error)));
  }

  void Handle(const protocol::Decoded& d, const protocol::Hello&) {
    Reply(d, Errc::bad_request);  // one hello per connection
  }

  void Handle(const protocol::Decoded& d, const protocol::CreateChat& request) {
    auto chat = hub_.CreateChat(*client_, request.members);
    if (!chat) return Reply(d, ToErrc(chat.error()));
    Send(protocol::OkReply(d.id, {{"chatId", *chat}}));
  }

  void Handle(const protocol::Decoded& d, protocol::Send& request) {
    auto sent = hub_.Send(*client_, request);
    if (!sent) return Reply(d, ToErrc(sent.error()));
    Send(protocol::OkReply(d.id, {{"messageId", sent->message_id}, {"ts", sent->ts}}));
  }

  void Handle(const protocol::Decoded& d, const protocol::Ack& request) {
    Hub::Ack(*client_, request.up_to);
    if (d.has_id) Send(protocol::OkReply(d.id));
  }

  void Handle(const protocol::Decoded& d, const protocol::Sync& request) {
    Send(protocol::OkReply(d.id, {{"head", client_->head}}));
    PushAfter(request.after);
  }

  void Handle(const protocol::Decoded&, const protocol::Pong&) {}

  template <class Unsupported>
  void Handle(const protocol::Decoded& d, const Unsupported&) {
    Send(protocol::ErrorReply(d.id, Errc::bad_request, "not implemented by ferry-null"));
  }

  tcp::socket socket_;
  Hub& hub_;
  ws::FrameReader reader_;
  Client* client_ = nullptr;                   // set by hello
  std::unique_ptr<asio::steady_timer> timer_;  // bounds the close, once closing
  ws::WriteQueue queue_;        // frames to write
  std::size_t in_flight_ = 0;  // frames in the pending write, from the queue's first
  bool reading_ = false;       // a read is pending
  bool writing_ = false;       // a write is pending
  bool flush_posted_ = false;  // a Flush() is posted
  bool processing_ = false;    // inside Process(): frames queued now are flushed at its end
  bool flush_after_processing_ = false;
  bool closing_ = false;      // our close frame is queued or written
  bool peer_closed_ = false;  // the client's close frame was read
  bool failed_ = false;       // the client broke the protocol: no waiting for its close
  bool closed_ = false;
  bool counted_ = false;  // in hub_.connections
  std::array<char, kOwnReadBytes> own_buffer_;
};

// ---- Hub ----

Errc Hub::Register(const std::string& name) {
  if (!protocol::ValidUser(name)) return Errc::bad_request;
  auto [it, added] = users_.try_emplace(name);
  if (!added) return Errc::user_exists;
  it->second.name = name;
  return Errc::ok;
}

Result<Client*> Hub::Login(const std::string& name, const std::string& device, std::string& token) {
  auto it = users_.find(name);
  if (it == users_.end()) return Errc::unauthorized;
  User& user = it->second;
  Client* client = nullptr;
  for (auto& c : user.clients) {
    if (c->device == device) client = c.get();
  }
  if (!client) {
    if (user.clients.size() >= config_.max_clients) return Errc::too_many_clients;
    user.clients.push_back(
        std::make_unique<Client>(Client{.id = RandomId(), .device = device, .owner = &user}));
    client = user.clients.back().get();
  }
  token = NewToken();
  tokens_[token] = client;
  return client;
}

Client* Hub::Authenticate(const std::string& token) const {
  auto it = tokens_.find(token);
  return it == tokens_.end() ? nullptr : it->second;
}

const User* Hub::FindUser(const std::string& name) const {
  auto it = users_.find(name);
  return it == users_.end() ? nullptr : &it->second;
}

Result<std::string> Hub::CreateChat(Client& from, const std::vector<std::string>& names) {
  std::vector<User*> members = {from.owner};
  for (const auto& name : names) {
    auto it = users_.find(name);
    if (it == users_.end()) return Errc::not_found;
    if (std::find(members.begin(), members.end(), &it->second) == members.end()) {
      members.push_back(&it->second);
    }
  }
  if (members.size() < 2) return Errc::bad_request;
  if (members.size() > config_.max_members) return Errc::too_many_members;
  ChatEvent event{.chat_id = RandomId(), .event = "created", .by = from.owner->name, .ts = NowMs()};
  for (const User* member : members) event.members.push_back(member->name);
  std::string chat_id = event.chat_id;
  chats_[chat_id].members = members;
  Deliver(members, &from, protocol::EncodeEntry({0, std::move(event)}));
  return chat_id;
}

Result<Sent> Hub::Send(Client& from, protocol::Send& request) {
  auto it = chats_.find(request.chat_id);
  if (it == chats_.end()) return Errc::not_found;
  const Chat& chat = it->second;
  if (std::find(chat.members.begin(), chat.members.end(), from.owner) == chat.members.end()) {
    return Errc::forbidden;
  }
  if (request.body.size() > config_.max_body_bytes) return Errc::too_large;
  if (!request.attachments.empty()) return Errc::bad_request;
  Sent sent{NextMessageId(), NowMs()};
  Message message{.message_id = sent.message_id,
                  .chat_id = request.chat_id,
                  .sender = from.owner->name,
                  .sender_client = from.id,
                  .client_msg_id = std::move(request.client_msg_id),
                  .ts = sent.ts,
                  .body = std::move(request.body)};
  Deliver(chat.members, &from, protocol::EncodeEntry({0, std::move(message)}));
  return sent;
}

void Hub::Ack(Client& client, Seq up_to) {
  while (!client.inbox.empty() && client.inbox.front().seq <= up_to) client.inbox.pop_front();
}

void Hub::PingAll() {
  for (auto& [name, user] : users_) {
    for (auto& client : user.clients) {
      if (client->live) client->live->Ping();
    }
  }
}

void Hub::Deliver(const std::vector<User*>& to, const Client* except,
                  protocol::EncodedEntry entry) {
  auto encoded = std::make_shared<const protocol::EncodedEntry>(std::move(entry));
  for (User* user : to) {
    for (auto& client : user->clients) {
      if (client.get() == except) continue;
      client->inbox.push_back({++client->head, encoded});
      if (client->live) client->live->Push(client->inbox.back());
    }
  }
}

std::string Hub::NextMessageId() {
  static constexpr char kDigits[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  std::string id = message_id_prefix_;  // 11 characters
  id.resize(22);
  std::uint64_t n = ++messages_;
  for (std::size_t i = id.size(); i-- > message_id_prefix_.size(); n >>= 6) id[i] = kDigits[n & 63];
  return id;
}

// ---- HTTP ----

using Request = http::request<http::string_body>;
using Response = http::response<http::string_body>;

Response JsonResponse(int status, const json::value& body) {
  Response res{static_cast<http::status>(status), 11};
  res.set(http::field::content_type, "application/json");
  res.body() = json::serialize(body);
  return res;
}

Response ErrorResponse(Errc code) {
  return JsonResponse(HttpStatus(code), {{"error", ErrcName(code)}, {"message", ErrcName(code)}});
}

// The string fields `names` of a JSON object body, or nullopt if the body
// is not one or a field is missing or not a string.
std::optional<std::vector<std::string>> StringFields(const Request& req,
                                                     std::initializer_list<const char*> names) {
  boost::system::error_code ec;
  json::value body = json::parse(req.body(), ec);
  if (ec || !body.is_object()) return std::nullopt;
  std::vector<std::string> values;
  for (const char* name : names) {
    const json::value* v = body.get_object().if_contains(name);
    if (!v || !v->is_string()) return std::nullopt;
    values.emplace_back(v->get_string());
  }
  return values;
}

Response HandleRegister(Hub& hub, const Request& req) {
  auto fields = StringFields(req, {"user", "password"});  // any password will do
  if (!fields) return ErrorResponse(Errc::bad_request);
  Errc e = hub.Register((*fields)[0]);
  return e == Errc::ok ? JsonResponse(201, {{"user", (*fields)[0]}}) : ErrorResponse(e);
}

Response HandleLogin(Hub& hub, const Request& req) {
  auto fields = StringFields(req, {"user", "password", "device"});
  if (!fields) return ErrorResponse(Errc::bad_request);
  std::string token;
  auto client = hub.Login((*fields)[0], (*fields)[2], token);
  if (client) return JsonResponse(200, {{"token", token}, {"clientId", (*client)->id}});
  Errc e = ToErrc(client.error());
  if (e != Errc::too_many_clients) return ErrorResponse(e);
  json::array clients;
  for (const auto& c : hub.FindUser((*fields)[0])->clients) {
    clients.push_back({{"clientId", c->id}, {"device", c->device}, {"lastActive", 0}});
  }
  return JsonResponse(409,
                      {{"error", ErrcName(e)}, {"message", ErrcName(e)}, {"clients", clients}});
}

Response HandleHealth(Hub&, const Request&) {
  Response res{http::status::ok, 11};
  res.body() = "ok\n";
  return res;
}

// The one gauge the bench tools wait on (reconnect: drops noticed).
Response HandleMetrics(Hub& hub, const Request&) {
  Response res{http::status::ok, 11};
  res.set(http::field::content_type, "text/plain; version=0.0.4");
  res.body() = "ferry_connections " + std::to_string(hub.connections) + "\n";
  return res;
}

struct Route {
  http::verb method;
  std::string_view path;
  Response (*handler)(Hub&, const Request&);
};

constexpr Route kRoutes[] = {
    {http::verb::post, "/v1/register", HandleRegister},
    {http::verb::post, "/v1/login", HandleLogin},
    {http::verb::get, "/healthz", HandleHealth},
    {http::verb::get, "/metrics", HandleMetrics},
};

Response Dispatch(Hub& hub, const Request& req) {
  std::string_view target = req.target();
  std::string_view path = target.substr(0, target.find('?'));
  for (const Route& route : kRoutes) {
    if (route.path == path && route.method == req.method()) return route.handler(hub, req);
  }
  return ErrorResponse(Errc::not_found);
}

// One accepted connection: HTTP requests one at a time until it closes or
// upgrades on /v1/ws, when the socket moves to a WsSession.
class HttpSession : public std::enable_shared_from_this<HttpSession> {
 public:
  HttpSession(tcp::socket socket, Hub& hub) : socket_(std::move(socket)), hub_(hub) {}

  void Read() {
    parser_.emplace();
    parser_->body_limit(hub_.config().max_http_body_bytes);
    http::async_read(
        socket_, buffer_, *parser_,
        [self = shared_from_this()](beast::error_code ec, std::size_t) { self->OnRead(ec); });
  }

 private:
  void OnRead(beast::error_code ec) {
    if (ec) return Shutdown();
    Request req = parser_->release();
    std::string_view target = req.target();
    if (websocket::is_upgrade(req) && target.substr(0, target.find('?')) == "/v1/ws") {
      return Upgrade(req);
    }
    Write(Dispatch(hub_, req), req.keep_alive());
  }

  // As ferryd answers an upgrade (net/http.cc), less its origin check.
  void Upgrade(const Request& req) {
    // RFC 6455 section 4.2.2: a version we do not speak gets 426 naming ours.
    auto version = req.find(http::field::sec_websocket_version);
    if (version == req.end() || version->value() != "13") {
      Response res = ErrorResponse(Errc::bad_request);
      if (version != req.end()) {
        res.result(http::status::upgrade_required);
        res.set(http::field::sec_websocket_version, "13");
      }
      return Write(std::move(res), false);
    }
    std::string_view key = req[http::field::sec_websocket_key];
    if (!ws::ValidKey(key)) return Write(ErrorResponse(Errc::bad_request), false);
    // Bytes read past the request are the client's first frames.
    std::make_shared<WsSession>(std::move(socket_), hub_)->Start(key, buffer_.cdata());
  }

  void Write(Response res, bool keep_alive) {
    res.set(http::field::server, "ferry-null");
    res.keep_alive(keep_alive);
    res.prepare_payload();
    response_ = std::move(res);
    http::async_write(socket_, response_,
                      [self = shared_from_this(), keep_alive](beast::error_code ec, std::size_t) {
                        if (ec || !keep_alive) return self->Shutdown();
                        self->Read();
                      });
  }

  void Shutdown() {
    beast::error_code ignored;
    socket_.shutdown(tcp::socket::shutdown_send, ignored);
    socket_.close(ignored);
  }

  tcp::socket socket_;
  Hub& hub_;
  beast::flat_buffer buffer_;
  std::optional<http::request_parser<http::string_body>> parser_;
  Response response_;  // the one being written
};

// ---- main ----

void Accept(tcp::acceptor& acceptor, Hub& hub) {
  acceptor.async_accept([&acceptor, &hub](beast::error_code ec, tcp::socket socket) {
    if (!acceptor.is_open()) return;
    if (!ec) {
      beast::error_code ignored;
      socket.set_option(tcp::no_delay(true), ignored);
      std::make_shared<HttpSession>(std::move(socket), hub)->Read();
    }
    Accept(acceptor, hub);  // EMFILE and friends: keep serving the others
  });
}

void Heartbeat(asio::steady_timer& timer, Hub& hub) {
  timer.expires_after(std::chrono::milliseconds(hub.config().heartbeat_interval_ms));
  timer.async_wait([&timer, &hub](beast::error_code ec) {
    if (ec) return;
    hub.PingAll();
    Heartbeat(timer, hub);
  });
}

const char* kUsage = R"(usage: ferry-null [--listen HOST:PORT] [--port-file FILE]
                  [--heartbeat-interval SECONDS] [any other ferryd flag]
A benchmark floor: an in-memory, single-threaded Ferry server (no durability,
no password checks) for ferry-bench's scenarios. It takes ferryd's flags so
that tools can start it in ferryd's place; the ones not listed are ignored.
)";

// ferryd's command line: `--flag value` or `--flag=value`. Returns false
// (after printing help or an error) if the program should exit.
bool ParseArgs(int argc, char** argv, Config& config, std::string& port_file, int& exit_code) {
  exit_code = 2;
  try {
    for (int i = 1; i < argc; ++i) {
      std::string flag = argv[i];
      if (flag == "--help" || flag == "-h") {
        std::cout << kUsage;
        exit_code = 0;
        return false;
      }
      if (!flag.starts_with("--")) throw std::invalid_argument("unexpected argument " + flag);
      if (flag == "--behind-l4-proxy") continue;  // ferryd's one flag without a value
      std::string value;
      if (auto eq = flag.find('='); eq != std::string::npos) {
        value = flag.substr(eq + 1);
        flag.resize(eq);
      } else if (i + 1 < argc) {
        value = argv[++i];
      } else {
        throw std::invalid_argument(flag + " needs a value");
      }
      if (flag == "--listen") {
        SetListenAddress(config, value);
      } else if (flag == "--port-file") {
        port_file = value;
      } else if (flag == "--heartbeat-interval") {
        double seconds = std::stod(value);
        if (!(seconds > 0)) throw std::invalid_argument("--heartbeat-interval must be positive");
        config.heartbeat_interval_ms = static_cast<std::int64_t>(seconds * 1000);
      }
    }
  } catch (const std::exception& e) {
    std::cerr << "ferry-null: " << e.what() << "\n" << kUsage;
    return false;
  }
  return true;
}

int Main(int argc, char** argv) {
  Config config;
  std::string port_file;
  int exit_code = 0;
  if (!ParseArgs(argc, argv, config, port_file, exit_code)) return exit_code;
  InitCrypto();
  Hub hub(config);  // outlives the io_context: its sessions detach on destruction
  asio::io_context ioc(1);
  tcp::endpoint endpoint(asio::ip::make_address(config.listen_host), config.listen_port);
  tcp::acceptor acceptor(ioc);
  acceptor.open(endpoint.protocol());
  acceptor.set_option(asio::socket_base::reuse_address(true));
  acceptor.bind(endpoint);
  acceptor.listen(asio::socket_base::max_listen_connections);
  Accept(acceptor, hub);
  asio::steady_timer heartbeat(ioc);
  Heartbeat(heartbeat, hub);
  asio::signal_set signals(ioc, SIGINT, SIGTERM);
  signals.async_wait([&ioc](beast::error_code, int) { ioc.stop(); });

  std::uint16_t port = acceptor.local_endpoint().port();
  std::cerr << "ferry-null listening on " << config.listen_host << ":" << port
            << " (in memory, nothing durable: a benchmark floor)" << std::endl;
  if (!port_file.empty()) {
    std::string tmp = port_file + ".tmp";
    std::ofstream(tmp) << port << "\n";
    std::filesystem::rename(tmp, port_file);
  }
  ioc.run();
  return 0;
}

}  // namespace
}  // namespace ferry::null_server

int main(int argc, char** argv) {
  try {
    return ferry::null_server::Main(argc, argv);
  } catch (const std::exception& e) {
    std::cerr << "ferry-null: " << e.what() << "\n";
    return 1;
  }
}
