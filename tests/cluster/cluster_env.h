// Test harness for the cluster suite: the cluster that `deploy/cluster up`
// started for this test run (a ctest fixture), read from DIR/cluster.env,
// plus account and connection helpers that pick the node explicitly, so a
// test can put each user's connections on the node it wants.
//
// Not thread-safe, except where a helper says so; each traffic thread of a
// fault test owns its own sessions.
#pragma once

#include <boost/json.hpp>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "client/client.h"

namespace ferry::cluster_test {

namespace json = boost::json;
using client::Endpoint;

struct Cluster {
  std::string dir;                 // the deploy/cluster state directory
  std::string script;              // path of deploy/cluster
  Endpoint haproxy;                // FERRY_URL: what clients use
  std::string url;                 // FERRY_URL as written
  std::vector<Endpoint> nodes;     // FERRY_NODE_URLS, node K at index K-1
  std::vector<std::string> redis;  // REDIS_NODES

  // Reads $FERRY_CLUSTER_DIR/cluster.env again (PIDs change on restarts).
  static Cluster Load();
  // Runs `deploy/cluster VERB DIR ARGS...`; returns its standard output,
  // throws on a non-zero exit.
  std::string Run(const std::string& verb, const std::string& args = {}) const;
  // Polls GET /healthz on `e` until it answers `status` (bounded).
  static bool WaitHealth(const Endpoint& e, int status, client::Ms timeout);
};

struct Account {
  std::string user;
  std::string token;
  std::string client_id;
};

// A user name no other test of this run (or an earlier run on the same
// database) has used: "<prefix><pid>x<n>".
std::string UniqueUser(const std::string& prefix);
// Registers `user` (password "password123") through `e`.
void Register(const Endpoint& e, const std::string& user);
// Logs in (user, device) through `e`.
Account Login(const Endpoint& e, const std::string& user, const std::string& device = "phone");
// Register + login.
Account NewAccount(const Endpoint& e, const std::string& prefix,
                   const std::string& device = "phone");
// Connects to `e` and says hello.
std::unique_ptr<client::Session> Connect(const Endpoint& e, const Account& a,
                                         std::optional<std::int64_t> after = {});

}  // namespace ferry::cluster_test
