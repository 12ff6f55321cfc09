// Runner: the connections of one generator process and the client behaviour
// every scenario shares — connect with bounded concurrency, hello (resuming
// after the last seq seen, as a real client does after a reconnect), answer
// pings, acknowledge every entry on receipt, count errors. A scenario adds
// its logic through the hooks and the counters it keeps itself. Like Net,
// everything runs on the one thread that calls Connect/RunUntil, so no locks.
//
// Frames are built by string concatenation and read by searching for
// `"key":` — the server writes compact JSON, and a key pattern cannot occur
// inside a string value because quotes there are escaped — so a frame costs
// no allocation beyond its text.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "bench.h"
#include "net.h"

namespace ferry::bench {

// Request ids: fixed ones below kSendBase; `send` number k uses kSendBase + k.
constexpr std::int64_t kHelloId = 1;
constexpr std::int64_t kCreateChatId = 2;
constexpr std::int64_t kAckId = 3;  // an ack that asks for a reply
constexpr std::int64_t kSendBase = 1000;

// The string value of "key", or nullopt. Escapes are not decoded (ids and
// types never contain any).
std::optional<std::string_view> FindStr(std::string_view text, std::string_view key);
std::optional<std::int64_t> FindInt(std::string_view text, std::string_view key);

struct Peer {
  std::string user;
  std::string token;
  std::string chat;            // the chat this peer sends into, once known
  bool hello_ok = false;       // its current connection said hello
  bool connecting = false;     // in the Connect() call in progress, not finished yet
  std::int64_t last_seq = 0;   // highest seq received (each one is acked at once)
  std::int64_t head = 0;       // `head` of its last hello ok
  std::uint64_t messages = 0;  // new message entries received, over all connections
  Clock::time_point connect_start;
  Clock::time_point hello_at;  // of its last hello ok
};

// A chat to create: `creator` invites `members` (peer numbers).
struct ChatPlan {
  int creator = 0;
  std::vector<int> members;
};

// The outcome of one Connect() call.
struct ConnectResult {
  int hellos = 0;      // connections that said hello
  int failed = 0;      // connects, upgrades or hellos that failed
  double seconds = 0;  // wall time of the whole call
  Histogram latency;   // connect start -> hello ok, microseconds
};

class Runner {
 public:
  // One peer per account. `conn_offset`: the number of this process's first
  // connection among all generator processes, so that --procs workers spread
  // over the nodes and the source addresses together.
  Runner(const Options& options, const Server& server, Report& report,
         std::vector<Account> accounts, int conn_offset = 0);

  std::vector<Peer>& peers() { return peers_; }
  // The index in server.nodes that peer c connects to: its number among all
  // generator processes' connections, round robin.
  int NodeOf(int c) const { return (conn_offset_ + c) % static_cast<int>(server_.nodes.size()); }
  Net& net() { return net_; }

  // Connects peers [first, last) and says hello, at most
  // --connect-concurrency at once. Returns once each said hello or failed
  // (an error), or after 30 s + 10 ms per connection.
  ConnectResult Connect(int first, int last);
  // Drops peers [first, last) abruptly (see Net::Drop): no close frame.
  void Drop(int first, int last);
  // Closes every connection with a close handshake (bounded, 5 s).
  void CloseAll();
  bool RunUntil(Clock::time_point deadline, const std::function<bool()>& done) {
    return net_.RunUntil(deadline, done);
  }

  // Creates the chats and waits until each creator has its chatId and each
  // member that is online has the `created` event; then `chat` is set for
  // the creator and the members. Bounded: 30 s + 1 ms per member. Returns
  // false (after counting an error) if not everything arrived.
  bool CreateChats(const std::vector<ChatPlan>& plans);

  // Requests. Replies other than createChat's go to on_reply; error replies
  // are counted as errors unless on_refused takes them.
  // Sends `body` into peers[c].chat as send number k (id kSendBase + k,
  // clientMsgId k: k must be unique per sending peer).
  void SendMessage(int c, std::int64_t k, std::string_view body);
  void AckWithReply(int c);  // ack upTo last_seq, id kAckId

  // Hooks. on_reply: an `ok` for any id but hello's and createChat's.
  // on_message: a new message entry (not a resend), before it is acked.
  std::function<void(int c, std::int64_t id, std::string_view frame)> on_reply;
  std::function<void(int c, std::string_view frame)> on_message;
  // on_refused: an `error` reply to a request other than hello; returns
  // true if it is an expected answer (a send refused under overload), not
  // an error.
  std::function<bool(int c, std::int64_t id, std::string_view frame)> on_refused;

  // Resent entries seen (seq not above the last one): the server's ack
  // timeout fired before our ack arrived.
  std::uint64_t duplicates() const { return duplicates_; }

 private:
  Net::Callbacks Callbacks();
  void StartNext();
  void FinishConnect(int c, bool ok);
  void Opened(int c);
  void Text(int c, std::string_view t);
  void Entry(int c, std::string_view type, std::string_view t);
  void Closed(int c, int code, const std::string& reason);
  void ChatCreated(int c, std::string_view t);

  const Options& options_;
  const Server& server_;
  Report& report_;
  Net net_;
  std::vector<Peer> peers_;
  int conn_offset_ = 0;
  int source_addrs_ = 1;
  // The Connect() in progress.
  int next_connect_ = 0;
  int last_connect_ = 0;
  int finished_connects_ = 0;
  ConnectResult connecting_;
  // The CreateChats() in progress: plan number by creator.
  const std::vector<ChatPlan>* plans_ = nullptr;
  std::vector<int> plan_of_;
  std::size_t chats_created_ = 0;
  std::uint64_t chat_events_ = 0;
  std::uint64_t receipts_ = 0;  // receipt entries received (and acked)
  std::uint64_t duplicates_ = 0;
};

}  // namespace ferry::bench
