// Helpers of the bus tests: a thread-safe message collector, bounded
// polling, synchronous wrappers and the test Redis Cluster's seeds.
#pragma once

#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <fstream>
#include <functional>
#include <future>
#include <map>
#include <memory>
#include <mutex>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "bus/bus.h"

namespace ferry::bustest {

using namespace std::chrono_literals;

// Polls `pred` every 10 ms until it holds or `timeout` passes.
inline bool WaitUntil(const std::function<bool()>& pred, std::chrono::milliseconds timeout = 10s) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!pred()) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(10ms);
  }
  return true;
}

// Everything a bus handler received, by channel.
class Inbox {
 public:
  Bus::Handler Handler() {
    return [this](std::string_view channel, std::string_view payload) {
      std::lock_guard lock(mu_);
      messages_[std::string(channel)].emplace_back(payload);
    };
  }
  std::vector<std::string> Of(const std::string& channel) {
    std::lock_guard lock(mu_);
    auto it = messages_.find(channel);
    return it == messages_.end() ? std::vector<std::string>{} : it->second;
  }
  std::size_t Count(const std::string& channel, const std::string& payload) {
    std::size_t n = 0;
    for (const std::string& p : Of(channel)) n += p == payload;
    return n;
  }
  bool Has(const std::string& channel, const std::string& payload) {
    return Count(channel, payload) > 0;
  }
  std::size_t Total() {
    std::lock_guard lock(mu_);
    std::size_t n = 0;
    for (auto& [c, list] : messages_) n += list.size();
    return n;
  }

 private:
  std::mutex mu_;
  std::map<std::string, std::vector<std::string>> messages_;
};

// Counts `ready` calls.
struct ReadyCount {
  std::shared_ptr<std::atomic<int>> calls = std::make_shared<std::atomic<int>>(0);
  std::function<void()> Callback() const {
    return [c = calls] { ++*c; };
  }
  int operator()() const { return *calls; }
};

// Subscribes and waits (bounded) for `ready`.
inline ::testing::AssertionResult SubscribeAndWait(Bus& bus, const std::string& channel) {
  ReadyCount ready;
  bus.Subscribe(channel, ready.Callback());
  if (!WaitUntil([&] { return ready() > 0; }, 5s)) {
    return ::testing::AssertionFailure() << "ready never called for " << channel;
  }
  return ::testing::AssertionSuccess();
}

// IsOnline, waiting for the answer; nullopt if `done` was not called in 5 s.
inline std::optional<bool> IsOnlineNow(Bus& bus, const std::string& user) {
  auto promise = std::make_shared<std::promise<bool>>();
  std::future<bool> answer = promise->get_future();
  bus.IsOnline(user, [promise](bool online) { promise->set_value(online); });
  if (answer.wait_for(5s) != std::future_status::ready) return std::nullopt;
  return answer.get();
}

// A prefix no other test run uses, so tests sharing a cluster never see
// each other's channels or presence.
inline std::string Unique(const std::string& what) {
  static std::atomic<int> counter{0};
  auto now = std::chrono::system_clock::now().time_since_epoch() / 1us;
  std::ostringstream out;
  out << what << '-' << getpid() << '-' << now % 100'000'000 << '-' << counter++;
  return out.str();
}

// The test cluster's seeds ("host:port,..."), from `file` (written by
// deploy/lib/redis-test-fixture), by default the one FERRY_REDIS_NODES_FILE
// names; empty if there is none.
inline std::vector<std::string> RedisSeeds(std::string file = "") {
  if (file.empty()) {
    const char* env = std::getenv("FERRY_REDIS_NODES_FILE");
    if (env != nullptr) file = env;
  }
  std::vector<std::string> seeds;
  if (file.empty()) return seeds;
  std::ifstream in(file);
  std::string line, seed;
  std::getline(in, line);
  std::istringstream parts(line);
  while (std::getline(parts, seed, ',')) {
    if (!seed.empty()) seeds.push_back(seed);
  }
  return seeds;
}

}  // namespace ferry::bustest
