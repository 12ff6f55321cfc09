// The harness of the Service and ClientSession tests: sessions run on a
// test executor (the test thread), talk to a FakeTransport, a TestBus (a
// LocalBus that records, can drop notifications and hold subscriptions'
// confirmations), and an in-memory SQLite store wrapped in a FailingStore.
// The SessionTest fixture owns them all and has helpers for the requests.
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <boost/json.hpp>
#include <chrono>
#include <deque>
#include <future>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "bus/local/local_bus.h"
#include "common/random.h"
#include "service/failing_store.h"
#include "service/session.h"
#include "store/sqlite/sqlite_store.h"

namespace ferry::testing {
namespace json = boost::json;
using namespace std::chrono_literals;

// Runs posted functions on the test thread.
class TestExecutor {
 public:
  Service::Post PostFn() {
    return [this](std::function<void()> fn) {
      std::lock_guard lock(mu_);
      queue_.push_back(std::move(fn));
    };
  }
  // Runs one posted function or fires `timers`; false if there was nothing.
  bool RunOne() {
    std::function<void()> fn;
    {
      std::lock_guard lock(mu_);
      if (queue_.empty()) return false;
      fn = std::move(queue_.front());
      queue_.pop_front();
    }
    fn();
    return true;
  }

 private:
  std::mutex mu_;
  std::deque<std::function<void()>> queue_;
};

class FakeTransport final : public Transport {
 public:
  void Send(std::string frame) override {
    if (counts_bytes) queued += frame.size();
    sent.push_back(json::parse(frame).as_object());
  }
  void Close(std::uint16_t code, std::string_view) override { closed = code; }
  std::size_t QueuedBytes() const override { return queued; }
  // Timers run on the test's clock: they fire in RunUntil once the test
  // has moved the clock past them, never by waiting.
  void ArmTimer(std::int64_t delay_ms) override { deadline = clock->Monotonic() + delay_ms; }
  void PauseReading(bool paused) override { reading_paused = paused; }
  bool reading_paused = false;

  std::vector<json::object> sent;
  std::optional<std::uint16_t> closed;
  std::size_t queued = 0;
  // Send adds each frame to `queued`, as a socket nothing is written to
  // would; the test drains it by setting `queued` and calling OnDrained.
  bool counts_bytes = false;
  const Clock* clock = nullptr;
  std::optional<Millis> deadline;
};

// A LocalBus that records what goes through it, can lose notifications (as
// a real bus may), and can hold back the confirmation of subscriptions to
// channels with a given prefix: such a channel starts receiving only when
// ReleaseHeld() confirms it, as a real bus does. Thread-safe (publishes
// come from the store worker thread).
class TestBus final : public Bus {
 public:
  std::atomic<bool> drop{false};

  void SetHandler(Handler h) override { inner.SetHandler(std::move(h)); }
  void Subscribe(const std::string& c, std::function<void()> ready) override {
    {
      std::lock_guard lock(mu_);
      ++subscribes_[c];
      if (!hold_prefix_.empty() && c.starts_with(hold_prefix_)) {
        held_.emplace_back(c, std::move(ready));
        return;
      }
    }
    inner.Subscribe(c, std::move(ready));
  }
  void Unsubscribe(const std::string& c) override {
    {
      std::lock_guard lock(mu_);
      ++unsubscribes_[c];
    }
    inner.Unsubscribe(c);
  }
  void Publish(const std::string& c, std::string p) override {
    {
      std::lock_guard lock(mu_);
      published_.emplace_back(c, p);
      publish_threads_.insert(std::this_thread::get_id());
    }
    if (!drop) inner.Publish(c, std::move(p));
  }
  void PresenceUp(const std::string& u) override { inner.PresenceUp(u); }
  void PresenceDown(const std::string& u) override { inner.PresenceDown(u); }
  void IsOnline(const std::string& u, std::function<void(bool)> done) override {
    inner.IsOnline(u, std::move(done));
  }

  // Subscriptions to channels starting with `prefix` wait for ReleaseHeld().
  void HoldReady(std::string prefix) {
    std::lock_guard lock(mu_);
    hold_prefix_ = std::move(prefix);
  }
  // Confirms the held subscriptions and stops holding.
  void ReleaseHeld() {
    std::vector<std::pair<std::string, std::function<void()>>> held;
    {
      std::lock_guard lock(mu_);
      held.swap(held_);
      hold_prefix_.clear();
    }
    for (auto& [channel, ready] : held) inner.Subscribe(channel, std::move(ready));
  }
  std::size_t HeldCount() {
    std::lock_guard lock(mu_);
    return held_.size();
  }

