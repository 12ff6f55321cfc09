// Cluster faults with traffic running: a sender and a receiver thread
// exchange messages while one part of the cluster is broken, then a history
// check — every message whose send was answered `ok` reached the receiver
// (exactly once after dedup by messageId), and the receiver's seqs are
// gap-free with one message per seq.
//
// The clients behave as real ones do: on a lost connection they reconnect
// through HAProxy (the one cluster URL); the sender retries an unanswered
// or `unavailable` send with the same clientMsgId (idempotent); the
// receiver resumes after the last seq it acked and syncs when a ping's head
// is ahead.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <map>
#include <mutex>
#include <set>
#include <sstream>
#include <thread>

#include "cluster/cluster_env.h"

namespace ferry::cluster_test {
namespace {

using namespace std::chrono_literals;
using SteadyClock = std::chrono::steady_clock;

std::string Str(const json::object& o, std::string_view key) {
  const json::value* v = o.if_contains(key);
  return v && v->is_string() ? std::string(v->get_string()) : std::string();
}

// One sender (alice) and one receiver (bob) in a 1:1 chat, each on its own
// thread with its own sessions.
class Traffic {
 public:
  Traffic(const Cluster& cluster, const Endpoint& sender_node, const Endpoint& receiver_node)
      : cluster_(cluster) {
    alice_ = NewAccount(sender_node, "fa");
    bob_ = NewAccount(receiver_node, "fb");
    auto alice = Connect(sender_node, alice_);
    chat_ = alice->CreateChat({bob_.user}, "faults");
    sender_node_ = sender_node;
    receiver_node_ = receiver_node;
  }

  // A test that ends early (a failed ASSERT) still stops its threads.
  ~Traffic() {
    stop_ = true;
    if (sender_.joinable()) sender_.join();
    if (receiver_.joinable()) receiver_.join();
  }

  void Start(int messages, client::Ms gap) {
    sender_ = std::thread([this, messages, gap] { SendLoop(messages, gap); });
    receiver_ = std::thread([this] { ReceiveLoop(); });
  }

  // Waits for the sender to finish, then until the receiver has every ok'd
  // message or `timeout` passes; stops both.
  void Finish(client::Ms timeout) {
    sender_.join();
    auto deadline = SteadyClock::now() + timeout;
    while (SteadyClock::now() < deadline && !ReceivedAll()) std::this_thread::sleep_for(20ms);
    stop_ = true;
    receiver_.join();
  }

  bool ReceivedAll() {
    std::lock_guard lock(mu_);
    for (const auto& [cmid, id] : acked_sends_) {
      if (!received_ids_.contains(id)) return false;
    }
    return true;
  }

  // The history check; a failure names what broke.
  void Check() {
    std::lock_guard lock(mu_);
    EXPECT_GT(acked_sends_.size(), 0u) << "no send was answered ok";
    std::size_t missing = 0;
    for (const auto& [cmid, id] : acked_sends_) {
      if (!received_ids_.contains(id)) ++missing;
    }
    EXPECT_EQ(missing, 0u) << missing << " of " << acked_sends_.size()
                           << " ok'd messages never arrived";
    // Seqs: the chat event is 1, then one per message, no gaps, and a seq
    // always carries the same message (a redelivery repeats it).
    ASSERT_FALSE(by_seq_.empty());
    std::int64_t expected = 1;
    for (const auto& [seq, id] : by_seq_) {
      EXPECT_EQ(seq, expected) << "gap in the receiver's seqs before " << seq;
      expected = seq + 1;
    }
    EXPECT_EQ(seq_conflicts_, 0) << "a seq carried two different entries";
    std::set<std::string> distinct;
    for (const auto& [seq, id] : by_seq_) {
      if (!id.empty()) {
        EXPECT_TRUE(distinct.insert(id).second) << "message " << id << " twice";
      }
    }
    ::testing::Test::RecordProperty("sends_ok", static_cast<int>(acked_sends_.size()));
    ::testing::Test::RecordProperty("send_errors", send_errors_.load());
    ::testing::Test::RecordProperty("receiver_reconnects", reconnects_.load());
  }

