#include "cluster/cluster_env.h"

#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <map>
#include <sstream>
#include <stdexcept>
#include <thread>

namespace ferry::cluster_test {
namespace {

std::vector<std::string> Words(const std::string& s) {
  std::istringstream in(s);
  std::vector<std::string> out;
  for (std::string w; in >> w;) out.push_back(w);
  return out;
}

std::string Get(const std::map<std::string, std::string>& env, const std::string& key) {
  auto it = env.find(key);
  if (it == env.end()) throw std::runtime_error("cluster.env has no " + key);
  return it->second;
}

}  // namespace

Cluster Cluster::Load() {
  const char* dir = std::getenv("FERRY_CLUSTER_DIR");
  const char* script = std::getenv("FERRY_CLUSTER_SCRIPT");
  if (!dir || !script) throw std::runtime_error("FERRY_CLUSTER_DIR/SCRIPT not set (run via ctest)");
  std::ifstream in(std::string(dir) + "/cluster.env");
  if (!in) throw std::runtime_error(std::string("no cluster.env in ") + dir);
  std::map<std::string, std::string> env;
  for (std::string line; std::getline(in, line);) {
    auto eq = line.find('=');
    if (eq == std::string::npos) continue;
    std::string value = line.substr(eq + 1);
    if (value.size() >= 2 && value.front() == '"' && value.back() == '"') {
      value = value.substr(1, value.size() - 2);
    }
    env[line.substr(0, eq)] = value;
  }
  Cluster c;
  c.dir = dir;
  c.script = script;
  c.url = Get(env, "FERRY_URL");
  c.haproxy = client::ParseServer(c.url);
  for (const std::string& u : Words(Get(env, "FERRY_NODE_URLS"))) {
    c.nodes.push_back(client::ParseServer(u));
  }
  c.redis = Words(Get(env, "REDIS_NODES"));
  return c;
}

std::string Cluster::Run(const std::string& verb, const std::string& args) const {
  // stdout is the answer; the script's log lines (stderr) go to the test's
  // own output, where ctest shows them on failure.
  std::string cmd = script + " " + verb + " " + dir + " " + args;
  FILE* p = popen(cmd.c_str(), "r");
  if (!p) throw std::runtime_error("popen failed: " + cmd);
  std::string out;
  std::array<char, 4096> buf;
  while (std::size_t n = fread(buf.data(), 1, buf.size(), p)) out.append(buf.data(), n);
  int status = pclose(p);
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    throw std::runtime_error("`" + cmd + "` failed (its log is above): " + out);
  }
  return out;
}

bool Cluster::WaitHealth(const Endpoint& e, int status, client::Ms timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    try {
      if (client::Http(e, "GET", "/healthz", {}, {}, std::chrono::seconds(1)).status == status) {
        return true;
      }
    } catch (const client::ConnectionError&) {
      if (status == 0) return true;  // 0: "not answering" is what we wait for
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  return false;
}

std::string UniqueUser(const std::string& prefix) {
  static std::atomic<int> n{0};
  return prefix + std::to_string(getpid()) + "x" + std::to_string(n.fetch_add(1));
}

void Register(const Endpoint& e, const std::string& user) {
  auto r = client::Http(e, "POST", "/v1/register",
                        json::serialize(json::object{{"user", user}, {"password", "password123"}}));
  if (r.status != 201) throw std::runtime_error("register " + user + ": " + r.raw);
}

Account Login(const Endpoint& e, const std::string& user, const std::string& device) {
  auto r = client::Http(e, "POST", "/v1/login",
                        json::serialize(json::object{
                            {"user", user}, {"password", "password123"}, {"device", device}}));
  if (r.status != 200) throw std::runtime_error("login " + user + ": " + r.raw);
  return {user, json::value_to<std::string>(r.body.at("token")),
          json::value_to<std::string>(r.body.at("clientId"))};
}

Account NewAccount(const Endpoint& e, const std::string& prefix, const std::string& device) {
  std::string user = UniqueUser(prefix);
  Register(e, user);
  return Login(e, user, device);
}

std::unique_ptr<client::Session> Connect(const Endpoint& e, const Account& a,
                                         std::optional<std::int64_t> after) {
  auto s = client::Session::Connect(e);
  s->Hello(a.token, after);
  return s;
}

}  // namespace ferry::cluster_test