  int SubscribeCalls(const std::string& c) {
    std::lock_guard lock(mu_);
    return subscribes_[c];
  }
  int UnsubscribeCalls(const std::string& c) {
    std::lock_guard lock(mu_);
    return unsubscribes_[c];
  }
  // Subscribes minus unsubscribes: the references connections hold.
  int Subscriptions(const std::string& c) { return SubscribeCalls(c) - UnsubscribeCalls(c); }

  // The entry notifications ("E" payloads) published on channels starting
  // with `prefix` (a whole channel name counts as its own prefix).
  std::vector<std::string> EntriesOn(const std::string& prefix) {
    std::lock_guard lock(mu_);
    std::vector<std::string> out;
    for (const auto& [channel, payload] : published_) {
      std::optional<protocol::BusMessage> m = protocol::DecodeBus(payload);
      if (channel.starts_with(prefix) && m && std::holds_alternative<protocol::BusEntries>(*m)) {
        out.push_back(payload);
      }
    }
    return out;
  }
  // The threads Publish was called on.
  std::set<std::thread::id> PublishThreads() {
    std::lock_guard lock(mu_);
    return publish_threads_;
  }
  void ClearPublished() {
    std::lock_guard lock(mu_);
    published_.clear();
    publish_threads_.clear();
  }

  LocalBus inner;

 private:
  std::mutex mu_;
  std::string hold_prefix_;
  std::vector<std::pair<std::string, std::function<void()>>> held_;
  std::map<std::string, int> subscribes_;
  std::map<std::string, int> unsubscribes_;
  std::vector<std::pair<std::string, std::string>> published_;
  std::set<std::thread::id> publish_threads_;
};

// Mints recognizable URLs and records deletions.
class FakeBlobStore final : public BlobStore {
 public:
  std::string PresignPut(const std::string& key, Millis, std::int64_t) override {
    return "http://blobs/put/" + key;
  }
  std::string PresignGet(const std::string& key, const std::string& client, Millis,
                         std::int64_t) override {
    return "http://blobs/get/" + key + "/" + client;
  }
  void Delete(const std::string& key) override {
    std::lock_guard lock(mu);
    deleted.push_back(key);
  }
  std::string UrlOrigin() const override { return "http://blobs"; }
  std::mutex mu;
  std::vector<std::string> deleted;
};

struct Conn {
  FakeTransport transport;
  std::shared_ptr<ClientSession> session;
  std::vector<json::object> Entries() const {
    std::vector<json::object> out;
    for (const auto& f : transport.sent) {
      if (f.at("type") == "message" || f.at("type") == "chat") out.push_back(f);
    }
    return out;
  }
  // Entries().size() without the copies.
  std::size_t EntryCount() const {
    return std::count_if(transport.sent.begin(), transport.sent.end(), [](const json::object& f) {
      return f.at("type") == "message" || f.at("type") == "chat";
    });
  }
  const json::object* Reply(std::int64_t id) const {
    for (const auto& f : transport.sent) {
      if (f.contains("id") && f.at("id") == id) return &f;
    }
    return nullptr;
  }
};

class SessionTest : public ::testing::Test {
 protected:
  void SetUp() override {
    InitCrypto();
    config.password_strength = 0;
    config.delivery_window = 4;
    // Tests move `clock` for other reasons too (retention, grace periods):
    // entries are then not resent (ack timeout) nor connections closed for
    // a pong (heartbeat timeout) unless a test means it.
    config.heartbeat_interval_ms = 50;
    config.heartbeat_timeout_ms = 100 * kMillisPerDay;
    config.ack_timeout_ms = 100 * kMillisPerDay;
    Configure();
    auto sqlite = OpenSqliteStore(SqliteOptions{":memory:"});
    ASSERT_TRUE(sqlite);
    auto failing = std::make_unique<FailingStore>(std::move(*sqlite));
    store = failing.get();
    service = std::make_unique<Service>(config, std::move(failing), bus, blobs, clock);
    service->Start();
  }
  void TearDown() override { service->Stop(); }
  // A fixture's changes to the defaults above, before the service starts.
  virtual void Configure() {}

