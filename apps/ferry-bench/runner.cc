// Runner (see runner.h). The connect phase keeps --connect-concurrency
// connections in flight: each one that finishes (hello ok, or any failure)
// starts the next, so a burst never exceeds the server's accept backlog by
// more than that.
#include "runner.h"

#include <algorithm>
#include <charconv>

namespace ferry::bench {
using namespace std::chrono_literals;

std::optional<std::string_view> FindStr(std::string_view text, std::string_view key) {
  std::string pat = "\"" + std::string(key) + "\":\"";
  auto at = text.find(pat);
  if (at == std::string_view::npos) return std::nullopt;
  auto start = at + pat.size();
  auto end = text.find('"', start);
  if (end == std::string_view::npos) return std::nullopt;
  return text.substr(start, end - start);
}

std::optional<std::int64_t> FindInt(std::string_view text, std::string_view key) {
  std::string pat = "\"" + std::string(key) + "\":";
  auto at = text.find(pat);
  if (at == std::string_view::npos) return std::nullopt;
  const char* p = text.data() + at + pat.size();
  std::int64_t v = 0;
  auto [ptr, ec] = std::from_chars(p, text.data() + text.size(), v);
  if (ec != std::errc()) return std::nullopt;
  return v;
}

Runner::Runner(const Options& o, const Server& s, Report& r, std::vector<Account> accounts,
               int conn_offset)
    : options_(o), server_(s), report_(r), net_(Callbacks()), conn_offset_(conn_offset) {
  peers_.resize(accounts.size());
  for (std::size_t i = 0; i < accounts.size(); ++i) {
    peers_[i].user = std::move(accounts[i].user);
    peers_[i].token = std::move(accounts[i].token);
  }
  // Auto: one source address per 16k connections of the whole run (all
  // workers), well inside the ~28k ephemeral ports each one has.
  int total = std::max(o.connections, conn_offset + static_cast<int>(peers_.size()));
  source_addrs_ = o.source_addrs > 0 ? o.source_addrs : (total + 15999) / 16000;
}

Net::Callbacks Runner::Callbacks() {
  return {[this](int c) { Opened(c); }, [this](int c, std::string_view t) { Text(c, t); },
          [this](int c, int code, const std::string& reason) { Closed(c, code, reason); }};
}

ConnectResult Runner::Connect(int first, int last) {
  connecting_ = ConnectResult{};
  next_connect_ = first;
  last_connect_ = last;
  finished_connects_ = 0;
  int n = last - first;
  auto start = Clock::now();
  for (int i = 0; i < std::min(n, options_.connect_concurrency); ++i) StartNext();
  net_.RunUntil(start + 30s + n * 10ms, [&] { return finished_connects_ >= n; });
  connecting_.seconds = Seconds(Clock::now() - start).count();
  if (finished_connects_ < n) {
    report_.Error("connect phase timed out: " + std::to_string(n - finished_connects_) +
                  " pending");
    connecting_.failed += n - finished_connects_;
    for (int c = first; c < last; ++c) peers_[c].connecting = false;  // late ones count nowhere
  }
  return std::move(connecting_);
}

void Runner::StartNext() {
  if (next_connect_ >= last_connect_) return;
  int c = next_connect_++;
  Peer& p = peers_[c];
  p.hello_ok = false;
  p.connecting = true;
  p.connect_start = Clock::now();
  // Round robin over the nodes, then over the source addresses within each
  // node's share, so that every (source, node) pair gets as many
  // connections (each pair has its own range of ephemeral ports).
  const int global = conn_offset_ + c;
  const int nodes = static_cast<int>(server_.nodes.size());
  std::string source;
  if (source_addrs_ > 1) {
    source = "127.0.0." + std::to_string(2 + (global / nodes) % source_addrs_);
  }
  const Node& node = server_.nodes[NodeOf(c)];
  net_.Connect(c, node.host, node.port, source);
}

void Runner::FinishConnect(int c, bool ok) {
  Peer& p = peers_[c];
  if (!p.connecting) return;
  p.connecting = false;
  ++finished_connects_;
  if (ok) {
    ++connecting_.hellos;
    connecting_.latency.Record(Micros(p.hello_at - p.connect_start));
  } else {
    ++connecting_.failed;
  }
  StartNext();
}

void Runner::Drop(int first, int last) {
  for (int c = first; c < last; ++c) {
    net_.Drop(c);
    peers_[c].hello_ok = false;
  }
}

void Runner::CloseAll() {
  net_.CloseAll(5s);
  for (auto& p : peers_) p.hello_ok = false;
}

bool Runner::CreateChats(const std::vector<ChatPlan>& plans) {
  plans_ = &plans;
  plan_of_.assign(peers_.size(), -1);
  chats_created_ = 0;
  std::uint64_t events_before = chat_events_, events_due = 0, members = 0;
  for (std::size_t i = 0; i < plans.size(); ++i) {
    const ChatPlan& plan = plans[i];
    plan_of_[plan.creator] = static_cast<int>(i);
    std::string list;
    for (int m : plan.members) {
      list += (list.empty() ? "\"" : ",\"") + peers_[m].user + "\"";
      events_due += peers_[m].hello_ok;  // offline members get it later
    }
    members += plan.members.size();
    net_.Send(plan.creator, "{\"type\":\"createChat\",\"id\":" + std::to_string(kCreateChatId) +
                                ",\"members\":[" + list + "]}");
  }
  bool done = net_.RunUntil(Clock::now() + 30s + members * 1ms, [&] {
    return chats_created_ >= plans.size() && chat_events_ - events_before >= events_due;
  });
  plans_ = nullptr;
  if (!done) {
    report_.Error("chat setup incomplete: " + std::to_string(chats_created_) + " of " +
                  std::to_string(plans.size()) + " chats, " +
                  std::to_string(chat_events_ - events_before) + " of " +
                  std::to_string(events_due) + " created events");
  }
  return done;
}

void Runner::ChatCreated(int c, std::string_view t) {
  auto chat = FindStr(t, "chatId");
  if (!plans_ || plan_of_[c] < 0 || !chat) return report_.Error("unexpected createChat ok");
  const ChatPlan& plan = (*plans_)[plan_of_[c]];
  peers_[c].chat = *chat;
  for (int m : plan.members) peers_[m].chat = *chat;
  ++chats_created_;
}

void Runner::SendMessage(int c, std::int64_t k, std::string_view body) {
  std::string frame = "{\"type\":\"send\",\"id\":" + std::to_string(kSendBase + k) +
                      ",\"chatId\":\"" + peers_[c].chat + "\",\"clientMsgId\":\"" +
                      std::to_string(k) + "\",\"body\":\"";
  frame += body;
  frame += "\"}";
  net_.Send(c, std::move(frame));
}

void Runner::AckWithReply(int c) {
  net_.Send(c, "{\"type\":\"ack\",\"id\":" + std::to_string(kAckId) +
                   ",\"upTo\":" + std::to_string(peers_[c].last_seq) + "}");
}

void Runner::Opened(int c) {
  const Peer& p = peers_[c];
  // A peer that had entries before resumes after them, as a real client
  // does: the server then sends only what is new.
  std::string after = p.last_seq > 0 ? ",\"after\":" + std::to_string(p.last_seq) : "";
  net_.Send(c, "{\"type\":\"hello\",\"id\":1,\"token\":\"" + p.token + "\"" + after + "}");
}

void Runner::Text(int c, std::string_view t) {
  auto type = FindStr(t, "type");
  if (!type) return report_.Error("frame without type: " + std::string(t.substr(0, 200)));
  Peer& p = peers_[c];
  if (*type == "ok") {
    auto id = FindInt(t, "id").value_or(-1);
    if (id == kHelloId) {
      p.hello_ok = true;
      p.hello_at = Clock::now();
      p.head = FindInt(t, "head").value_or(0);
      FinishConnect(c, true);
    } else if (id == kCreateChatId) {
      ChatCreated(c, t);
    } else if (on_reply) {
      on_reply(c, id, t);
    }
  } else if (*type == "message" || *type == "chat" || *type == "receipt") {
    Entry(c, *type, t);
  } else if (*type == "ping") {
    net_.Send(c, "{\"type\":\"pong\"}");
  } else if (*type == "error") {
    auto id = FindInt(t, "id").value_or(-1);
    if (id == kHelloId) {
      FinishConnect(c, false);
    } else if (on_refused && on_refused(c, id, t)) {
      return;
    }
    report_.Error("error reply: " + std::string(t.substr(0, 300)));
  }
}

void Runner::Entry(int c, std::string_view type, std::string_view t) {
  Peer& p = peers_[c];
  auto seq = FindInt(t, "seq").value_or(0);
  if (seq <= p.last_seq) {  // a resend (our ack was late): already counted
    ++duplicates_;
    return;
  }
  p.last_seq = seq;
  if (type == "message") {
    ++p.messages;
    if (on_message) on_message(c, t);
  } else if (type == "receipt") {
    ++receipts_;  // senders hear of the recipients' acks (protocol v1.1)
  } else {
    ++chat_events_;
  }
  // As a real client: every entry is acknowledged on receipt.
  net_.Send(c, "{\"type\":\"ack\",\"upTo\":" + std::to_string(seq) + "}");
}

void Runner::Closed(int c, int code, const std::string& reason) {
  Peer& p = peers_[c];
  std::string what = std::to_string(code) + " " + reason;
  if (p.connecting) {
    report_.Error("connection " + std::to_string(c) + " failed: " + what);
    FinishConnect(c, false);
    return;
  }
  p.hello_ok = false;
  report_.Error("connection " + std::to_string(c) + " closed: " + what);
}

}  // namespace ferry::bench