  const std::string& receiver() const { return bob_.user; }
  int send_errors() const { return send_errors_; }
  int reconnects() const { return reconnects_; }
  std::size_t ok_count() {
    std::lock_guard lock(mu_);
    return acked_sends_.size();
  }
  std::size_t received_count() {
    std::lock_guard lock(mu_);
    return received_ids_.size();
  }

 private:
  // Connects (first to `first`, afterwards through HAProxy) until it works
  // or the run is over.
  std::unique_ptr<client::Session> Reconnect(const Account& a, const Endpoint& first,
                                             bool* used_first, std::optional<std::int64_t> after) {
    while (!stop_) {
      try {
        const Endpoint& e = *used_first ? cluster_.haproxy : first;
        *used_first = true;
        return Connect(e, a, after);
      } catch (const std::exception&) {
        std::this_thread::sleep_for(100ms);
      }
    }
    return nullptr;
  }

  void SendLoop(int messages, client::Ms gap) {
    bool used_first = false;
    std::unique_ptr<client::Session> s;
    auto give_up = SteadyClock::now() + 120s;
    for (int i = 0; i < messages && SteadyClock::now() < give_up && !stop_; ++i) {
      std::string cmid = "h-" + std::to_string(i);
      for (;;) {
        if (SteadyClock::now() >= give_up || stop_) break;
        if (!s) s = Reconnect(alice_, sender_node_, &used_first, {});
        if (!s) return;
        try {
          json::object ok = s->Send(chat_, "history " + std::to_string(i), cmid);
          std::lock_guard lock(mu_);
          acked_sends_[cmid] = Str(ok, "messageId");
          break;
        } catch (const client::RequestError& e) {
          ++send_errors_;  // unavailable during the fault: the same cmid again
          std::this_thread::sleep_for(50ms);
        } catch (const std::exception& e) {
          ++send_errors_;
          s.reset();  // connection lost: reconnect, then resend the same cmid
        }
      }
      std::this_thread::sleep_for(gap);
    }
  }

  void ReceiveLoop() {
    bool used_first = false;
    std::int64_t acked = 0;
    std::unique_ptr<client::Session> s;
    while (!stop_) {
      if (!s) {
        s = Reconnect(bob_, receiver_node_, &used_first, acked);
        if (!s) return;
        if (used_first && s) ++reconnects_;
      }
      std::optional<json::object> e;
      try {
        e = s->NextEntry(200ms);
      } catch (const std::exception&) {
        s.reset();
        continue;
      }
      if (!e) {
        if (s->ws().close_info()) s.reset();
        continue;
      }
      std::int64_t seq = (*e)["seq"].to_number<std::int64_t>();
      std::string id = Str(*e, "type") == "message" ? Str(*e, "messageId") : "";
      {
        std::lock_guard lock(mu_);
        auto [it, fresh] = by_seq_.emplace(seq, id);
        if (!fresh && it->second != id) ++seq_conflicts_;
        if (!id.empty()) received_ids_.insert(id);
      }
      try {
        s->Ack(seq);
        acked = std::max(acked, seq);
      } catch (const std::exception&) {
        s.reset();
      }
    }
  }

  const Cluster& cluster_;
  Account alice_, bob_;
  std::string chat_;
  Endpoint sender_node_, receiver_node_;
  std::thread sender_, receiver_;
  std::atomic<bool> stop_{false};
  std::atomic<int> send_errors_{0};
  std::atomic<int> reconnects_{0};