  // Runs the executor (and the timers `clock` has passed) until `done()` or
  // 10 s (real time) pass.
  template <class Pred>
  bool RunUntil(Pred done, std::chrono::milliseconds limit = 10s) {
    auto deadline = std::chrono::steady_clock::now() + limit;
    while (!done()) {
      if (std::chrono::steady_clock::now() > deadline) return false;
      bool ran = executor.RunOne();
      for (auto& c : conns) {
        auto& t = c->transport;
        if (t.deadline && clock.Monotonic() >= *t.deadline && !t.closed) {
          t.deadline.reset();
          c->session->OnTimer();
          ran = true;
        }
      }
      if (!ran) std::this_thread::yield();
    }
    return true;
  }

  // Runs everything in flight to its end: the jobs queued on the store and
  // what their completions post, until a store round trip posts nothing
  // more. Call it before moving the clock, so that the sessions have armed
  // their timers on the time before the move (the clock moves only when a
  // test moves it, so a timer armed after a move would never fire).
  void Settle() {
    for (;;) {
      std::promise<void> done;
      std::future<void> round_trip = done.get_future();
      ASSERT_TRUE(service->store().Lane(0).Submit([&done](Store&) { done.set_value(); }));
      bool ran = false;
      while (round_trip.wait_for(0s) != std::future_status::ready) ran |= executor.RunOne();
      while (executor.RunOne()) ran = true;
      if (!ran) return;
    }
  }

  std::string TokenFor(const std::string& user) {
    std::promise<bool> registered;
    service->accounts().Register(user, "password123", "127.0.0.1",
                                 [&](Result<void> r) { registered.set_value(bool(r)); });
    EXPECT_TRUE(registered.get_future().get());
    std::promise<std::string> token;
    service->accounts().Login(user, "password123", "phone", "127.0.0.1",
                              [&](Result<Accounts::LoginReply> r, std::vector<ClientInfo>) {
                                token.set_value(r ? r->token : "");
                              });
    return token.get_future().get();
  }

  Conn& Connect(const std::string& user) { return ConnectWithToken(TokenFor(user)); }

  // Opens a connection and says hello (id 0) with `token`, without waiting
  // for the answer.
  Conn& StartHello(const std::string& token) {
    conns.push_back(std::make_unique<Conn>());
    Conn& c = *conns.back();
    c.transport.clock = &clock;
    c.session = service->NewSession(&c.transport, executor.PostFn());
    c.session->OnOpen();
    c.session->OnText(
        json::serialize(json::object{{"type", "hello"}, {"id", 0}, {"token", token}}));
    return c;
  }

  // Says hello with `token` and runs until its reply.
  Conn& ConnectWithToken(const std::string& token) {
    Conn& c = StartHello(token);
    EXPECT_TRUE(RunUntil([&] { return c.Reply(0) != nullptr; }));
    return c;
  }

  // Sends a request and runs until its reply.
  json::object Call(Conn& c, json::object request) {
    std::int64_t id = next_id++;
    request["id"] = id;
    c.session->OnText(json::serialize(request));
    EXPECT_TRUE(RunUntil([&] { return c.Reply(id) != nullptr; }));
    return c.Reply(id) ? *c.Reply(id) : json::object{};
  }

  json::object SendMsg(Conn& c, const std::string& chat, const std::string& body) {
    return Call(c, {{"type", "send"},
                    {"chatId", chat},
                    {"clientMsgId", "m" + std::to_string(next_id)},
                    {"body", body}});
  }

  std::string CreateChat(Conn& c, const char* other) {
    json::object r = Call(c, {{"type", "createChat"}, {"members", json::array{other}}});
    return std::string(r.at("chatId").as_string());
  }

  // alice and bob in a chat; bob has received its `created` event (seq 1)
  // and one message from alice (seq 2), and acked neither.
  Conn& BobWithOneMessage() { return BobWithMessages(1); }
  // Bob with `n` messages from alice in their chat: n + 1 entries, the
  // chat's creation first.
  Conn& BobWithMessages(int n) {
    Conn& alice = Connect("alice");
    Conn& bob = Connect("bob");
    std::string chat = CreateChat(alice, "bob");
    for (int i = 0; i < n; ++i) SendMsg(alice, chat, "m" + std::to_string(i));
    EXPECT_TRUE(RunUntil([&] { return bob.Entries().size() == static_cast<std::size_t>(n) + 1; }));
    return bob;
  }

  Config config;
  ManualClock clock{SystemClock::Instance().Now()};
  TestBus bus;
  FakeBlobStore blobs;
  FailingStore* store = nullptr;
  std::unique_ptr<Service> service;
  TestExecutor executor;
  std::vector<std::unique_ptr<Conn>> conns;
  std::int64_t next_id = 1;
};

}  // namespace ferry::testing