  std::mutex mu_;
  std::map<std::string, std::string> acked_sends_;  // clientMsgId -> messageId  GUARDED_BY(mu_)
  std::set<std::string> received_ids_;              // GUARDED_BY(mu_)
  std::map<std::int64_t, std::string> by_seq_;      // seq -> messageId ("" = chat event)
  int seq_conflicts_ = 0;                           // GUARDED_BY(mu_)
};

class Faults : public ::testing::Test {
 protected:
  void SetUp() override {
    cluster_ = Cluster::Load();
    ASSERT_GE(cluster_.nodes.size(), 3u);
    for (const Endpoint& e : cluster_.nodes) ASSERT_TRUE(Cluster::WaitHealth(e, 200, 60s));
    ASSERT_TRUE(Cluster::WaitHealth(cluster_.haproxy, 200, 30s));
  }
  // Leaves the cluster whole for the next test, whatever this one did.
  void TearDown() override {
    try {
      cluster_.Run("heal");
    } catch (const std::exception& e) {
      ADD_FAILURE() << "could not heal the cluster: " << e.what();
    }
  }
  const Endpoint& Node(int k) const { return cluster_.nodes.at(k - 1); }
  // K of the Redis master that carries `user`'s channel, so a fault there
  // really cuts the receiver's notifications.
  std::string MasterOf(const std::string& user) const {
    std::string k = cluster_.Run("redis-master-index", "'u:{" + user + "}'");
    while (!k.empty() && (k.back() == '\n' || k.back() == ' ')) k.pop_back();
    return k;
  }
  // Polls until `n` messages were received (the fault lands mid-traffic).
  static void WaitReceived(Traffic& t, std::size_t n) {
    auto deadline = SteadyClock::now() + 30s;
    while (t.received_count() < n && SteadyClock::now() < deadline)
      std::this_thread::sleep_for(10ms);
    ASSERT_GE(t.received_count(), n) << "traffic did not start";
  }
  Cluster cluster_;
};

// kill -9 of the receiver's node: the receiver reconnects through HAProxy
// to another node and resumes from its last acked seq.
TEST_F(Faults, NodeKilled) {
  Traffic t(cluster_, Node(1), Node(2));
  t.Start(300, 10ms);
  WaitReceived(t, 20);
  cluster_.Run("kill-node", "2");
  t.Finish(30s);
  t.Check();
  EXPECT_GE(t.reconnects(), 1) << "the receiver never lost its connection";
}

// kill -9 of the Redis master of the receiver's channel: its replica takes over; until then
// deliveries on that shard fall back to the inbox (ping.head, sync).
TEST_F(Faults, RedisMasterKilled) {
  Traffic t(cluster_, Node(1), Node(2));
  t.Start(300, 10ms);
  WaitReceived(t, 20);
  std::cerr << cluster_.Run("kill-redis-master", MasterOf(t.receiver()));
  t.Finish(40s);
  t.Check();
}

// The Redis master of the receiver's channel stopped (SIGSTOP) for 5 s, then resumed: it may come
// back as a replica of the one that took over.
TEST_F(Faults, RedisMasterStoppedFiveSeconds) {
  Traffic t(cluster_, Node(1), Node(3));
  t.Start(300, 10ms);
  WaitReceived(t, 20);
  std::string stopped = cluster_.Run("stop-redis-master", MasterOf(t.receiver()));
  std::istringstream words(stopped);
  std::string port;
  words >> port;
  auto until = SteadyClock::now() + 5s;
  while (SteadyClock::now() < until) std::this_thread::sleep_for(50ms);  // the fault's length
  cluster_.Run("cont-redis", port);
  t.Finish(40s);
  t.Check();
}

// PostgreSQL restarted: sends during the outage get `unavailable` (never an
// ok without a commit), and the service recovers by itself.
TEST_F(Faults, PostgresRestarted) {
  Traffic t(cluster_, Node(1), Node(2));
  t.Start(300, 10ms);
  WaitReceived(t, 20);
  cluster_.Run("restart-postgres");
  t.Finish(60s);
  t.Check();
  // After the outage a fresh request is served again on every node.
  for (int k = 1; k <= 3; ++k) EXPECT_TRUE(Cluster::WaitHealth(Node(k), 200, 30s));
}

}  // namespace
}  // namespace ferry::cluster_test
